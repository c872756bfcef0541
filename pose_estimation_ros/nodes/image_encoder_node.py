"""Image encoder node: sensor_msgs/Image -> resized, normalised network input tensor.

A thin shell around :class:`pose_estimation_ros.core.encoder.ImageEncoder`.
"""
from __future__ import annotations

import time

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from pose_estimation_ros.core.encoder import ImageEncoder
from pose_estimation_ros.core.params import ENCODER_NODE, ENCODER_PARAMETERS, encoder_config
from pose_estimation_ros.msg import TensorList
from pose_estimation_ros.nodes import messages
from pose_estimation_ros.nodes.common import (InputSubscription, run_nodes, startup_error,
                                              tensor_qos)
from pose_estimation_ros.nodes.diagnostics import NodeStatus
from pose_estimation_ros.nodes.parameters import declare_parameters

WAITING = 'waiting for the inference node to subscribe encoded_tensor'


class ImageEncoderNode(Node):
    """Subscribes ``image`` (and ``image/compressed``), publishes ``encoded_tensor``."""

    def __init__(self, **kwargs):
        super().__init__(ENCODER_NODE, **kwargs)
        values = declare_parameters(self, ENCODER_PARAMETERS)
        try:
            self.encoder = ImageEncoder(encoder_config(values))
        except ValueError as error:
            raise startup_error(self, error) from error
        self.publisher = self.create_publisher(TensorList, 'encoded_tensor', tensor_qos())
        self.status = NodeStatus(self)
        # The inference node subscribes encoded_tensor only once it and the decoder are
        # ready, so a subscriber here means skeletons can flow (see README "Start-up").
        self.status.starting(WAITING)
        self.create_timer(0.25, self._check_downstream,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.inputs = [InputSubscription(self, Image, 'image', self.on_image,
                                         values['input_qos'], self.status, 'camera images')]
        if values['subscribe_compressed']:
            self.inputs.append(InputSubscription(
                self, CompressedImage, 'image/compressed', self.on_compressed_image,
                values['input_qos'], self.status, 'compressed camera images'))
        cfg = self.encoder.config
        self.get_logger().info(
            f'encoding images to {cfg.tensor_name} {cfg.tensor_shape} {cfg.data_type} '
            f'({cfg.tensor_layout}, {cfg.channel_order}, {cfg.normalization_type}, '
            f'{"letterbox" if cfg.keep_aspect_ratio else "stretch"}); cv_bridge '
            f'{"in use" if messages.HAVE_CV_BRIDGE else "not installed, numpy path"}')

    def _check_downstream(self) -> bool:
        if self.publisher.get_subscription_count():
            self.status.ready('ready: first skeletons can flow (inference and decoder are '
                              'up)')
            return True
        if self.status.waiting_for is None:
            self.status.starting('no subscriber of encoded_tensor any more (inference node '
                                 'stopped?)')
        return False

    def on_image(self, msg: Image) -> None:
        started = time.perf_counter()
        try:
            image = messages.image_msg_to_array(msg)
            self.publish(msg.header, image, msg.encoding, started)
        except ValueError as error:
            self.status.drop('image', msg.header.stamp, error)

    def on_compressed_image(self, msg: CompressedImage) -> None:
        started = time.perf_counter()
        try:
            image, encoding = messages.compressed_msg_to_array(msg)
            self.publish(msg.header, image, encoding, started)
        except ValueError as error:
            self.status.drop('compressed image', msg.header.stamp, error)

    def publish(self, header, image, encoding: str, started: float) -> None:
        if self.status.waiting_for is not None and not self._check_downstream():
            self.status.hold('image', header.stamp)
            return
        tensor, geometry = self.encoder.encode(image, encoding)
        self.publisher.publish(messages.tensor_list_msg(
            header, {self.encoder.config.tensor_name: tensor}, geometry))
        self.status.done(started, header.stamp)


def main(args=None):
    return run_nodes('image_encoder_node', [ImageEncoderNode], args)


if __name__ == '__main__':
    main()
