"""The skeleton_3d node as a separate process (the installed executable) over real DDS:
Skeleton2DArray + depth Image + CameraInfo in, skeletons_3d and 3D markers out with the
colour image's header; unmatched stamps dropped and counted. Then the real RGB-D frame
(../shared/data/rgbd_five_people) through the whole pipeline (pose_estimation runner
and skeleton_3d, two processes) as Image + Image + CameraInfo messages.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

from conftest import DATA, PARAMS_FILE, require_model
from depth_scene import (HEIGHT, K, KEYPOINTS, P, PLUMB_BOB, WALL_DEPTH, WIDTH, camera, render,
                         silhouette_depth)
from pose_estimation_ros.core.depth import (DepthParams, depth_array_to_metres,
                                            lift_keypoints, window_samples)
from pose_estimation_ros.msg import Keypoint2D, Skeleton2D, Skeleton2DArray, Skeleton3DArray
from pose_estimation_ros.nodes import messages
from pose_estimation_ros.tools.rgbd import read_rgbd_folder
from pose_estimation_ros.tools.processes import node_process

RELIABLE = QoSProfile(depth=20, reliability=QoSReliabilityPolicy.RELIABLE)
FRAME = 'camera_color_optical_frame'
RGBD = DATA / 'rgbd_five_people'
LABELS = [f'part{i}' for i in range(8)]


def header(sec: int, nanosec: int = 0) -> Header:
    msg = Header(frame_id=FRAME)
    msg.stamp.sec, msg.stamp.nanosec = sec, nanosec
    return msg


def camera_info(stamp: Header, width: int, height: int, k, d, p) -> CameraInfo:
    return CameraInfo(header=stamp, width=width, height=height, distortion_model='plumb_bob',
                      k=[float(v) for v in k], d=[float(v) for v in d],
                      r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], p=[float(v) for v in p])


def depth_image(stamp: Header, depth: np.ndarray) -> Image:
    encoding = '16UC1' if depth.dtype == np.uint16 else '32FC1'
    msg = messages.array_to_image_msg(depth, encoding, stamp)
    return msg


def scene_skeletons(stamp: Header) -> Skeleton2DArray:
    """The synthetic scene's keypoints as a Skeleton2DArray (parts not found left out)."""
    people = {}
    for (person, part), ((x, y), _) in KEYPOINTS.items():
        if not math.isnan(x):
            people.setdefault(person, []).append(
                Keypoint2D(part_id=part, label=LABELS[part], x=x, y=y, confidence=0.8))
    msg = Skeleton2DArray(header=stamp, labels=LABELS, edges=[0, 1, 0, 2, 0, 3, 1, 2])
    msg.skeletons = [Skeleton2D(tracking_id=7 + person, score=1.5 - person,
                                keypoints=people[person], edge_ids=[0, 1, 2, 3])
                     for person in sorted(people)]
    return msg


def connect(ros, inputs: dict, outputs: dict, timeout: float = 60.0):
    """Publishers of ``inputs`` and collectors of ``outputs`` ({topic: type}), once the
    node processes have matched them all: ({topic: publisher}, {topic: received list})."""
    node = ros.node('rgbd_camera')
    publishers = {t: node.create_publisher(kind, t, RELIABLE) for t, kind in inputs.items()}
    collected = {t: ros.collect(kind, t, RELIABLE) for t, kind in outputs.items()}
    for publisher in publishers.values():
        ros.wait_matched(publisher, timeout=timeout)
    for _, subscription in collected.values():
        ros.wait_matched(subscription=subscription, timeout=timeout)
    return publishers, {t: received for t, (received, _) in collected.items()}


RGBD_INPUTS = {'skeletons': Skeleton2DArray, 'depth': Image, 'camera_info': CameraInfo}


def test_skeleton_3d_node_pairs_by_stamp_and_drops_unmatched(ros):
    """16UC1 depth at half the colour resolution, a plumb_bob lens: exact and nearest
    stamps are paired; a skeleton array whose depth never comes is dropped and counted."""
    depth_mm = render(0.5, '16UC1')
    with node_process('skeleton_3d_node', params={
            'stamp_tolerance': 0.005, 'input_qos': 'reliable'}) as process:
        publishers, received = connect(ros, RGBD_INPUTS, {
            'skeletons_3d': Skeleton3DArray, 'skeleton_markers_3d': MarkerArray})
        skel_pub, depth_pub, info_pub = publishers.values()
        out, markers = received.values()

        def rgbd(stamp: Header) -> None:
            depth_pub.publish(depth_image(stamp, depth_mm))
            info_pub.publish(camera_info(stamp, WIDTH, HEIGHT, K, PLUMB_BOB, P))

        exact, near, lonely, later, last = (header(100, 0), header(100, 100_000_000),
                                            header(100, 200_000_000), header(100, 300_000_000),
                                            header(100, 400_000_000))
        rgbd(exact)
        skel_pub.publish(scene_skeletons(exact))
        # Depth and camera_info 3 ms after the colour image: within stamp_tolerance.
        near_depth = header(100, 103_000_000)
        rgbd(near_depth)
        skel_pub.publish(scene_skeletons(near))
        # Skeletons with no depth of their stamp: the depth stream moves past them.
        skel_pub.publish(scene_skeletons(lonely))
        rgbd(later)
        skel_pub.publish(scene_skeletons(last))
        rgbd(last)
        ros.spin_until(lambda: len(out) == 3 and len(markers) == 3, 60.0,
                       'three 3D skeleton arrays and marker arrays')
        ros.spin_until(lambda: 'dropped skeletons 100.200000000' in process.output, 30.0,
                       'the log line of the dropped skeletons')
        assert process.running()
    assert 'skeletons 100.200000000: no depth image with its stamp' in process.output
    assert '1 unmatched so far' in process.output
    assert [m.header for m in out] == [exact, near, last]  # the colour image's header
    assert [m.markers[0].header for m in markers] == [exact, near, last]

    # The same 3D points as the core gives, within the synthetic scene's truth.
    expected = lift_keypoints(messages.skeleton_keypoints(scene_skeletons(exact))[0],
                              depth_array_to_metres(depth_mm), camera(True), DepthParams())
    first = out[0]
    assert first.labels == LABELS and list(first.edges) == [0, 1, 0, 2, 0, 3, 1, 2]
    assert [s.tracking_id for s in first.skeletons] == [7, 8]
    assert first.skeletons[0].score == pytest.approx(1.5)
    for index, skeleton in enumerate(first.skeletons):
        assert skeleton.centroid_valid
        np.testing.assert_allclose([skeleton.centroid.x, skeleton.centroid.y,
                                    skeleton.centroid.z], expected.centroid[index], atol=1e-6)
        for keypoint in skeleton.keypoints:
            truth = KEYPOINTS[(index, keypoint.part_id)][1]
            assert keypoint.valid == (truth is not None)
            position = [keypoint.position.x, keypoint.position.y, keypoint.position.z]
            if truth is None:
                assert all(math.isnan(v) for v in position)
            else:
                assert keypoint.position.z == pytest.approx(truth, abs=0.001)
                np.testing.assert_allclose(position, expected.xyz[index, keypoint.part_id],
                                           atol=1e-6)
    # Markers: DELETEALL, every valid joint in one sphere list, the limbs, an id label
    # per tracked person at its centroid.
    first_markers = markers[0].markers
    assert first_markers[0].action == Marker.DELETEALL
    assert {m.header.frame_id for m in first_markers} == {FRAME}
    valid = sum(k.valid for s in first.skeletons for k in s.keypoints)
    _, joints, limbs, *labels = first_markers
    assert (joints.ns, joints.type) == ('skeleton_3d/joints', Marker.SPHERE_LIST)
    assert len(joints.points) == valid and limbs.type == Marker.LINE_LIST
    assert all(p.z > 0 for p in joints.points)
    assert [(m.id, m.text, m.pose.position) for m in labels] == [
        (s.tracking_id, f'#{s.tracking_id}', s.centroid) for s in first.skeletons]


def test_bad_depth_is_logged_and_the_node_keeps_running(ros):
    with node_process('skeleton_3d_node', params={'input_qos': 'reliable'}) as process:
        publishers, received = connect(ros, RGBD_INPUTS, {'skeletons_3d': Skeleton3DArray})
        skel_pub, depth_pub, info_pub = publishers.values()
        out = received['skeletons_3d']
        bad, good = header(5), header(6)
        colour = messages.array_to_image_msg(np.zeros((HEIGHT, WIDTH, 3), np.uint8), 'bgr8',
                                             bad)
        for stamp, depth in ((bad, colour), (good, depth_image(good, render()))):
            depth_pub.publish(depth)
            info_pub.publish(camera_info(stamp, WIDTH, HEIGHT, K, [0.0] * 5, P))
            skel_pub.publish(scene_skeletons(stamp))
        ros.spin_until(lambda: out, 60.0, 'the good frame')
        assert [m.header for m in out] == [good]
        assert 'unsupported depth encoding "bgr8"' in process.output
        assert process.running()


def test_bad_startup_configuration_names_the_parameter():
    with node_process('skeleton_3d_node', params={'depth_window_size': 4}) as process:
        process.popen.wait(60)
    assert process.popen.returncode == 1
    assert 'window_size must be an odd number' in process.output


# ------------------------------------------------------------------ real RGB-D frame
def test_real_rgbd_frame_through_the_nodes(ros):
    require_model()
    color, depth_mm, info = read_rgbd_folder(RGBD)
    depth_m = depth_array_to_metres(depth_mm)
    stamp = header(1700000000, 123_000_000)
    with node_process('pose_estimation', params_file=PARAMS_FILE,
                      params={'input_qos': 'reliable', 'intra_op_num_threads': 2},
                      remap={'image': 'camera/color/image_raw'}) as pipeline, \
            node_process('skeleton_3d_node', params={'input_qos': 'reliable'},
                         remap={'depth': 'camera/depth/image_raw',
                                'camera_info': 'camera/color/camera_info'}) as lifter:
        publishers, received = connect(ros, {
            'camera/color/image_raw': Image, 'camera/depth/image_raw': Image,
            'camera/color/camera_info': CameraInfo},
            {'skeletons_3d': Skeleton3DArray, 'skeletons': Skeleton2DArray}, timeout=90.0)
        image_pub, depth_pub, info_pub = publishers.values()
        out, flat = received.values()
        depth_pub.publish(depth_image(stamp, depth_mm))
        info_pub.publish(messages.camera_info_from_yaml(info, stamp))
        image_pub.publish(messages.array_to_image_msg(color, 'bgr8', stamp))
        ros.spin_until(lambda: out and flat, 120.0, 'the 3D skeletons of the real frame')
        assert pipeline.running() and lifter.running()
    (result,), (skeletons_2d,) = out, flat
    assert result.header == stamp
    people = result.skeletons
    assert len(people) == len(skeletons_2d.skeletons) >= 4, 'the five people are not found'
    params = DepthParams()
    flagged_checked = 0
    for person, person_2d in zip(people, skeletons_2d.skeletons):
        reference = silhouette_depth(depth_m, [(k.x, k.y) for k in person_2d.keypoints])
        assert reference < WALL_DEPTH
        # Where the person is: the depth of their own silhouette, not the wall.
        assert person.centroid_valid
        assert abs(person.centroid.z - reference) <= 0.15, (person.centroid, reference)
        u = 525.0 * person.centroid.x / person.centroid.z + 320.0
        assert person_2d.x_min - 5 <= u <= person_2d.x_max + 5
        # Each valid keypoint on the person's surface, none on the wall behind.
        for keypoint, keypoint_2d in zip(person.keypoints, person_2d.keypoints):
            assert keypoint.part_id == keypoint_2d.part_id
            window = window_samples(depth_m, np.array([[keypoint_2d.x, keypoint_2d.y]]),
                                    params.window_size)[0]
            readings = window[np.isfinite(window)]
            if keypoint.valid:
                assert keypoint.position.z < WALL_DEPTH
                assert abs(keypoint.position.z - reference) <= 0.6, keypoint
            # No reading near the keypoint, or only the wall: flagged, never guessed.
            if readings.size == 0 or readings.min() > WALL_DEPTH:
                assert not keypoint.valid, keypoint
                flagged_checked += 1
    # The frame has such keypoints (heads against the far wall): the check is not void.
    assert flagged_checked >= 1


# ------------------------------------------------------------------ conversions
def test_camera_info_from_yaml_and_skeleton_keypoints():
    _, _, document = read_rgbd_folder(RGBD)
    info = messages.camera_info_from_yaml(document, header(1))
    assert (info.width, info.height, info.distortion_model) == (640, 480, 'plumb_bob')
    model = messages.camera_model_from_msg(info)
    assert model.k[0, 0] == 525.0 and model.k[1, 2] == 239.5
    broken = dict(document, camera_matrix={'rows': 3, 'cols': 3, 'data': [525.0, 0.0]})
    with pytest.raises(ValueError, match='camera_matrix has 2 values'):
        messages.camera_info_from_yaml(broken, header(1))
    with pytest.raises(ValueError, match='image_width'):
        messages.camera_info_from_yaml({}, header(1))
    with pytest.raises(ValueError, match='not calibrated'):
        messages.camera_model_from_msg(CameraInfo(width=640, height=480))

    xy, parts = messages.skeleton_keypoints(scene_skeletons(header(1)))
    assert parts == len(LABELS) and xy.shape == (2, len(LABELS), 2)
    assert np.isnan(xy[0, 7]).all()  # part 7 of person 0 was not found
    np.testing.assert_allclose(xy[1, 1], KEYPOINTS[(1, 1)][0], atol=1e-4)
    empty = Skeleton2DArray(header=header(1), labels=LABELS)
    lifted = messages.lift_skeleton_array(
        empty, depth_image(header(1), render()),
        camera_info(header(1), WIDTH, HEIGHT, K, [0.0] * 5, P), DepthParams())
    assert lifted.header == header(1) and lifted.skeletons == []
    assert len(messages.marker_array_3d_msg(lifted, joint_diameter=0.05, line_width=0.02,
                                            lifetime=1.0).markers) == 1
