"""The package's messages over real DDS, and the numpy <-> message helpers."""
from __future__ import annotations

import numpy as np
import pytest

from pose_estimation_ros.core.geometry import ImageGeometry
from pose_estimation_ros.core.openpose import COCO18_EDGES, COCO18_LABELS, Person
from pose_estimation_ros.core.tensors import DATA_TYPES, fill_tensor, tensor_to_array
from pose_estimation_ros.msg import (ImageGeometry as ImageGeometryMsg, Keypoint2D, Skeleton2D,
                                     Skeleton2DArray, Tensor, TensorList, TensorShape)
from pose_estimation_ros.nodes import messages
from std_msgs.msg import Header


def _header(sec=1700000000, nanosec=123456789, frame_id='camera_optical_frame'):
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return header


def _person():
    keypoints = np.array([[0, 10.5, 20.25, 0.9], [1, 12.0, 40.0, 0.8], [2, 30.0, 41.0, 0.7]])
    return Person(keypoints=keypoints, edge_ids=np.array([0, 12]), score=1.25,
                  bbox=(10.5, 20.25, 30.0, 41.0))


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
    msg = messages.skeleton_array_msg(_header(), [_person()], COCO18_LABELS, COCO18_EDGES)
    got = _roundtrip(ros, Skeleton2DArray, msg, 'skeletons')
    assert got.header == msg.header
    assert list(got.labels) == list(COCO18_LABELS)
    assert list(got.edges[:4]) == [1, 2, 1, 5] and len(got.edges) == 2 * len(COCO18_EDGES)
    (skeleton,) = got.skeletons
    assert skeleton.score == pytest.approx(1.25) and skeleton.tracking_id == 0
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
    msg = messages.marker_array_msg(_header(frame_id='cam'), [_person(), _person()],
                                    COCO18_EDGES, pixel_size=0.01, joint_diameter=0.02,
                                    line_width=0.01, lifetime=0.5)
    first, *rest = msg.markers
    assert first.action == first.DELETEALL
    assert {m.header.frame_id for m in msg.markers} == {'cam'}
    # Stable ids per person (namespace) and part (id = part id; limbs: one list).
    assert [(m.ns, m.id) for m in rest] == [
        (f'skeleton/{i}', k) for i in (0, 1) for k in (0, 1, 2, messages.LIMBS_MARKER_ID)]
    nose, neck, shoulder, limbs = rest[:4]
    assert nose.type == nose.SPHERE and nose.pose.position.x == pytest.approx(0.105)
    assert nose.pose.position.y == pytest.approx(0.2025)
    assert nose.color != neck.color  # coloured per part type
    assert limbs.type == limbs.LINE_LIST and len(limbs.points) == 4  # 2 limbs, 2 ends each
    assert limbs.points[0] == neck.pose.position  # edge 0 is neck -> right shoulder
    assert limbs.points[1] == shoulder.pose.position
    assert nose.lifetime.nanosec == 500_000_000
