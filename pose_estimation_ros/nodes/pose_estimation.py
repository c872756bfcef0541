"""Single-process runner: encoder, inference and decoder nodes on one executor.

The rclpy counterpart of a component container: the same three nodes, with the same
names, parameters and topics as ``launch/pose_estimation.launch.py`` starts, in one
process (a MultiThreadedExecutor, so the stages of consecutive frames overlap)::

    ros2 run pose_estimation_ros pose_estimation --ros-args \\
        --params-file config/mobilenet_thin.yaml -r image:=/camera/image_raw
"""
from __future__ import annotations

import sys

from pose_estimation_ros.nodes.common import run_nodes
from pose_estimation_ros.nodes.image_encoder_node import ImageEncoderNode
from pose_estimation_ros.nodes.inference_node import InferenceNode
from pose_estimation_ros.nodes.openpose_decoder_node import OpenPoseDecoderNode

NODE_CLASSES = (ImageEncoderNode, InferenceNode, OpenPoseDecoderNode)


def create_nodes(**kwargs) -> list:
    """The three nodes (``kwargs`` go to each Node, e.g. ``context``,
    ``parameter_overrides``); on a configuration error, the ones made are destroyed."""
    nodes = []
    try:
        for node_class in NODE_CLASSES:
            nodes.append(node_class(**kwargs))
    except BaseException:
        for node in nodes:
            node.destroy_node()
        raise
    return nodes


def main(args=None) -> int:
    return run_nodes('pose_estimation', NODE_CLASSES, args)


if __name__ == '__main__':
    sys.exit(main())
