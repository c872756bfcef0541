"""OpenVINO IR (``.xml`` + ``.bin``, IR v10/v11) -> ONNX, with numpy and onnx only (no
OpenVINO needed), so that an Open Model Zoo model runs on ONNX Runtime and TensorRT too.

Made for Open Model Zoo's ``human-pose-estimation-0001`` (Lightweight OpenPose, FP16-INT8)
and models built from the same operations: Parameter, Const, Convert, FakeQuantize,
Convolution, GroupConvolution, Add, Multiply, ReLU, Elu, Concat, Reshape, Result. Any
other operation is a ValueError naming it.

FakeQuantize (NNCF/POT's INT8 marking) becomes, with ``quantization``:

- ``'float'``: weight FakeQuantize folded into float32 weights (the exact values the
  INT8 weights stand for); activation FakeQuantize dropped. Runs everywhere in fp32.
- ``'uint8'``: weights as int8 initializers with per-output-channel
  ``DequantizeLinear``; activations as ``QuantizeLinear``/``DequantizeLinear`` pairs on
  uint8 with the zero point FakeQuantize's range gives (the same grid as OpenVINO's
  INT8 kernels); bias Adds folded into the Conv as int32 (scale input x weight scale),
  which is the pattern ONNX Runtime's QDQ optimiser turns into integer kernels.

Activation ranges given per channel (the inputs of the depthwise convolutions) are
computed in float (Max, Min, Sub, Div, Round, Mul, Add: FakeQuantize's own formula),
since ONNX Runtime's integer Add and Concat take per-tensor scales only. TensorRT accepts
only symmetric int8 per-tensor activation quantization (no uint8, no zero points): this
model's per-channel ranges do not survive that (measured: keypoint AP 0.02 on dev), so
for TensorRT use ``'float'`` (with its fp16 builder flag).

The ONNX interface keeps the IR's names and NCHW layout; height and width are symbolic,
so any size the network accepts runs (multiples of 8 for the pose model).
"""
from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pose_estimation_ros.conversion.common import (
    IR_VERSION,
    OPSET,
    Log,
    check_image,
    make_session,
    resize,
    sha256_bytes,
    sidecar_path,
    write_atomically,
)
from pose_estimation_ros.core.inference import file_sha256

CONVERTER_VERSION = '1.0.0'
QUANTIZATIONS = ('float', 'uint8')

# Open Model Zoo's human-pose-estimation-0001, FP16-INT8, release 2021.2 (models_bin/3):
# file name -> (bytes, sha256) from Open Model Zoo's model.yml.
HPE_NAME = 'human-pose-estimation-0001'
HPE_FILES = {
    'human-pose-estimation-0001.xml':
        (435357, 'c3a47de94906e6b3256eb16af7274141b2fc9f6c7889a02d96ef430b9bc321d3'),
    'human-pose-estimation-0001.bin':
        (4170036, 'fc7e9dde0f4a34876cfbbd266388a59526a8c8c1bc9394ce4827b7a007d20f82'),
}
# Sizes (height, width) of the check against OpenVINO: the evaluation protocol's height
# 368 at two aspect ratios, and the IR's own 256x456.
CHECK_SIZES = ((368, 432), (368, 656), (256, 456))

_ELEMENT_TYPES = {'f16': np.float16, 'f32': np.float32, 'f64': np.float64, 'i8': np.int8,
                  'u8': np.uint8, 'i32': np.int32, 'i64': np.int64, 'u1': np.uint8}
SUPPORTED_OPS = ('Parameter', 'Const', 'Convert', 'FakeQuantize', 'Convolution',
                 'GroupConvolution', 'Add', 'Multiply', 'ReLU', 'Elu', 'Concat', 'Reshape',
                 'Result')


@dataclass
class Layer:
    id: str
    name: str
    type: str
    data: dict
    inputs: list = field(default_factory=list)    # (source layer id, source port) per port
    output_ports: list = field(default_factory=list)
    input_dims: list = field(default_factory=list)   # dims of each input port


@dataclass
class IrGraph:
    layers: dict          # id -> Layer, in topological order
    consts: dict          # id -> np.ndarray


def read_ir(xml_path: str | Path, bin_path: str | Path | None = None) -> IrGraph:
    """Parse an IR: layers in topological order with their inputs, and the constants."""
    xml_path = Path(xml_path)
    bin_path = xml_path.with_suffix('.bin') if bin_path is None else Path(bin_path)
    for path in (xml_path, bin_path):
        if not path.is_file():
            raise FileNotFoundError(f'OpenVINO IR file not found: {path}')
    root = ET.parse(xml_path).getroot()
    if root.tag != 'net' or root.get('version') not in ('10', '11'):
        raise ValueError(f'{xml_path} is not an OpenVINO IR v10/v11 (root <{root.tag} '
                         f'version={root.get("version")}>)')
    weights = bin_path.read_bytes()
    layers: dict[str, Layer] = {}
    for node in root.find('layers'):
        data = node.find('data')
        output = node.find('output')
        layers[node.get('id')] = Layer(
            node.get('id'), node.get('name'), node.get('type'),
            dict(data.attrib) if data is not None else {},
            output_ports=[p.get('id') for p in output] if output is not None else [])
    sources: dict[tuple[str, str], tuple[str, str]] = {}
    for edge in root.find('edges'):
        sources[(edge.get('to-layer'), edge.get('to-port'))] = (edge.get('from-layer'),
                                                                edge.get('from-port'))
    for node in root.find('layers'):
        inputs = node.find('input')
        for port in (inputs if inputs is not None else []):
            key = (node.get('id'), port.get('id'))
            if key not in sources:
                raise ValueError(f'{xml_path}: input port {key[1]} of layer '
                                 f'{node.get("name")!r} is not connected')
            layers[node.get('id')].inputs.append(sources[key])
            layers[node.get('id')].input_dims.append([int(d.text) for d in port.iter('dim')])
    unsupported = sorted({layer.type for layer in layers.values()} - set(SUPPORTED_OPS))
    if unsupported:
        raise ValueError(f'{xml_path}: unsupported OpenVINO operations {unsupported}; the '
                         f'converter knows {", ".join(SUPPORTED_OPS)}')
    consts = {}
    for layer in layers.values():
        if layer.type == 'Const':
            dtype = _ELEMENT_TYPES.get(layer.data.get('element_type'))
            if dtype is None:
                raise ValueError(f'Const {layer.name!r}: element type '
                                 f'{layer.data.get("element_type")} is not supported')
            offset, size = int(layer.data['offset']), int(layer.data['size'])
            if offset + size > len(weights):
                raise ValueError(f'Const {layer.name!r} reads past the end of {bin_path}')
            shape = [int(d) for d in layer.data.get('shape', '').split(',') if d]
            consts[layer.id] = np.frombuffer(weights, dtype, size // np.dtype(dtype).itemsize,
                                             offset).reshape(shape)
    return IrGraph(_topological(layers), consts)


def _topological(layers: dict[str, Layer]) -> dict[str, Layer]:
    order: dict[str, Layer] = {}
    visiting: set[str] = set()

    def visit(layer_id: str):
        if layer_id in order:
            return
        if layer_id in visiting:
            raise ValueError(f'the IR has a cycle through layer {layers[layer_id].name!r}')
        visiting.add(layer_id)
        for source, _ in layers[layer_id].inputs:
            visit(source)
        order[layer_id] = layers[layer_id]

    for layer_id in layers:
        visit(layer_id)
    return order


def fake_quantize(x, input_low, input_high, output_low, output_high, levels: int):
    """OpenVINO's FakeQuantize (opset1 definition), in numpy."""
    x = np.asarray(x, np.float64)
    input_low, input_high = np.float64(input_low), np.float64(input_high)
    q = np.round((np.clip(x, input_low, input_high) - input_low) /
                 (input_high - input_low) * (levels - 1))
    return q / (levels - 1) * (output_high - output_low) + output_low


@dataclass
class _Quantized:
    """Integer weights q with real value (q - zero_point) * scale, per output channel."""

    values: np.ndarray      # int8
    scale: np.ndarray       # float32 [out channels]


def _weight_int8(fq_inputs: list[np.ndarray], levels: int) -> _Quantized | None:
    """The int8 form of a weight FakeQuantize, when its output grid is symmetric
    (output_low = -output_high, odd levels); else None (the caller folds to float)."""
    x, in_lo, in_hi, out_lo, out_hi = (np.asarray(a, np.float64) for a in fq_inputs)
    if levels % 2 == 0 or not np.allclose(out_lo, -out_hi, rtol=1e-3, atol=1e-6):
        return None
    q = np.round((np.clip(x, in_lo, in_hi) - in_lo) / (in_hi - in_lo) * (levels - 1))
    centred = q - (levels - 1) // 2
    out_channels = x.shape[0]
    scale = np.broadcast_to((out_hi - out_lo) / (levels - 1),
                            (out_channels,) + (1,) * (x.ndim - 1)).reshape(out_channels)
    return _Quantized(centred.astype(np.int8), scale.astype(np.float32))


def convert_ir(graph: IrGraph, quantization: str = 'uint8', graph_name: str = 'model',
               opset: int = OPSET):
    """An ``onnx.ModelProto`` computing ``graph`` (see the module docstring for
    ``quantization``). Input and output names are the IR's."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if quantization not in QUANTIZATIONS:
        raise ValueError(f'quantization must be one of {QUANTIZATIONS}; got {quantization!r}')
    layers = graph.layers
    consumers: dict[str, list[str]] = {lid: [] for lid in layers}
    for layer in layers.values():
        for source, _ in layer.inputs:
            consumers[source].append(layer.id)

    values: dict[str, np.ndarray] = {}      # constant-folded layer outputs
    int8_weights: dict[str, _Quantized] = {}
    tensor: dict[str, str] = {}             # layer id -> ONNX tensor of its output
    act_scale: dict[str, float] = {}        # ONNX tensor -> scale when it is a DQ output
    nodes, initializers, names = [], [], set()
    folded_adds: set[str] = set()           # bias Adds merged into their Conv
    inputs_info, outputs_info = [], []

    def unique(name: str) -> str:
        candidate, n = name, 1
        while candidate in names:
            n += 1
            candidate = f'{name}_{n}'
        names.add(candidate)
        return candidate

    def init(name: str, array: np.ndarray) -> str:
        name = unique(name)
        initializers.append(numpy_helper.from_array(np.array(array, order='C'), name))
        return name

    def const_input(layer: Layer, index: int) -> np.ndarray | None:
        return values.get(layer.inputs[index][0])

    def data_input(layer: Layer, index: int) -> str:
        source = layer.inputs[index][0]
        if source in values:  # a constant feeding a compute op: an initializer
            tensor[source] = tensor.get(source) or init(layers[source].name,
                                                        _float32(values[source]))
        return tensor[source]

    for layer in layers.values():
        kind = layer.type
        if layer.id in folded_adds:
            continue
        args = [values.get(source) for source, _ in layer.inputs]
        is_const = bool(layer.inputs) and all(a is not None for a in args)
        if kind == 'Const':
            values[layer.id] = graph.consts[layer.id]
            continue
        if kind == 'Convert' and is_const:
            values[layer.id] = args[0].astype(_ELEMENT_TYPES[layer.data['destination_type']])
            continue
        if kind == 'FakeQuantize' and is_const:  # weights
            levels = int(layer.data['levels'])
            values[layer.id] = fake_quantize(*args, levels).astype(np.float32)
            quantized = _weight_int8(args, levels) if quantization != 'float' else None
            if quantized is not None:
                int8_weights[layer.id] = quantized
            continue
        if kind == 'Reshape' and is_const:
            shape = [int(d) for d in args[1]]
            if layer.data.get('special_zero', '').lower() == 'true':
                shape = [args[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
            values[layer.id] = args[0].reshape(shape)
            if layer.inputs[0][0] in int8_weights:  # group conv weights keep their int8 form
                q = int8_weights[layer.inputs[0][0]]
                int8_weights[layer.id] = _Quantized(q.values.reshape(shape), q.scale)
            continue
        if is_const:
            raise ValueError(f'constant {kind} {layer.name!r} is not foldable by this '
                             f'converter')
        out = unique(layer.name)
        if kind == 'Parameter':
            shape = [int(d) for d in layer.data.get('shape', '').split(',') if d]
            if len(shape) != 4:
                raise ValueError(f'input {layer.name!r} has shape {shape}; expected NCHW')
            inputs_info.append(helper.make_tensor_value_info(
                out, TensorProto.FLOAT, [shape[0], shape[1], 'height', 'width']))
        elif kind == 'Result':
            source = tensor[layer.inputs[0][0]]
            name = layers[layer.inputs[0][0]].name
            if source != name:  # bias folded away: the Conv's tensor takes the name
                if name in names:
                    raise ValueError(f'output name {name!r} is taken by another tensor')
                nodes.append(helper.make_node('Identity', [source], [name], name=layer.name))
            dims = layer.input_dims[0]
            outputs_info.append(helper.make_tensor_value_info(
                name, TensorProto.FLOAT, [dims[0], dims[1], 'out_height', 'out_width']
                if len(dims) == 4 else dims))
            continue
        elif kind == 'FakeQuantize':  # activations
            if quantization == 'float':
                tensor[layer.id] = data_input(layer, 0)
                names.discard(out)
                continue
            lo, hi, out_lo, out_hi = (np.asarray(a, np.float64).reshape(-1)
                                      for a in args[1:])
            if not (np.allclose(lo, out_lo) and np.allclose(hi, out_hi)):
                raise ValueError(f'activation FakeQuantize {layer.name!r}: only equal input '
                                 f'and output ranges are supported')
            levels = int(layer.data['levels'])
            x = data_input(layer, 0)
            if lo.size > 1:
                # Per-channel ranges (depthwise inputs): computed in float, exactly, since
                # ONNX Runtime's integer Add/Concat before them take per-tensor scales only.
                shape = np.asarray(args[1]).shape
                step = ((hi - lo) / (levels - 1)).reshape(shape).astype(np.float32)
                low = lo.reshape(shape).astype(np.float32)
                high = hi.reshape(shape).astype(np.float32)
                ops = (('Max', init(f'{out}/low', low)), ('Min', init(f'{out}/high', high)),
                       ('Sub', init(f'{out}/low', low)), ('Div', init(f'{out}/step', step)),
                       ('Round', None), ('Mul', init(f'{out}/step', step)),
                       ('Add', init(f'{out}/low', low)))
                current = x
                for i, (op, operand) in enumerate(ops):
                    result = out if i == len(ops) - 1 else f'{out}/{op.lower()}'
                    nodes.append(helper.make_node(op, [current] + ([operand] if operand else []),
                                                  [result], name=f'{out}/{op.lower()}'))
                    current = result
                tensor[layer.id] = out
                continue
            scale = ((hi - lo) / (levels - 1))[0]
            zero = np.uint8(np.clip(np.round(-lo[0] / scale), 0, 255))
            s = init(f'{out}/scale', np.float32(scale))
            z = init(f'{out}/zero_point', np.array(zero))
            nodes.append(helper.make_node('QuantizeLinear', [x, s, z], [out + '/q'],
                                          name=out + '/quantize'))
            nodes.append(helper.make_node('DequantizeLinear', [out + '/q', s, z], [out],
                                          name=out + '/dequantize'))
            act_scale[out] = float(np.float32(scale))
        elif kind in ('Convolution', 'GroupConvolution'):
            weight_id = layer.inputs[1][0]
            if weight_id not in values:
                raise ValueError(f'{kind} {layer.name!r}: weights must be constant')
            weights = values[weight_id]
            group = 1
            if kind == 'GroupConvolution':  # [G, O/G, I/G, kh, kw] -> [O, I/G, kh, kw]
                group = weights.shape[0]
                weights = weights.reshape(-1, *weights.shape[2:])
            if layer.data.get('auto_pad', 'explicit') not in ('explicit', 'notset'):
                raise ValueError(f'{kind} {layer.name!r}: auto_pad '
                                 f'{layer.data["auto_pad"]} is not supported')
            pads = [int(v) for v in layer.data['pads_begin'].split(',')] + \
                   [int(v) for v in layer.data['pads_end'].split(',')]
            x = data_input(layer, 0)
            quantized = int8_weights.get(weight_id)
            if quantized is not None:
                q = init(f'{layer.name}/weights_int8',
                         quantized.values.reshape(weights.shape))
                ws = init(f'{layer.name}/weights_scale', quantized.scale)
                wz = init(f'{layer.name}/weights_zero_point',
                          np.zeros(quantized.scale.shape, np.int8))
                w = unique(f'{layer.name}/weights')
                nodes.append(helper.make_node('DequantizeLinear', [q, ws, wz], [w],
                                              name=w + '/dequantize', axis=0))
            else:
                w = init(f'{layer.name}/weights', _float32(weights))
            conv_inputs = [x, w]
            # Fold a following per-channel bias Add into the Conv (its only consumer).
            bias_layer = _bias_add(layer, layers, consumers, graph.consts)
            if bias_layer is not None:
                bias = graph.consts[bias_layer.inputs[1][0]].astype(np.float64).reshape(-1)
                if quantized is not None and x in act_scale:
                    bias_scale = act_scale[x] * quantized.scale.astype(np.float64)
                    bq = init(f'{layer.name}/bias_int32',
                              np.round(bias / bias_scale).astype(np.int32))
                    bs = init(f'{layer.name}/bias_scale', bias_scale.astype(np.float32))
                    bz = init(f'{layer.name}/bias_zero_point',
                              np.zeros(bias.shape, np.int32))
                    b = unique(f'{layer.name}/bias')
                    nodes.append(helper.make_node('DequantizeLinear', [bq, bs, bz], [b],
                                                  name=b + '/dequantize', axis=0))
                else:
                    b = init(f'{layer.name}/bias', bias.astype(np.float32))
                conv_inputs.append(b)
            nodes.append(helper.make_node(
                'Conv', conv_inputs, [out], name=layer.name, group=group,
                kernel_shape=list(weights.shape[2:]),
                strides=[int(v) for v in layer.data['strides'].split(',')],
                dilations=[int(v) for v in layer.data['dilations'].split(',')], pads=pads))
            if bias_layer is not None:
                tensor[layer.id] = tensor[bias_layer.id] = out
                folded_adds.add(bias_layer.id)
                continue
        elif kind in ('Add', 'Multiply'):
            nodes.append(helper.make_node('Add' if kind == 'Add' else 'Mul',
                                          [data_input(layer, 0), data_input(layer, 1)], [out],
                                          name=layer.name))
        elif kind == 'ReLU':
            nodes.append(helper.make_node('Relu', [data_input(layer, 0)], [out],
                                          name=layer.name))
        elif kind == 'Elu':
            nodes.append(helper.make_node('Elu', [data_input(layer, 0)], [out],
                                          name=layer.name,
                                          alpha=float(layer.data.get('alpha', 1.0))))
        elif kind == 'Concat':
            nodes.append(helper.make_node('Concat', [data_input(layer, i) for i in
                                                     range(len(layer.inputs))], [out],
                                          name=layer.name, axis=int(layer.data['axis'])))
        elif kind == 'Reshape':
            shape = init(f'{out}/shape', np.asarray(const_input(layer, 1), np.int64))
            nodes.append(helper.make_node('Reshape', [data_input(layer, 0), shape], [out],
                                          name=layer.name))
        elif kind == 'Convert':
            if layer.data['destination_type'] not in ('f16', 'f32'):
                raise ValueError(f'Convert {layer.name!r} to {layer.data["destination_type"]}'
                                 f' on data is not supported')
            tensor[layer.id] = data_input(layer, 0)  # float everywhere in the ONNX model
            names.discard(out)
            continue
        else:  # pragma: no cover - read_ir() rejects these already
            raise ValueError(f'unsupported OpenVINO operation {kind} ({layer.name!r})')
        tensor[layer.id] = out

    if len(inputs_info) != 1 or not outputs_info:
        raise ValueError(f'expected one input and at least one output; got '
                         f'{len(inputs_info)} and {len(outputs_info)}')
    model = helper.make_model(
        helper.make_graph(nodes, graph_name, inputs_info, outputs_info, initializers),
        opset_imports=[helper.make_opsetid('', opset)],
        producer_name='pose_estimation_ros.conversion.openvino_ir',
        producer_version=CONVERTER_VERSION)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def _bias_add(conv: Layer, layers, consumers, consts) -> Layer | None:
    """The Add right after ``conv`` adding a [1, C, 1, 1] Const, if ``conv`` feeds
    nothing else."""
    users = consumers[conv.id]
    if len(users) != 1 or layers[users[0]].type != 'Add':
        return None
    add = layers[users[0]]
    if add.inputs[0][0] != conv.id or add.inputs[1][0] not in consts:
        return None
    bias = consts[add.inputs[1][0]]
    if bias.ndim != 4 or bias.shape[0] != 1 or bias.shape[2:] != (1, 1):
        return None
    return add


def _float32(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, np.float32) if np.issubdtype(array.dtype, np.floating) else \
        np.asarray(array)


# ------------------------------------------------------------------ files and checks

def check_files(source_dir: str | Path, files=HPE_FILES) -> dict[str, Path]:
    """{file name: path} in ``source_dir`` after checking each size and sha256."""
    source_dir = Path(source_dir)
    found = {}
    for name, (size, sha256) in files.items():
        path = source_dir / name
        if not path.is_file():
            raise FileNotFoundError(f'{path} not found (get it with Open Model Zoo\'s '
                                    f'downloader: omz_downloader --name {HPE_NAME} '
                                    f'--precisions FP16-INT8)')
        digest = file_sha256(path)
        if path.stat().st_size != size or digest != sha256:
            raise ValueError(f'{path} has {path.stat().st_size} bytes, sha256 {digest}; '
                             f'expected {size} bytes, sha256 {sha256}: not the release '
                             f'this project was tested with')
        found[name] = path
    return found


def openvino_outputs(xml_path: str | Path, image_nchw: np.ndarray, threads: int = 2
                     ) -> dict[str, np.ndarray]:
    """The IR's outputs computed by OpenVINO on the CPU in f32 precision (the yardstick
    of the converted model; needs the openvino package)."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(xml_path))
    model.reshape({model.inputs[0]: ov.PartialShape(list(image_nchw.shape))})
    compiled = core.compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32',
                                                 'INFERENCE_NUM_THREADS': threads})
    return {port.get_any_name(): np.array(value)
            for port, value in compiled(image_nchw).items()}


def compare_with_openvino(model, xml_path: str | Path, image: np.ndarray,
                          sizes=CHECK_SIZES) -> dict:
    """Max and mean absolute difference of every output, ONNX Runtime (converted
    model) vs OpenVINO (IR), on ``image`` (BGR uint8) resized to each of ``sizes``."""
    session = make_session(model)
    names = [o.name for o in session.get_outputs()]
    figures = {}
    for height, width in sizes:
        x = resize(image, height, width).astype(np.float32).transpose(2, 0, 1)[None].copy()
        got = dict(zip(names, session.run(names, {session.get_inputs()[0].name: x})))
        want = openvino_outputs(xml_path, x)
        if {k: v.shape for k, v in got.items()} != {k: v.shape for k, v in want.items()}:
            raise RuntimeError(f'at {width}x{height} the outputs differ: ONNX '
                               f'{ {k: v.shape for k, v in got.items()} } vs IR '
                               f'{ {k: v.shape for k, v in want.items()} }')
        figures[f'{width}x{height}'] = {
            name: {'shape': list(got[name].shape),
                   'max_abs_diff': float(np.abs(got[name] - want[name]).max()),
                   'mean_abs_diff': float(np.abs(got[name] - want[name]).mean())}
            for name in sorted(got)}
    return figures


def is_up_to_date(output: Path, source_sha256: str, quantization: str) -> bool:
    """True when ``output`` and its sidecar match this converter, source and mode."""
    try:
        info = json.loads(sidecar_path(output).read_text())
        return (info.get('converter_version') == CONVERTER_VERSION
                and info.get('source_sha256') == source_sha256
                and info.get('quantization') == quantization
                and output.is_file() and info.get('onnx_sha256') == file_sha256(output))
    except (OSError, ValueError, AttributeError):
        return False


def install_ir(source_dir: str | Path, models_dir: str | Path, onnx_output: Path | None = None,
               quantization: str = 'uint8', image: Path | None = None, verify: bool = True,
               force: bool = False, log: Log = print) -> dict:
    """Copy the checked IR files into ``models_dir`` and convert the IR to ONNX
    (``onnx_output``, default ``<models_dir>/human-pose-estimation-0001.onnx``); returns
    the sidecar's contents. ``verify`` compares ONNX Runtime with OpenVINO when OpenVINO
    is installed (recorded in the sidecar). Does nothing when all is up to date."""
    start = time.perf_counter()
    models_dir = Path(models_dir)
    files = check_files(source_dir)
    for name, path in files.items():
        target = models_dir / name
        if force or not target.is_file() or file_sha256(target) != HPE_FILES[name][1]:
            write_atomically(target, path.read_bytes())
            log(f'install: {path} -> {target} (sha256 checked)')
    xml_path = models_dir / f'{HPE_NAME}.xml'
    onnx_output = Path(onnx_output or models_dir / f'{HPE_NAME}.onnx')
    source_sha256 = HPE_FILES[xml_path.name][1]
    if not force and is_up_to_date(onnx_output, source_sha256, quantization):
        log(f'{onnx_output} is up to date (sidecar matches); nothing to do')
        return json.loads(sidecar_path(onnx_output).read_text())
    graph = read_ir(xml_path)
    model = convert_ir(graph, quantization, graph_name=HPE_NAME)
    model.doc_string = (f'Open Model Zoo {HPE_NAME} (Apache-2.0), FP16-INT8 IR converted by '
                        f'pose_estimation_ros ({quantization}). Input data: NCHW BGR 0..255. '
                        f'Outputs NCHW stride 8: Mconv7_stage2_L2 19 heatmaps (18 parts + '
                        f'background), Mconv7_stage2_L1 38 PAF channels.')
    data = model.SerializeToString()
    log(f'convert: {len(graph.layers)} IR layers -> {len(model.graph.node)} ONNX nodes '
        f'({quantization}) in {time.perf_counter() - start:.1f} s')
    verification = None
    if verify:
        try:
            import openvino  # noqa: F401
        except ImportError:
            log('verify: skipped, OpenVINO is not installed (the comparison needs it)')
        else:
            photo, photo_name = check_image(image)
            verification = {'image': photo_name,
                            'against_openvino': compare_with_openvino(model, xml_path, photo)}
            worst = max(f['max_abs_diff'] for size in verification['against_openvino']
                        .values() for f in size.values())
            log(f'verify: ONNX Runtime vs OpenVINO on {photo_name}: max abs diff '
                f'{worst:.3g} over {", ".join(verification["against_openvino"])}')
    info = {'model': HPE_NAME, 'onnx_sha256': sha256_bytes(data),
            'converter': 'pose_estimation_ros.conversion.openvino_ir',
            'converter_version': CONVERTER_VERSION, 'opset': OPSET, 'ir_version': IR_VERSION,
            'quantization': quantization, 'source_sha256': source_sha256,
            'source': {name: {'bytes': size, 'sha256': sha256}
                       for name, (size, sha256) in HPE_FILES.items()},
            'license': 'Apache-2.0 (Open Model Zoo)', 'verification': verification}
    write_atomically(onnx_output, data)
    write_atomically(sidecar_path(onnx_output), (json.dumps(info, indent=2) + '\n').encode())
    log(f'wrote {onnx_output} ({len(data) / 1e6:.1f} MB) in '
        f'{time.perf_counter() - start:.1f} s total')
    return info
