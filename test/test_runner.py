"""The single-process runner (encoder + inference + decoder on one executor) configured
from the YAML parameters file, driven over real DDS like a camera and a user would."""
from __future__ import annotations

import cv2
import pytest
import rclpy
import yaml
from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.executors import MultiThreadedExecutor
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import Image
from visualization_msgs.msg import MarkerArray

from conftest import (DATA, RosHarness, check_markers, require_model,
                      shipped_params)
from pose_estimation_ros.msg import Skeleton2DArray
from pose_estimation_ros.nodes import messages
from pose_estimation_ros.nodes.pose_estimation import create_nodes

RELIABLE = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
FRAMES = sorted((DATA / 'posetrack_bonn' / 'images').glob('*.jpg'))[:4]


@pytest.fixture
def runner(tmp_path):
    """The three nodes from config/mobilenet_thin.yaml (model path filled in), in one
    executor with the test's own nodes."""
    params = shipped_params()
    params['inference']['ros__parameters'].update(
        model_file_path=str(require_model()), intra_op_num_threads=2)
    params['image_encoder']['ros__parameters']['input_qos'] = 'reliable'
    params_file = tmp_path / 'params.yaml'
    params_file.write_text(yaml.safe_dump(params))
    context = rclpy.Context()
    rclpy.init(args=['--ros-args', '--params-file', str(params_file)], context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    ros = RosHarness(context, executor)
    for node in create_nodes(context=context):
        ros.add(node)
    try:
        yield ros
    finally:
        ros.close()


def _frame_msg(path, index):
    msg = messages.array_to_image_msg(cv2.imread(str(path)), 'bgr8',
                                      messages.Header(frame_id='camera_optical_frame'))
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1600000000 + index, 40_000_000 * index
    return msg


def _set(ros, client, name, value):
    """Set one decoder parameter through its ROS service, as `ros2 param set` does."""
    parameter_value = {
        float: ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value),
        int: ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value),
        str: ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value),
    }[type(value)]
    future = client.call_async(SetParameters.Request(
        parameters=[ParameterMsg(name=name, value=parameter_value)]))
    ros.spin_until(future.done, 10.0, f'set_parameters {name}')
    return future.result().results[0]


def test_runner_end_to_end(runner):
    ros = runner
    decoder = next(n for n in ros.nodes if n.get_name() == 'openpose_decoder')
    camera = ros.node('camera')
    publisher = camera.create_publisher(Image, 'image', RELIABLE)
    skeletons, skeleton_sub = ros.collect(Skeleton2DArray, 'skeletons')
    markers, _ = ros.collect(MarkerArray, 'skeleton_markers')
    overlays, overlay_sub = ros.collect(Image, 'overlay_image')
    ros.wait_matched(subscription=skeleton_sub)
    ros.wait_matched(subscription=overlay_sub)
    # The encoder subscribes at once; the decoder adds its image subscription for the
    # overlay once it sees the overlay subscriber.
    ros.wait_matched(publisher, count=2, timeout=20.0)

    sent = []
    for index, path in enumerate(FRAMES):
        msg = _frame_msg(path, index)
        publisher.publish(msg)
        sent.append(msg.header)
        # A camera's rate: the next frame once this one is through the pipeline.
        ros.spin_until(lambda n=index + 1: len(skeletons) == n, 60.0,
                       f'skeletons of frame {index}')
    assert [s.header for s in skeletons] == sent
    people = [len(s.skeletons) for s in skeletons]
    assert all(n >= 2 for n in people), people  # four paddle-boarders in every frame
    ros.spin_until(lambda: len(overlays) == len(FRAMES) and len(markers) == len(FRAMES),
                   30.0, 'overlay images and markers of every frame')
    assert [o.header for o in overlays] == sent
    assert (overlays[0].height, overlays[0].width, overlays[0].encoding) == (540, 960, 'bgr8')
    for marker_msg, skeleton_msg in zip(markers, skeletons):
        check_markers(marker_msg, skeleton_msg)
    # Tracked: from the second frame on (tracking_confirm_hits 2), the same people keep
    # their ids.
    ids = [sorted(s.tracking_id for s in msg.skeletons) for msg in skeletons]
    assert all(i == 0 for i in ids[0]) and all(i > 0 for frame in ids[1:] for i in frame), ids
    assert set(ids[-1]) & set(ids[1]), ids

    # Live tuning through the parameter service.
    client = camera.create_client(SetParameters, '/openpose_decoder/set_parameters')
    assert client.wait_for_service(timeout_sec=10.0)
    refused = _set(ros, client, 'matching', 'best')
    assert not refused.successful and 'matching' in refused.reason
    refused = _set(ros, client, 'threshold_heatmap', 2.0)  # outside its declared range
    assert not refused.successful
    assert decoder.get_parameter('threshold_heatmap').value == pytest.approx(0.05, abs=0.5)
    assert decoder.get_parameter('matching').value in ('greedy', 'hungarian')
    # Person scores here are about 1 to 2 per part: a bar of 5 leaves nobody.
    accepted = _set(ros, client, 'threshold_object_score', 5.0)
    assert accepted.successful, accepted.reason

    msg = _frame_msg(FRAMES[0], 10)
    publisher.publish(msg)
    ros.spin_until(lambda: len(skeletons) == len(FRAMES) + 1, 60.0, 'skeletons after tuning')
    assert skeletons[-1].header == msg.header
    assert max(s.score for s in skeletons[0].skeletons) < 5.0
    assert len(skeletons[-1].skeletons) == 0


def test_executable_stops_on_bad_configuration_with_a_clear_message(tmp_path):
    """`ros2 run pose_estimation_ros pose_estimation` as installed by colcon: a bad
    parameter value stops it with status 1 and a message naming the parameter."""
    import subprocess

    from pose_estimation_ros.tools.processes import INSTALL

    executable = INSTALL / 'lib' / 'pose_estimation_ros' / 'pose_estimation'
    assert executable.is_file(), 'run scripts/setup.sh (colcon build) first'
    params = shipped_params()
    params['openpose_decoder']['ros__parameters']['matching'] = 'best'
    params_file = tmp_path / 'params.yaml'
    params_file.write_text(yaml.safe_dump(params))
    # Executed directly, as `ros2 run` does.
    result = subprocess.run(
        [str(executable), '--ros-args', '--params-file', str(params_file),
         '-p', f'model_file_path:={require_model()}'],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "matching='best'" in result.stderr and 'greedy' in result.stderr, result.stderr
