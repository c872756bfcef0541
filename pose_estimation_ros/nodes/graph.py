"""The pipeline graph as ``ros2 launch`` starts it, described once (no ROS imports).

``launch/pose_estimation.launch.py`` builds its launch_ros ``Node`` actions from
:data:`PIPELINE` and :data:`LAUNCH_ARGUMENTS`; the tests start the installed executables
as separate processes with :func:`command_line`, which gives each executable exactly the
arguments launch_ros gives it (node name, namespace, parameters file, launch-argument
parameters, remappings, log level). So the two cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from pose_estimation_ros.core.models import HPE_MODEL_FILE, default_model

PACKAGE = 'pose_estimation_ros'


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str | None  # None: computed from what is installed (computed_defaults)
    description: str


@dataclass(frozen=True)
class GraphNode:
    """One node of the pipeline: its executable, name (= its parameters-file section),
    parameters set from launch arguments ``(parameter, launch argument, type)`` and
    remappings ``(from, (launch argument, suffix))``: the topic is the argument's value
    followed by the suffix; ``condition``, a launch argument that turns the node on."""
    name: str
    executable: str
    argument_parameters: tuple[tuple[str, str, type], ...] = ()
    remappings: tuple[tuple[str, tuple[str, str]], ...] = ()
    # A launch argument that must be true for the node to start (None: always).
    condition: str | None = None


LAUNCH_ARGUMENTS = (
    LaunchArgument('image_topic', '/image_raw', 'Camera image topic (sensor_msgs/Image)'),
    LaunchArgument('compressed', 'false', 'Also subscribe to <image_topic>/compressed '
                                          '(sensor_msgs/CompressedImage)'),
    LaunchArgument('params_file', None, "Parameters file of the three nodes (default: the "
                                        "default model's)"),
    LaunchArgument('model_file', None, 'Model: ONNX, or OpenVINO IR .xml (default: the '
                                       'default model)'),
    LaunchArgument('backend', None, 'Inference backend: auto, tensorrt, openvino or '
                                    'onnxruntime (default: the default model\'s)'),
    LaunchArgument('namespace', '', 'Namespace of the nodes and their topics'),
    LaunchArgument('use_sim_time', 'false', 'Use /clock (e.g. with ros2 bag play --clock)'),
    LaunchArgument('log_level', 'info', 'Log level of the nodes'),
    LaunchArgument('rviz', 'false', 'Start RViz with config/pose_estimation.rviz'),
    LaunchArgument('skeletons_3d', 'false', 'Start skeleton_3d: 3D skeletons from the depth '
                                            'image registered to the colour image'),
    LaunchArgument('depth_topic', '/camera/aligned_depth_to_color/image_raw',
                   'Depth image registered to the colour image (16UC1 mm or 32FC1 m)'),
    LaunchArgument('camera_info_topic', '/camera/color/camera_info',
                   'CameraInfo of the colour camera'),
)


def computed_defaults(share: str | Path) -> tuple[dict[str, str], str]:
    """The launch arguments' defaults that depend on what is installed in ``share`` (the
    package's share directory), and why: the default model's parameters file, model and
    backend (human-pose-estimation-0001 on OpenVINO when installed, else mobilenet_thin:
    pose_estimation_ros.core.models)."""
    chosen = default_model(Path(share) / 'config', Path(share) / 'models')
    backend = 'openvino' if chosen.model_file.name == HPE_MODEL_FILE else 'auto'
    return ({'params_file': str(chosen.params_file), 'model_file': str(chosen.model_file),
             'backend': backend}, chosen.reason)

PIPELINE = (
    GraphNode('image_encoder', 'image_encoder_node',
              argument_parameters=(('subscribe_compressed', 'compressed', bool),),
              remappings=(('image', ('image_topic', '')),
                          ('image/compressed', ('image_topic', '/compressed')))),
    GraphNode('inference', 'inference_node',
              argument_parameters=(('model_file_path', 'model_file', str),
                                   ('backend', 'backend', str))),
    # The decoder draws the overlay on the camera images.
    GraphNode('openpose_decoder', 'openpose_decoder_node',
              remappings=(('image', ('image_topic', '')),)),
    # 3D skeletons from the depth image registered to the colour image.
    GraphNode('skeleton_3d', 'skeleton_3d_node',
              remappings=(('depth', ('depth_topic', '')),
                          ('camera_info', ('camera_info_topic', ''))),
              condition='skeletons_3d'),
)


def started(arguments: Mapping[str, str] | None = None) -> tuple[GraphNode, ...]:
    """The nodes of PIPELINE that these launch arguments start."""
    values = {a.name: a.default for a in LAUNCH_ARGUMENTS}
    values.update(arguments or {})
    return tuple(node for node in PIPELINE if node.condition is None
                 or _parameter_text(values[node.condition], bool) == 'true')


def _parameter_text(value: str, kind: type) -> str:
    """A launch argument's text as a ``-p name:=value`` YAML value of ``kind``."""
    if kind is bool:
        lowered = value.strip().lower()
        if lowered not in ('true', 'false'):
            raise ValueError(f'expected true or false, got "{value}"')
        return lowered
    if kind is str:
        # Quoted, so that '' or 'true' stay strings (ParameterValue(value_type=str)).
        return "'" + value.replace("'", "''") + "'"
    return value


def _values(install_prefix: str | Path, arguments: Mapping[str, str] | None) -> dict:
    values = {a.name: a.default for a in LAUNCH_ARGUMENTS}
    values.update(computed_defaults(Path(install_prefix) / 'share' / PACKAGE)[0])
    values.update(arguments or {})
    return values


def _node_arguments(node: GraphNode, values: Mapping[str, str]) -> list[str]:
    """A node's launch-argument parameters and remappings as ``--ros-args`` items."""
    items = []
    for parameter, argument, kind in node.argument_parameters:
        items += ['-p', f'{parameter}:={_parameter_text(values[argument], kind)}']
    for source, (argument, suffix) in node.remappings:
        items += ['-r', f'{source}:={values[argument]}{suffix}']
    return items


def _common_arguments(values: Mapping[str, str]) -> list[str]:
    items = ['--log-level', values['log_level']]
    if values['namespace']:
        items += ['-r', f'__ns:=/{values["namespace"].strip("/")}']
    return items + ['--params-file', str(values['params_file']),
                    '-p', f'use_sim_time:={_parameter_text(values["use_sim_time"], bool)}']


def command_line(node: GraphNode, install_prefix: str | Path,
                 arguments: Mapping[str, str] | None = None) -> list[str]:
    """The command ``ros2 launch`` runs for ``node``: the installed executable with
    ``--ros-args`` for its name, namespace, parameters file, use_sim_time,
    launch-argument parameters, remappings and log level. ``arguments`` override the
    launch arguments' defaults."""
    values = _values(install_prefix, arguments)
    common = _common_arguments(values)
    return ([str(Path(install_prefix) / 'lib' / PACKAGE / node.executable), '--ros-args',
             '-r', f'__node:={node.name}'] + common + _node_arguments(node, values))


def runner_command_line(install_prefix: str | Path,
                        arguments: Mapping[str, str] | None = None) -> list[str]:
    """The same graph in one process (the ``pose_estimation`` runner): one set of
    ``--ros-args`` for all three nodes (parameters go to the node that declares them;
    the encoder's and decoder's ``image`` remappings are the same)."""
    values = _values(install_prefix, arguments)
    items = []
    for node in PIPELINE[:3]:  # the runner's nodes: encoder, inference, decoder
        for i in range(0, len(node_items := _node_arguments(node, values)), 2):
            if node_items[i + 1] not in items:
                items += node_items[i:i + 2]
    return ([str(Path(install_prefix) / 'lib' / PACKAGE / 'pose_estimation'), '--ros-args']
            + _common_arguments(values) + items)
