"""Reliability of the graph as robots run it (three separate processes started as
``ros2 launch`` starts them, pose_estimation_ros.tools.processes):

- every bad message of the catalogue (test/bad_inputs.py) sent to the running graph is
  dropped, counted and named on /diagnostics, logged (rate-limited), and the next good
  message still gives skeletons;
- stamps going backwards, repeated or jumping still give one output per frame, and the
  tracker starts over when time goes back;
- a neighbour killed while frames flow and started again: the others keep running and
  the graph resumes without restarting them;
- /diagnostics: each node's status about once a second (ERROR while nothing arrives, OK
  with rates while frames flow, WARN while it drops messages).
"""
from __future__ import annotations

import signal
import threading
import time

import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor

from bad_inputs import (BAD_INPUTS, COMPRESSED_TOPIC, ENCODED_TOPIC, GOOD, IMAGE_TOPIC,
                        MSG_TYPES, OUTPUT_TOPIC, header)
from conftest import DATA, RosHarness, require_model
from pose_estimation_ros.nodes.diagnostics import stamp_ns
from pose_estimation_ros.nodes.graph import PIPELINE
from pose_estimation_ros.tools.processes import (SHARE, GraphWatcher, NodeProcess,
                                                 ProcessGraph, run_camera)

NAMESPACE = 'faults'  # a graph of its own: no topic shared with other tests' graphs
CAMERA_TOPIC = f'/{NAMESPACE}/camera/image_raw'
FRAMES = DATA / 'posetrack_bonn' / 'images'
# The catalogue's relative topics as the graph's nodes see them.
GRAPH_TOPICS = {IMAGE_TOPIC: CAMERA_TOPIC, COMPRESSED_TOPIC: CAMERA_TOPIC + '/compressed',
                ENCODED_TOPIC: f'/{NAMESPACE}/encoded_tensor',
                OUTPUT_TOPIC: f'/{NAMESPACE}/network_output'}
EXECUTABLE = {n.name: n.executable for n in PIPELINE}


class Watcher(GraphWatcher):
    """The graph watched, with publishers to each of its inputs; ``wait`` fails the test
    on a timeout."""

    def __init__(self, context):
        super().__init__({topic: (MSG_TYPES[topic], name) for topic, name in
                          GRAPH_TOPICS.items()}, context=context, namespace=NAMESPACE)

    def wait(self, predicate, timeout: float, what: str):
        if not super().wait(predicate, timeout):
            pytest.fail(f'timed out after {timeout} s waiting for {what}')

    def wait_matched(self, timeout: float = 60.0):
        self.wait(lambda: all(p.get_subscription_count() for p in self.publishers.values()),
                  timeout, 'the graph to subscribe to every input')


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


@pytest.fixture(scope='module')
def faults_graph():
    import rclpy

    require_model()
    context = rclpy.Context()
    rclpy.init(context=context)
    harness = RosHarness(context, SingleThreadedExecutor(context=context))
    # The catalogue is sized for mobilenet_thin's tensors: that model.
    graph = ProcessGraph({'namespace': NAMESPACE, 'image_topic': CAMERA_TOPIC,
                          'compressed': 'true',
                          'params_file': str(SHARE / 'config' / 'mobilenet_thin.yaml'),
                          'model_file': str(SHARE / 'models' / 'mobilenet_thin.onnx'),
                          'backend': 'onnxruntime'}).start()
    watcher = Watcher(context)
    try:
        watcher.wait_matched()
        yield graph, watcher
    finally:
        watcher.close()
        graph.stop()
        harness.close()


def test_diagnostics_error_while_silent_then_ok_with_rates(faults_graph):
    graph, watcher = faults_graph
    nodes = [n.name for n in PIPELINE if n.condition is None]
    # Nothing sent yet: every node says so, about once a second.
    watcher.wait(lambda: all(len(watcher.statuses.get(n, [])) >= 3 for n in nodes), 30.0,
                 'three statuses from every node')
    for name in nodes:
        statuses = watcher.statuses[name]
        assert statuses[-1].hardware_id
        keys = set(values(statuses[-1]))
        assert {'input rate (Hz)', 'output rate (Hz)', 'frames skipped',
                'messages dropped', 'processing time median (ms)'} <= keys
    watcher.wait(lambda: all(watcher.latest(n).level == DiagnosticStatus.ERROR
                             for n in nodes), 30.0, 'ERROR (no input) from every node')
    # Before that, the encoder and inference said they were starting, then ready.
    for executable in ('image_encoder_node', 'inference_node'):
        assert 'starting: waiting for' in graph.log(executable), graph.log(executable)
    assert 'ready: first skeletons can flow' in graph.log('image_encoder_node')
    assert 'no input' in watcher.latest('inference').message
    assert {'backend', 'model'} <= set(values(watcher.latest('inference')))
    # Frames flowing: OK, with the camera's rate in and out (2.5 Hz, or 40% of what this
    # machine's inference allows).
    rate = min(2.5, 0.4 / max(graph.inference_seconds(), 1e-3))
    camera = threading.Thread(target=run_camera, kwargs=dict(
        images=FRAMES, topic=CAMERA_TOPIC, size='640x480', qos='reliable', rate=rate,
        frames=20))
    camera.start()
    try:
        watcher.wait(lambda: all(
            watcher.latest(n).level == DiagnosticStatus.OK
            and float(values(watcher.latest(n))['output rate (Hz)']) > 0.4 * rate
            for n in nodes), 30.0 + 10 / rate, 'OK with an output rate from every node')
    finally:
        camera.join(60.0 + 20 / rate)
    graph.assert_running()


@pytest.mark.parametrize('bad', BAD_INPUTS, ids=[b.name for b in BAD_INPUTS])
def test_bad_input_is_dropped_counted_and_the_next_good_frame_still_works(faults_graph, bad):
    graph, watcher = faults_graph
    index = 1000 + BAD_INPUTS.index(bad) * 2
    before = watcher.latest(bad.node)
    dropped_before = int(values(before)['messages dropped']) if before else 0
    watcher.publishers[bad.topic].publish(bad.build(header(index)))
    # Counted and named on /diagnostics (the log is rate-limited: see below).
    watcher.wait(lambda: (s := watcher.latest(bad.node)) is not None
                 and int(values(s)['messages dropped']) > dropped_before, 20.0,
                 f'{bad.node} to count the dropped {bad.name}')
    status = watcher.latest(bad.node)
    assert bad.error in values(status)['last drop'], values(status)['last drop']
    assert status.level == DiagnosticStatus.WARN and 'dropping' in status.message
    # Nothing came out for it; the next good message does.
    good = header(index + 1)
    watcher.publishers[bad.topic].publish(GOOD[bad.topic](good))
    watcher.wait(lambda: stamp_ns(good.stamp) in watcher.skeletons, 60.0,
                 f'skeletons after {bad.name}')
    assert stamp_ns(header(index).stamp) not in watcher.skeletons
    graph.assert_running()
    log = graph.log(EXECUTABLE[bad.node])
    assert 'dropped' in log and 'Traceback' not in log


def test_drop_logs_are_rate_limited(faults_graph):
    """After the catalogue: each node logged its drops, at most one line per 5 s."""
    graph, _ = faults_graph
    for name in ('image_encoder', 'inference', 'openpose_decoder'):
        lines = [line for line in graph.log(EXECUTABLE[name]).splitlines()
                 if ']: dropped ' in line]
        assert lines, f'{name} logged no drop'
        stamps = [float(line.split('[')[2].split(']')[0]) for line in lines]
        assert all(b - a >= 4.9 for a, b in zip(stamps, stamps[1:])), stamps


def test_stamps_backwards_repeated_and_jumping(faults_graph):
    graph, watcher = faults_graph
    publisher = watcher.publishers[IMAGE_TOPIC]
    resets = graph.log('openpose_decoder_node').count('time went back')
    base = 1_800_000_000
    sequence = [base + 10, base + 11, base + 11, base + 5, base + 100_000, base + 100_001]
    for sec in sequence:
        msg = GOOD[IMAGE_TOPIC](header())
        msg.header.stamp.sec = sec
        publisher.publish(msg)
        # One at a time: the encoder keeps only the newest camera frame.
        watcher.wait(lambda sec=sec: sec * 10**9 in watcher.skeletons, 60.0,
                     f'skeletons stamped {sec}')
    graph.assert_running()
    # base + 5 after base + 11: the tracker starts over (once more than before).
    assert graph.log('openpose_decoder_node').count('time went back') == resets + 1


def test_inference_killed_and_restarted_while_frames_flow(faults_graph):
    graph, watcher = faults_graph
    stop = threading.Event()

    def camera():
        while not stop.is_set():
            run_camera(images=FRAMES, topic=CAMERA_TOPIC, size='640x480', qos='reliable',
                       rate=5.0, frames=10)

    feeder = threading.Thread(target=camera, daemon=True)
    feeder.start()
    try:
        count = len(watcher.skeletons)
        watcher.wait(lambda: len(watcher.skeletons) > count + 3, 60.0, 'skeletons flowing')
        inference = graph.processes['inference_node']
        command = inference.popen.args
        inference.popen.send_signal(signal.SIGKILL)
        inference.popen.wait(10.0)
        time.sleep(2.0)
        count = len(watcher.skeletons)
        graph.processes['inference_node'] = NodeProcess(command)
        watcher.wait(lambda: len(watcher.skeletons) > count + 3, 90.0,
                     'skeletons again after inference restarted')
        graph.assert_running()
        for name in ('image_encoder_node', 'openpose_decoder_node'):
            assert 'Traceback' not in graph.log(name)
    finally:
        stop.set()
        feeder.join(60.0)
