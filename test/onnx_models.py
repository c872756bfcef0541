"""Small synthetic ONNX models for the inference tests, built with onnx.helper.

Each builder returns an ``onnx.ModelProto`` (checked); ``save`` writes it. The outputs
are fixed functions of the inputs, with numpy references here, so the tests can check
what a backend returns.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8  # readable by older ONNX Runtime / TensorRT parsers too

# Isaac ROS / trt_pose ImageNet normalisation that export_for_isaac.py puts in the model.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _model(nodes, inputs, outputs, initializers=(), name='test') -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)],
                              producer_name='pose_estimation_ros tests')
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def save(model: onnx.ModelProto, path) -> Path:
    path = Path(path)
    onnx.save(model, str(path))
    return path


def trt_pose_weights(num_parts: int = 18, num_links: int = 21, seed: int = 0) -> dict:
    """Fixed channel-mixing weights (1x1 convolutions) of the trt_pose-like model."""
    rng = np.random.default_rng(seed)
    return {
        'heat_w': rng.normal(0, 2, (num_parts, 3)).astype(np.float32),
        'heat_b': rng.normal(0, 0.5, num_parts).astype(np.float32),
        'paf_w': rng.normal(0, 2, (2 * num_links, 3)).astype(np.float32),
        'paf_b': rng.normal(0, 0.5, 2 * num_links).astype(np.float32),
    }


def trt_pose_isaac_model(height: int = 224, width: int = 224, weights: dict | None = None
                         ) -> onnx.ModelProto:
    """Model with exactly the signature of trt_pose's ``export_for_isaac.py``.

    Input ``input`` [1,3,H,W] float32 ("unit" RGB; the model applies the ImageNet
    mean/stddev itself, as the export does). Outputs, NHWC at stride 4:
    ``part_affinity_fields`` [1,H/4,W/4,2*links], ``heatmap`` [1,H/4,W/4,parts] and
    ``maxpool_heatmap`` (3x3 max pool of heatmap, stride 1, same size), in that order.
    The network: 4x4 average pooling, then per-pixel channel mixing (1x1 conv) with
    ``weights``, sigmoid for the heatmap and tanh for the fields.
    """
    if height % 4 or width % 4:
        raise ValueError('height and width must be multiples of 4')
    weights = weights or trt_pose_weights()
    parts, fields = len(weights['heat_b']), len(weights['paf_b'])
    h4, w4 = height // 4, width // 4
    inits = [
        numpy_helper.from_array(IMAGENET_MEAN.reshape(1, 3, 1, 1), 'mean'),
        numpy_helper.from_array(IMAGENET_STD.reshape(1, 3, 1, 1), 'std'),
        numpy_helper.from_array(weights['heat_w'].reshape(parts, 3, 1, 1), 'heat_w'),
        numpy_helper.from_array(weights['heat_b'], 'heat_b'),
        numpy_helper.from_array(weights['paf_w'].reshape(fields, 3, 1, 1), 'paf_w'),
        numpy_helper.from_array(weights['paf_b'], 'paf_b'),
    ]
    nodes = [
        helper.make_node('Sub', ['input', 'mean'], ['centred']),
        helper.make_node('Div', ['centred', 'std'], ['normalised']),
        helper.make_node('AveragePool', ['normalised'], ['pooled'], kernel_shape=[4, 4],
                         strides=[4, 4]),
        helper.make_node('Conv', ['pooled', 'heat_w', 'heat_b'], ['heat_logits']),
        helper.make_node('Sigmoid', ['heat_logits'], ['heat_nchw']),
        helper.make_node('MaxPool', ['heat_nchw'], ['maxpool_nchw'], kernel_shape=[3, 3],
                         strides=[1, 1], pads=[1, 1, 1, 1]),
        helper.make_node('Conv', ['pooled', 'paf_w', 'paf_b'], ['paf_logits']),
        helper.make_node('Tanh', ['paf_logits'], ['paf_nchw']),
        helper.make_node('Transpose', ['paf_nchw'], ['part_affinity_fields'],
                         perm=[0, 2, 3, 1]),
        helper.make_node('Transpose', ['heat_nchw'], ['heatmap'], perm=[0, 2, 3, 1]),
        helper.make_node('Transpose', ['maxpool_nchw'], ['maxpool_heatmap'],
                         perm=[0, 2, 3, 1]),
    ]
    f32 = TensorProto.FLOAT
    return _model(
        nodes, [helper.make_tensor_value_info('input', f32, [1, 3, height, width])],
        [helper.make_tensor_value_info('part_affinity_fields', f32, [1, h4, w4, fields]),
         helper.make_tensor_value_info('heatmap', f32, [1, h4, w4, parts]),
         helper.make_tensor_value_info('maxpool_heatmap', f32, [1, h4, w4, parts])],
        inits, 'trt_pose_isaac')


def trt_pose_isaac_reference(x: np.ndarray, weights: dict | None = None) -> dict:
    """numpy (float64) outputs of ``trt_pose_isaac_model`` for input ``x`` [1,3,H,W]."""
    weights = weights or trt_pose_weights()
    x = np.asarray(x, dtype=np.float64)
    _, _, height, width = x.shape
    normalised = (x[0] - IMAGENET_MEAN.reshape(3, 1, 1)) / IMAGENET_STD.reshape(3, 1, 1)
    pooled = normalised.reshape(3, height // 4, 4, width // 4, 4).mean(axis=(2, 4))
    heat = 1 / (1 + np.exp(-(np.einsum('kc,chw->hwk', weights['heat_w'], pooled)
                             + weights['heat_b'])))
    paf = np.tanh(np.einsum('kc,chw->hwk', weights['paf_w'], pooled) + weights['paf_b'])
    padded = np.pad(heat, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    h, w = heat.shape[:2]
    maxpool = np.max([padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)],
                     axis=0)
    return {'part_affinity_fields': paf[None], 'heatmap': heat[None],
            'maxpool_heatmap': maxpool[None]}


def affine_model(dynamic: bool = True) -> onnx.ModelProto:
    """``y = 2 * x + 1`` with input ``x`` [batch,3,height,width] (symbolic dims when
    ``dynamic``, else [1,3,8,8])."""
    shape = ['batch', 3, 'height', 'width'] if dynamic else [1, 3, 8, 8]
    f32 = TensorProto.FLOAT
    return _model(
        [helper.make_node('Mul', ['x', 'two'], ['doubled']),
         helper.make_node('Add', ['doubled', 'one'], ['y'])],
        [helper.make_tensor_value_info('x', f32, shape)],
        [helper.make_tensor_value_info('y', f32, shape)],
        [numpy_helper.from_array(np.array(2, np.float32), 'two'),
         numpy_helper.from_array(np.array(1, np.float32), 'one')], 'affine')


def nhwc_model(height: int = 6, width: int = 5) -> onnx.ModelProto:
    """Input ``image`` [1,H,W,3] (NHWC); output ``nchw`` is the same data as NCHW."""
    f32 = TensorProto.FLOAT
    return _model(
        [helper.make_node('Transpose', ['image'], ['nchw'], perm=[0, 3, 1, 2])],
        [helper.make_tensor_value_info('image', f32, [1, height, width, 3])],
        [helper.make_tensor_value_info('nchw', f32, [1, 3, height, width])], name='nhwc')


def difference_model() -> onnx.ModelProto:
    """Inputs ``a``, ``b`` [1,4] float32; output ``difference`` = a - b (order matters,
    so a swapped name mapping shows)."""
    f32 = TensorProto.FLOAT
    return _model(
        [helper.make_node('Sub', ['a', 'b'], ['difference'])],
        [helper.make_tensor_value_info('a', f32, [1, 4]),
         helper.make_tensor_value_info('b', f32, [1, 4])],
        [helper.make_tensor_value_info('difference', f32, [1, 4])], name='difference')


def string_model() -> onnx.ModelProto:
    """Input ``text`` of strings, which no Tensor message can carry."""
    return _model(
        [helper.make_node('Identity', ['text'], ['same'])],
        [helper.make_tensor_value_info('text', TensorProto.STRING, [1])],
        [helper.make_tensor_value_info('same', TensorProto.STRING, [1])], name='string')
