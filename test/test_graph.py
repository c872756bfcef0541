"""The graph as ``ros2 launch`` runs it: the three installed executables as separate
processes (pose_estimation_ros.tools.processes, from the description the launch file is built from),
a camera driver in a fourth process with the middleware's defaults, outputs watched over
DDS by this test process.

- Below the pipeline's rate: at least 95% of the frames sent give a Skeleton2DArray with
  the frame's stamp, for reliable and best-effort publishers, 640x480 to 1920x1080, raw
  bgr8/rgb8 and JPEG CompressedImage. The network image is small (328x184: the camera
  frames, not the network, are what crosses processes here) and the camera rate is
  2.5 Hz or, on a CPU too slow for that, 40% of the rate the inference node measured at
  start-up on this machine. A restarted camera driver loses no frame either.
- A 30 Hz camera (faster than the pipeline): the separate processes keep up with the
  single-process runner measured in the same run, latency stays bounded, no queue grows.
  Long enough for at least about 30 outputs at this machine's inference time.
- Shutdown: SIGINT once or twice (a terminal and ros2 launch each send one), SIGTERM:
  every node exits 0 within 2 s after the inference call under way (at most two
  start-up inference times) and prints no traceback.
"""
from __future__ import annotations

import math
import signal
import statistics
import threading
import time
from pathlib import Path

import pytest
import yaml
from rclpy.qos import QoSProfile, QoSReliabilityPolicy

from conftest import DATA, require_model
from pose_estimation_ros.nodes.graph import computed_defaults
from pose_estimation_ros.tools.processes import SHARE, GraphWatcher, ProcessGraph, run_camera

TOPIC = '/camera/image_raw'
FRAMES = DATA / 'posetrack_bonn' / 'images'
RELIABLE = QoSProfile(depth=100, reliability=QoSReliabilityPolicy.RELIABLE)
DELIVERY_RATE = 2.5  # Hz, where the machine is fast enough
SMALL_NETWORK_IMAGE = (328, 184)


def _small_network_image_params(path: Path) -> Path:
    """The default model's parameters file with a 328x184 network image, at ``path``."""
    source = Path(computed_defaults(SHARE)[0]['params_file'])
    params = yaml.safe_load(source.read_text())
    sections = {key.rstrip('/').split('/')[-1]: value['ros__parameters']
                for key, value in params.items()}
    width, height = SMALL_NETWORK_IMAGE
    encoder = sections['image_encoder']
    encoder.update(network_image_width=width, network_image_height=height)
    nchw = str(encoder.get('tensor_layout', 'nhwc')).lower() == 'nchw'
    sections['inference']['input_shape'] = [1, 3, height, width] if nchw else \
        [1, height, width, 3]
    path.write_text(yaml.safe_dump(params))
    return path


def _arguments(namespace: str, **more) -> dict[str, str]:
    """Launch arguments of a graph of its own: its namespace and camera topic, so that
    graphs of consecutive tests never share topics."""
    return {'namespace': namespace, 'image_topic': f'/{namespace}{TOPIC}', **more}


def _wait_graph_ready(ros, graph: ProcessGraph) -> None:
    """All nodes up (the encoder listens to the camera, inference to the encoder, the
    decoder to inference), or the test fails with their logs."""
    namespace = graph.arguments['namespace']
    watcher = GraphWatcher(context=ros.context, namespace=namespace)
    try:
        watcher.wait_ready(graph, f'/{namespace}{TOPIC}', timeout=120.0)
    except RuntimeError as error:
        pytest.fail(str(error))
    finally:
        watcher.close()


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
    params_file = _small_network_image_params(tmp_path_factory.mktemp('delivery') /
                                              'params.yaml')
    processes = ProcessGraph(_arguments('delivery', compressed='true',
                                        params_file=str(params_file))).start()
    try:
        _wait_graph_ready(module_ros, processes)
        # Below the pipeline's rate on this machine, whatever its CPU.
        processes.rate = min(DELIVERY_RATE, 0.4 / max(processes.inference_seconds(), 1e-3))
        yield processes
    finally:
        processes.stop()


@pytest.fixture(scope='module')
def outputs(module_ros, graph):
    watcher = GraphWatcher(context=module_ros.context, namespace='delivery')
    watcher.wait_matched()
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
    sent = run_camera(images=FRAMES, topic=f'/delivery{TOPIC}', size=size, qos=qos,
                      image_format=image_format,
                      encoding=encoding, rate=graph.rate, frames=20)
    got = set(outputs.delivered(sent, timeout=15.0 + 2.0 / graph.rate))
    graph.assert_running()
    assert len(got) >= 0.95 * len(sent), (
        f'{len(got)} of {len(sent)} frames gave skeletons ({qos}, {size}, {image_format}, '
        f'{graph.rate:.2f} Hz; missing frames {[i for i, t in enumerate(sent) if t not in got]})'
        f'\n--- encoder log\n{graph.log("image_encoder_node")[-2000:]}')


def test_restarted_camera_loses_no_frame(graph, outputs):
    """A camera driver restarted (a new publisher whose sequence numbers start again at
    1): its frames are new frames, on every distribution (Jazzy's MessageInfo has no
    publisher id to tell the two apart)."""
    sent = []
    for _ in range(2):
        sent += run_camera(images=FRAMES, topic=f'/delivery{TOPIC}', size='640x480',
                           qos='best_effort', rate=graph.rate, frames=10)
    got = set(outputs.delivered(sent, timeout=15.0 + 2.0 / graph.rate))
    graph.assert_running()
    assert len(got) >= 0.95 * len(sent), (
        f'{len(got)} of {len(sent)} frames; missing '
        f'{[i for i, t in enumerate(sent) if t not in got]}')


def _throughput(ros, runner: bool, namespace: str, rate: float = 30.0):
    """A 30 Hz camera into a fresh graph: (outputs per second, latency ms per frame in
    order of sending, frames sent). 8 s of frames, or enough for about 30 outputs at the
    inference time this graph measured at start-up."""
    processes = ProcessGraph(_arguments(namespace), runner=runner).start()
    topic = f'/{namespace}{TOPIC}'
    watcher = None
    try:
        _wait_graph_ready(ros, processes)
        seconds = processes.inference_seconds()
        frames = max(240, math.ceil(rate * 30 * 1.3 * seconds))
        watcher = GraphWatcher(context=ros.context, namespace=namespace)
        watcher.wait_matched()
        # Warm up (first inferences are slow), then measure.
        run_camera(images=FRAMES, topic=topic, size='960x540', qos='reliable', rate=rate,
                   frames=max(30, math.ceil(rate * 3 * seconds)))
        sent = run_camera(images=FRAMES, topic=topic, size='960x540', qos='reliable',
                          rate=rate, frames=frames, timeout=120.0 + frames / rate)
        delivered = watcher.delivered(sent, timeout=3.0 + 2 * seconds)
        processes.assert_running()
        assert len(delivered) > 10, f'only {len(delivered)} outputs for {len(sent)} frames'
        span = (delivered[-1] - delivered[0]) / 1e9
        return (len(delivered) - 1) / span, watcher.latencies_ms(delivered), sent
    finally:
        if watcher is not None:
            watcher.close()
        processes.stop()


def test_30hz_camera_separate_processes_keep_up_with_the_runner(module_ros):
    """Faster than the pipeline: each stage takes the newest frame, so the output rate is
    the pipeline's, latency is bounded and nothing queues up. Two rounds, alternated,
    the better of each graph's (the machine is shared and noisy)."""
    require_model()
    runs = {True: [], False: []}
    for round_ in range(2):
        for runner in (True, False):
            runs[runner].append(_throughput(module_ros, runner,
                                            f'{"single" if runner else "multi"}{round_}'))
    single_rate, single_latency, _ = max(runs[True], key=lambda r: r[0])
    multi_rate, multi_latency, sent = max(runs[False], key=lambda r: r[0])
    single_median = statistics.median(single_latency)
    multi_median = statistics.median(multi_latency)
    report = (f'single process: {single_rate:.1f} Hz, median latency {single_median:.0f} ms;'
              f' separate processes: {multi_rate:.1f} Hz, median latency '
              f'{multi_median:.0f} ms ({len(multi_latency)} outputs of {len(sent)} frames); '
              f'all rounds: {[round(r[0], 1) for r in runs[True]]} / '
              f'{[round(r[0], 1) for r in runs[False]]} Hz')
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
    namespace = 'shutdown_' + '_'.join(str(int(n)) for n in signals)
    processes = ProcessGraph(_arguments(namespace)).start()
    try:
        _wait_graph_ready(module_ros, processes)
        watcher = GraphWatcher(context=module_ros.context, namespace=namespace)
        watcher.wait_matched()
        seconds = processes.inference_seconds()
        # Stop while frames flow: mid-inference, mid-publish (frames for 10 inferences).
        camera = threading.Thread(target=run_camera, kwargs=dict(
            images=FRAMES, topic=f'/{namespace}{TOPIC}', size='640x480', qos='reliable',
            rate=15.0, frames=max(60, math.ceil(15.0 * 10 * seconds))))
        camera.start()
        deadline = time.monotonic() + 30.0 + 10 * seconds
        while len(watcher.arrivals) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        watcher.close()
        assert len(watcher.arrivals) >= 3, 'no skeletons before the stop'
        # An inference call under way ends before the node can (a slow CPU's is long).
        limit = 2.0 + 2 * seconds
        start = time.monotonic()
        for number in signals:
            processes.signal(number)
            time.sleep(0.05)  # the terminal's, then ros2 launch's
        codes = processes.wait(limit)
        elapsed = time.monotonic() - start
    finally:
        processes.stop()
    camera.join(60.0 + 10 * seconds)
    logs = {name: processes.log(name) for name in processes.processes}
    assert codes == {name: 0 for name in processes.processes}, (codes, logs)
    assert elapsed <= limit + 0.1, (elapsed, limit)
    for name, text in logs.items():
        assert 'Traceback' not in text, f'{name} printed a traceback:\n{text[-3000:]}'
