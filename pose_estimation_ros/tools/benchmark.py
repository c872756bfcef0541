"""Benchmark: raw inference (the limit), each stage, the decoder against people count and
on COCO images, memory over a long run, message conversions; ratios against the targets.

    python -m pose_estimation_ros.tools.benchmark [--frames 30] [--sizes 432x368 656x368]
        [--params config/mobilenet_thin.yaml] [--model models/mobilenet_thin.onnx]
        [--threads 2] [--people 1 5 20 50] [--coco mini dev] [--soak 10000]
        [--no-messages] [--output output/benchmark.json]
        [--compare config/mobilenet_thin.yaml config/human_pose_estimation_0001.yaml]

Writes the figures as JSON, a Markdown table (same name, ``.md``) and a plot (``.png``:
latency per stage, decoder time against people), with the machine, versions, date and
command; prints the ratios against the targets of the speed issue. Runs on real frames
(the PoseTrack sequence in ../shared/data when present, else scikit-image's astronaut
photo) with the real model on ONNX Runtime. Speed is measured here, not asserted in unit
tests: the machines are noisy, so read medians and 90th percentiles of one run, and
ratios measured in the same run.

Each measurement is one function taking a :class:`Bench` (configuration, frames) and
returning a JSON-able dict, so a measurement can be added without touching the others:
the node-graph throughput measurements (single-process runner, three separate
processes) register themselves in :data:`GRAPH_BENCHMARKS` (see
:func:`graph_throughput`).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from pose_estimation_ros.core.params import (DECODER_NODE, ENCODER_NODE, INFERENCE_NODE,
                                             decoder_params, load_parameters_file)
from pose_estimation_ros.core.pipeline import Pipeline, extract_maps, stats_ms
from pose_estimation_ros.tools.evaluate_coco import encoder_input_shape

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / 'shared' / 'data'
SAMPLE_DIR = DATA / 'posetrack_bonn' / 'images'
COCO_SETS = {'mini': (DATA / 'coco_val_mini', DATA / 'coco_val_mini' / 'test_coco.json'),
             'dev': (DATA / 'coco_val_dev' / 'images', DATA / 'coco_val_dev' / 'annotations.json')}
# The speed issue's targets (milliseconds, ratios).
TARGETS = {'encode_ms': 1.0, 'decode_coco_median_ms': 0.25, 'decode_coco_p90_ms': 0.5,
           'decode_50_people_ms': 2.0, 'messages_10_people_ms': 0.5,
           'single_process_throughput_ratio': 0.95, 'separate_processes_throughput_ratio': 0.90,
           'p95_over_median_latency': 1.5, 'rss_growth': 0.05}


@dataclass
class Bench:
    """What every measurement gets: parameters, model, frames, sizes, options."""

    params: dict
    params_file: str
    model: str
    frames: list
    frame_source: str
    sizes: list
    threads: int
    backend: str = 'onnxruntime'
    results: dict = field(default_factory=dict)

    def pipeline(self, size: tuple[int, int]) -> Pipeline:
        width, height = size
        return Pipeline(self.params, {
            ENCODER_NODE: {'network_image_width': width, 'network_image_height': height},
            INFERENCE_NODE: {'model_file_path': self.model, 'backend': self.backend,
                             'intra_op_num_threads': self.threads,
                             'openvino_num_threads': self.threads,
                             'input_shape': encoder_input_shape(
                                 {**self.params[ENCODER_NODE], 'network_image_width': width,
                                  'network_image_height': height})}})


def sample_frames(count: int) -> tuple[list[np.ndarray], str]:
    """``count`` BGR frames (looped) and where they came from."""
    paths = sorted(SAMPLE_DIR.glob('*.jpg'))
    if paths:
        frames = [cv2.imread(str(p)) for p in paths[:count]]
        source = str(SAMPLE_DIR)
    else:
        from skimage import data
        frames = [np.ascontiguousarray(data.astronaut()[:, :, ::-1])]
        source = 'skimage.data.astronaut'
    return [frames[i % len(frames)] for i in range(count)], source


def _time(function, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        function()
        times.append((time.perf_counter() - t0) * 1e3)
    return stats_ms(times)


def _size_name(size) -> str:
    return f'{size[0]}x{size[1]}'


# ---------------------------------------------------------------------- measurements

def raw_inference(bench: Bench, size) -> dict:
    """The network alone on encoded frames (the limit every graph is compared with)."""
    pipeline = bench.pipeline(size)
    try:
        name = pipeline.encoder.config.tensor_name
        tensors = [pipeline.encoder.encode(frame, 'bgr8')[0] for frame in bench.frames]
        pipeline.inference.run({name: tensors[0]})  # warm-up: first-run allocations
        times = []
        t0 = time.perf_counter()
        for tensor in tensors:
            start = time.perf_counter()
            pipeline.inference.run({name: tensor})
            times.append((time.perf_counter() - start) * 1e3)
        elapsed = time.perf_counter() - t0
    finally:
        pipeline.inference.close()
    return {'backend': bench.backend, 'model': Path(bench.model).name, **stats_ms(times),
            'fps': round(len(tensors) / elapsed, 2)}


def stages(bench: Bench, size) -> dict:
    """Encode, infer and decode of every frame in one process, each stage timed."""
    pipeline = bench.pipeline(size)
    try:
        pipeline.process(bench.frames[0], 'bgr8')  # warm-up
        pipeline.timings = type(pipeline.timings)()
        people = []
        t0 = time.perf_counter()
        for frame in bench.frames:
            people.append(len(pipeline.process(frame, 'bgr8')))
        elapsed = time.perf_counter() - t0
    finally:
        pipeline.inference.close()
    result = pipeline.timings.summary()
    result['fps'] = round(len(bench.frames) / elapsed, 2)
    result['people_per_frame'] = round(float(np.mean(people)), 2)
    return result


def _decoders(bench: Bench):
    from pose_estimation_ros.core.openpose import OpenPoseDecoder
    params = decoder_params(bench.params[DECODER_NODE])
    decoders = {'numpy': OpenPoseDecoder(params, 'numpy')}
    compiled = OpenPoseDecoder(params)
    if compiled.compiled:
        decoders['compiled'] = compiled
    return decoders


def _interleaved(decoders: dict, maps: list, repeat: int) -> dict:
    """Decode time per map of each decoder, interleaved map by map (same load on each).
    ``maps``: [(heatmaps, pafs, maxpool, geometry)]."""
    wall = {name: [] for name in decoders}
    cpu = {name: [] for name in decoders}
    for decoder in decoders.values():
        decoder.decode(*maps[0])  # first-call costs (compilation is cached on disk)
    for _ in range(repeat):
        for item in maps:
            for name, decoder in decoders.items():
                c0, t0 = time.thread_time(), time.perf_counter()
                decoder.decode(*item)
                wall[name].append((time.perf_counter() - t0) * 1e3)
                cpu[name].append((time.thread_time() - c0) * 1e3)
    return {name: {**stats_ms(wall[name]), 'cpu': stats_ms(cpu[name])} for name in decoders}


def decoder_against_people(bench: Bench, counts=(1, 5, 20, 50), repeat: int = 30) -> dict:
    """Decoder time on synthetic crowds of ``counts`` people at the model's map size
    (46x54 cells, mobilenet_thin at 432x368); slope per person between counts."""
    from pose_estimation_ros.core.openpose import split_network_outputs
    from pose_estimation_ros.core.synthetic_pose import crowd

    decoders = _decoders(bench)
    result = {}
    for count in counts:
        _, out = crowd(count)
        heat, pafs, _ = split_network_outputs(out[None], layout='NHWC',
                                              heatmap_channels=(0, 18))
        found = len(next(iter(decoders.values())).decode(heat, pafs))
        # The numpy reference is slow on crowds: fewer repeats there.
        runs = repeat if count <= 5 else max(3, repeat // 5)
        result[str(count)] = {'people_found': found,
                              **_interleaved(decoders, [(heat, pafs, None, None)], runs)}
    return result


def decoder_on_coco(bench: Bench, size, sets=('mini', 'dev'), repeat: int = 5) -> dict:
    """Decoder time per image on the COCO sets' real network maps (computed first, then
    decoded map after map, as ``tools/evaluate_coco`` does), both implementations."""
    pipeline = bench.pipeline(size)
    decoders = _decoders(bench)
    result = {}
    try:
        for name in sets:
            images, _ = COCO_SETS[name]
            maps = []
            for path in sorted(Path(images).glob('*.jpg')):
                outputs, geometry = pipeline.infer(cv2.imread(str(path)), 'bgr8')
                heat, pafs, pool = extract_maps(outputs, pipeline.values[DECODER_NODE])
                maps.append((heat, pafs, pool, geometry))
            if maps:
                result[name] = {'images': len(maps), **_interleaved(decoders, maps, repeat)}
    finally:
        pipeline.inference.close()
    return result


def _rss_mib() -> float:
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def soak(bench: Bench, size, frames: int) -> dict:
    """Resident set size over ``frames`` frames through the in-process pipeline: sampled
    every 1% of the run; growth = last sample / the one after the first 10%."""
    pipeline = bench.pipeline(size)
    every = max(1, frames // 100)
    samples = []
    try:
        for index in range(frames):
            pipeline.process(bench.frames[index % len(bench.frames)], 'bgr8')
            if index % every == 0 or index == frames - 1:
                samples.append((index + 1, round(_rss_mib(), 2)))
                pipeline.timings = type(pipeline.timings)()  # keep the run's own lists flat
    finally:
        pipeline.inference.close()
    base = samples[min(len(samples) - 1, len(samples) // 10)][1]
    return {'frames': frames, 'rss_mib': samples, 'growth': round(samples[-1][1] / base - 1, 4)}


def messages(bench: Bench, repeat: int = 200) -> dict:
    """Conversions the nodes do per frame (needs the built package and rclpy)."""
    from std_msgs.msg import Header

    from pose_estimation_ros.core.openpose import COCO18_EDGES, COCO18_LABELS, Person
    from pose_estimation_ros.nodes import messages as msgs

    frame = bench.frames[0]
    header = Header(frame_id='camera')
    maps = np.random.default_rng(0).standard_normal((1, 46, 54, 57)).astype(np.float32)
    tensors = msgs.tensor_list_msg(header, {'maps': maps}, None)
    image_msg = msgs.array_to_image_msg(frame, 'bgr8', header)
    rng = np.random.default_rng(1)
    people = [Person(keypoints=np.column_stack([np.arange(18), rng.uniform(0, 500, (18, 2)),
                                                rng.uniform(0, 1, 18)]),
                     edge_ids=np.arange(19), score=1.0, bbox=(0.0, 0.0, 500.0, 500.0))
              for _ in range(10)]
    return {
        'image_msg_to_array': _time(lambda: msgs.image_msg_to_array(image_msg), repeat),
        'tensor_list_fill_46x54x57': _time(
            lambda: msgs.tensor_list_msg(header, {'maps': maps}, None), repeat),
        'tensor_list_read_46x54x57': _time(lambda: msgs.tensor_list_arrays(tensors), repeat),
        'skeleton_array_10_people': _time(lambda: msgs.skeleton_array_msg(
            header, people, COCO18_LABELS, COCO18_EDGES), repeat),
        'markers_10_people': _time(lambda: msgs.marker_array_msg(
            header, people, COCO18_EDGES, pixel_size=0.002, joint_diameter=0.02,
            line_width=0.01, lifetime=1.0), repeat),
    }


def ros_graph_latency(bench: Bench) -> dict:
    """Latency through the three nodes over DDS (single-process runner): an image is
    published, the next one once its Skeleton2DArray is back. Compare with the
    pipeline's in-process time per frame to see what topics and messages cost."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from pose_estimation_ros.msg import Skeleton2DArray
    from pose_estimation_ros.nodes import messages as msgs
    from pose_estimation_ros.nodes.pose_estimation import create_nodes

    context = rclpy.Context()
    rclpy.init(args=['--ros-args', '--params-file', bench.params_file], context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    nodes = create_nodes(context=context, parameter_overrides=[
        Parameter('model_file_path', value=bench.model),
        Parameter('intra_op_num_threads', value=bench.threads),
        Parameter('input_qos', value='reliable')])
    client = rclpy.create_node('benchmark_camera', context=context)
    for node in nodes + [client]:
        executor.add_node(node)
    reliable = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
    publisher = client.create_publisher(Image, 'image', reliable)
    received = []
    client.create_subscription(Skeleton2DArray, 'skeletons',
                               lambda msg: received.append(time.perf_counter()), 10)

    def spin_until(predicate, timeout):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError('the node graph did not answer in time')
            executor.spin_once(timeout_sec=0.01)

    try:
        spin_until(lambda: publisher.get_subscription_count() >= 1, 20.0)
        latencies = []
        for index, frame in enumerate([bench.frames[0]] + list(bench.frames)):  # 1st: warm-up
            msg = msgs.array_to_image_msg(frame, 'bgr8', Header(frame_id='camera'))
            msg.header.stamp.sec = index
            sent = time.perf_counter()
            publisher.publish(msg)
            spin_until(lambda n=index + 1: len(received) >= n, 60.0)
            if index:
                latencies.append((received[-1] - sent) * 1e3)
    finally:
        executor.shutdown()
        for node in nodes + [client]:
            node.destroy_node()
        rclpy.shutdown(context=context)
    return {'latency': stats_ms(latencies)}


# Node-graph throughput measurements, by name ('single_process', 'separate_processes'):
# function(bench, size) -> {'fps': frames per second fed as fast as accepted,
# 'latency': stats_ms(...) incl. 'p95_ms' if measured, ...}. graph_throughput() adds
# the ratios to raw inference. Register with @graph_benchmark('name').
GRAPH_BENCHMARKS: dict[str, Callable[[Bench, tuple], dict]] = {}


def graph_benchmark(name: str):
    def register(function):
        GRAPH_BENCHMARKS[name] = function
        return function
    return register


def graph_throughput(bench: Bench, size, limit: dict) -> dict:
    """Every registered graph measurement at ``size``, with its throughput as a ratio to
    the raw inference ``limit`` (``raw_inference``'s result) and its p95/median latency."""
    result = {}
    for name, function in GRAPH_BENCHMARKS.items():
        measured = function(bench, size)
        if measured.get('fps') and limit.get('fps'):
            measured['throughput_ratio'] = round(measured['fps'] / limit['fps'], 3)
        latency = measured.get('latency', {})
        if latency.get('p95_ms') and latency.get('median_ms'):
            measured['p95_over_median'] = round(latency['p95_ms'] / latency['median_ms'], 3)
        result[name] = measured
    return result


# ---------------------------------------------------------------------- report

def machine() -> dict:
    """Machine, versions and date of the run."""
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as info:
            cpu = next(line.split(':', 1)[1].strip() for line in info
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    versions = {'python': platform.python_version(), 'numpy': np.__version__,
                'opencv': cv2.__version__, 'onnxruntime': onnxruntime.__version__}
    try:
        import numba
        versions['numba'] = numba.__version__
    except ImportError:
        versions['numba'] = None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            'cpu': cpu, 'arch': platform.machine(), 'cpus': cpus,
            'load_average': [round(v, 2) for v in os.getloadavg()],
            'os': platform.platform(), 'versions': versions}


def target_ratios(results: dict) -> list[dict]:
    """Each target with the measured value and measured / target (<= 1: met)."""
    rows = []

    def add(name, measured, target, what):
        if measured is not None:
            rows.append({'target': name, 'what': what, 'measured': round(float(measured), 4),
                         'limit': target, 'ratio': round(float(measured) / target, 3),
                         'met': bool(measured <= target)})

    for size, stage in results.get('stages', {}).items():
        add('encode_ms', stage['encode']['median_ms'], TARGETS['encode_ms'],
            f'encode median, {size}')
    for size, sets in results.get('decoder_coco', {}).items():
        for name, timing in sets.items():
            best = timing.get('compiled', timing['numpy'])
            add('decode_coco_median_ms', best['median_ms'], TARGETS['decode_coco_median_ms'],
                f'decode median per image, COCO {name}, {size}')
            add('decode_coco_p90_ms', best['p90_ms'], TARGETS['decode_coco_p90_ms'],
                f'decode p90 per image, COCO {name}, {size}')
    people = results.get('decoder_people', {})
    if '50' in people:
        best = people['50'].get('compiled', people['50']['numpy'])
        add('decode_50_people_ms', best['median_ms'], TARGETS['decode_50_people_ms'],
            'decode median, 50 synthetic people')
    counts = sorted(int(c) for c in people)
    if len(counts) >= 3:
        # Linear growth: the slope per person over the top interval is no larger than
        # over the one before (x1.5 for noise).
        lo, mid, hi = counts[0], counts[-2], counts[-1]
        t = {c: people[str(c)].get('compiled', people[str(c)]['numpy'])['median_ms']
             for c in (lo, mid, hi)}
        slope_low = (t[mid] - t[lo]) / (mid - lo)
        slope_high = (t[hi] - t[mid]) / (hi - mid)
        if slope_low > 0:
            add('decode_growth', slope_high / slope_low, 1.5,
                f'decode ms per person {mid}->{hi} / {lo}->{mid} (linear: about 1)')
    msgs = results.get('messages')
    if msgs:
        add('messages_10_people_ms', msgs['markers_10_people']['median_ms'] +
            msgs['skeleton_array_10_people']['median_ms'], TARGETS['messages_10_people_ms'],
            'markers + Skeleton2DArray, 10 people')
    for size, graphs in results.get('graphs', {}).items():
        for name, graph in graphs.items():
            if 'throughput_ratio' in graph:
                target = TARGETS[f'{name}_throughput_ratio']
                # Higher is better here: report limit / measured.
                rows.append({'target': f'{name}_throughput_ratio', 'what': f'{name}, {size}',
                             'measured': graph['throughput_ratio'], 'limit': target,
                             'ratio': round(target / graph['throughput_ratio'], 3),
                             'met': graph['throughput_ratio'] >= target})
            if 'p95_over_median' in graph:
                add('p95_over_median_latency', graph['p95_over_median'],
                    TARGETS['p95_over_median_latency'], f'{name} p95 / median latency, {size}')
    for size, run in results.get('soak', {}).items():
        add('rss_growth', max(run['growth'], 0.0), TARGETS['rss_growth'],
            f'RSS growth over {run["frames"]} frames, {size}')
    return rows


def _implementations(by_case: dict) -> list[str]:
    """Decoder implementations measured in {case: {implementation: stats, ...}}."""
    return [n for n in ('numpy', 'compiled') if by_case and n in next(iter(by_case.values()))]


def markdown(results: dict) -> str:
    m = results['machine']
    lines = [f'Measured {m["date"]} on {m["cpu"]} ({m["cpus"]} CPUs, load average '
             f'{m["load_average"][0]}), {", ".join(f"{k} {v}" for k, v in m["versions"].items())}.',
             f'Command: `{results["command"]}`. Frames: {results["frames"]} '
             f'{results["frame_size"][0]}x{results["frame_size"][1]}.', '']
    sizes = list(results.get('stages', {}))
    if sizes:
        lines += ['| stage (median / p90 ms) | ' + ' | '.join(sizes) + ' |',
                  '|---|' + '---|' * len(sizes)]
        raw = results.get('raw_inference', {})
        rows = [('raw inference (the limit)', lambda s: raw.get(s))]
        for stage in ('encode', 'infer', 'decode'):
            rows.append((stage, lambda s, st=stage: results['stages'][s].get(st)))
        for label, get in rows:
            cells = []
            for size in sizes:
                r = get(size)
                cells.append(f'{r["median_ms"]:.2f} / {r["p90_ms"]:.2f}' if r else '-')
            lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
        lines.append('| frames per second, in process | ' + ' | '.join(
            f'{results["stages"][s]["fps"]:.1f}' for s in sizes) + ' |')
        lines.append('')
    coco = results.get('decoder_coco', {})
    for size, sets in coco.items():
        names = _implementations(sets)
        lines += [f'Decoder per image on COCO maps at {size} (median / p90 ms, one thread):', '',
                  '| set | images | ' + ' | '.join(names) + ' |',
                  '|---|---|' + '---|' * len(names)]
        for name, timing in sets.items():
            cells = [f'{timing[n]["median_ms"]:.3f} / {timing[n]["p90_ms"]:.3f}' for n in names]
            lines.append(f'| {name} | {timing["images"]} | ' + ' | '.join(cells) + ' |')
        lines.append('')
    people = results.get('decoder_people', {})
    if people:
        names = _implementations(people)
        lines += ['Decoder against people (synthetic crowds, 46x54 maps; median ms):', '',
                  '| people | found | ' + ' | '.join(names) + ' |',
                  '|---|---|' + '---|' * len(names)]
        for count, r in people.items():
            lines.append(f'| {count} | {r["people_found"]} | ' +
                         ' | '.join(f'{r[n]["median_ms"]:.3f}' for n in names) + ' |')
        lines.append('')
    msgs = results.get('messages')
    if msgs:
        lines += ['| message conversion | median / p90 ms |', '|---|---|']
        lines += [f'| {name} | {r["median_ms"]:.3f} / {r["p90_ms"]:.3f} |'
                  for name, r in msgs.items()]
        lines.append('')
    if 'ros_graph' in results:
        r = results['ros_graph']['latency']
        lines += [f'Image -> Skeleton2DArray through the three nodes over DDS, one image at a '
                  f'time: {r["median_ms"]:.1f} ms median, {r["p90_ms"]:.1f} ms p90.', '']
    ratios = results.get('targets', [])
    if ratios:
        lines += ['| target | measured | limit | measured / limit | met |', '|---|---|---|---|---|']
        for r in ratios:
            lines.append(f'| {r["what"]} | {r["measured"]} | {r["limit"]} | {r["ratio"]} | '
                         f'{"yes" if r["met"] else "**no**"} |')
    return '\n'.join(lines) + '\n'


def plot(results: dict, path: Path) -> None:
    """Latency per stage and size; decoder time against people."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    stages_ = results.get('stages', {})
    names = ['encode', 'infer', 'decode']
    for k, (size, stage) in enumerate(stages_.items()):
        x = np.arange(len(names)) + k * 0.4
        left.bar(x, [stage[n]['median_ms'] for n in names], width=0.4, label=size,
                 yerr=[[0] * len(names), [stage[n]['p90_ms'] - stage[n]['median_ms']
                                          for n in names]], capsize=3)
    left.set_xticks(np.arange(len(names)) + 0.2, names)
    left.set_yscale('log')
    left.set_ylabel('ms per frame (median, bar to p90)')
    left.set_title('Latency per stage')
    left.legend()
    people = results.get('decoder_people', {})
    counts = [int(c) for c in people]
    for name in _implementations(people):
        right.plot(counts, [people[str(c)][name]['median_ms'] for c in counts], 'o-',
                   label=name)
    if people:
        right.axhline(TARGETS['decode_50_people_ms'], color='grey', ls='--',
                      label='target at 50 people')
        right.set_yscale('log')
        right.legend()
    right.set_xlabel('people in the maps (synthetic, 46x54 cells)')
    right.set_ylabel('decode ms (median)')
    right.set_title('Decoder against people')
    fig.suptitle(f'{results["machine"]["date"]}, {results["machine"]["cpu"]}', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def bench_compare(param_files, sizes, frames, threads: int, rounds: int = 3) -> dict:
    """Whole-pipeline frame rate of several parameters files (each with its own model
    and backend), side by side: at each size the configurations take turns for
    ``rounds`` rounds over ``frames``, so a busy machine slows them alike. Frame rate
    = 1000 / (median encode + infer + decode ms); ``ratio`` is relative to the first."""
    from pose_estimation_ros.core.models import resolve_model_path
    from pose_estimation_ros.tools.evaluate_coco import encoder_input_shape

    results = {}
    for width, height in sizes:
        pipelines = {}
        for path in param_files:
            params = load_parameters_file(path)
            encoder = {**params['image_encoder'], 'network_image_width': width,
                       'network_image_height': height}
            inference = params['inference']
            model = resolve_model_path(inference['model_file_path'] or
                                       str(REPO / 'models' / 'mobilenet_thin.onnx'),
                                       REPO / 'models')
            pipeline = Pipeline(params, {
                'image_encoder': encoder,
                'inference': {'model_file_path': model,
                              'backend': ('onnxruntime' if inference['backend'] == 'auto'
                                          else inference['backend']),
                              'intra_op_num_threads': threads,
                              'openvino_num_threads': threads,
                              'input_shape': encoder_input_shape(encoder)}})
            pipeline.process(frames[0], 'bgr8')  # warm-up
            pipeline.timings = type(pipeline.timings)()
            pipelines[Path(path).name] = pipeline
        for _ in range(rounds):
            for pipeline in pipelines.values():
                for frame in frames:
                    pipeline.process(frame, 'bgr8')
        size = {}
        for name, pipeline in pipelines.items():
            summary = pipeline.timings.summary()
            total = sum(summary[stage]['median_ms'] for stage in ('encode', 'infer', 'decode'))
            size[name] = {'backend': pipeline.inference.reason, **summary,
                          'fps': round(1e3 / total, 2)}
            pipeline.inference.close()
        first = next(iter(size.values()))['fps']
        for entry in size.values():
            entry['ratio'] = round(entry['fps'] / first, 2)
        results[f'{width}x{height}'] = size
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--sizes', nargs='+', default=['432x368', '656x368'])
    parser.add_argument('--params', default=str(REPO / 'config' / 'mobilenet_thin.yaml'))
    parser.add_argument('--model', default=str(REPO / 'models' / 'mobilenet_thin.onnx'))
    parser.add_argument('--threads', type=int, default=2,
                        help='ONNX Runtime intra-op threads (default 2: this machine)')
    parser.add_argument('--people', type=int, nargs='*', default=[1, 5, 20, 50],
                        help='synthetic crowd sizes for the decoder (none: skip)')
    parser.add_argument('--coco', nargs='*', default=['mini', 'dev'],
                        choices=sorted(COCO_SETS),
                        help='COCO sets for the decoder per image at the first size '
                             '(none: skip)')
    parser.add_argument('--soak', type=int, default=0, metavar='FRAMES',
                        help='also run this many frames at the first size and record the '
                             'resident set size (e.g. 10000)')
    parser.add_argument('--output', default=str(REPO / 'output' / 'benchmark.json'))
    parser.add_argument('--compare', nargs='+', metavar='PARAMS_FILE',
                        help='only compare the pipeline frame rate of these parameters files '
                             '(each with its model and backend) side by side at --sizes')
    parser.add_argument('--no-messages', action='store_true',
                        help='skip the ROS message conversions and the node graph (no '
                             'rclpy needed)')
    parser.add_argument('--backend', default='onnxruntime',
                        choices=('onnxruntime', 'openvino', 'tensorrt'),
                        help='inference backend of the measurements (default onnxruntime)')
    parser.add_argument('--graphs', action='store_true',
                        help='also feed a 30 Hz camera to the single-process runner and the '
                             'three separate processes (tools/graph_benchmark) at each size')
    args = parser.parse_args(argv)
    if args.graphs:
        from pose_estimation_ros.tools.graph_benchmark import register_with_benchmark
        register_with_benchmark(graph_benchmark)
    if not Path(args.model).is_file():
        print(f'error: model {args.model} not found: run scripts/setup.sh', file=sys.stderr)
        return 2

    frames, source = sample_frames(args.frames)
    if args.compare:
        sizes = [tuple(int(v) for v in text.split('x')) for text in args.sizes]
        compare = bench_compare(args.compare, sizes, frames, args.threads)
        print(f'{len(frames)} frames from {source}, {args.threads} threads; pipeline frame '
              f'rate side by side (median ms per stage)')
        for size, entries in compare.items():
            for name, r in entries.items():
                print(f'{size:>9} {name:>36}: encode {r["encode"]["median_ms"]:.1f} infer '
                      f'{r["infer"]["median_ms"]:.1f} decode {r["decode"]["median_ms"]:.2f} '
                      f'-> {r["fps"]:.1f} fps (x{r["ratio"]:.2f}); {r["backend"]}')
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps({'frames': len(frames), 'frame_source': source,
                                      'threads': args.threads, 'compare': compare},
                                     indent=2) + '\n')
        print(f'wrote {output}')
        return 0
    bench = Bench(load_parameters_file(args.params), args.params, args.model, frames, source,
                  [tuple(int(v) for v in text.split('x')) for text in args.sizes],
                  args.threads, args.backend)
    results = bench.results
    results.update({'machine': machine(), 'command': ' '.join(
                        ['python -m pose_estimation_ros.tools.benchmark'] + sys.argv[1:]
                        if argv is None else list(argv)),
                    'frames': len(frames), 'frame_source': source,
                    'frame_size': list(frames[0].shape[1::-1]), 'backend': bench.backend,
                    'threads': args.threads})
    first = bench.sizes[0]
    for key, function in (('raw_inference', raw_inference), ('stages', stages)):
        results[key] = {_size_name(s): function(bench, s) for s in bench.sizes}
    if GRAPH_BENCHMARKS:
        results['graphs'] = {_size_name(s): graph_throughput(
            bench, s, results['raw_inference'][_size_name(s)]) for s in bench.sizes}
    if args.coco:
        results['decoder_coco'] = {_size_name(first): decoder_on_coco(bench, first, args.coco)}
    if args.people:
        results['decoder_people'] = decoder_against_people(bench, args.people)
    if args.soak:
        results['soak'] = {_size_name(first): soak(bench, first, args.soak)}
    if not args.no_messages:
        results['messages'] = messages(bench)
        results['ros_graph'] = ros_graph_latency(bench)
    results['targets'] = target_ratios(results)

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + '\n')
    table = markdown(results)
    output.with_suffix('.md').write_text(table)
    plot(results, output.with_suffix('.png'))
    print(table)
    if 'ros_graph' in results:
        r = results['ros_graph']['latency']
        print(f'image -> skeletons over DDS: {r["median_ms"]:.1f} ms median, '
              f'{r["p90_ms"]:.1f} ms p90 (three nodes, {Path(args.params).name})')
    for r in results['targets']:
        print(f'{"ok  " if r["met"] else "MISS"} {r["what"]}: {r["measured"]} vs {r["limit"]} '
              f'(x{r["ratio"]})')
    print(f'\nwrote {output}, {output.with_suffix(".md").name}, {output.with_suffix(".png").name}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
