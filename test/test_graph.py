"""The graph as ``ros2 launch`` runs it: the three installed executables as separate
processes (pose_estimation_ros.tools.processes, from the description the launch file is built from),
a camera driver in a fourth process with the middleware's defaults, outputs watched over
DDS by this test process.

- Below the pipeline's rate: at least 95% of the frames sent give a Skeleton2DArray with
  the frame's stamp, for reliable and best-effort publishers, 640x480 to 1920x1080, raw
  bgr8/rgb8 and JPEG CompressedImage.
- A 30 Hz camera (faster than the pipeline): the separate processes keep up with the
  single-process runner measured in the same run, latency stays bounded, no queue grows.
- Shutdown: SIGINT once or twice (a terminal and ros2 launch each send one), SIGTERM:
  every node exits 0 within 2 s and prints no traceback.
"""
from __future__ import annotations

import signal
import statistics
import threading
import time

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, QoSReliabilityPolicy

from conftest import DATA, require_model
from pose_estimation_ros.msg import Skeleton2DArray
from pose_estimation_ros.tools.processes import ProcessGraph, run_camera

TOPIC = '/camera/image_raw'
FRAMES = DATA / 'posetrack_bonn' / 'images'
RELIABLE = QoSProfile(depth=100, reliability=QoSReliabilityPolicy.RELIABLE)


class Outputs:
    """Skeleton2DArray stamps and arrival times, collected on a background thread."""

    def __init__(self, ros, topic: str = '/skeletons'):
        self.ros = ros
        self.arrivals: dict[int, int] = {}  # stamp ns -> arrival ns (first)
        self.lock = threading.Lock()
        from rclpy.node import Node
        self.node = node = Node(f'skeleton_watcher_{id(self)}', context=ros.context)
        self.subscription = node.create_subscription(Skeleton2DArray, topic,
                                                     self._on_skeletons, RELIABLE)
        self.executor = SingleThreadedExecutor(context=ros.context)
        self.executor.add_node(node)
        self._stop = False
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self):
        while not self._stop:
            self.executor.spin_once(timeout_sec=0.05)

    def _on_skeletons(self, msg):
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            self.arrivals.setdefault(stamp, now)

    def wait_for(self, stamps, timeout: float) -> set[int]:
        """Wait until all ``stamps`` arrived, at most ``timeout`` s; those that did."""
        wanted = set(stamps)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if wanted <= set(self.arrivals):
                    break
            time.sleep(0.05)
        with self.lock:
            return wanted & set(self.arrivals)

    def latencies_ms(self, stamps) -> list[float]:
        with self.lock:
            return [(self.arrivals[s] - s) / 1e6 for s in stamps if s in self.arrivals]

    def close(self):
        self._stop = True
        self.thread.join(2.0)
        self.executor.shutdown()
        self.node.destroy_node()


def _wait_graph_ready(ros, graph: ProcessGraph, timeout: float = 60.0) -> None:
    """All nodes up: the encoder listens to the camera, inference (model loaded) to the
    encoder, the decoder to inference."""
    node = ros.node(f'graph_probe_{len(ros.nodes)}')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        graph.assert_running()
        if (node.count_subscribers(TOPIC) >= 1 and node.count_subscribers('/encoded_tensor')
                and node.count_subscribers('/network_output')
                and node.count_publishers('/skeletons')):
            return
        time.sleep(0.1)
    pytest.fail('the graph did not come up within '
                f'{timeout} s:\n' + '\n'.join(graph.log(n)[-2000:] for n in graph.processes))


@pytest.fixture(scope='module')
def module_ros():
    import rclpy
    from conftest import RosHarness
    from rclpy.executors import MultiThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    harness = RosHarness(context, MultiThreadedExecutor(num_threads=2, context=context))
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture(scope='module')
def graph(module_ros, tmp_path_factory):
    """The three nodes as ros2 launch starts them, raw and compressed input."""
    require_model()
    processes = ProcessGraph({'image_topic': TOPIC, 'compressed': 'true'}).start()
    try:
        _wait_graph_ready(module_ros, processes)
        yield processes
    finally:
        processes.stop()


@pytest.fixture(scope='module')
def outputs(module_ros, graph):
    watcher = Outputs(module_ros)
    yield watcher
    watcher.close()


CASES = [(qos, size, fmt) for fmt in ('raw', 'jpeg')
         for size in ('640x480', '960x540', '1280x720', '1920x1080')
         for qos in ('reliable', 'best_effort')]


@pytest.mark.parametrize('qos, size, image_format', CASES,
                         ids=[f'{q}-{s}-{f}' for q, s, f in CASES])
def test_every_frame_below_the_pipeline_rate(graph, outputs, qos, size, image_format):
    # rgb8 for the two middle sizes, bgr8 for the others: both encodings cross processes.
    encoding = 'rgb8' if size in ('960x540', '1280x720') else 'bgr8'
    sent = run_camera(images=FRAMES, topic=TOPIC, size=size, qos=qos, image_format=image_format,
                      encoding=encoding, rate=2.5, frames=20)
    got = outputs.wait_for(sent, timeout=15.0)
    graph.assert_running()
    assert len(got) >= 0.95 * len(sent), (
        f'{len(got)} of {len(sent)} frames gave skeletons ({qos}, {size}, {image_format})'
        f'\n--- encoder log\n{graph.log("image_encoder_node")[-2000:]}')


def _throughput(ros, runner: bool, frames: int = 240, rate: float = 30.0):
    """A 30 Hz camera into a fresh graph: (outputs per second, latency ms per frame in
    order of sending, frames sent)."""
    processes = ProcessGraph({'image_topic': TOPIC}, runner=runner).start()
    watcher = None
    try:
        _wait_graph_ready(ros, processes)
        watcher = Outputs(ros)
        # Warm up (first inferences are slow), then measure.
        run_camera(images=FRAMES, topic=TOPIC, size='960x540', qos='reliable', rate=rate, frames=30)
        sent = run_camera(images=FRAMES, topic=TOPIC, size='960x540', qos='reliable', rate=rate,
                          frames=frames)
        watcher.wait_for(sent, timeout=3.0)
        processes.assert_running()
        delivered = [s for s in sent if s in watcher.arrivals]
        assert len(delivered) > 10, f'only {len(delivered)} outputs for {len(sent)} frames'
        span = (delivered[-1] - delivered[0]) / 1e9
        rate_out = (len(delivered) - 1) / span
        return rate_out, watcher.latencies_ms(delivered), sent
    finally:
        if watcher is not None:
            watcher.close()
        processes.stop()


def test_30hz_camera_separate_processes_keep_up_with_the_runner(module_ros):
    """Faster than the pipeline: each stage takes the newest frame, so the output rate is
    the pipeline's, latency is bounded and nothing queues up."""
    require_model()
    single_rate, single_latency, _ = _throughput(module_ros, runner=True)
    multi_rate, multi_latency, sent = _throughput(module_ros, runner=False)
    single_median = statistics.median(single_latency)
    multi_median = statistics.median(multi_latency)
    report = (f'single process: {single_rate:.1f} Hz, median latency {single_median:.0f} ms;'
              f' separate processes: {multi_rate:.1f} Hz, median latency '
              f'{multi_median:.0f} ms ({len(multi_latency)} outputs of {len(sent)} frames)')
    print(report)
    assert multi_rate >= 0.9 * single_rate, report
    assert multi_median <= 1.5 * single_median, report
    # No queue grows: the last quarter's latency is no worse than the second quarter's.
    quarter = len(multi_latency) // 4
    early = statistics.median(multi_latency[quarter:2 * quarter])
    late = statistics.median(multi_latency[3 * quarter:])
    assert late <= 1.3 * early + 20.0, f'latency grows: {early:.0f} -> {late:.0f} ms'


@pytest.mark.parametrize('signals', [
    [signal.SIGINT], [signal.SIGINT, signal.SIGINT], [signal.SIGTERM]],
    ids=['sigint', 'sigint-twice', 'sigterm'])
def test_clean_shutdown(module_ros, signals):
    require_model()
    processes = ProcessGraph({'image_topic': TOPIC}).start()
    try:
        _wait_graph_ready(module_ros, processes)
        watcher = Outputs(module_ros)
        # Stop while frames flow: mid-inference, mid-publish.
        camera = threading.Thread(target=run_camera, kwargs=dict(
            images=FRAMES, topic=TOPIC, size='640x480', qos='reliable', rate=15.0, frames=60))
        camera.start()
        deadline = time.monotonic() + 30.0
        while len(watcher.arrivals) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        watcher.close()
        assert len(watcher.arrivals) >= 3, 'no skeletons before the stop'
        start = time.monotonic()
        for number in signals:
            processes.signal(number)
            time.sleep(0.05)  # the terminal's, then ros2 launch's
        codes = processes.wait(2.0)
        elapsed = time.monotonic() - start
    finally:
        processes.stop()
    camera.join(60.0)
    logs = {name: processes.log(name) for name in processes.processes}
    assert codes == {name: 0 for name in processes.processes}, (codes, logs)
    assert elapsed <= 2.1
    for name, text in logs.items():
        assert 'Traceback' not in text, f'{name} printed a traceback:\n{text[-3000:]}'
