"""The nodes over real DDS: encoder -> inference graph, decoder node, startup errors.

Real rclpy nodes, the real converted model, real images from ../shared/data.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from conftest import DATA, check_markers, require_model
from pose_estimation_ros.core.coco import coco17_mapping
from pose_estimation_ros.core.openpose import COCO18_LABELS
from pose_estimation_ros.core.tensors import to_byte_array
from pose_estimation_ros.msg import Skeleton2DArray, TensorList
from pose_estimation_ros.nodes import messages
from pose_estimation_ros.nodes.common import StartupError
from pose_estimation_ros.nodes.image_encoder_node import ImageEncoderNode
from pose_estimation_ros.nodes.inference_node import InferenceNode
from pose_estimation_ros.nodes.openpose_decoder_node import OpenPoseDecoderNode

RELIABLE = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
SKIER = DATA / 'coco_val_mini' / '000000000785.jpg'


def _header(index: int = 0) -> Header:
    header = Header(frame_id='camera_optical_frame')
    header.stamp.sec, header.stamp.nanosec = 1700000000 + index, 250_000_000
    return header


def _image_msg(bgr: np.ndarray, encoding: str, index: int = 0) -> Image:
    """A sensor_msgs/Image of a BGR photo in ``encoding``, rows padded by 4 bytes."""
    if encoding == 'rgb8':
        pixels = bgr[:, :, ::-1]
    elif encoding == 'rgba8':
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
    elif encoding == 'bgra8':
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    elif encoding == 'mono8':
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    elif encoding == 'mono16':
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    else:
        pixels = bgr
    height, width = pixels.shape[:2]
    rows = np.ascontiguousarray(pixels).reshape(height, -1).view(np.uint8)
    padded = np.zeros((height, rows.shape[1] + 4), np.uint8)
    padded[:, :rows.shape[1]] = rows
    return Image(header=_header(index), height=height, width=width, encoding=encoding,
                 is_bigendian=0, step=padded.shape[1], data=to_byte_array(padded))


def _model_params():
    return [Parameter('model_file_path', value=str(require_model())),
            Parameter('intra_op_num_threads', value=2)]


@pytest.fixture
def encoder_and_inference(ros):
    encoder = ros.add(ImageEncoderNode(
        context=ros.context, parameter_overrides=[
            Parameter('normalization_type', value='none'),
            Parameter('channel_order', value='bgr'), Parameter('tensor_layout', value='nhwc'),
            Parameter('tensor_name', value='image'), Parameter('input_qos', value='reliable'),
            Parameter('subscribe_compressed', value=True)]))
    inference = ros.add(InferenceNode(context=ros.context, parameter_overrides=_model_params()))
    return encoder, inference


@pytest.mark.parametrize('encoding', ['bgr8', 'rgb8', 'rgba8', 'bgra8', 'mono8', 'mono16',
                                      'jpeg'])
def test_image_to_network_output_graph(ros, encoder_and_inference, encoding):
    bgr = cv2.imread(str(SKIER))
    node = ros.node('camera')
    if encoding == 'jpeg':
        ok, jpeg = cv2.imencode('.jpg', bgr)
        msg = CompressedImage(header=_header(3), format='jpeg', data=to_byte_array(jpeg))
        publisher = node.create_publisher(CompressedImage, 'image/compressed', RELIABLE)
    else:
        msg = _image_msg(bgr, encoding, 3)
        publisher = node.create_publisher(Image, 'image', RELIABLE)
    encoded, encoded_sub = ros.collect(TensorList, 'encoded_tensor', RELIABLE)
    outputs, outputs_sub = ros.collect(TensorList, 'network_output', RELIABLE)
    ros.wait_matched(publisher)
    ros.wait_matched(subscription=outputs_sub)
    ros.wait_matched(subscription=encoded_sub)
    # Inference takes frames once network_output has a subscriber (here the collector).
    encoder, inference = encoder_and_inference
    ros.spin_until(lambda: inference.status.waiting_for is None, 30.0, 'inference ready')
    ros.wait_matched(publisher=encoder.publisher, count=2)
    publisher.publish(msg)
    ros.spin_until(lambda: outputs, 60.0, 'the network output')

    (tensors,), (result,) = encoded, outputs
    for got in (tensors, result):
        assert got.header == msg.header
    image = messages.tensor_list_arrays(tensors)['image']
    assert image.shape == (1, 368, 432, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 255.0 and image.max() > 100
    geometry = messages.geometry_from_msg(result.geometry)
    assert (geometry.source_width, geometry.source_height) == (bgr.shape[1], bgr.shape[0])
    maps = messages.tensor_list_arrays(result)['Openpose/concat_stage7']
    assert maps.shape == (1, 46, 54, 57) and maps.dtype == np.float32
    # A person is in the photo: the part heatmaps peak well above the background.
    assert maps[0, :, :, :18].max() > 0.5


def test_bad_image_is_dropped_and_node_keeps_running(ros, encoder_and_inference):
    encoder, _ = encoder_and_inference
    node = ros.node('camera')
    publisher = node.create_publisher(Image, 'image', RELIABLE)
    encoded, _ = ros.collect(TensorList, 'encoded_tensor', RELIABLE)
    ros.wait_matched(publisher, count=1)
    bad = Image(header=_header(1), height=2, width=2, encoding='yuv422_weird', step=4,
                data=to_byte_array(np.zeros(8, np.uint8)))
    short = _image_msg(np.zeros((4, 4, 3), np.uint8), 'bgr8', 2)
    short.data = short.data[:-5]
    good = _image_msg(cv2.imread(str(SKIER)), 'bgr8', 3)
    for msg in (bad, short, good):
        publisher.publish(msg)
    ros.spin_until(lambda: encoded, 30.0, 'the good image to be encoded')
    assert [m.header.stamp.sec for m in encoded] == [good.header.stamp.sec]


def _network_output(index: int, maps: np.ndarray, geometry) -> TensorList:
    return messages.tensor_list_msg(_header(index), {'Openpose/concat_stage7': maps},
                                    geometry)


def test_decoder_node_publishes_skeletons_and_markers(ros):
    from conftest import PARAMS_FILE
    from pose_estimation_ros.core.openpose import OpenPoseDecoder
    from pose_estimation_ros.core.params import DECODER_PARAMETERS, decoder_params, defaults
    from pose_estimation_ros.core.pipeline import Pipeline, extract_maps

    pipeline = Pipeline.from_file(PARAMS_FILE, {'inference': {
        'model_file_path': str(require_model()), 'intra_op_num_threads': 2}})
    outputs, geometry = pipeline.infer(cv2.imread(str(SKIER)), 'bgr8')
    # What the core gives with the node's default parameters.
    expected = OpenPoseDecoder(decoder_params(defaults(DECODER_PARAMETERS))).decode(
        *extract_maps(outputs, defaults(DECODER_PARAMETERS)), geometry)
    maps = outputs['Openpose/concat_stage7']

    ros.add(OpenPoseDecoderNode(context=ros.context))
    node = ros.node('network')
    publisher = node.create_publisher(TensorList, 'network_output', RELIABLE)
    skeletons, skeleton_sub = ros.collect(Skeleton2DArray, 'skeletons')
    markers, marker_sub = ros.collect(MarkerArray, 'skeleton_markers')
    ros.wait_matched(publisher)
    ros.wait_matched(subscription=skeleton_sub)
    ros.wait_matched(subscription=marker_sub)
    publisher.publish(_network_output(5, maps, geometry))
    publisher.publish(_network_output(6, np.zeros_like(maps), geometry))
    ros.spin_until(lambda: len(skeletons) == 2 and len(markers) == 2, 30.0,
                   'skeletons and markers of two frames')

    full, empty = skeletons
    assert full.header == _header(5) and empty.header == _header(6)
    assert len(full.skeletons) == len(expected) >= 1
    assert len(empty.skeletons) == 0 and len(empty.labels) == 18
    first = full.skeletons[0]
    assert first.score == pytest.approx(expected[0].score, rel=1e-5)
    assert [k.part_id for k in first.keypoints] == expected[0].part_ids.tolist()
    # Keypoints are in source pixels: inside the photo.
    height, width = cv2.imread(str(SKIER)).shape[:2]
    assert all(0 <= k.x <= width and 0 <= k.y <= height for k in first.keypoints)
    for marker_msg, skeleton_msg in zip(markers, skeletons):
        check_markers(marker_msg, skeleton_msg)
    assert len(markers[1].markers) == 1  # only the DELETEALL: stale people cleared


def test_decoder_node_tracks_people_on_header_stamps(ros):
    """Real network outputs of consecutive PoseTrack frames through the decoder node over
    DDS: the same four paddle-boarders keep their tracking ids frame after frame (as the
    annotations say), a frame of nobody keeps them (short occlusion), and a stamp going
    back in time (a bag restarted) starts new ids."""
    from conftest import PARAMS_FILE
    from pose_estimation_ros.core.pipeline import Pipeline
    from pose_estimation_ros.tools.evaluate_tracking import coco_sigmas, load_sequence, oks

    pipeline = Pipeline.from_file(PARAMS_FILE, {'inference': {
        'model_file_path': str(require_model()), 'intra_op_num_threads': 2}})
    frames = load_sequence(DATA / 'posetrack_bonn')[:6]
    outputs = [pipeline.infer(cv2.imread(str(f.path)), 'bgr8') for f in frames]
    pipeline.inference.close()

    ros.add(OpenPoseDecoderNode(context=ros.context, parameter_overrides=[
        Parameter('use_sim_time', value=True)]))  # no /clock: stamps alone must do
    node = ros.node('network')
    publisher = node.create_publisher(TensorList, 'network_output', RELIABLE)
    skeletons, skeleton_sub = ros.collect(Skeleton2DArray, 'skeletons')
    ros.wait_matched(publisher)
    ros.wait_matched(subscription=skeleton_sub)

    def send(maps, geometry, seconds):
        msg = messages.tensor_list_msg(_header(), {'Openpose/concat_stage7': maps}, geometry)
        msg.header.stamp.sec, msg.header.stamp.nanosec = 1700000000 + int(seconds), int(
            round(seconds % 1 * 1e9))
        publisher.publish(msg)
        count = len(skeletons) + 1
        ros.spin_until(lambda: len(skeletons) == count, 30.0, 'skeletons')
        return skeletons[-1]

    # 25 fps; frame 3 is lost (nobody seen: all-zero maps).
    sent = []
    for index, (maps, geometry) in enumerate(
            (m['Openpose/concat_stage7'], g) for m, g in outputs):
        if index == 3:
            maps = np.zeros_like(maps)
        sent.append(send(maps, geometry, index / 25))
    assert len(sent[3].skeletons) == 0
    mapping = coco17_mapping(COCO18_LABELS)
    annotated_of = {}  # tracking id -> annotated track id
    for index, msg in enumerate(sent):
        if index == 3:
            continue
        people = [_person_of(s) for s in msg.skeletons]
        similarity = oks(frames[index], people, mapping, coco_sigmas())
        for column, person in enumerate(people):
            row = int(np.argmax(similarity[:, column]))
            if index == 0:
                assert person.tracking_id == 0  # tentative: seen once
            elif similarity[row, column] >= 0.5:
                assert person.tracking_id > 0
                # One tracking id per annotated person, and the other way round.
                assert annotated_of.setdefault(person.tracking_id,
                                               frames[index].track_ids[row]) == \
                    frames[index].track_ids[row]
    assert len(annotated_of) == len(set(annotated_of.values())) >= 3
    # Time goes back: the tracks are cleared, and ids are never reused.
    used = max(s.tracking_id for msg in sent for s in msg.skeletons)
    again = send(outputs[0][0]['Openpose/concat_stage7'], outputs[0][1], 0.0)
    again = send(outputs[1][0]['Openpose/concat_stage7'], outputs[1][1], 0.04)
    assert again.skeletons and all(s.tracking_id > used for s in again.skeletons)
    # Live: a bad value is refused, switching tracking off is applied at once.
    decoder = next(n for n in ros.nodes if isinstance(n, OpenPoseDecoderNode))
    (refused,) = decoder.set_parameters([Parameter('tracking_confirm_hits', value=0)])
    assert not refused.successful
    (accepted,) = decoder.set_parameters([Parameter('tracking_enabled', value=False)])
    assert accepted.successful, accepted.reason
    off = send(outputs[2][0]['Openpose/concat_stage7'], outputs[2][1], 0.08)
    assert off.skeletons and all(s.tracking_id == 0 for s in off.skeletons)


def _person_of(skeleton):
    """A Skeleton2D message as a core Person (for the evaluation helpers)."""
    from pose_estimation_ros.core.openpose import Person

    keypoints = np.array([(k.part_id, k.x, k.y, k.confidence) for k in skeleton.keypoints])
    return Person(keypoints, np.array(skeleton.edge_ids), skeleton.score,
                  (skeleton.x_min, skeleton.y_min, skeleton.x_max, skeleton.y_max),
                  skeleton.tracking_id)


@pytest.mark.parametrize('node_class, overrides, message', [
    (ImageEncoderNode, [Parameter('normalization_type', value='zscore')],
     'normalization_type'),
    (ImageEncoderNode, [Parameter('input_qos', value='fast')], 'input_qos'),
    (InferenceNode, [Parameter('model_file_path', value='/nonexistent/model.onnx')],
     '/nonexistent/model.onnx'),
    (InferenceNode, [Parameter('output_binding_names', value=['heatmap']),
                     Parameter('output_tensor_names', value=['heatmap'])], 'heatmap'),
    (OpenPoseDecoderNode, [Parameter('edges', value=[1, 2, 3])], 'edges'),
])
def test_bad_startup_configuration_stops_with_a_clear_message(ros, node_class, overrides,
                                                               message):
    if node_class is InferenceNode and 'model_file_path' not in [p.name for p in overrides]:
        overrides = overrides + _model_params()[:1]
    with pytest.raises(StartupError, match=message):
        node_class(context=ros.context, parameter_overrides=overrides)


def test_decoder_overlay_works_on_sim_time_without_clock(ros):
    """With use_sim_time and no /clock yet (a bag not playing), the decoder still
    notices an overlay subscriber and subscribes to the images it needs."""
    ros.add(OpenPoseDecoderNode(context=ros.context, parameter_overrides=[
        Parameter('use_sim_time', value=True)]))
    node = ros.node('viewer')
    camera = node.create_publisher(Image, 'image', RELIABLE)
    overlays, overlay_sub = ros.collect(Image, 'overlay_image')
    ros.wait_matched(subscription=overlay_sub)
    ros.wait_matched(camera, count=1, timeout=10.0)
