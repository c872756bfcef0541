"""Inference node: encoded TensorList -> model outputs as a TensorList.

A thin shell around :class:`pose_estimation_ros.core.pipeline.InferenceStage` (TensorRT,
OpenVINO or ONNX Runtime behind one interface). The defaults fit the bundled
mobilenet_thin model; a bare model file name (``human-pose-estimation-0001.xml``) is
looked up in the package's installed models.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from rclpy.clock import Clock, ClockType
from rclpy.node import Node

from pose_estimation_ros.core.models import resolve_model_path
from pose_estimation_ros.core.params import INFERENCE_NODE, INFERENCE_PARAMETERS
from pose_estimation_ros.core.pipeline import InferenceStage
from pose_estimation_ros.msg import TensorList
from pose_estimation_ros.nodes import compat, messages
from pose_estimation_ros.nodes.common import (DECODER_QUEUE, run_nodes, startup_error,
                                              tensor_qos)
from pose_estimation_ros.nodes.diagnostics import NodeStatus
from pose_estimation_ros.nodes.parameters import declare_parameters



def installed_model_path() -> str:
    """The model scripts/setup.sh converts, as installed in the package's share dir."""
    try:
        share = get_package_share_directory('pose_estimation_ros')
    except PackageNotFoundError as error:
        raise ValueError('model_file_path is empty and the package is not installed: set '
                         'model_file_path to the ONNX model') from error
    return str(Path(share) / 'models' / 'mobilenet_thin.onnx')


class InferenceNode(Node):
    """Subscribes ``encoded_tensor``, publishes ``network_output`` (both TensorList)."""

    def __init__(self, **kwargs):
        super().__init__(INFERENCE_NODE, **kwargs)
        values = declare_parameters(self, INFERENCE_PARAMETERS)
        try:
            if not values['model_file_path']:
                values['model_file_path'] = installed_model_path()
                self.get_logger().info(f'model_file_path not set: using the installed model '
                                       f'{values["model_file_path"]}')
            elif os.path.basename(values['model_file_path']) == values['model_file_path']:
                values['model_file_path'] = resolve_model_path(
                    values['model_file_path'], os.path.dirname(installed_model_path()))
            self.inference = InferenceStage(values)
        except (ValueError, RuntimeError, OSError) as error:
            raise startup_error(self, error) from error
        self.get_logger().info(self.inference.reason)
        self.get_logger().info(self.inference.describe())
        try:
            seconds = self.inference.time_per_frame()
        except RuntimeError as error:
            raise startup_error(self, f'the model does not run: {error}') from error
        if seconds is not None:
            self.get_logger().info(self.inference.speed_report(seconds))
        self.publisher = self.create_publisher(TensorList, 'network_output',
                                               tensor_qos(DECODER_QUEUE))
        self.status = NodeStatus(self, lambda: {
            'backend': self.inference.backend.description,
            'model': values['model_file_path'],
            'inference time at start-up (ms)': (f'{seconds * 1e3:.1f}' if seconds
                                                else '-')})
        self.counter = self.status.counter('encoded tensors')
        # Frames are taken once the decoder listens: the encoder then knows (from this
        # subscription) that skeletons can flow, and holds frames until then.
        self._subscription = None
        self.status.starting('waiting for the decoder to subscribe network_output')
        self._ready_timer = self.create_timer(0.1, self._subscribe_when_decoded,
                                              clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._subscribe_when_decoded()

    def _subscribe_when_decoded(self) -> None:
        if self._subscription is None and self.publisher.get_subscription_count():
            self._subscription = compat.create_subscription(
                self, TensorList, 'encoded_tensor', self.on_tensors, tensor_qos())
            self.status.ready('ready: taking encoded tensors (the decoder is up)')
            self.destroy_timer(self._ready_timer)

    def on_tensors(self, msg: TensorList, info) -> None:
        if not self.status.arrived(self.counter, info, msg):
            return
        started = time.perf_counter()
        try:
            outputs = self.inference.run(messages.tensor_list_arrays(msg))
        except (ValueError, RuntimeError) as error:
            self.status.drop('tensors', msg.header.stamp, error)
            return
        self.publisher.publish(messages.tensor_list_msg(msg.header, outputs, msg.geometry))
        self.status.done(started, msg.header.stamp)

    def destroy_node(self):
        inference = getattr(self, 'inference', None)
        if inference is not None:
            inference.close()
        return super().destroy_node()


def main(args=None):
    return run_nodes('inference_node', [InferenceNode], args)


if __name__ == '__main__':
    main()
