"""2D skeleton pose estimation: image encoder -> inference -> OpenPose decoder, and RViz.

    ros2 launch pose_estimation_ros pose_estimation.launch.py image_topic:=/camera/image_raw
    ros2 launch pose_estimation_ros pose_estimation.launch.py compressed:=true rviz:=true
    ros2 launch pose_estimation_ros pose_estimation.launch.py skeletons_3d:=true \
        depth_topic:=/camera/aligned_depth_to_color/image_raw \
        camera_info_topic:=/camera/color/camera_info

The node names (image_encoder, inference, openpose_decoder) are the sections of the
parameters file. The launch arguments model_file and backend always set the inference
node's model_file_path and backend (over the parameters file's values; their defaults
are the shipped file's). Outputs, relative to ``namespace``: skeletons,
skeleton_markers, detections (with vision_msgs), overlay_image; with skeletons_3d:=true
also skeletons_3d and skeleton_markers_3d (node skeleton_3d: the skeletons paired with
the depth image registered to the colour image and the colour camera's CameraInfo).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'pose_estimation_ros'


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    arguments = [
        DeclareLaunchArgument('image_topic', default_value='/image_raw',
                              description='Camera image topic (sensor_msgs/Image)'),
        DeclareLaunchArgument('compressed', default_value='false',
                              description='Also subscribe to <image_topic>/compressed '
                                          '(sensor_msgs/CompressedImage)'),
        DeclareLaunchArgument('params_file',
                              default_value=PathJoinSubstitution(
                                  [share, 'config', 'mobilenet_thin.yaml']),
                              description='Parameters file of the three nodes'),
        DeclareLaunchArgument('model_file', default_value='',
                              description='ONNX model (empty: the installed mobilenet_thin)'),
        DeclareLaunchArgument('backend', default_value='auto',
                              description='Inference backend: auto, tensorrt or onnxruntime'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the nodes and their topics'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='Use /clock (e.g. with ros2 bag play --clock)'),
        DeclareLaunchArgument('log_level', default_value='info',
                              description='Log level of the nodes'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='Start RViz with config/pose_estimation.rviz'),
        DeclareLaunchArgument('skeletons_3d', default_value='false',
                              description='Start skeleton_3d: 3D skeletons from the depth '
                                          'image registered to the colour image'),
        DeclareLaunchArgument('depth_topic',
                              default_value='/camera/aligned_depth_to_color/image_raw',
                              description='Depth image registered to the colour image '
                                          '(16UC1 mm or 32FC1 m)'),
        DeclareLaunchArgument('camera_info_topic', default_value='/camera/color/camera_info',
                              description='CameraInfo of the colour camera'),
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
        Node(executable='skeleton_3d_node', name='skeleton_3d',
             parameters=[params_file, sim_time],
             remappings=[('depth', LaunchConfiguration('depth_topic')),
                         ('camera_info', LaunchConfiguration('camera_info_topic'))],
             condition=IfCondition(LaunchConfiguration('skeletons_3d')), **common),
        Node(package='rviz2', executable='rviz2', name='rviz2', output='screen',
             arguments=['-d', PathJoinSubstitution([share, 'config', 'pose_estimation.rviz'])],
             parameters=[sim_time], condition=IfCondition(LaunchConfiguration('rviz'))),
    ]
    return LaunchDescription(
        arguments + [GroupAction([PushRosNamespace(LaunchConfiguration('namespace')), *nodes])])
