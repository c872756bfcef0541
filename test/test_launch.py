"""launch/pose_estimation.launch.py and config/ against the package: executables, node
names, parameter files and the RViz config.

``ros2 launch`` (launch, launch_ros) is not installable in this environment, so the
launch file is read as Python source (its AST) for what it starts; where ``launch`` and
``launch_ros`` are installed, generate_launch_description() is also built.
"""
from __future__ import annotations

import ast
import importlib.util
import py_compile
import re

import pytest
import yaml

from conftest import REPO
from pose_estimation_ros.core import models
from pose_estimation_ros.core.params import NODE_PARAMETERS, load_parameters_file

LAUNCH_FILE = REPO / 'launch' / 'pose_estimation.launch.py'
CONFIG = REPO / 'config'
RVIZ_FILE = CONFIG / 'pose_estimation.rviz'
PACKAGE = 'pose_estimation_ros'
EXPECTED_ARGUMENTS = {
    # params_file, model_file, backend: computed, the default model's (core.models).
    'image_topic': '/image_raw', 'compressed': 'false', 'params_file': None,
    'model_file': None, 'backend': None, 'namespace': '', 'use_sim_time': 'false',
    'log_level': 'info', 'rviz': 'false'}


def _launch_available() -> bool:
    # A bare `import launch` would find this repository's launch/ directory as a
    # namespace package; the real one has LaunchDescription.
    try:
        from launch import LaunchDescription  # noqa: F401
        return importlib.util.find_spec('launch_ros') is not None
    except ImportError:
        return False


# ------------------------------------------------------------------ reading the source
class LaunchSource:
    """What the launch file declares, read from its AST: launch arguments, Node calls
    (with ``**common`` keyword dicts and module constants resolved) and the config
    files it joins into paths."""

    def __init__(self, path):
        self.tree = ast.parse(path.read_text(), str(path))
        self.constants = {}
        self.dicts = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                    node.targets[0], ast.Name):
                if isinstance(node.value, ast.Constant):
                    self.constants[node.targets[0].id] = node.value.value
                elif isinstance(node.value, ast.Dict):
                    self.dicts[node.targets[0].id] = node.value
        self.calls = [n for n in ast.walk(self.tree) if isinstance(n, ast.Call)
                      and isinstance(n.func, ast.Name)]

    def value(self, node):
        """A constant (or a module constant's value); None for anything computed."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.constants.get(node.id)
        return None

    def keywords(self, call: ast.Call) -> dict:
        """{keyword: AST value} of a call, ``**name`` dicts expanded."""
        result = {}
        for keyword in call.keywords:
            if keyword.arg is None and isinstance(keyword.value, ast.Name):
                spread = self.dicts[keyword.value.id]
                result.update({self.value(k): v for k, v in zip(spread.keys, spread.values)})
            else:
                result[keyword.arg] = keyword.value
        return result

    def arguments(self) -> dict:
        """{launch argument: default (None when computed)} of DeclareLaunchArgument."""
        found = {}
        for call in self.calls:
            if call.func.id == 'DeclareLaunchArgument':
                default = self.keywords(call).get('default_value')
                found[self.value(call.args[0])] = None if default is None else \
                    self.value(default)
        return found

    def nodes(self) -> list[dict]:
        found = []
        for call in self.calls:
            if call.func.id != 'Node':
                continue
            kw = self.keywords(call)
            remaps = {}
            for pair in getattr(kw.get('remappings'), 'elts', []):
                remaps[self.value(pair.elts[0])] = pair.elts[1]
            found.append({'package': self.value(kw['package']),
                          'executable': self.value(kw['executable']),
                          'name': self.value(kw.get('name')), 'remappings': remaps,
                          'condition': kw.get('condition'),
                          'parameters': kw.get('parameters')})
        return found

    def config_files(self) -> set[str]:
        """Files under config/ named in PathJoinSubstitution([..., 'config', file])."""
        files = set()
        for call in self.calls:
            if call.func.id == 'PathJoinSubstitution':
                parts = [self.value(e) for e in call.args[0].elts]
                if 'config' in parts:
                    files.add('/'.join(str(p) for p in parts[parts.index('config') + 1:]))
        return files


@pytest.fixture(scope='module')
def source() -> LaunchSource:
    return LaunchSource(LAUNCH_FILE)


def cmake_executables() -> set[str]:
    text = (REPO / 'CMakeLists.txt').read_text()
    return set(re.findall(rf'"(\w+)={PACKAGE}\.[\w.]+"', text))


# ------------------------------------------------------------------ tests
def test_launch_file_compiles_and_declares_its_arguments(source, tmp_path):
    py_compile.compile(str(LAUNCH_FILE), cfile=str(tmp_path / 'launch.pyc'), doraise=True)
    declared = source.arguments()
    assert declared == EXPECTED_ARGUMENTS
    # The computed defaults come from the one default-model rule.
    text = LAUNCH_FILE.read_text()
    assert 'default_model(' in text and 'chosen.params_file' in text
    assert 'chosen.model_file' in text and 'chosen.reason' in text
    if _launch_available():
        spec = importlib.util.spec_from_file_location('pose_estimation_launch', LAUNCH_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        description = module.generate_launch_description()
        assert {a.name for a in description.get_launch_arguments()} == set(EXPECTED_ARGUMENTS)


def test_launch_starts_the_package_nodes_by_their_parameter_names(source):
    nodes = source.nodes()
    ours = [n for n in nodes if n['package'] == PACKAGE]
    assert {n['executable'] for n in ours} <= cmake_executables()
    # Each node's name is a section of the parameters files.
    assert sorted(n['name'] for n in ours) == sorted(NODE_PARAMETERS)
    by_name = {n['name']: n for n in ours}
    assert by_name['image_encoder']['executable'] == 'image_encoder_node'
    assert by_name['inference']['executable'] == 'inference_node'
    assert by_name['openpose_decoder']['executable'] == 'openpose_decoder_node'
    # Camera images reach the encoder (raw and compressed) and the decoder's overlay.
    assert {'image', 'image/compressed'} <= set(by_name['image_encoder']['remappings'])
    assert 'image' in by_name['openpose_decoder']['remappings']
    for node in ours:
        params = node['parameters']
        assert isinstance(params, ast.List) and isinstance(params.elts[0], ast.Name)
        assert params.elts[0].id == 'params_file', f'{node["name"]} misses the params file'
    [rviz] = [n for n in nodes if n['package'] == 'rviz2']
    assert rviz['executable'] == 'rviz2'
    condition = rviz['condition']
    assert condition.func.id == 'IfCondition'
    assert source.value(condition.args[0].args[0]) == 'rviz'


def test_launch_config_files_exist_and_parse(source):
    referenced = source.config_files() | {models.HPE_PARAMS_FILE, models.FALLBACK_PARAMS_FILE}
    assert referenced == {'mobilenet_thin.yaml', 'human_pose_estimation_0001.yaml',
                          'pose_estimation.rviz'}
    for name in referenced:
        path = CONFIG / name
        assert path.is_file(), f'launch file references missing config/{name}'
        if path.suffix == '.yaml':
            load_parameters_file(path)


def test_every_parameters_file_names_real_nodes_and_parameters(tmp_path):
    files = sorted(p for p in CONFIG.iterdir() if p.suffix in ('.yaml', '.yml'))
    assert files, 'config/ has no parameters file'
    for path in files:
        values = load_parameters_file(path)  # ValueError: unknown node or parameter
        document = yaml.safe_load(path.read_text())
        for section, body in document.items():
            node = section.rstrip('/').split('/')[-1]
            assert node == '**' or node in NODE_PARAMETERS
            for name, value in body['ros__parameters'].items():
                if node != '**' and name != 'use_sim_time':
                    assert values[node][name] == value
    # The same check refuses a misspelt parameter.
    bad = tmp_path / 'bad.yaml'
    bad.write_text('openpose_decoder:\n  ros__parameters:\n    threshold_heatmapp: 0.1\n')
    with pytest.raises(ValueError, match='threshold_heatmapp'):
        load_parameters_file(bad)


def test_rviz_config_shows_overlay_and_markers():
    config = yaml.safe_load(RVIZ_FILE.read_text())
    manager = config['Visualization Manager']
    displays = {d['Class']: d for d in manager['Displays']}
    image = displays['rviz_default_plugins/Image']
    markers = displays['rviz_default_plugins/MarkerArray']
    assert image['Topic']['Value'].rstrip('/').split('/')[-1] == 'overlay_image'
    assert markers['Topic']['Value'].rstrip('/').split('/')[-1] == 'skeleton_markers'
    assert image['Enabled'] and markers['Enabled']
    assert manager['Global Options']['Fixed Frame']
    assert manager['Views']['Current']['Class'].startswith('rviz_default_plugins/')
    assert all(d['Class'].startswith(('rviz_default_plugins/', 'rviz_common/'))
               for d in manager['Displays'])
