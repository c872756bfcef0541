"""2D skeleton pose estimation: image encoder -> inference -> OpenPose decoder, and RViz.

    ros2 launch pose_estimation_ros pose_estimation.launch.py image_topic:=/camera/image_raw
    ros2 launch pose_estimation_ros pose_estimation.launch.py compressed:=true rviz:=true
    ros2 launch pose_estimation_ros pose_estimation.launch.py skeletons_3d:=true \
        depth_topic:=/camera/aligned_depth_to_color/image_raw \
        camera_info_topic:=/camera/color/camera_info

The node names (image_encoder, inference, openpose_decoder) are the sections of the
parameters file. The launch arguments model_file and backend always set the inference
node's model_file_path and backend (over the parameters file's values). Their defaults
follow the default model: human-pose-estimation-0001 (INT8 IR) on OpenVINO when it is
installed, else mobilenet_thin (see pose_estimation_ros.core.models); the log says which
and why. Outputs, relative to ``namespace``: skeletons,
skeleton_markers, detections (with vision_msgs), overlay_image; with skeletons_3d:=true
also skeletons_3d and skeleton_markers_3d (node skeleton_3d: the skeletons paired with
the depth image registered to the colour image and the colour camera's CameraInfo).
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

# The nodes, their launch-argument parameters and remappings are described once, in the
# package (the tests start the same executables with the same arguments from it).
from pose_estimation_ros.nodes.graph import (LAUNCH_ARGUMENTS, PACKAGE, PIPELINE,
                                             computed_defaults)


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    defaults, reason = computed_defaults(Path(get_package_share_directory(PACKAGE)))
    arguments = [DeclareLaunchArgument(a.name, description=a.description,
                                       default_value=defaults.get(a.name, a.default))
                 for a in LAUNCH_ARGUMENTS]
    sim_time = {'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'),
                                               value_type=bool)}
    nodes = [
        Node(package=PACKAGE, executable=node.executable, name=node.name, output='screen',
             arguments=['--ros-args', '--log-level', LaunchConfiguration('log_level')],
             parameters=[LaunchConfiguration('params_file'), sim_time, {
                 # value_type str: an empty model_file stays '' (the installed model).
                 parameter: ParameterValue(LaunchConfiguration(argument), value_type=kind)
                 for parameter, argument, kind in node.argument_parameters}],
             remappings=[(source, [LaunchConfiguration(argument), suffix])
                         for source, (argument, suffix) in node.remappings],
             condition=(IfCondition(LaunchConfiguration(node.condition))
                        if node.condition else None))
        for node in PIPELINE]
    nodes.append(Node(
        package='rviz2', executable='rviz2', name='rviz2', output='screen',
        arguments=['-d', PathJoinSubstitution([share, 'config', 'pose_estimation.rviz'])],
        parameters=[sim_time], condition=IfCondition(LaunchConfiguration('rviz'))))
    return LaunchDescription(
        arguments + [LogInfo(msg=f'default {reason}'),
                     GroupAction([PushRosNamespace(LaunchConfiguration('namespace')), *nodes])])
