"""Single-process runner: encoder, inference and decoder nodes on one executor.

The rclpy counterpart of a component container: the same three nodes, with the same
names, parameters and topics as ``launch/pose_estimation.launch.py`` starts, in one
process (a MultiThreadedExecutor, so the stages of consecutive frames overlap)::

    ros2 run pose_estimation_ros pose_estimation --ros-args \\
        --params-file config/mobilenet_thin.yaml -r image:=/camera/image_raw

Without ``--params-file`` it runs the default model's installed parameters file
(human-pose-estimation-0001 on OpenVINO when installed, else mobilenet_thin; see
:mod:`pose_estimation_ros.core.models`) and says which and why.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

from pose_estimation_ros.core.models import default_model
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


def with_default_params_file(args: list[str]) -> list[str]:
    """``args`` plus ``--ros-args --params-file <default model's file>`` when they name
    no parameters file (and the package is installed); prints the choice."""
    if '--params-file' in args:
        return args
    try:
        share = Path(get_package_share_directory('pose_estimation_ros'))
    except PackageNotFoundError:
        return args
    chosen = default_model(share / 'config', share / 'models')
    print(f'[pose_estimation] no --params-file: {chosen.params_file.name}; {chosen.reason}',
          file=sys.stderr)
    return [*args, '--ros-args', '--params-file', str(chosen.params_file)]


def main(args=None) -> int:
    args = with_default_params_file(list(sys.argv if args is None else args))
    return run_nodes('pose_estimation', NODE_CLASSES, args)


if __name__ == '__main__':
    sys.exit(main())
