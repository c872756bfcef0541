"""Inference node: encoded TensorList -> model outputs as a TensorList.

A thin shell around :mod:`pose_estimation_ros.core.inference` (TensorRT or ONNX
Runtime behind one interface). The defaults fit the bundled mobilenet_thin model.
"""
from __future__ import annotations

from pathlib import Path

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from rclpy.node import Node

from pose_estimation_ros.core.inference import (LAYOUT_CONVERSIONS, check_mapping,
                                                create_backend, name_mapping, prepare_inputs,
                                                rename_outputs)
from pose_estimation_ros.core.params import INFERENCE_NODE, INFERENCE_PARAMETERS
from pose_estimation_ros.msg import TensorList
from pose_estimation_ros.nodes import messages
from pose_estimation_ros.nodes.common import node_main, startup_error, tensor_qos
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
            self.backend = self._create_backend(values)
        except (ValueError, RuntimeError, OSError) as error:
            raise startup_error(self, error) from error
        self.publisher = self.create_publisher(TensorList, 'network_output', tensor_qos())
        self.create_subscription(TensorList, 'encoded_tensor', self.on_tensors, tensor_qos())

    def _create_backend(self, values):
        if not values['model_file_path']:
            values['model_file_path'] = installed_model_path()
            self.get_logger().info(f'model_file_path not set: using the installed model '
                                   f'{values["model_file_path"]}')
        conversion = values['input_layout_conversion']
        if conversion != 'none' and conversion not in LAYOUT_CONVERSIONS:
            raise ValueError(f'input_layout_conversion must be none or one of '
                             f'{", ".join(LAYOUT_CONVERSIONS)}, got "{conversion}"')
        self.input_mapping = name_mapping(values['input_tensor_names'],
                                          values['input_binding_names'], 'input')
        output_mapping = name_mapping(values['output_tensor_names'],
                                      values['output_binding_names'], 'output')
        self.layout_conversions = ({} if conversion == 'none' else
                                   {name: conversion for name in self.input_mapping or {}})
        shape = [int(d) for d in values['input_shape']]
        backend, reason = create_backend(
            values['backend'], values['model_file_path'],
            engine_file_path=values['engine_file_path'],
            force_engine_update=values['force_engine_update'],
            enable_fp16=values['enable_fp16'],
            max_workspace_size=values['max_workspace_size'],
            device_id=values['device_id'],
            input_shapes={b: shape for b in (self.input_mapping or {}).values()},
            intra_op_num_threads=values['intra_op_num_threads'],
            inter_op_num_threads=values['inter_op_num_threads'])
        self.get_logger().info(reason)
        check_mapping(self.input_mapping, backend.inputs, 'input', self.layout_conversions)
        self.output_mapping = check_mapping(output_mapping, backend.outputs, 'output')
        self.get_logger().info(
            'model inputs: ' + ', '.join(i.describe() for i in backend.inputs) +
            '; outputs: ' + ', '.join(o.describe() for o in backend.outputs))
        return backend

    def on_tensors(self, msg: TensorList) -> None:
        try:
            inputs = prepare_inputs(messages.tensor_list_arrays(msg), self.backend.inputs,
                                    self.input_mapping, self.layout_conversions)
            outputs = rename_outputs(self.backend.run(inputs), self.backend.outputs,
                                     self.output_mapping)
        except ValueError as error:
            self.get_logger().error(f'dropped tensors {msg.header.stamp.sec}.'
                                    f'{msg.header.stamp.nanosec:09d}: {error}',
                                    throttle_duration_sec=5.0)
            return
        self.publisher.publish(messages.tensor_list_msg(msg.header, outputs, msg.geometry))

    def destroy_node(self):
        backend = getattr(self, 'backend', None)
        if backend is not None:
            backend.close()
        return super().destroy_node()


def main(args=None):
    return node_main(InferenceNode, args)


if __name__ == '__main__':
    main()
