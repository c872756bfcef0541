"""The graph as robots run it, measured: three node processes started as ``ros2 launch``
starts them (tools/processes.py) and a camera driver in a fourth (tools/camera.py).

    python -m pose_estimation_ros.tools.graph_benchmark transport   # every frame arrives?
    python -m pose_estimation_ros.tools.graph_benchmark throughput  # 30 Hz camera
    python -m pose_estimation_ros.tools.graph_benchmark soak --frames 10000

- ``transport``: the camera publishes one frame every 0.4 s (below the pipeline's rate)
  for each publisher QoS, size and format, a new camera process (publisher) each;
  counted: TensorLists out of the encoder (its /diagnostics) and Skeleton2DArrays with
  the frames' stamps.
- ``throughput``: a 30 Hz camera (faster than the pipeline), into the separate
  processes and into the single-process runner, against the raw inference rate of the
  same backend, model and size (the limit): output rate, latency median / p95 (arrival -
  stamp), frames skipped.
- ``soak``: ``--frames`` frames at 30 Hz through the separate processes; resident set of
  each process sampled every 5 s (first minute vs last), outputs, longest gap.

Prints a Markdown table and writes JSON (``--output``). Needs the package built
(scripts/setup.sh) and ``source scripts/env.sh``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

from pose_estimation_ros.core.params import load_parameters_file
from pose_estimation_ros.core.pipeline import InferenceStage
from pose_estimation_ros.nodes.graph import computed_defaults
from pose_estimation_ros.tools.processes import SHARE, GraphWatcher, ProcessGraph, run_camera

TOPIC = '/camera/image_raw'


def transport(images: Path, arguments: dict, rows) -> list[dict]:
    """One graph, one camera run per row: (qos, size, format, frames)."""
    watcher = GraphWatcher()
    graph = ProcessGraph(dict(arguments, image_topic=TOPIC, compressed='true')).start()
    results = []
    try:
        watcher.wait_ready(graph, TOPIC)
        watcher.wait_matched()
        for qos, size, image_format, frames in rows:
            encoded = watcher.counter('image_encoder', 'messages published')
            sent = run_camera(images=images, topic=TOPIC, size=size, qos=qos,
                              image_format=image_format, rate=2.5, frames=frames)
            delivered = watcher.delivered(sent, 15.0)
            time.sleep(1.5)  # one more diagnostics period
            results.append({'qos': qos, 'size': size, 'format': image_format,
                            'sent': len(sent),
                            'encoded': watcher.counter('image_encoder',
                                                       'messages published') - encoded,
                            'skeletons': len(delivered)})
            print(_row(results[-1]), flush=True)
    finally:
        graph.stop()
        watcher.close()
    return results


def _row(r: dict) -> str:
    return (f"| {r['qos']} | {r['size']} | {r['format']} | {r['sent']} | {r['encoded']} | "
            f"{r['skeletons']} ({100 * r['skeletons'] / max(r['sent'], 1):.0f}%) |")


def raw_inference_hz(arguments: dict, frames: int = 60) -> tuple[float, str]:
    """The limit: inference alone on one encoded frame, as fast as it goes."""
    values = load_parameters_file(arguments['params_file'])
    inference = dict(values['inference'], model_file_path=arguments['model_file'],
                     backend=arguments['backend'])
    encoder = values['image_encoder']
    from pose_estimation_ros.core.encoder import ImageEncoder
    from pose_estimation_ros.core.params import encoder_config
    image = np.full((540, 960, 3), 127, np.uint8)
    tensor, _ = ImageEncoder(encoder_config(encoder)).encode(image, 'bgr8')
    stage = InferenceStage(inference)
    try:
        feed = {encoder['tensor_name']: tensor}
        for _ in range(5):
            stage.run(feed)
        start = time.perf_counter()
        for _ in range(frames):
            stage.run(feed)
        return frames / (time.perf_counter() - start), stage.backend.description
    finally:
        stage.close()


def throughput(images: Path, arguments: dict, runner: bool, frames: int = 300,
               rate: float = 30.0) -> dict:
    watcher = GraphWatcher()
    graph = ProcessGraph(dict(arguments, image_topic=TOPIC), runner=runner).start()
    try:
        watcher.wait_ready(graph, TOPIC)
        run_camera(images=images, topic=TOPIC, size='960x540', qos='reliable', rate=rate,
                   frames=30)  # warm-up
        skipped = {n: watcher.counter(n, 'frames skipped') for n in ('inference',
                                                                    'image_encoder')}
        try:
            sent = run_camera(images=images, topic=TOPIC, size='960x540', qos='reliable',
                              rate=rate, frames=frames)
        except AssertionError:
            graph.assert_running()  # says which node died, with its output
            raise
        delivered = watcher.delivered(sent, 3.0)
        time.sleep(1.5)
        latency = watcher.latencies_ms(delivered)
        span = (delivered[-1] - delivered[0]) / 1e9 if len(delivered) > 1 else float('nan')
        quarter = max(len(latency) // 4, 1)
        return {
            'graph': 'single process' if runner else 'separate processes',
            'sent': len(sent), 'outputs': len(delivered),
            'output_hz': (len(delivered) - 1) / span,
            'latency_median_ms': statistics.median(latency),
            'latency_p95_ms': float(np.percentile(latency, 95)),
            'latency_last_quarter_ms': statistics.median(latency[-quarter:]),
            'inference_skipped': watcher.counter('inference', 'frames skipped')
            - skipped['inference'],
        }
    finally:
        graph.stop()
        watcher.close()


def register_with_benchmark(graph_benchmark) -> None:
    """Add the 30 Hz graph runs to tools/benchmark's graph measurements (its --graphs,
    which passes its ``graph_benchmark`` decorator): the single-process runner and the
    separate processes, at the benchmark's model, backend and each of its sizes."""
    import tempfile

    import yaml

    from pose_estimation_ros.tools.evaluate_coco import encoder_input_shape

    def run(bench, size, runner: bool) -> dict:
        params = load_parameters_file(bench.params_file)
        encoder = dict(params['image_encoder'], network_image_width=size[0],
                       network_image_height=size[1])
        document = {'image_encoder': {'ros__parameters': encoder},
                    'inference': {'ros__parameters': dict(
                        params['inference'], input_shape=encoder_input_shape(encoder))},
                    'openpose_decoder': {'ros__parameters': params['openpose_decoder']}}
        with tempfile.NamedTemporaryFile('w', suffix='.yaml', delete=False) as f:
            yaml.safe_dump(document, f)
        # Fed faster than raw inference (1.5x, at least 30 Hz): the output rate is what the
        # graph accepts, not the camera's rate.
        limit = bench.results.get('raw_inference', {}).get(f'{size[0]}x{size[1]}', {})
        rate = max(30.0, 1.5 * limit.get('fps', 0.0))
        try:
            measured = throughput(
                Path(bench.frame_source), {'params_file': f.name, 'model_file': bench.model,
                                           'backend': bench.backend}, runner,
                frames=int(10 * rate), rate=rate)
        finally:
            Path(f.name).unlink()
        return {'fps': round(measured['output_hz'], 2), 'camera_hz': round(rate, 1),
                'latency': {'median_ms': round(measured['latency_median_ms'], 1),
                            'p95_ms': round(measured['latency_p95_ms'], 1)},
                'inference_skipped': measured['inference_skipped']}

    graph_benchmark('single_process')(lambda bench, size: run(bench, size, True))
    graph_benchmark('separate_processes')(lambda bench, size: run(bench, size, False))


def _rss_kib(pid: int) -> int:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return 0


def soak(images: Path, arguments: dict, frames: int, rate: float = 30.0) -> dict:
    watcher = GraphWatcher()
    graph = ProcessGraph(dict(arguments, image_topic=TOPIC)).start()
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in graph.processes}
    try:
        watcher.wait_ready(graph, TOPIC)
        done = threading.Event()
        camera = threading.Thread(target=lambda: (run_camera(
            images=images, topic=TOPIC, size='960x540', qos='reliable', rate=rate,
            frames=frames, timeout=frames / rate + 120), done.set()))
        start = time.monotonic()
        camera.start()
        while not done.is_set():
            graph.assert_running()
            for name, process in graph.processes.items():
                samples[name].append((time.monotonic() - start, _rss_kib(process.popen.pid)))
            done.wait(5.0)
        camera.join()
        time.sleep(2.0)
        graph.assert_running()
        with watcher.lock:
            arrivals = sorted(watcher.arrivals.values())
        gaps = np.diff(arrivals) / 1e9 if len(arrivals) > 1 else np.array([float('nan')])
        rss = {}
        for name, points in samples.items():
            first = [kib for t, kib in points if 30.0 <= t <= 90.0] or [points[0][1]]
            last = [kib for t, kib in points[-12:]]
            rss[name] = {'first_minute_mib': statistics.median(first) / 1024,
                         'last_minute_mib': statistics.median(last) / 1024,
                         'growth_percent': 100 * (statistics.median(last) /
                                                  statistics.median(first) - 1)}
        return {'frames': frames, 'seconds': time.monotonic() - start,
                'outputs': len(arrivals), 'longest_gap_s': float(gaps.max()), 'rss': rss}
    finally:
        graph.stop()
        watcher.close()


def _arguments(args) -> dict:
    computed, reason = computed_defaults(SHARE)
    arguments = dict(computed)
    if args.params:
        arguments['params_file'] = args.params
    if args.model:
        arguments['model_file'] = args.model
    if args.backend:
        arguments['backend'] = args.backend
    print(f'# {reason}; {arguments}', flush=True)
    return arguments


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('mode', choices=('transport', 'throughput', 'soak'))
    parser.add_argument('--images', type=Path,
                        default=Path(__file__).resolve().parents[2].parent / 'shared' /
                        'data' / 'posetrack_bonn' / 'images')
    parser.add_argument('--params', help='parameters file (default: the default model\'s)')
    parser.add_argument('--model')
    parser.add_argument('--backend')
    parser.add_argument('--frames', type=int, default=10000, help='soak: frames to send')
    parser.add_argument('--output', type=Path)
    args = parser.parse_args(argv)
    arguments = _arguments(args)
    result: dict = {'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
                    'machine': f'{platform.machine()}, {platform.processor() or "?"}, '
                               f'{len(__import__("os").sched_getaffinity(0))} cores',
                    'arguments': arguments, 'mode': args.mode}
    if args.mode == 'transport':
        rows = [(qos, size, fmt, 20) for fmt in ('raw', 'jpeg')
                for size in ('640x480', '960x540', '1280x720', '1920x1080')
                for qos in ('reliable', 'best_effort')]
        print('| camera QoS | size | format | frames sent | TensorLists out of the encoder | '
              'Skeleton2DArrays with the frame\'s stamp |\n|---|---|---|---|---|---|')
        result['rows'] = transport(args.images, arguments, rows)
    elif args.mode == 'throughput':
        limit, backend = raw_inference_hz(arguments)
        result['raw_inference_hz'], result['backend'] = limit, backend
        result['graphs'] = [throughput(args.images, arguments, runner)
                            for runner in (True, False)]
        print(f'raw inference ({backend}): {limit:.1f} Hz')
        print('| graph | output Hz | x raw inference | latency median ms | p95 ms | p95 / '
              'median | inference frames skipped |\n|---|---|---|---|---|---|---|')
        for g in result['graphs']:
            print(f"| {g['graph']} | {g['output_hz']:.1f} | {g['output_hz'] / limit:.2f} | "
                  f"{g['latency_median_ms']:.0f} | {g['latency_p95_ms']:.0f} | "
                  f"{g['latency_p95_ms'] / g['latency_median_ms']:.2f} | "
                  f"{g['inference_skipped']} |")
    else:
        result['soak'] = soak(args.images, arguments, args.frames)
        s = result['soak']
        print(f"{s['frames']} frames in {s['seconds']:.0f} s: {s['outputs']} outputs, "
              f"longest gap {s['longest_gap_s']:.2f} s")
        for name, r in s['rss'].items():
            print(f"  {name}: RSS {r['first_minute_mib']:.0f} -> {r['last_minute_mib']:.0f} "
                  f"MiB ({r['growth_percent']:+.1f}%)")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
