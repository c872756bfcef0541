"""skeleton_3d node: 2D skeletons + aligned depth image + CameraInfo -> 3D skeletons.

Pairs each ``skeletons`` (Skeleton2DArray) with the ``depth`` image and ``camera_info``
of the same stamp (nearest within ``stamp_tolerance``) and publishes ``skeletons_3d``
(Skeleton3DArray, the colour image's header) and ``skeleton_markers_3d``. A thin shell
around :func:`pose_estimation_ros.core.depth.lift_keypoints`.
"""
from __future__ import annotations

import time

from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import MarkerArray

from pose_estimation_ros.core.params import (SKELETON_3D_NODE, SKELETON_3D_PARAMETERS,
                                             depth_params)
from pose_estimation_ros.core.stamps import StampCache
from pose_estimation_ros.msg import Skeleton2DArray, Skeleton3DArray
from pose_estimation_ros.nodes import compat, messages
from pose_estimation_ros.nodes.common import InputSubscription, run_nodes, startup_error
from pose_estimation_ros.nodes.diagnostics import NodeStatus, stamp_ns
from pose_estimation_ros.nodes.parameters import declare_parameters, on_parameters_change


def _stamp(ns: int) -> Time:
    return Time(sec=ns // 10**9, nanosec=ns % 10**9)


class Skeleton3DNode(Node):
    """Subscribes ``skeletons``, ``depth``, ``camera_info``; publishes ``skeletons_3d``
    and ``skeleton_markers_3d``."""

    def __init__(self, **kwargs):
        super().__init__(SKELETON_3D_NODE, **kwargs)
        self.values = declare_parameters(self, SKELETON_3D_PARAMETERS)
        try:
            self.params = depth_params(self.values)
        except ValueError as error:
            raise startup_error(self, error) from error
        on_parameters_change(self, SKELETON_3D_PARAMETERS, self._apply_parameters)
        size = self.values['queue_size']
        self._depth, self._info = StampCache(size), StampCache(size)
        self._pending = StampCache(size)  # skeletons waiting for their depth / info
        self.unmatched = 0  # skeleton arrays with no depth image / CameraInfo to pair with
        self.status = NodeStatus(self)
        self.skeletons_counter = self.status.counter('skeletons')
        self.skeleton_pub = self.create_publisher(Skeleton3DArray, 'skeletons_3d', 10)
        self.marker_pub = self.create_publisher(MarkerArray, 'skeleton_markers_3d', 10)
        # Depth images and CameraInfos wait in stamp caches for their skeletons: a burst
        # (bag replay) must not replace them, hence a queue of queue_size.
        self.inputs = [
            InputSubscription(self, Image, 'depth', self.on_depth, self.values['input_qos'],
                              None, 'depth images', depth=size),
            InputSubscription(self, CameraInfo, 'camera_info', self.on_camera_info,
                              self.values['input_qos'], None, 'camera infos', depth=size)]
        compat.create_subscription(
            self, Skeleton2DArray, 'skeletons', self.on_skeletons,
            QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE))

    def _apply_parameters(self, values) -> None:
        """Live change: raises ValueError (change refused) unless the values are valid."""
        params = depth_params(values)
        self.params, self.values = params, dict(values)

    @property
    def _tolerance_ns(self) -> int:
        return round(self.values['stamp_tolerance'] * 1e9)

    # ------------------------------------------------------------------ inputs
    def on_depth(self, msg: Image) -> None:
        self._depth.add(stamp_ns(msg.header.stamp), msg)
        self._match_pending()

    def on_camera_info(self, msg: CameraInfo) -> None:
        self._info.add(stamp_ns(msg.header.stamp), msg)
        self._match_pending()

    def on_skeletons(self, msg: Skeleton2DArray, info) -> None:
        if not self.status.arrived(self.skeletons_counter, info, msg):
            return
        for stamp, _ in self._pending.add(stamp_ns(msg.header.stamp), msg):
            self._drop(stamp, 'its depth image / camera_info did not arrive in time '
                              f'(queue_size {self._pending.size})')
        self._match_pending()

    def _match_pending(self) -> None:
        """Publish every waiting skeleton array whose depth and CameraInfo are in; drop
        those that can no longer be paired (both streams are past their stamp)."""
        tolerance = self._tolerance_ns
        for stamp, msg in self._pending.items():
            depth = self._depth.nearest(stamp, tolerance)
            info = self._info.nearest(stamp, tolerance)
            if depth is not None and info is not None:
                self._pending.pop(stamp)
                self._publish(msg, depth[1], info[1])
            elif depth is None and self._depth.passed(stamp, tolerance) or \
                    info is None and self._info.passed(stamp, tolerance):
                self._pending.pop(stamp)
                missing = 'depth image' if depth is None else 'camera_info'
                self._drop(stamp, f'no {missing} with its stamp (stamp_tolerance '
                                  f'{self.values["stamp_tolerance"]} s; raise it if the camera '
                                  f'stamps colour, depth and camera_info apart)')

    def _drop(self, stamp: int, reason: str) -> None:
        self.unmatched += 1
        self.status.drop('skeletons', _stamp(stamp), f'{reason}; {self.unmatched} '
                                                         f'unmatched so far')

    # ------------------------------------------------------------------ output
    def _publish(self, msg: Skeleton2DArray, depth_msg: Image, info_msg: CameraInfo) -> None:
        started = time.perf_counter()
        try:
            out = messages.lift_skeleton_array(msg, depth_msg, info_msg, self.params,
                                               self.values['rectified'])
        except ValueError as error:
            self.status.drop('skeletons', msg.header.stamp, error)
            return
        self.skeleton_pub.publish(out)
        self.status.done(started, msg.header.stamp)
        if self.marker_pub.get_subscription_count():
            self.marker_pub.publish(messages.marker_array_3d_msg(
                out, joint_diameter=self.values['marker_joint_diameter'],
                line_width=self.values['marker_line_width'],
                lifetime=self.values['marker_lifetime']))


def main(args=None):
    return run_nodes('skeleton_3d_node', [Skeleton3DNode], args)


if __name__ == '__main__':
    main()
