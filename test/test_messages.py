"""The package's messages over real DDS, and the numpy <-> message helpers."""
from __future__ import annotations

import numpy as np
import pytest

from pose_estimation_ros.core.geometry import ImageGeometry
from pose_estimation_ros.core.openpose import COCO18_EDGES, COCO18_LABELS, Person
from pose_estimation_ros.core.tensors import DATA_TYPES, fill_tensor, tensor_to_array
from pose_estimation_ros.msg import (ImageGeometry as ImageGeometryMsg, Keypoint2D, Skeleton2D,
                                     Skeleton2DArray, Tensor, TensorList, TensorShape)
from conftest import check_markers
from pose_estimation_ros.core import drawing
from pose_estimation_ros.nodes import messages
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray


def _header(sec=1700000000, nanosec=123456789, frame_id='camera_optical_frame'):
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return header


def _person(tracking_id=0):
    keypoints = np.array([[0, 10.5, 20.25, 0.9], [1, 12.0, 40.0, 0.8], [2, 30.0, 41.0, 0.7]])
    return Person(keypoints=keypoints, edge_ids=np.array([0, 12]), score=1.25,
                  bbox=(10.5, 20.25, 30.0, 41.0), tracking_id=tracking_id)


def _wire(msg):
    """``msg`` as it comes out of serialization (float32 fields rounded)."""
    return deserialize_message(serialize_message(msg), type(msg))


def _roundtrip(ros, msg_type, msg, topic):
    """Publish ``msg`` from one node, receive it in another, over DDS."""
    publisher = ros.node('sender').create_publisher(msg_type, topic, 10)
    received, subscription = ros.collect(msg_type, topic)
    ros.wait_matched(publisher, subscription)
    publisher.publish(msg)
    ros.spin_until(lambda: received, what=f'a {msg_type.__name__} on {topic}')
    return received[0]


@pytest.mark.parametrize('dtype', sorted({d.name for d in DATA_TYPES.values()}))
def test_tensor_helpers_roundtrip_each_dtype(dtype):
    rng = np.random.default_rng(0)
    values = (rng.standard_normal((2, 3, 5)) * 100).astype(dtype)
    tensor = fill_tensor(Tensor(), 'x', values)
    assert list(tensor.shape.dims) == [2, 3, 5] and tensor.shape.rank == 3
    assert list(tensor.strides) == list(values.strides)
    out = tensor_to_array(tensor)
    assert out.dtype == values.dtype and np.array_equal(out, values)


def test_tensor_helpers_reject_inconsistent_messages():
    tensor = fill_tensor(Tensor(), 'x', np.zeros((2, 2), np.float32))
    tensor.shape.dims = [2, 3]
    with pytest.raises(ValueError, match='data bytes'):
        tensor_to_array(tensor)
    tensor = fill_tensor(Tensor(), 'x', np.zeros((2, 2), np.float32))
    tensor.data_type = 99
    with pytest.raises(ValueError, match='unknown data_type'):
        tensor_to_array(tensor)
    with pytest.raises(ValueError, match='unsupported tensor dtype'):
        fill_tensor(Tensor(), 'x', np.zeros(3, np.complex64))


def test_tensor_list_of_real_array_is_bit_exact_over_dds(ros):
    rng = np.random.default_rng(1)
    # The size of mobilenet_thin's output at 432x368, with NaN/inf/-0.0 bit patterns.
    maps = rng.standard_normal((1, 46, 54, 57)).astype(np.float32)
    maps.flat[:3] = [np.nan, np.inf, -0.0]
    image = rng.integers(0, 256, (1, 368, 432, 3), dtype=np.uint8)
    geometry = ImageGeometry.fit(1280, 720, 432, 368, True)
    msg = messages.tensor_list_msg(_header(), {'maps': maps, 'image': image}, geometry)
    got = _roundtrip(ros, TensorList, msg, 'tensors')
    arrays = messages.tensor_list_arrays(got)
    assert arrays['maps'].tobytes() == maps.tobytes()
    assert arrays['image'].tobytes() == image.tobytes()
    assert arrays['maps'].shape == maps.shape and arrays['image'].dtype == np.uint8
    assert messages.geometry_from_msg(got.geometry) == geometry
    assert got.header == msg.header


def test_skeleton_array_over_dds(ros):
    msg = messages.skeleton_array_msg(_header(), [_person(), _person(tracking_id=42)],
                                      COCO18_LABELS, COCO18_EDGES)
    got = _roundtrip(ros, Skeleton2DArray, msg, 'skeletons')
    assert got == _wire(msg)
    assert got.header == msg.header
    assert list(got.labels) == list(COCO18_LABELS)
    assert list(got.edges[:4]) == [1, 2, 1, 5] and len(got.edges) == 2 * len(COCO18_EDGES)
    skeleton, tracked = got.skeletons
    assert skeleton.score == pytest.approx(1.25) and skeleton.tracking_id == 0
    assert tracked.tracking_id == 42
    assert (skeleton.x_min, skeleton.y_min, skeleton.x_max, skeleton.y_max) == \
        pytest.approx((10.5, 20.25, 30.0, 41.0))
    assert [k.part_id for k in skeleton.keypoints] == [0, 1, 2]
    assert [k.label for k in skeleton.keypoints] == ['nose', 'neck', 'right_shoulder']
    assert skeleton.keypoints[0].x == pytest.approx(10.5)
    assert skeleton.keypoints[0].confidence == pytest.approx(0.9)
    assert list(skeleton.edge_ids) == [0, 12]


def test_empty_skeleton_array_is_valid_over_dds(ros):
    msg = messages.skeleton_array_msg(_header(), [], COCO18_LABELS, COCO18_EDGES)
    got = _roundtrip(ros, Skeleton2DArray, msg, 'skeletons')
    assert len(got.skeletons) == 0 and len(got.labels) == 18


@pytest.mark.parametrize('msg', [
    TensorShape(rank=2, dims=[3, 4]),
    Tensor(name='t', data_type=Tensor.FLOAT32),
    ImageGeometryMsg(source_width=640, source_height=480, input_width=432,
                     input_height=368, scale_x=0.675, scale_y=0.675, offset_x=0.0,
                     offset_y=22.0),
    Keypoint2D(part_id=4, label='right_wrist', x=1.5, y=2.5, confidence=0.5),
    Skeleton2D(tracking_id=7, score=0.75, keypoints=[Keypoint2D(part_id=1, label='neck')]),
], ids=lambda m: type(m).__name__)
def test_every_other_message_type_over_dds(ros, msg):
    got = _roundtrip(ros, type(msg), msg, 'any')
    assert got == msg


def test_markers_follow_the_image_frame_and_clear_stale_ones():
    header = _header(frame_id='cam')
    people = [_person(), _person(tracking_id=7)]
    msg = messages.marker_array_msg(header, people, COCO18_EDGES, pixel_size=0.01,
                                    joint_diameter=0.02, line_width=0.01, lifetime=0.5)
    check_markers(msg, messages.skeleton_array_msg(header, people, COCO18_LABELS,
                                                   COCO18_EDGES))
    _, joints, limbs, label = msg.markers
    assert joints.points[0].x == pytest.approx(0.105)  # pixels x pixel_size
    assert joints.points[0].y == pytest.approx(0.2025) and joints.points[0].z == 0.0
    assert joints.scale.x == joints.scale.y == joints.scale.z == pytest.approx(0.02)
    assert limbs.scale.x == pytest.approx(0.01)
    # Untracked: coloured per part type and limb type; tracked: all in its id's colour.
    untracked, tracked = joints.colors[:3], joints.colors[3:]
    assert untracked[0] != untracked[1]
    b, g, r = drawing.id_color(7)
    assert {(c.r, c.g, c.b) for c in tracked} == {(r / 255, g / 255, b / 255)}
    assert label.color == tracked[0] and limbs.colors[4:] == [tracked[0]] * 4
    assert limbs.colors[0] != limbs.colors[2]
    # Each limb's ends are its joints (edge 0: neck -> right shoulder).
    assert limbs.points[:2] == [joints.points[1], joints.points[2]]
    assert len(limbs.points) == 8
    assert all(m.lifetime.nanosec == 500_000_000 and m.lifetime.sec == 0
               for m in msg.markers[1:])
    assert all(m.pose.orientation.w == 1.0 for m in msg.markers[1:])
    assert label.pose.position.x == pytest.approx(0.105)
    # Nobody: only the DELETEALL.
    empty = messages.marker_array_msg(header, [], COCO18_EDGES, pixel_size=0.01,
                                      joint_diameter=0.02, line_width=0.01, lifetime=0.5)
    assert [m.action for m in empty.markers] == [Marker.DELETEALL]


def test_fast_message_construction_equals_the_constructors(ros):
    """The slot-filling fast path builds exactly what the constructors build, and what
    goes over DDS."""
    from geometry_msgs.msg import Point, Pose, Quaternion

    assert messages._FAST_KEYPOINT and messages._FAST_POINT and messages._FAST_POSE
    assert messages._FAST_MARKER
    assert messages._keypoint(4, 'right_wrist', 1.5, 2.5, 0.5) == Keypoint2D(
        part_id=4, label='right_wrist', x=1.5, y=2.5, confidence=0.5)
    assert messages._point(1.5, -2.0) == Point(x=1.5, y=-2.0, z=0.0)
    orientation = Quaternion(w=1.0)
    assert messages._pose(Point(x=1.0), orientation) == Pose(position=Point(x=1.0),
                                                            orientation=orientation)
    prototype = Marker(header=_header(), ns='a', id=3, type=Marker.SPHERE_LIST)
    prototype.points = [Point(x=1.0)]
    copy = messages._marker_like(prototype, id=4, text='x')
    expected = Marker(header=_header(), ns='a', id=4, type=Marker.SPHERE_LIST, text='x')
    assert copy == expected and copy.points == [] and prototype.points == [Point(x=1.0)]
    msg = messages.marker_array_msg(_header(), [_person(), _person(tracking_id=3)],
                                    COCO18_EDGES, pixel_size=0.01, joint_diameter=0.02,
                                    line_width=0.01, lifetime=1.0)
    got = _roundtrip(ros, MarkerArray, msg, 'markers')
    assert got == _wire(msg)
    # Fields still behave like a normal message's afterwards.
    keypoint = messages._keypoint(4, 'right_wrist', 1.5, 2.5, 0.5)
    keypoint.x, keypoint.label = 3.0, 'left_wrist'
    assert (keypoint.x, keypoint.label) == (3.0, 'left_wrist')
