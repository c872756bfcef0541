"""RGB-D input of the offline tools: the depth image and CameraInfo of each colour frame
of a rosbag2, and folders holding one RGB-D frame (``color.png``, ``depth_mm.png``,
``camera_info.yaml``, like ``../shared/data/rgbd_five_people``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import yaml
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image

from pose_estimation_ros.core.stamps import StampCache

DEPTH_TYPE = 'sensor_msgs/msg/Image'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
# What make_bag writes for an RGB-D folder: the launch file's default topics.
COLOR_TOPIC = '/camera/color/image_raw'
DEPTH_TOPIC = '/camera/aligned_depth_to_color/image_raw'
CAMERA_INFO_TOPIC = '/camera/color/camera_info'
RGBD_FILES = ('color.png', 'depth_mm.png', 'camera_info.yaml')
# Depth images / CameraInfo kept around the colour frame being processed.
CACHE_SIZE = 30


def is_rgbd_folder(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and all((path / name).is_file() for name in RGBD_FILES)


def read_rgbd_folder(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(colour BGR, depth uint16 millimetres, camera_info.yaml as a dict) of a folder;
    ValueError saying what is wrong."""
    path = Path(path)
    color = cv2.imread(str(path / 'color.png'), cv2.IMREAD_COLOR)
    depth = cv2.imread(str(path / 'depth_mm.png'), cv2.IMREAD_UNCHANGED)
    if color is None or depth is None:
        raise ValueError(f'cannot read {path}/color.png or depth_mm.png')
    if depth.dtype != np.uint16 or depth.ndim != 2:
        raise ValueError(f'{path}/depth_mm.png must be a 16-bit one-channel PNG (millimetres),'
                         f' got {depth.dtype} {depth.shape}')
    try:
        info = yaml.safe_load((path / 'camera_info.yaml').read_text())
    except yaml.YAMLError as error:
        raise ValueError(f'cannot read {path}/camera_info.yaml: {error}') from error
    return color, depth, info


class DepthStream:
    """The depth images and CameraInfo of a bag, paired with colour frames by stamp.

    ``pair(stamp)`` reads the two topics in log order until both are past ``stamp +
    tolerance`` (colour frames come in stamp order), and returns the (Image, CameraInfo)
    nearest to ``stamp`` within ``tolerance_ns`` (0: equal stamps), or None. The bag is
    opened at the first ``pair`` (in the thread that calls it) and closed by ``close``.
    """

    def __init__(self, bag: Path, depth_topic: str, camera_info_topic: str | None,
                 tolerance_ns: int, open_bag):
        self.bag, self.tolerance_ns, self._open_bag = bag, tolerance_ns, open_bag
        reader = open_bag(bag)
        try:
            types = {c.topic: c.msgtype for c in reader.connections}
        finally:
            reader.close()
        infos = sorted(t for t, msgtype in types.items() if msgtype == CAMERA_INFO_TYPE)
        if types.get(depth_topic) != DEPTH_TYPE:
            raise ValueError(f'depth topic {depth_topic} is not a {DEPTH_TYPE} topic of bag '
                             f'{bag}' + (f' (it is {types[depth_topic]})'
                                         if depth_topic in types else ''))
        if camera_info_topic is None:
            if len(infos) != 1:
                raise ValueError(f'bag {bag} has {"several" if infos else "no"} CameraInfo '
                                 f'topics, choose one with --camera-info-topic: '
                                 f'{", ".join(infos) or "none"}')
            camera_info_topic = infos[0]
        elif camera_info_topic not in infos:
            raise ValueError(f'camera_info topic {camera_info_topic} is not a '
                             f'{CAMERA_INFO_TYPE} topic of bag {bag}; CameraInfo topics: '
                             f'{", ".join(infos) or "none"}')
        self.depth_topic, self.camera_info_topic = depth_topic, camera_info_topic
        self._caches = {depth_topic: StampCache(CACHE_SIZE),
                        camera_info_topic: StampCache(CACHE_SIZE)}
        self._classes = {depth_topic: Image, camera_info_topic: CameraInfo}
        self._reader = None
        self._messages: Iterator | None = None

    def _next(self) -> bool:
        """Read one more depth / CameraInfo message; False at the end of the bag."""
        if self._reader is None:
            self._reader = self._open_bag(self.bag)
            connections = [c for c in self._reader.connections if c.topic in self._caches]
            self._messages = iter(self._reader.messages(connections))
        try:
            connection, _, data = next(self._messages)
        except StopIteration:
            return False
        topic = connection.topic
        try:
            msg = deserialize_message(bytes(data), self._classes[topic])
        except Exception as error:  # rclpy raises plain exceptions on bad CDR
            raise ValueError(f'{topic}: cannot read a message: {error}') from error
        stamp = msg.header.stamp
        self._caches[topic].add(stamp.sec * 10**9 + stamp.nanosec, msg)
        return True

    def pair(self, stamp_ns: int) -> tuple[Image, CameraInfo] | None:
        while not all(c.passed(stamp_ns, self.tolerance_ns) for c in self._caches.values()):
            if not self._next():
                break
        found = [c.nearest(stamp_ns, self.tolerance_ns) for c in self._caches.values()]
        if any(f is None for f in found):
            return None
        return found[0][1], found[1][1]

    def describe(self) -> str:
        return f'depth {self.depth_topic}, camera_info {self.camera_info_topic}'

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
