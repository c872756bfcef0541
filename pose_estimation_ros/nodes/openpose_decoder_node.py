"""OpenPose decoder node: heatmaps + Part Affinity Fields -> skeletons, markers, overlay.

A thin shell around :class:`pose_estimation_ros.core.openpose.OpenPoseDecoder` and the
person tracker :class:`pose_estimation_ros.core.tracking.Tracker` (run here, on the
decoder's output, so the ids reach every output without another topic hop; timed by
the header stamps).
"""
from __future__ import annotations

import time

from collections import OrderedDict

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import Image
from visualization_msgs.msg import MarkerArray

from pose_estimation_ros.core.drawing import draw_skeletons, to_bgr8
from pose_estimation_ros.core import openpose_jit
from pose_estimation_ros.core.openpose import (OpenPoseDecoder, compiled_steps_cached,
                                               compiled_steps_loaded,
                                               load_compiled_steps_in_thread)
from pose_estimation_ros.core.params import (DECODER_NODE, DECODER_PARAMETERS, decoder_params,
                                             tracker_params)
from pose_estimation_ros.core.pipeline import extract_maps
from pose_estimation_ros.core.tracking import Tracker
from pose_estimation_ros.msg import Skeleton2DArray, TensorList
from pose_estimation_ros.nodes import compat, messages
from pose_estimation_ros.nodes.common import (DECODER_QUEUE, INPUT_QOS_CHOICES,
                                              InputSubscription, run_nodes, startup_error,
                                              tensor_qos)
from pose_estimation_ros.nodes.diagnostics import NodeStatus
from pose_estimation_ros.nodes.parameters import declare_parameters, on_parameters_change

# Frames kept to pair the overlay's images with their skeletons (by stamp).
_OVERLAY_CACHE = 8


class OpenPoseDecoderNode(Node):
    """Subscribes ``network_output``; publishes ``skeletons``, ``skeletons_raw`` (while
    smoothing is on), ``skeleton_markers``, ``detections`` (vision_msgs, when installed)
    and ``overlay_image``."""

    def __init__(self, **kwargs):
        super().__init__(DECODER_NODE, **kwargs)
        self.values = declare_parameters(self, DECODER_PARAMETERS)
        try:
            # The numpy steps until the compiled ones are loaded (_load_compiled_steps).
            self.decoder = OpenPoseDecoder(decoder_params(self.values), load_compiled=False)
            self.tracker = Tracker(tracker_params(self.values), len(self.decoder.params.labels))
        except ValueError as error:
            raise startup_error(self, error) from error
        self._load_compiled_steps()
        on_parameters_change(self, DECODER_PARAMETERS, self._apply_parameters)
        self.skeleton_pub = self.create_publisher(Skeleton2DArray, 'skeletons', 10)
        # The unsmoothed detections (with their ids), published while smoothing is on.
        self.raw_skeleton_pub = self.create_publisher(Skeleton2DArray, 'skeletons_raw', 10)
        self.marker_pub = self.create_publisher(MarkerArray, 'skeleton_markers', 10)
        self.detection_pub = None
        if messages.HAVE_VISION_MSGS:
            self.detection_pub = self.create_publisher(messages.Detection2DArray,
                                                       'detections', 10)
        self.overlay_pub = self.create_publisher(Image, 'overlay_image', 10)
        self.status = NodeStatus(self)
        self.counter = self.status.counter('network outputs')
        compat.create_subscription(self, TensorList, 'network_output', self.on_tensors,
                                   tensor_qos(DECODER_QUEUE))
        # The overlay needs the source images: subscribed only while someone watches.
        if self.values['input_qos'] not in INPUT_QOS_CHOICES:
            raise startup_error(self, f'input_qos must be one of {", ".join(INPUT_QOS_CHOICES)}'
                                      f', got "{self.values["input_qos"]}"')
        self._image_sub = None
        self._images: OrderedDict = OrderedDict()
        self._people: OrderedDict = OrderedDict()
        # A steady clock: with use_sim_time, ROS time stands still until /clock runs.
        self.create_timer(0.5, self._update_overlay_subscription,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _load_compiled_steps(self) -> None:
        """Load the compiled decoder steps in a thread (on a machine's first start they
        compile, half a minute or more); frames meanwhile get the numpy steps' same
        results."""
        log = self.get_logger()
        if not self.decoder.prefers_compiled:
            if not openpose_jit.AVAILABLE:
                log.info('numba is not installed: decoding with the numpy steps')
            return
        if compiled_steps_loaded():  # another node of this process loaded them
            return
        if openpose_jit.CACHE_NOTE:
            log.warning(openpose_jit.CACHE_NOTE)
        if not compiled_steps_cached():
            log.info('compiling the decoder for this CPU (first start on this machine, '
                     'once; about half a minute, minutes when the machine is busy): '
                     'decoding with the numpy steps meanwhile')

        def done(result, error):
            if error is not None:
                log.error(f'the compiled decoder failed to load, decoding with the numpy '
                          f'steps: {type(error).__name__}: {error}')
            elif result.compiled:
                log.info(f'compiled decoder ready after {result.seconds:.1f} s (cached in '
                         f'{result.cache_dir})')
            else:
                log.info(f'compiled decoder loaded from {result.cache_dir} in '
                         f'{result.seconds:.1f} s')

        load_compiled_steps_in_thread(done)

    def _apply_parameters(self, values) -> None:
        """Live change: raises ValueError (change refused) unless the values are valid."""
        # Never waits for the compiled steps: it switches to them once they are loaded.
        decoder = OpenPoseDecoder(decoder_params(values), load_compiled=False)
        tracking = tracker_params(values)
        self.decoder, self.values = decoder, dict(values)
        self.tracker.configure(tracking)

    def on_tensors(self, msg: TensorList, info) -> None:
        if not self.status.arrived(self.counter, info, msg):
            return
        started = time.perf_counter()
        try:
            arrays = messages.tensor_list_arrays(msg)
            heatmaps, pafs, maxpool = extract_maps(arrays, self.values)
            people = self.decoder.decode(heatmaps, pafs, maxpool,
                                         messages.geometry_from_msg(msg.geometry))
        except ValueError as error:
            self.status.drop('tensors', msg.header.stamp, error)
            return
        params = self.decoder.params
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        resets = self.tracker.resets
        tracked = self.tracker.update(people, stamp)
        if self.tracker.resets != resets:
            self.get_logger().warning('time went back (bag restarted?): tracks cleared')
        people = tracked.smoothed
        self.skeleton_pub.publish(messages.skeleton_array_msg(
            msg.header, people, params.labels, params.edges))
        self.status.done(started, msg.header.stamp)
        if tracked.smoothed is not tracked.people and \
                self.raw_skeleton_pub.get_subscription_count():
            self.raw_skeleton_pub.publish(messages.skeleton_array_msg(
                msg.header, tracked.people, params.labels, params.edges))
        if self.marker_pub.get_subscription_count():
            self.marker_pub.publish(messages.marker_array_msg(
                msg.header, people, params.edges,
                pixel_size=self.values['marker_pixel_size'],
                joint_diameter=self.values['marker_joint_diameter'],
                line_width=self.values['marker_line_width'],
                lifetime=self.values['marker_lifetime']))
        if self.detection_pub is not None and self.detection_pub.get_subscription_count():
            self.detection_pub.publish(messages.detection_array_msg(msg.header, people))
        if self._image_sub is not None:
            self._remember(self._people, msg.header.stamp, people)

    # ------------------------------------------------------------------ overlay
    def _update_overlay_subscription(self) -> None:
        watched = self.overlay_pub.get_subscription_count() > 0
        if watched and self._image_sub is None:
            self._image_sub = InputSubscription(self, Image, 'image', self.on_image,
                                                self.values['input_qos'], None,
                                                'overlay images')
        elif not watched and self._image_sub is not None:
            self._image_sub.destroy()
            self._image_sub = None
            self._images.clear()
            self._people.clear()

    def on_image(self, msg: Image) -> None:
        self._remember(self._images, msg.header.stamp, msg)

    def _remember(self, cache: OrderedDict, stamp, item) -> None:
        """Keep ``item`` by stamp; draw as soon as a frame's image and people are both in."""
        key = (stamp.sec, stamp.nanosec)
        cache[key] = item
        while len(cache) > _OVERLAY_CACHE:
            cache.popitem(last=False)
        if key in self._images and key in self._people:
            self._publish_overlay(self._images.pop(key), self._people.pop(key))

    def _publish_overlay(self, image_msg: Image, people) -> None:
        try:
            image = messages.image_msg_to_array(image_msg)
        except ValueError as error:
            self.get_logger().error(f'no overlay for this image: {error}',
                                    throttle_duration_sec=5.0)
            return
        params = self.decoder.params
        canvas = draw_skeletons(to_bgr8(image, image_msg.encoding), people, params.edges,
                                len(params.labels))
        self.overlay_pub.publish(messages.array_to_image_msg(canvas, 'bgr8',
                                                             image_msg.header))


def main(args=None):
    return run_nodes('openpose_decoder_node', [OpenPoseDecoderNode], args)


if __name__ == '__main__':
    main()
