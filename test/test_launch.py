"""launch/pose_estimation.launch.py and config/ against the package: executables, node
names, parameter files, remappings and the RViz config.

``ros2 launch`` (launch, launch_ros) is not installable in this environment. The launch
file is run here against small recording stand-ins of the launch API classes it uses
(each records the arguments it was built with, nothing more), to check what it would
start; where launch and launch_ros are installed, the real generate_launch_description()
is built too. What the processes really receive is tested by test_graph.py, which starts
the installed executables with pose_estimation_ros.nodes.graph.command_line, the same
description the launch file is built from.
"""
from __future__ import annotations

import importlib.util
import py_compile
import re
import sys
import types

import pytest
import yaml

from conftest import REPO
from pose_estimation_ros.core import models
from pose_estimation_ros.tools import processes
from pose_estimation_ros.core.params import NODE_PARAMETERS, load_parameters_file
from pose_estimation_ros.nodes.graph import (LAUNCH_ARGUMENTS, PIPELINE, GraphNode,
                                             command_line, computed_defaults)

LAUNCH_FILE = REPO / 'launch' / 'pose_estimation.launch.py'
CONFIG = REPO / 'config'
RVIZ_FILE = CONFIG / 'pose_estimation.rviz'
PACKAGE = 'pose_estimation_ros'
INSTALL = processes.INSTALL  # this distribution's install space (install-jazzy/ on Jazzy)
EXPECTED_ARGUMENTS = {
    # params_file, model_file, backend: computed, the default model's (core.models).
    'image_topic': '/image_raw', 'compressed': 'false', 'params_file': None,
    'model_file': None, 'backend': None, 'namespace': '', 'use_sim_time': 'false',
    'log_level': 'info', 'rviz': 'false', 'skeletons_3d': 'false',
    'depth_topic': '/camera/aligned_depth_to_color/image_raw',
    'camera_info_topic': '/camera/color/camera_info'}


def _launch_available() -> bool:
    # A bare `import launch` would find this repository's launch/ directory as a
    # namespace package; the real one has LaunchDescription.
    try:
        from launch import LaunchDescription  # noqa: F401
        return importlib.util.find_spec('launch_ros') is not None
    except ImportError:
        return False


class Recorded:
    """Stand-in for a launch API class: keeps its constructor arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __repr__(self):
        return f'{type(self).__name__}{self.args}{self.kwargs}'


_LAUNCH_API = {
    'launch': ['LaunchDescription'],
    'launch.actions': ['DeclareLaunchArgument', 'GroupAction', 'LogInfo'],
    'launch.conditions': ['IfCondition'],
    'launch.substitutions': ['LaunchConfiguration', 'PathJoinSubstitution'],
    'launch_ros.actions': ['Node', 'PushRosNamespace'],
    'launch_ros.parameter_descriptions': ['ParameterValue'],
    'launch_ros.substitutions': ['FindPackageShare'],
}


def _run_launch_file(monkeypatch):
    """generate_launch_description() of the launch file, built from recording classes."""
    for module_name, classes in _LAUNCH_API.items():
        module = types.ModuleType(module_name)
        for name in classes:
            setattr(module, name, type(name, (Recorded,), {}))
        monkeypatch.setitem(sys.modules, module_name, module)
    spec = importlib.util.spec_from_file_location('pose_estimation_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def _text(value):
    """A recorded substitution as readable text ('$name' for a launch configuration)."""
    if isinstance(value, (list, tuple)):
        return ''.join(_text(v) for v in value)
    if type(value).__name__ == 'LaunchConfiguration':
        return '$' + value.args[0]
    if type(value).__name__ == 'PathJoinSubstitution':
        return '/'.join(_text(v) for v in value.args[0])
    if type(value).__name__ == 'FindPackageShare':
        return f'<share {value.args[0]}>'
    return str(value)


@pytest.fixture
def description(monkeypatch):
    return _run_launch_file(monkeypatch)


def _nodes(description):
    [group] = [a for a in description.args[0] if type(a).__name__ == 'GroupAction']
    namespace, *nodes = group.args[0]
    assert _text(namespace.args[0]) == '$namespace'
    return [n.kwargs for n in nodes]


def cmake_executables() -> set[str]:
    text = (REPO / 'CMakeLists.txt').read_text()
    return set(re.findall(rf'"(\w+)={PACKAGE}\.[\w.]+"', text))


# ------------------------------------------------------------------ tests
def test_launch_file_compiles_and_declares_its_arguments(description, tmp_path):
    py_compile.compile(str(LAUNCH_FILE), cfile=str(tmp_path / 'launch.pyc'), doraise=True)
    declared = {a.args[0]: a.kwargs['default_value'] for a in description.args[0]
                if type(a).__name__ == 'DeclareLaunchArgument'}
    assert set(declared) == set(EXPECTED_ARGUMENTS)
    for name, default in EXPECTED_ARGUMENTS.items():
        if default is not None:
            assert declared[name] == default, name
    # The computed defaults come from the one default-model rule, for the installed package.
    computed, reason = computed_defaults(INSTALL / 'share' / PACKAGE)
    assert {k: declared[k] for k in computed} == computed
    chosen = models.default_model(INSTALL / 'share' / PACKAGE / 'config',
                                  INSTALL / 'share' / PACKAGE / 'models')
    assert computed['params_file'] == str(chosen.params_file) and reason == chosen.reason
    assert computed['backend'] == ('openvino' if 'human-pose' in computed['model_file']
                                   else 'auto')
    [log] = [a for a in description.args[0] if type(a).__name__ == 'LogInfo']
    assert log.kwargs['msg'] == f'default {reason}'
    if _launch_available():
        spec = importlib.util.spec_from_file_location('pose_estimation_launch_real',
                                                      LAUNCH_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        real = module.generate_launch_description()
        assert {a.name for a in real.get_launch_arguments()} == set(EXPECTED_ARGUMENTS)


def test_launch_starts_the_package_nodes_by_their_parameter_names(description):
    nodes = _nodes(description)
    ours = [n for n in nodes if n['package'] == PACKAGE]
    assert {n['executable'] for n in ours} <= cmake_executables()
    # Each node's name is a section of the parameters files.
    assert sorted(n['name'] for n in ours) == sorted(NODE_PARAMETERS)
    by_name = {n['name']: n for n in ours}
    assert by_name['image_encoder']['executable'] == 'image_encoder_node'
    assert by_name['inference']['executable'] == 'inference_node'
    assert by_name['openpose_decoder']['executable'] == 'openpose_decoder_node'
    remaps = {name: {src: _text(dst) for src, dst in node['remappings']}
              for name, node in by_name.items()}
    # Camera images reach the encoder (raw and compressed) and the decoder's overlay.
    assert remaps['image_encoder'] == {'image': '$image_topic',
                                       'image/compressed': '$image_topic/compressed'}
    assert remaps['openpose_decoder'] == {'image': '$image_topic'}
    # 3D skeletons: only with skeletons_3d:=true, depth and camera_info from arguments.
    assert by_name['skeleton_3d']['executable'] == 'skeleton_3d_node'
    assert _text(by_name['skeleton_3d']['condition'].args[0]) == '$skeletons_3d'
    assert remaps['skeleton_3d'] == {'depth': '$depth_topic',
                                     'camera_info': '$camera_info_topic'}
    for name, node in by_name.items():
        if name != 'skeleton_3d':
            assert node['condition'] is None, f'{name} must always start'
    for node in ours:
        params_file, sim_time, overrides = node['parameters']
        assert _text(params_file) == '$params_file', f'{node["name"]} misses the params file'
        assert _text(sim_time['use_sim_time'].args[0]) == '$use_sim_time'
        assert _text(node['arguments']) == '--ros-args--log-level$log_level'
        assert node['output'] == 'screen'
        for value in overrides.values():
            assert type(value).__name__ == 'ParameterValue'
    assert {k: _text(v.args[0]) for k, v in by_name['inference']['parameters'][2].items()} \
        == {'model_file_path': '$model_file', 'backend': '$backend'}
    assert {k: _text(v.args[0]) for k, v in
            by_name['image_encoder']['parameters'][2].items()} == {
        'subscribe_compressed': '$compressed'}
    [rviz] = [n for n in nodes if n['package'] == 'rviz2']
    assert rviz['executable'] == 'rviz2'
    assert _text(rviz['condition'].args[0]) == '$rviz'
    assert _text(rviz['arguments']) == f'-d<share {PACKAGE}>/config/pose_estimation.rviz'


def test_graph_command_lines_give_what_the_launch_file_gives(description, tmp_path):
    """command_line (the tests' way of starting the nodes) and the launch file are
    built from one description: same executables, names, parameters and remappings."""
    by_name = {n['name']: n for n in _nodes(description) if n['package'] == PACKAGE}
    assert [n.name for n in PIPELINE] == list(by_name)
    for node in PIPELINE:
        command = command_line(node, '/prefix', {
            'params_file': str(tmp_path / 'p.yaml'),
            'image_topic': '/cam/image', 'compressed': 'true', 'model_file': '',
            'namespace': 'robot', 'use_sim_time': 'true', 'log_level': 'warn'})
        launched = by_name[node.name]
        assert command[0] == f'/prefix/lib/{PACKAGE}/{launched["executable"]}'
        args = command[1:]
        pairs = {args[i]: args[i + 1] for i in range(len(args) - 1)
                 if args[i] in ('--log-level', '--params-file')}
        assert pairs == {'--log-level': 'warn', '--params-file': str(tmp_path / 'p.yaml')}
        remaps = [args[i + 1] for i, a in enumerate(args) if a == '-r']
        params = [args[i + 1] for i, a in enumerate(args) if a == '-p']
        values = {a.name: a.default for a in LAUNCH_ARGUMENTS}
        values['image_topic'] = '/cam/image'
        expected = [f'{src}:={_text(dst)}' for src, dst in launched['remappings']]
        for name, value in values.items():
            expected = [e.replace(f'${name}', str(value)) for e in expected]
        assert remaps == [f'__node:={node.name}', '__ns:=/robot'] + expected
        assert params[0] == 'use_sim_time:=true'
        assert [p.split(':=')[0] for p in params[1:]] == list(launched['parameters'][2])
    encoder = command_line(PIPELINE[0], '/prefix', {'compressed': 'true'})
    assert 'subscribe_compressed:=true' in encoder
    # Nothing installed under /prefix: the fallback model's files.
    inference = command_line(PIPELINE[1], '/prefix')
    assert f"model_file_path:='/prefix/share/{PACKAGE}/models/mobilenet_thin.onnx'" in \
        inference and "backend:='auto'" in inference
    assert f'/prefix/share/{PACKAGE}/config/mobilenet_thin.yaml' in inference
    with pytest.raises(ValueError, match='true or false'):
        command_line(PIPELINE[0], '/prefix', {'compressed': 'yes please'})
    assert isinstance(PIPELINE[0], GraphNode)
    assert {a.name for a in LAUNCH_ARGUMENTS} == set(EXPECTED_ARGUMENTS)


def test_launch_config_files_exist_and_parse():
    for name in (models.HPE_PARAMS_FILE, models.FALLBACK_PARAMS_FILE, 'pose_estimation.rviz',
                 'fastdds.xml'):
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
