"""Benchmark: per-stage times of the pipeline and of the message conversions.

    python -m pose_estimation_ros.tools.benchmark [--frames 30] [--sizes 432x368 656x368]
        [--params config/mobilenet_thin.yaml] [--model models/mobilenet_thin.onnx]
        [--threads 2] [--output output/benchmark.json]
        [--compare config/mobilenet_thin.yaml config/human_pose_estimation_0001.yaml]

Prints a table and writes the figures as JSON. Runs on real frames (the PoseTrack
sequence in ../shared/data when present, else scikit-image's astronaut photo) with the
real model on ONNX Runtime. Speed is measured here, not asserted in unit tests: the
machines are noisy, so read medians and 90th percentiles, not single runs.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from pose_estimation_ros.core.params import load_parameters_file
from pose_estimation_ros.core.pipeline import Pipeline, stats_ms

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO.parent / 'shared' / 'data' / 'posetrack_bonn' / 'images'


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


def bench_pipeline(params, model: str, size: tuple[int, int], frames, threads: int) -> dict:
    width, height = size
    pipeline = Pipeline(params, {
        'image_encoder': {'network_image_width': width, 'network_image_height': height},
        'inference': {'model_file_path': model, 'backend': 'onnxruntime',
                      'intra_op_num_threads': threads, 'input_shape': [1, height, width, 3]}})
    pipeline.process(frames[0], 'bgr8')  # warm-up: ONNX Runtime allocates on first run
    pipeline.timings = type(pipeline.timings)()
    people = []
    t0 = time.perf_counter()
    for frame in frames:
        people.append(len(pipeline.process(frame, 'bgr8')))
    elapsed = time.perf_counter() - t0
    result = pipeline.timings.summary()
    result['fps'] = round(len(frames) / elapsed, 2)
    result['people_per_frame'] = round(float(np.mean(people)), 2)
    return result


def bench_messages(frame: np.ndarray, repeat: int) -> dict:
    """Conversions the nodes do per frame (needs the built package and rclpy)."""
    from std_msgs.msg import Header

    from pose_estimation_ros.core.openpose import COCO18_EDGES, COCO18_LABELS, Person
    from pose_estimation_ros.nodes import messages

    header = Header(frame_id='camera')
    maps = np.random.default_rng(0).standard_normal((1, 46, 54, 57)).astype(np.float32)
    tensors = messages.tensor_list_msg(header, {'maps': maps}, None)
    image_msg = messages.array_to_image_msg(frame, 'bgr8', header)
    rng = np.random.default_rng(1)
    people = [Person(keypoints=np.column_stack([np.arange(18), rng.uniform(0, 500, (18, 2)),
                                                rng.uniform(0, 1, 18)]),
                     edge_ids=np.arange(19), score=1.0, bbox=(0.0, 0.0, 500.0, 500.0))
              for _ in range(10)]
    return {
        'image_msg_to_array': _time(lambda: messages.image_msg_to_array(image_msg), repeat),
        'tensor_list_fill_46x54x57': _time(
            lambda: messages.tensor_list_msg(header, {'maps': maps}, None), repeat),
        'tensor_list_read_46x54x57': _time(lambda: messages.tensor_list_arrays(tensors),
                                           repeat),
        'skeleton_array_10_people': _time(lambda: messages.skeleton_array_msg(
            header, people, COCO18_LABELS, COCO18_EDGES), repeat),
        'markers_10_people': _time(lambda: messages.marker_array_msg(
            header, people, COCO18_EDGES, pixel_size=0.002, joint_diameter=0.02,
            line_width=0.01, lifetime=1.0), repeat),
    }


def bench_ros_graph(params_file: str, model: str, frames, threads: int) -> dict:
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
    from pose_estimation_ros.nodes import messages
    from pose_estimation_ros.nodes.pose_estimation import create_nodes

    context = rclpy.Context()
    rclpy.init(args=['--ros-args', '--params-file', params_file], context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    nodes = create_nodes(context=context, parameter_overrides=[
        Parameter('model_file_path', value=model),
        Parameter('intra_op_num_threads', value=threads),
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
        for index, frame in enumerate([frames[0]] + list(frames)):  # first: warm-up
            msg = messages.array_to_image_msg(frame, 'bgr8', Header(frame_id='camera'))
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
    parser.add_argument('--output', default=str(REPO / 'output' / 'benchmark.json'))
    parser.add_argument('--compare', nargs='+', metavar='PARAMS_FILE',
                        help='only compare the pipeline frame rate of these parameters files '
                             '(each with its model and backend) side by side at --sizes')
    parser.add_argument('--no-messages', action='store_true',
                        help='skip the ROS message conversions and the node graph (no '
                             'rclpy needed)')
    args = parser.parse_args(argv)
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
    params = load_parameters_file(args.params)
    results = {'machine': {'python': platform.python_version(),
                           'processor': platform.machine(), 'cpus': _cpu_count()},
               'frames': len(frames), 'frame_source': source,
               'frame_size': list(frames[0].shape[1::-1]), 'pipeline': {}}
    for text in args.sizes:
        width, height = (int(v) for v in text.split('x'))
        results['pipeline'][text] = bench_pipeline(params, args.model, (width, height),
                                                   frames, args.threads)
    if not args.no_messages:
        results['messages'] = bench_messages(frames[0], 200)
        results['ros_graph'] = bench_ros_graph(args.params, args.model, frames, args.threads)

    print(f'{len(frames)} frames {results["frame_size"][0]}x{results["frame_size"][1]} '
          f'from {source}; ONNX Runtime, {args.threads} threads\n')
    print(f'{"input":>9} {"encode ms":>10} {"infer ms":>10} {"decode ms":>10} '
          f'{"decode p90":>10} {"fps":>6} {"people":>7}')
    for size, r in results['pipeline'].items():
        print(f'{size:>9} {r["encode"]["median_ms"]:>10.2f} {r["infer"]["median_ms"]:>10.1f} '
              f'{r["decode"]["median_ms"]:>10.3f} {r["decode"]["p90_ms"]:>10.3f} '
              f'{r["fps"]:>6.1f} {r["people_per_frame"]:>7.1f}')
    for name, r in results.get('messages', {}).items():
        print(f'{name:>28}: {r["median_ms"]:.3f} ms median, {r["p90_ms"]:.3f} ms p90')
    if 'ros_graph' in results:
        r = results['ros_graph']['latency']
        print(f'{"image -> skeletons over DDS":>28}: {r["median_ms"]:.1f} ms median, '
              f'{r["p90_ms"]:.1f} ms p90 (three nodes, configured by {Path(args.params).name})')
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + '\n')
    print(f'\nwrote {output}')
    return 0


def _cpu_count() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


if __name__ == '__main__':
    sys.exit(main())
