"""2D skeleton pose estimation: image encoder -> inference -> OpenPose decoder, and RViz.

    ros2 launch pose_estimation_ros pose_estimation.launch.py image_topic:=/camera/image_raw
    ros2 launch pose_estimation_ros pose_estimation.launch.py compressed:=true rviz:=true

The node names (image_encoder, inference, openpose_decoder) are the sections of the
parameters file. The launch arguments model_file and backend always set the inference
node's model_file_path and backend (over the parameters file's values). Their defaults
follow the default model: human-pose-estimation-0001 (INT8 IR) on OpenVINO when it is
installed, else mobilenet_thin (see pose_estimation_ros.core.models); the log says which
and why. Outputs, relative to ``namespace``: skeletons, skeleton_markers, detections
(with vision_msgs), overlay_image.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, LogInfo
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from pose_estimation_ros.core.models import HPE_MODEL_FILE, default_model

PACKAGE = 'pose_estimation_ros'


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    installed = Path(get_package_share_directory(PACKAGE))
    chosen = default_model(installed / 'config', installed / 'models')
    default_backend = 'openvino' if chosen.model_file.name == HPE_MODEL_FILE else 'auto'
    arguments = [
        DeclareLaunchArgument('image_topic', default_value='/image_raw',
                              description='Camera image topic (sensor_msgs/Image)'),
        DeclareLaunchArgument('compressed', default_value='false',
                              description='Also subscribe to <image_topic>/compressed '
                                          '(sensor_msgs/CompressedImage)'),
        DeclareLaunchArgument('params_file', default_value=str(chosen.params_file),
                              description='Parameters file of the three nodes (default: the '
                                          'default model\'s)'),
        DeclareLaunchArgument('model_file', default_value=str(chosen.model_file),
                              description='Model: ONNX, or OpenVINO IR .xml (default: the '
                                          'default model)'),
        DeclareLaunchArgument('backend', default_value=default_backend,
                              description='Inference backend: auto, tensorrt, openvino or '
                                          'onnxruntime'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the nodes and their topics'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use /clock (e.g. with ros2 bag play --clock)'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='Log level of the nodes'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='Start RViz with config/pose_estimation.rviz'),
    ]
    image_topic = LaunchConfiguration('image_topic')
    params_file = LaunchConfiguration('params_file')
    use_sim_time = LaunchConfiguration('use_sim_time')
    common = {'package': PACKAGE, 'output': 'screen',
              'arguments': ['--ros-args', '--log-level', LaunchConfiguration('log_level')]}
    sim_time = {'use_sim_time': ParameterValue(use_sim_time, value_type=bool)}

    nodes = [
        Node(executable='image_encoder_node', name='image_encoder',
             parameters=[params_file, sim_time, {
                 'subscribe_compressed': ParameterValue(LaunchConfiguration('compressed'),
                                                        value_type=bool)}],
             remappings=[('image', image_topic),
                         ('image/compressed', [image_topic, '/compressed'])],
             **common),
        Node(executable='inference_node', name='inference',
             # value_type str: an empty model_file stays '' (the installed model).
             parameters=[params_file, sim_time, {
                 'model_file_path': ParameterValue(LaunchConfiguration('model_file'),
                                                   value_type=str),
                 'backend': ParameterValue(LaunchConfiguration('backend'), value_type=str)}],
             **common),
        # The decoder draws the overlay on the camera images.
        Node(executable='openpose_decoder_node', name='openpose_decoder',
             parameters=[params_file, sim_time], remappings=[('image', image_topic)],
             **common),
        Node(package='rviz2', executable='rviz2', name='rviz2', output='screen',
             arguments=['-d', PathJoinSubstitution([share, 'config', 'pose_estimation.rviz'])],
             parameters=[sim_time], condition=IfCondition(LaunchConfiguration('rviz'))),
    ]
    return LaunchDescription(
        arguments + [LogInfo(msg=f'default {chosen.reason}'),
                     GroupAction([PushRosNamespace(LaunchConfiguration('namespace')), *nodes])])
