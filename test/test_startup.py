"""Bad configuration stops the installed executables with a message that says what to fix
and a non-zero exit; the same validation refuses live set_parameters.

The executables are run as `ros2 run` runs them (installed by colcon, as subprocesses).
"""
from __future__ import annotations

import subprocess

import pytest
import yaml
from rcl_interfaces.srv import SetParameters

from conftest import require_model, shipped_params
from pose_estimation_ros.core.params import DECODER_PARAMETERS, check_node_section
from pose_estimation_ros.nodes.openpose_decoder_node import OpenPoseDecoderNode
from pose_estimation_ros.tools.processes import INSTALL
from test_runner import _set

# This distribution's install space (install-jazzy/ on Jazzy).
EXECUTABLES = INSTALL / 'lib' / 'pose_estimation_ros'


def run_executable(name: str, params: dict, tmp_path, *extra: str):
    """Run an installed executable with ``params`` as its parameters file; it must stop
    by itself (a configuration error), so a timeout is a failure."""
    executable = EXECUTABLES / name
    assert executable.is_file(), 'run scripts/setup.sh (colcon build) first'
    params_file = tmp_path / 'params.yaml'
    params_file.write_text(yaml.safe_dump(params))
    return subprocess.run([str(executable), '--ros-args', '--params-file', str(params_file),
                           *extra], capture_output=True, text=True, timeout=60)


def shipped_params_with_model() -> dict:
    params = shipped_params()
    params['inference']['ros__parameters']['model_file_path'] = str(require_model())
    return params


@pytest.mark.parametrize('executable', ['openpose_decoder_node', 'pose_estimation'])
def test_unknown_parameter_name_in_the_file_stops_with_the_closest_name(tmp_path, executable):
    params = shipped_params_with_model()
    params['openpose_decoder']['ros__parameters']['threshold_heatmp'] = 0.1
    result = run_executable(executable, params, tmp_path)
    assert result.returncode == 1, result.stderr
    assert 'unknown parameter "threshold_heatmp" (did you mean "threshold_heatmap"?)' in \
        result.stderr, result.stderr
    assert 'section "/openpose_decoder"' in result.stderr


def test_unknown_parameter_in_inference_section_of_the_runner(tmp_path):
    params = shipped_params_with_model()
    params['inference']['ros__parameters']['model_path'] = '/tmp/model.onnx'
    result = run_executable('pose_estimation', params, tmp_path)
    assert result.returncode == 1, result.stderr
    assert '"model_path" (did you mean "model_file_path"?)' in result.stderr, result.stderr


def test_edges_past_labels_stop_the_decoder(tmp_path):
    params = shipped_params_with_model()
    params['openpose_decoder']['ros__parameters']['labels'] = ['nose', 'neck', 'eye']
    params['openpose_decoder']['ros__parameters']['threshold_part_counter'] = 2
    result = run_executable('openpose_decoder_node', params, tmp_path)
    assert result.returncode == 1, result.stderr
    assert 'edges' in result.stderr and 'part indices in [0, 2]' in result.stderr, \
        result.stderr


@pytest.mark.parametrize('content, message', [
    (None, 'not found'),
    (b'', 'cannot load the model'),
    (b'just some text, not a model', 'not an ONNX model'),
    ('truncated', 'cannot load the model'),
], ids=['missing', 'empty', 'text', 'truncated'])
def test_bad_model_file_stops_the_inference_node(tmp_path, content, message):
    model = tmp_path / 'model.onnx'
    if content == 'truncated':
        model.write_bytes(require_model().read_bytes()[:100_000])
    elif content is not None:
        model.write_bytes(content)
    params = shipped_params_with_model()
    params['inference']['ros__parameters']['model_file_path'] = str(model)
    result = run_executable('inference_node', params, tmp_path)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr and str(model) in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr, result.stderr


def test_parameters_file_check_covers_only_the_nodes_own_sections(tmp_path):
    """Sections for every node (a robot's shared /**) and other nodes' sections may hold
    names this node does not know; its own section, however addressed, may not."""
    declared = [p.name for p in DECODER_PARAMETERS]
    path = tmp_path / 'params.yaml'

    def check(document, fqn='/openpose_decoder'):
        path.write_text(yaml.safe_dump(document))
        check_node_section(path, fqn, declared)

    section = {'ros__parameters': {'threshold_heatmap': 0.1, 'use_sim_time': True,
                                   'qos_overrides': {'/skeletons': {'publisher': {
                                       'depth': 5}}}}}
    check({'openpose_decoder': section, '/**': {'ros__parameters': {'camera_fps': 30}},
           'camera_driver': {'ros__parameters': {'fps': 30}},
           '/robot/*': {'ros__parameters': {'anything': 1}}})
    typo = {'ros__parameters': {'marker_lifetme': 2.0}}
    for key, fqn in (('openpose_decoder', '/openpose_decoder'),
                     ('/robot/openpose_decoder', '/robot/openpose_decoder'),
                     ('/**/openpose_decoder', '/robot/openpose_decoder'),
                     ('/**/openpose_decoder', '/openpose_decoder')):
        with pytest.raises(ValueError, match='did you mean "marker_lifetime"'):
            check({key: typo}, fqn)
    check({'/other_robot/openpose_decoder': typo}, '/robot/openpose_decoder')


def test_live_set_parameters_is_validated_like_the_start_up(ros):
    decoder = ros.add(OpenPoseDecoderNode(context=ros.context))
    client = ros.node('tuner').create_client(SetParameters, '/openpose_decoder/set_parameters')
    assert client.wait_for_service(timeout_sec=10.0)
    even = _set(ros, client, 'nms_kernel_size', 4)
    assert not even.successful and 'nms_kernel_size' in even.reason and 'odd' in even.reason
    # Within their declared ranges each, but threshold_edge_sampling_counter must stay
    # below edge_sampling_steps: the set is validated as a whole.
    refused = _set(ros, client, 'edge_sampling_steps', 2)
    assert not refused.successful and 'threshold_edge_sampling_counter' in refused.reason
    topology = _set(ros, client, 'threshold_part_counter', 19)  # more parts than labels
    assert not topology.successful and 'threshold_part_counter' in topology.reason
    unknown = _set(ros, client, 'threshold_heatmp', 0.1)
    assert not unknown.successful
    assert decoder.decoder.params.nms_kernel_size == 3
    assert decoder.decoder.params.edge_sampling_steps == 8
    assert _set(ros, client, 'nms_kernel_size', 5).successful
    assert decoder.decoder.params.nms_kernel_size == 5
