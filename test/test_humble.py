"""ROS 2 Humble (rclpy 3.3), checked here without Humble: the nodes run under
test/humble_rclpy.py, which gives Kilted's rclpy Humble's API (no rclpy.event_handler,
message-only subscription callbacks, no MessageInfo, no Node.list_parameters, no
Subscription.get_publisher_count, ...; its docstring lists each with its evidence). The
package meets it through pose_estimation_ros.nodes.compat. Humble's own Fast DDS 2.6 and
Python 3.10 are not run here.

- The three nodes as separate processes, each under the emulation, beside a camera driver
  (Kilted, in its own process): every frame gives skeletons, also after the camera is
  restarted (its sequence numbers start again); /diagnostics says skips are unknown.
- A bad parameters file stops a node with the closest valid name (the declared names
  come from get_parameters_by_prefix on Humble).
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from conftest import DATA, REPO, RosHarness, require_model, shipped_params
from pose_estimation_ros.tools.processes import (GraphWatcher, ProcessGraph, node_environment,
                                                 run_camera)

HUMBLE = [sys.executable, str(REPO / 'test' / 'humble_rclpy.py')]
MODULES = {'image_encoder_node': 'pose_estimation_ros.nodes.image_encoder_node',
           'inference_node': 'pose_estimation_ros.nodes.inference_node',
           'openpose_decoder_node': 'pose_estimation_ros.nodes.openpose_decoder_node'}
NAMESPACE = 'humble'
TOPIC = f'/{NAMESPACE}/camera/image_raw'
FRAMES = DATA / 'posetrack_bonn' / 'images'


def humble_command(executable: str, command: list[str]) -> list[str]:
    """The installed executable's command line, its node module run under the emulation."""
    return [*HUMBLE, MODULES[executable], *command[1:]]


def humble_env() -> dict[str, str]:
    # Humble reads ROS_LOCALHOST_ONLY, not ROS_AUTOMATIC_DISCOVERY_RANGE.
    return dict(node_environment(), ROS_LOCALHOST_ONLY='1')


@pytest.fixture(scope='module')
def humble_graph():
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    require_model()
    context = rclpy.Context()
    rclpy.init(context=context)
    harness = RosHarness(context, SingleThreadedExecutor(context=context))
    graph = ProcessGraph({'namespace': NAMESPACE, 'image_topic': TOPIC}, wrap=humble_command,
                         env=humble_env()).start()
    watcher = GraphWatcher(context=context, namespace=NAMESPACE)
    try:
        try:
            watcher.wait_ready(graph, TOPIC, timeout=180.0)
            watcher.wait_matched()
        except RuntimeError as error:
            pytest.fail(str(error))
        yield graph, watcher
    finally:
        watcher.close()
        graph.stop()
        harness.close()


@pytest.mark.parametrize('qos', ['best_effort', 'reliable'])
def test_every_frame_and_a_restarted_camera_under_humble(humble_graph, qos):
    graph, watcher = humble_graph
    rate = min(2.5, 0.4 / max(graph.inference_seconds(), 1e-3))
    sent = []
    for _ in range(2):  # the second camera process: a restarted driver
        sent += run_camera(images=FRAMES, topic=TOPIC, size='640x480', qos=qos, rate=rate,
                           frames=10)
    got = set(watcher.delivered(sent, timeout=15.0 + 2.0 / rate))
    graph.assert_running()
    assert len(got) >= 0.95 * len(sent), (
        f'{len(got)} of {len(sent)} frames ({qos}, {rate:.2f} Hz); missing '
        f'{[i for i, s in enumerate(sent) if s not in got]}\n'
        f'{graph.log("image_encoder_node")[-3000:]}')
    for name, text in ((n, graph.log(n)) for n in graph.processes):
        assert 'Traceback' not in text, f'{name}:\n{text[-3000:]}'
    # No sequence numbers on Humble: skips are unknown, and the status says so.
    watcher.wait(lambda: watcher.latest('image_encoder') is not None, 10.0)
    values = {kv.key: kv.value for kv in watcher.latest('image_encoder').values}
    assert 'unknown' in values['frames skipped'], values


def test_unknown_parameter_stops_the_node_under_humble(tmp_path):
    params = shipped_params()
    params['openpose_decoder']['ros__parameters']['threshold_heatmp'] = 0.1
    params_file = tmp_path / 'params.yaml'
    params_file.write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [*HUMBLE, MODULES['openpose_decoder_node'], '--ros-args', '--params-file',
         str(params_file)], capture_output=True, text=True, timeout=120, env=humble_env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'unknown parameter "threshold_heatmp" (did you mean "threshold_heatmap"?)' in \
        result.stderr, result.stderr
