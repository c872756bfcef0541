"""Offline pose estimation of recorded images, as fast as the machine allows.

Reads a rosbag2 (directory with metadata.yaml, or a single .mcap / .db3 file), a video
file or a folder of images, runs the same encoder -> inference -> decoder as the nodes
(:class:`~pose_estimation_ros.core.pipeline.Pipeline`, configured from the same
parameters file) in this process, and writes into the output directory:

- ``skeletons_bag/``: a rosbag2 with ``/skeletons`` (pose_estimation_ros/msg/
  Skeleton2DArray) and ``/skeleton_markers`` (visualization_msgs/msg/MarkerArray), one
  message each per input frame, with the input's header (stamp, frame_id) and logged at
  the input's receive time, so ``ros2 bag play`` replays them in step with the input;
- ``keypoints.json``: COCO keypoint results (``image_id`` = frame index, COCO-17 order,
  ``track_id`` = the skeleton's tracking id when tracked) and ``frames.json``: frame
  index -> stamp, frame_id, size;
- ``annotated.mp4``: the input with the skeletons drawn, tracked people in their id's
  colour with ``#id`` (unless ``--no-video``);
- ``summary.json``: what the final summary prints.

A bag from an RGB-D camera (``--depth-topic``: a depth image registered to the colour
image, 16UC1 mm or 32FC1 m; ``--camera-info-topic``: the colour camera's CameraInfo,
default the bag's only one) also gives 3D skeletons, as the skeleton_3d node does with
its parameters from the same file: ``/skeletons_3d`` (Skeleton3DArray) and
``/skeleton_markers_3d`` in the output bag for every colour frame with a depth image and
CameraInfo of its stamp (within ``stamp_tolerance``), the people's 3D centroids in
``frames.json``, and the counts (paired frames, unmatched frames, valid keypoints) in
the summary.

Each output is written under a partial name (``skeletons_bag.partial``,
``frames.partial.json``, ...) and renamed when the run completes; ``summary.json``
comes last. After an error (a damaged input bag, a frame the encoder refuses, a full
disk) the tool exits with status 2 and one line saying what went wrong and what was
kept: the partial bag is closed properly, so it is a valid bag of the frames processed
so far (unless the disk is full, when it may be unreadable), and it keeps its partial
name, so no incomplete output is ever taken for a finished one.

Usage::

    ros2 run pose_estimation_ros process_bag INPUT [--topic /camera/image_raw]
        [--params config/mobilenet_thin.yaml] [--model PATH] [--output-dir output/NAME]
        [--output-storage mcap|sqlite3] [--no-video] [--max-frames N]
        [--depth-topic /camera/aligned_depth_to_color/image_raw [--camera-info-topic T]]

Bag messages are deserialized with rclpy (the same message classes and conversions,
:mod:`pose_estimation_ros.nodes.messages`, as the nodes) and read / written as raw CDR
bytes with ``rosbags``, so no rosbag2 installation is needed.
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import queue
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import cv2
import numpy as np

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from pose_estimation_ros.core.coco import coco17_mapping, people_to_coco
from pose_estimation_ros.core.drawing import draw_skeletons, to_bgr8
from pose_estimation_ros.core.models import default_model, params_file_for, resolve_model_path
from pose_estimation_ros.core.params import (DECODER_NODE, INFERENCE_NODE, SKELETON_3D_NODE,
                                             depth_params, load_parameters_file)
from pose_estimation_ros.core.pipeline import Pipeline
from pose_estimation_ros.nodes import messages
from pose_estimation_ros.tools.rgbd import DepthStream

PACKAGE = 'pose_estimation_ros'
IMAGE_TYPES = {'sensor_msgs/msg/Image': Image,
               'sensor_msgs/msg/CompressedImage': CompressedImage}
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mkv', '.mov', '.m4v', '.webm', '.mpg', '.mpeg')
BAG_SUFFIXES = ('.mcap', '.db3')
# Stamps of frames from videos and image folders: a fixed epoch (2023-11-14T22:13:20Z)
# plus index / fps, so that repeated runs give identical output.
EPOCH_NS = 1_700_000_000 * 10**9
DEFAULT_FPS = 25.0
DEFAULT_FRAME_ID = 'camera_optical_frame'
SKELETON_TOPIC = '/skeletons'
MARKER_TOPIC = '/skeleton_markers'
SKELETON_TYPE = f'{PACKAGE}/msg/Skeleton2DArray'
MARKER_TYPE = 'visualization_msgs/msg/MarkerArray'
SKELETON_3D_TOPIC = '/skeletons_3d'
MARKER_3D_TOPIC = '/skeleton_markers_3d'
SKELETON_3D_TYPE = f'{PACKAGE}/msg/Skeleton3DArray'
# rosbag2 format 8 rather than 9 (Jazzy's, which changed how QoS profiles are written):
# readers of older distributions know its QoS format; Jazzy and later read both.
BAG_VERSION = 8


class InputError(ValueError):
    """Bad input or arguments: reported as one line, exit status 2."""


class OutputError(RuntimeError):
    """The output cannot be written (unwritable directory, disk full): exit status 2."""


# Suffix of outputs being written: renamed to their final names only when the run
# completes, so that an output under its final name is never half-written.
PARTIAL = '.partial'


# ------------------------------------------------------------------ package files
def package_file(*parts: str) -> Path:
    """A file of this package: from the install space's share directory when the
    package is installed, else from the source checkout (``<repo>/<parts>``)."""
    candidates = []
    with contextlib.suppress(PackageNotFoundError):
        candidates.append(Path(get_package_share_directory(PACKAGE)).joinpath(*parts))
    candidates.append(Path(__file__).resolve().parents[2].joinpath(*parts))
    for path in candidates:
        if path.exists():
            return path
    raise InputError(f'{"/".join(parts)} not found (looked in {", ".join(map(str, candidates))})'
                     f'; run scripts/setup.sh')


# ------------------------------------------------------------------ image sources
class Frame(NamedTuple):
    """One input image: its header (stamp, frame_id), pixels and their encoding, and
    when it was logged (bags: receive time; videos and folders: the stamp)."""

    header: Header
    image: np.ndarray
    encoding: str
    log_time_ns: int


def stamp_header(index: int, fps: float, frame_id: str) -> Header:
    """Header of frame ``index`` of a stream at ``fps`` starting at :data:`EPOCH_NS`."""
    ns = EPOCH_NS + round(index * 1e9 / fps)
    return Header(stamp=Time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id=frame_id)


def stamp_ns(header: Header) -> int:
    return header.stamp.sec * 10**9 + header.stamp.nanosec


def _open_bag(path: Path):
    from rosbags.rosbag2 import Reader

    try:
        reader = Reader(path)
        reader.open()
    except Exception as error:  # rosbags/sqlite3/mcap raise many types
        raise InputError(f'cannot read bag {path}: {error}') from error
    return reader


class ImageSource:
    """The images of INPUT (rosbag2, video file or image folder), as :class:`Frame`
    objects. Probing happens here (errors are :class:`InputError`); iterating opens the
    input again and reads it once, in order.

    ``topic``: the bag's image topic (None: its only image topic). ``fps``: stamp rate of
    videos and folders (None: the video's own rate, or 25). ``frame_id``: their
    header frame_id.
    """

    def __init__(self, path: str | Path, *, topic: str | None = None,
                 fps: float | None = None, frame_id: str = DEFAULT_FRAME_ID,
                 exclude_topics: Sequence[str] = ()):
        self.path = Path(path)
        self.exclude_topics = set(exclude_topics)  # e.g. the depth image topic
        self.frame_id = frame_id
        self.topic: str | None = None
        self.msgtype: str | None = None
        self.files: list[Path] = []
        if fps is not None and not fps > 0:
            raise InputError(f'--fps must be positive, got {fps}')
        if not self.path.exists():
            raise InputError(f'input not found: {self.path}')
        suffix = self.path.suffix.lower()
        if self.path.is_dir() and (self.path / 'metadata.yaml').exists() or \
                self.path.is_file() and suffix in BAG_SUFFIXES:
            self.kind = 'bag'
            self._probe_bag(topic)
        elif self.path.is_dir():
            self.kind = 'images'
            self.files = sorted(p for p in self.path.iterdir()
                                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not self.files:
                raise InputError(f'{self.path} is neither a rosbag2 (no metadata.yaml) nor a '
                                 f'folder of images ({", ".join(IMAGE_SUFFIXES)})')
            self.count = len(self.files)
            self.fps = fps or DEFAULT_FPS
        elif suffix in VIDEO_SUFFIXES:
            self.kind = 'video'
            capture = cv2.VideoCapture(str(self.path))
            try:
                if not capture.isOpened():
                    raise InputError(f'cannot open video {self.path} (OpenCV has no reader '
                                     f'for it, or the file is damaged)')
                self.count = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
                rate = capture.get(cv2.CAP_PROP_FPS)
            finally:
                capture.release()
            self.fps = fps or (rate if 0 < rate < 1000 else DEFAULT_FPS)
        else:
            raise InputError(f'unsupported input {self.path}: give a rosbag2 (directory or '
                             f'{"/".join(BAG_SUFFIXES)} file), a video '
                             f'({"/".join(VIDEO_SUFFIXES)}) or an image folder')

    def _probe_bag(self, topic: str | None) -> None:
        reader = _open_bag(self.path)
        try:
            types = {c.topic: c.msgtype for c in reader.connections}
            images = sorted(t for t, msgtype in types.items() if msgtype in IMAGE_TYPES
                            and t not in self.exclude_topics)
            listing = ', '.join(f'{t} ({types[t]})' for t in images) or 'none'
            if topic is None:
                if len(images) != 1:
                    raise InputError(
                        f'bag {self.path} has {"several" if images else "no"} image topics, '
                        f'choose one with --topic; image topics: {listing}')
                topic = images[0]
            elif topic not in types:
                raise InputError(f'topic {topic} is not in bag {self.path}; image topics: '
                                 f'{listing}')
            elif types[topic] not in IMAGE_TYPES:
                raise InputError(f'topic {topic} has unsupported message type {types[topic]}; '
                                 f'supported: {", ".join(IMAGE_TYPES)}; image topics: {listing}')
            self.topic, self.msgtype = topic, types[topic]
            self.count = sum(c.msgcount for c in reader.connections if c.topic == topic)
            if self.count == 0:
                raise InputError(f'topic {topic} of bag {self.path} has no messages')
            seconds = reader.duration / 1e9
        finally:
            reader.close()
        # Only used as the annotated video's frame rate.
        self.fps = (self.count - 1) / seconds if self.count > 1 and seconds > 0 else DEFAULT_FPS

    def describe(self) -> str:
        if self.kind == 'bag':
            return f'bag {self.path} topic {self.topic} ({self.msgtype}, {self.count} messages)'
        return f'{self.kind} {self.path} ({self.count} frames, stamped at {self.fps:g} fps)'

    def __iter__(self) -> Iterator[Frame]:
        if self.kind == 'bag':
            yield from self._bag_frames()
        elif self.kind == 'video':
            capture = cv2.VideoCapture(str(self.path))
            try:
                index = 0
                while True:
                    ok, image = capture.read()
                    if not ok:
                        break
                    yield self._stamped(index, image)
                    index += 1
            finally:
                capture.release()
        else:
            for index, file in enumerate(self.files):
                image = cv2.imread(str(file), cv2.IMREAD_COLOR)
                if image is None:
                    raise InputError(f'cannot read image {file}')
                yield self._stamped(index, image)

    def _stamped(self, index: int, image: np.ndarray) -> Frame:
        header = stamp_header(index, self.fps, self.frame_id)
        return Frame(header, image, 'bgr8', stamp_ns(header))

    def _bag_frames(self) -> Iterator[Frame]:
        msg_class = IMAGE_TYPES[self.msgtype]
        reader = _open_bag(self.path)
        try:
            connections = [c for c in reader.connections if c.topic == self.topic]
            for index, (_, log_time, data) in enumerate(_read_messages(
                    reader, connections, f'{self.topic} of bag {self.path}')):
                try:
                    msg = deserialize_message(bytes(data), msg_class)
                    if msg_class is Image:
                        image, encoding = messages.image_msg_to_array(msg), msg.encoding
                    else:
                        image, encoding = messages.compressed_msg_to_array(msg)
                except Exception as error:  # rclpy raises plain exceptions on bad CDR
                    raise InputError(f'{self.topic} message {index} (log time {log_time}): '
                                     f'{error}') from error
                yield Frame(msg.header, image, encoding, log_time)
        finally:
            reader.close()


def _read_messages(reader, connections, what: str):
    """``reader.messages(connections)``, with a damaged bag (truncated file, corrupt
    chunk or database page) reported as an InputError naming the message reached, also
    when the reader just stops before the count the bag's index records."""
    messages_ = reader.messages(connections)
    expected = sum(c.msgcount for c in connections)
    index = 0
    while True:
        try:
            item = next(messages_)
        except StopIteration:
            if index < expected:
                raise InputError(f'{what} ended after {index} of its {expected} messages '
                                 f'(the bag is truncated or corrupt; the messages before '
                                 f'were processed)') from None
            return
        except Exception as error:  # rosbags, sqlite3, mcap decompressors: many types
            raise InputError(f'cannot read message {index} of {what}: {error} (the bag is '
                             f'truncated or corrupt; the messages before it were '
                             f'processed)') from error
        yield item
        index += 1


def prefetch(frames: Iterator[Frame], depth: int = 2) -> Iterator[Frame]:
    """``frames`` read (and decoded) by a background thread, up to ``depth`` ahead, so
    that reading overlaps the network. Errors of the reader are raised here; closing
    this generator early stops the reader."""
    items: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def read() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    return
            put(end)
        except BaseException as error:  # handed to the consumer, raised there
            put(error)

    thread = threading.Thread(target=read, name='process_bag-reader', daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


# ------------------------------------------------------------------ output bag
def typestore():
    """rosbags type store of this ROS distribution ($ROS_DISTRO; default the newest),
    plus this package's messages, read from their .msg files."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    distro = os.environ.get('ROS_DISTRO', '')
    store = get_typestore(getattr(Stores, f'ROS2_{distro.upper()}', Stores.LATEST))
    types = {}
    for file in sorted(package_file('msg').glob('*.msg')):
        types.update(get_types_from_msg(file.read_text(), f'{PACKAGE}/msg/{file.stem}'))
    store.register(types)
    return store


def open_bag_writer(path: str | Path, storage: str, topics: dict[str, str]):
    """A rosbags rosbag2 Writer at ``path`` (must not exist) with a connection per
    ``{topic: msgtype}``; returns (writer, {topic: connection}). Close the writer."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    plugins = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
    if storage not in plugins:
        raise InputError(f'storage must be one of {", ".join(plugins)}, got "{storage}"')
    store = typestore()
    writer = Writer(path, version=BAG_VERSION, storage_plugin=plugins[storage])
    writer.open()
    try:
        connections = {topic: writer.add_connection(topic, msgtype, typestore=store)
                       for topic, msgtype in topics.items()}
    except BaseException:
        writer.close()
        raise
    return writer, connections


# ------------------------------------------------------------------ video
@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2: FFmpeg prints errors when probing a missing encoder."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class AnnotatedVideo:
    """mp4 writer opened at the first frame (its size; later frames are resized to it):
    H.264 (avc1) when this OpenCV can encode it, else MPEG-4 Part 2 (mp4v, in every
    OpenCV build with FFmpeg). ``codec`` stays '' when neither works."""

    def __init__(self, path: Path, fps: float):
        self.path, self.fps = path, fps
        self.writer, self.codec, self.size, self.frames = None, '', None, 0

    def write(self, image: np.ndarray) -> None:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if self.size is None:
            self.size = (image.shape[1], image.shape[0])
            for codec in ('avc1', 'mp4v'):
                with _quiet_stderr():
                    writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*codec),
                                             self.fps, self.size)
                if writer.isOpened():
                    self.writer, self.codec = writer, codec
                    break
                writer.release()
            else:
                print(f'process_bag: warning: this OpenCV cannot write {self.path.name} '
                      f'(no avc1 or mp4v encoder); no annotated video', file=sys.stderr)
        if self.writer is None:
            return
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(np.ascontiguousarray(image))
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


# ------------------------------------------------------------------ processing
def _clear_output(path: Path) -> None:
    """Remove a previous run's output (a rosbag2 directory or a file) before writing."""
    if path.is_dir():
        if not (path / 'metadata.yaml').exists() and any(path.iterdir()) and \
                not path.name.endswith(PARTIAL):
            raise InputError(f'{path} exists and is not a rosbag2 output; remove it')
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def partial_path(path: Path) -> Path:
    """Where ``path`` is written until the run completes: ``skeletons_bag.partial``,
    ``annotated.partial.mp4`` (the suffix kept, so players still open it)."""
    return path.with_name(path.stem + PARTIAL + path.suffix)


# Errors of writing the outputs (rosbags wraps some in WriterError, sqlite3 has its own).
def _output_errors():
    import sqlite3

    from rosbags.rosbag2 import WriterError
    return (OSError, sqlite3.Error, WriterError)


def default_output_dir(input_path: Path) -> Path:
    name = input_path.resolve().name
    return Path('output') / (Path(name).stem if input_path.is_file() else name)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='process_bag',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('input', help='rosbag2 directory, .mcap/.db3 file, video file or '
                                      'image folder')
    parser.add_argument('--topic', help='image topic of a bag (sensor_msgs/Image or '
                                        'CompressedImage); default: its only image topic')
    parser.add_argument('--params', help='parameters file (default: --model\'s shipped file; '
                                         'without --model, the default model\'s: '
                                         'config/human_pose_estimation_0001.yaml when that '
                                         'model is installed, else mobilenet_thin.yaml)')
    parser.add_argument('--model', help='model file (default: the parameters file\'s '
                                        'model_file_path, or the installed model)')
    parser.add_argument('--backend', choices=('auto', 'onnxruntime', 'openvino', 'tensorrt'),
                        help='inference backend (default: the parameters file\'s)')
    parser.add_argument('--output-dir', help='where to write (default: output/<input name>)')
    parser.add_argument('--output-storage', choices=('mcap', 'sqlite3'), default='mcap',
                        help='storage of the output bag (default: mcap)')
    parser.add_argument('--no-video', action='store_true', help='no annotated video')
    parser.add_argument('--max-frames', type=int, help='process at most N frames')
    parser.add_argument('--fps', type=float,
                        help='stamp rate of video / image-folder frames (default: the '
                             f'video\'s, else {DEFAULT_FPS:g})')
    parser.add_argument('--frame-id', default=DEFAULT_FRAME_ID,
                        help='header frame_id of video / image-folder frames (default: '
                             f'{DEFAULT_FRAME_ID})')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--depth-topic',
                        help='depth image topic of a bag (registered to the colour image): '
                             'also write 3D skeletons')
    parser.add_argument('--camera-info-topic',
                        help='CameraInfo topic of the colour camera (default: the bag\'s only '
                             'one); with --depth-topic')
    return parser.parse_args(argv)


def _parameters(args: argparse.Namespace) -> dict:
    """{node: {parameter: value}} of --params (default: that of --model, else of the
    default model, which is said)."""
    if args.params:
        params_file = Path(args.params)
    elif args.model:
        params_file = params_file_for(args.model, package_file('config'))
        print(f'[process_bag] --model without --params: {params_file.name}', file=sys.stderr)
    else:
        chosen = default_model(package_file('config'), package_file('models'))
        print(f'[process_bag] {chosen.reason}', file=sys.stderr)
        params_file = chosen.params_file
    return load_parameters_file(params_file)  # ValueError says what is wrong


def _make_pipeline(args: argparse.Namespace) -> Pipeline:
    parameters = _parameters(args)
    inference = {}
    if args.model:
        inference['model_file_path'] = str(args.model)
    elif not parameters[INFERENCE_NODE]['model_file_path']:
        inference['model_file_path'] = str(package_file('models', 'mobilenet_thin.onnx'))
    else:
        inference['model_file_path'] = resolve_model_path(
            parameters[INFERENCE_NODE]['model_file_path'], package_file('models'))
    if args.backend:
        inference['backend'] = args.backend
    return Pipeline(parameters, {INFERENCE_NODE: inference})


class Outputs:
    """What is written per frame: the output bag, COCO results, the frame table and the
    annotated video (None: no video), all in directory ``out``."""

    def __init__(self, out: Path, pipeline: Pipeline, storage: str, video_fps: float | None,
                 depth: DepthStream | None = None, values_3d: dict | None = None):
        self.out = out
        self.values = pipeline.values[DECODER_NODE]
        # 3D skeletons (RGB-D bags): the depth stream and the skeleton_3d parameters.
        self.depth, self.values_3d = depth, values_3d
        self.depth_params = depth_params(values_3d) if depth is not None else None
        self.count_3d = {'frames': 0, 'unmatched': 0, 'keypoints': 0, 'valid_keypoints': 0}
        self.params = pipeline.decoder.params
        self.coco_mapping = coco17_mapping(self.params.labels)
        self.results: list[dict] = []
        self.frames: list[dict] = []
        self.write_ms: list[float] = []
        self.paths = {'bag': out / 'skeletons_bag', 'video': out / 'annotated.mp4',
                      'keypoints': out / 'keypoints.json', 'frames': out / 'frames.json',
                      'summary': out / 'summary.json'}
        # Everything is written under a partial name (summary.json last, at the end).
        self.writing = {key: partial_path(path) for key, path in self.paths.items()
                        if key != 'summary'}
        self.storage = storage
        try:
            out.mkdir(parents=True, exist_ok=True)
            for path in [*self.paths.values(), *self.writing.values()]:
                _clear_output(path)
            topics = {SKELETON_TOPIC: SKELETON_TYPE, MARKER_TOPIC: MARKER_TYPE}
            if depth is not None:
                topics.update({SKELETON_3D_TOPIC: SKELETON_3D_TYPE,
                               MARKER_3D_TOPIC: MARKER_TYPE})
            self.writer, self.connections = open_bag_writer(self.writing['bag'], storage,
                                                            topics)
        except _output_errors() as error:
            raise OutputError(f'cannot write to the output directory {out}: {error}') \
                from error
        self.video = (AnnotatedVideo(self.writing['video'], video_fps)
                      if video_fps is not None else None)

    def add(self, index: int, frame: Frame, people: Sequence) -> None:
        try:
            self._add(index, frame, people)
        except _output_errors() as error:
            raise OutputError(f'cannot write frame {index} to {self.out} (disk full or '
                              f'not writable?): {error}') from error

    def _add(self, index: int, frame: Frame, people: Sequence) -> None:
        start = time.perf_counter()
        header, params, values = frame.header, self.params, self.values
        skeletons = messages.skeleton_array_msg(header, people, params.labels, params.edges)
        self.writer.write(self.connections[SKELETON_TOPIC], frame.log_time_ns,
                          serialize_message(skeletons))
        self.writer.write(self.connections[MARKER_TOPIC], frame.log_time_ns, serialize_message(
            messages.marker_array_msg(header, people, params.edges,
                                      pixel_size=values['marker_pixel_size'],
                                      joint_diameter=values['marker_joint_diameter'],
                                      line_width=values['marker_line_width'],
                                      lifetime=values['marker_lifetime'])))
        if self.coco_mapping:
            self.results += people_to_coco(people, index, mapping=self.coco_mapping)
        height, width = frame.image.shape[:2]
        self.frames.append({'id': index, 'width': width, 'height': height,
                            'stamp': {'sec': header.stamp.sec, 'nanosec': header.stamp.nanosec},
                            'frame_id': header.frame_id, 'log_time_ns': frame.log_time_ns,
                            'people': len(people)})
        if self.depth is not None:
            self.frames[-1]['centroids_3d'] = self._add_3d(index, frame, skeletons)
        if self.video is not None:
            self.video.write(draw_skeletons(to_bgr8(frame.image, frame.encoding), people,
                                            params.edges, len(params.labels)))
        self.write_ms.append((time.perf_counter() - start) * 1e3)

    def _add_3d(self, index: int, frame: Frame, skeletons) -> list | None:
        """Write the frame's 3D skeletons; returns the people's centroids (None: the
        frame has no depth image / CameraInfo of its stamp)."""
        pair = self.depth.pair(stamp_ns(frame.header))
        if pair is None:
            self.count_3d['unmatched'] += 1
            return None
        values = self.values_3d
        try:
            lifted = messages.lift_skeleton_array(skeletons, *pair, self.depth_params,
                                                  values['rectified'])
        except ValueError as error:
            raise InputError(f'frame {index}: {error}') from error
        self.writer.write(self.connections[SKELETON_3D_TOPIC], frame.log_time_ns,
                          serialize_message(lifted))
        self.writer.write(self.connections[MARKER_3D_TOPIC], frame.log_time_ns, serialize_message(
            messages.marker_array_3d_msg(lifted, joint_diameter=values['marker_joint_diameter'],
                                         line_width=values['marker_line_width'],
                                         lifetime=values['marker_lifetime'])))
        self.count_3d['frames'] += 1
        keypoints = [k for s in lifted.skeletons for k in s.keypoints]
        self.count_3d['keypoints'] += len(keypoints)
        self.count_3d['valid_keypoints'] += sum(k.valid for k in keypoints)
        return [[s.centroid.x, s.centroid.y, s.centroid.z] if s.centroid_valid else None
                for s in lifted.skeletons]

    def close(self, source: ImageSource, complete: bool) -> str:
        """Close the bag (a valid bag of the frames written so far) and the video, write
        the JSON files; rename them all to their final names if ``complete``, else
        leave them under their partial names. Returns what happened to them, in words;
        raises OutputError when closing fails (disk full: the partial files may then be
        unreadable, never under their final names)."""
        try:
            self.writer.close()
            if self.depth is not None:
                self.depth.close()
            if self.video is not None:
                self.video.close()
            if self.coco_mapping:
                self.writing['keypoints'].write_text(json.dumps(self.results))
            self.writing['frames'].write_text(json.dumps(
                {'input': str(source.path), 'kind': source.kind, 'topic': source.topic,
                 'complete': complete, 'images': self.frames}, indent=1))
            if complete:
                for key, path in self.writing.items():
                    if path.exists():
                        os.replace(path, self.paths[key])
        except _output_errors() as error:
            raise OutputError(f'cannot finish the outputs in {self.out} (disk full or not '
                              f'writable?): {error}; the partial outputs (*{PARTIAL}*) '
                              f'may be damaged') from error
        if complete:
            return f'outputs in {self.out}'
        return (f'the {len(self.frames)} frames written so far are in {self.writing["bag"]} '
                f'(a valid bag) and the other *{PARTIAL}* files of {self.out}')

    def describe(self) -> dict:
        video = self.video is not None and self.video.frames > 0
        return {'bag': str(self.paths['bag']), 'storage': self.storage,
                'keypoints': str(self.paths['keypoints']) if self.coco_mapping else None,
                'frames': str(self.paths['frames']),
                'video': str(self.paths['video']) if video else None,
                'video_codec': self.video.codec if video else None,
                'skeletons_3d': dict(self.count_3d, topics=self.depth.describe())
                if self.depth is not None else None}


def _estimate(frames: Iterator[Frame], pipeline: Pipeline, writer: ThreadPoolExecutor,
              outputs: Outputs, progress) -> list[int]:
    """People of each frame; their outputs are written by ``writer`` while the next
    frame is estimated. Returns the number of people per frame."""
    counts, pending = [], None
    for index, frame in enumerate(frames):
        try:
            # Tracked on the frames' header stamps, like the decoder node.
            people = pipeline.process(frame.image, frame.encoding,
                                      stamp_ns(frame.header) * 1e-9)
        except ValueError as error:  # e.g. an image encoding the encoder refuses
            raise InputError(f'frame {index}: {error}') from error
        if pending is not None:
            pending.result()  # raises the writer's error, if any
        pending = writer.submit(outputs.add, index, frame, people)
        counts.append(len(people))
        progress.update()
    if pending is not None:
        pending.result()
    return counts


def process(args: argparse.Namespace) -> dict:
    """Run the tool; returns the summary. Raises InputError/ValueError/RuntimeError."""
    from tqdm import tqdm

    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f'--max-frames must be at least 1, got {args.max_frames}')
    if args.camera_info_topic and not args.depth_topic:
        raise InputError('--camera-info-topic needs --depth-topic')
    source = ImageSource(args.input, topic=args.topic, fps=args.fps, frame_id=args.frame_id,
                         exclude_topics=[args.depth_topic] if args.depth_topic else [])
    depth = None
    if args.depth_topic:
        if source.kind != 'bag':
            raise InputError('--depth-topic needs a bag input')
        values_3d = _parameters(args)[SKELETON_3D_NODE]
        depth = DepthStream(source.path, args.depth_topic, args.camera_info_topic,
                            round(values_3d['stamp_tolerance'] * 1e9), _open_bag)
    pipeline = _make_pipeline(args)
    try:
        out = Path(args.output_dir) if args.output_dir else default_output_dir(source.path)
        print(f'process_bag: {source.describe()}; {pipeline.inference.reason}', file=sys.stderr)
        total = min(filter(None, (source.count, args.max_frames)), default=None)
        start = time.perf_counter()
        # Reading runs ahead in one thread, writing (messages, bag, drawing, video) trails
        # in another, so the network works while they do (ONNX Runtime, OpenCV and
        # sqlite release the GIL); one frame's writing at most is pending. The outputs
        # live in the writer thread: sqlite3 connections belong to the thread that made
        # them.
        with ThreadPoolExecutor(1, thread_name_prefix='process_bag-writer') as writer:
            outputs = writer.submit(Outputs, out, pipeline, args.output_storage,
                                    None if args.no_video else source.fps, depth,
                                    pipeline.values.get(SKELETON_3D_NODE)).result()
            frames = prefetch(itertools.islice(source, args.max_frames))
            try:
                with tqdm(total=total, unit='frame', file=sys.stderr, dynamic_ncols=True,
                          disable=args.no_progress, desc='pose estimation') as progress:
                    people_counts = _estimate(frames, pipeline, writer, outputs, progress)
            except BaseException as error:
                frames.close()
                try:
                    kept = writer.submit(outputs.close, source, False).result()
                except OutputError as close_error:
                    kept = str(close_error)
                if isinstance(error, (ValueError, RuntimeError)):
                    # The error says what went wrong; add what was kept.
                    raise (InputError if isinstance(error, ValueError) else OutputError
                           if isinstance(error, OutputError) else RuntimeError)(
                        f'{error}; {kept}') from error
                raise
            frames.close()
            writer.submit(outputs.close, source, True).result()
        elapsed = time.perf_counter() - start
        timings = pipeline.timings
    finally:
        pipeline.inference.close()

    count = len(people_counts)
    counts = np.array(people_counts or [0])
    median_ms = {stage: values['median_ms'] for stage, values in timings.summary().items()}
    if outputs.write_ms:
        # Overlapped with the network: only a bottleneck if close to encode+infer+decode.
        median_ms['write'] = float(np.median(outputs.write_ms))
    config = pipeline.encoder.config
    summary = {
        'input': source.describe(), 'frames': count,
        'people_per_frame': {'mean': float(counts.mean()), 'min': int(counts.min()),
                             'max': int(counts.max())},
        'fps': count / elapsed if elapsed > 0 else 0.0, 'seconds': elapsed,
        'median_ms': median_ms, 'backend': pipeline.inference.backend.description,
        'network_input': [int(config.network_image_width), int(config.network_image_height)],
        'outputs': outputs.describe(),
    }
    try:
        temporary = partial_path(outputs.paths['summary'])
        temporary.write_text(json.dumps(summary, indent=1))
        os.replace(temporary, outputs.paths['summary'])
    except OSError as error:
        raise OutputError(f'cannot write {outputs.paths["summary"]}: {error}') from error
    return summary


def print_summary(summary: dict) -> None:
    ppf, ms, outputs = summary['people_per_frame'], summary['median_ms'], summary['outputs']
    stages = ', '.join(f'{stage} {value:.1f}' for stage, value in ms.items())
    print(f'{summary["frames"]} frames in {summary["seconds"]:.1f} s: {summary["fps"]:.2f} fps '
          f'({summary["backend"]}, network input {summary["network_input"][0]}x'
          f'{summary["network_input"][1]})')
    print(f'people per frame: {ppf["mean"]:.2f} (min {ppf["min"]}, max {ppf["max"]})')
    print(f'median ms per frame: {stages}')
    print(f'output bag:      {outputs["bag"]} ({outputs["storage"]})')
    if outputs['keypoints']:
        print(f'COCO keypoints:  {outputs["keypoints"]} (frames: {outputs["frames"]})')
    if outputs['video']:
        print(f'annotated video: {outputs["video"]} ({outputs["video_codec"]})')
    counts = outputs.get('skeletons_3d')
    if counts:
        print(f'3D skeletons:    {counts["frames"]} frames ({counts["unmatched"]} without depth '
              f'or camera_info of their stamp), {counts["valid_keypoints"]} of '
              f'{counts["keypoints"]} keypoints with a valid depth ({counts["topics"]})')


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        summary = process(args)
    except (InputError, OutputError, ValueError, RuntimeError) as error:
        # One line that says what to fix; the traceback would only hide it.
        print('process_bag: error: ' + ' '.join(str(error).split()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('process_bag: interrupted', file=sys.stderr)
        return 130
    print_summary(summary)
    return 0


if __name__ == '__main__':
    sys.exit(main())
