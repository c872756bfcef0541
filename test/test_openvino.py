"""The OpenVINO backend on the real model (Open Model Zoo's human-pose-estimation-0001,
INT8 IR, installed in models/ by scripts/setup.sh from ../shared/models), the project's
IR -> ONNX converter against OpenVINO's own output, the ``auto`` backend rule with and
without OpenVINO importable, and the default-model rule.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from conftest import DATA, MODEL, REPO
from pose_estimation_ros.conversion import openvino_ir
from pose_estimation_ros.core.backends.choice import openvino_available
from pose_estimation_ros.core.backends.openvino_backend import OpenVinoBackend
from pose_estimation_ros.core.inference import prepare_inputs
from pose_estimation_ros.core.models import default_model, resolve_model_path

HPE_XML = REPO / 'models' / 'human-pose-estimation-0001.xml'
HPE_ONNX = REPO / 'models' / 'human-pose-estimation-0001.onnx'
SIZE = (368, 656)  # config/human_pose_estimation_0001.yaml
PHOTOS = [DATA / 'coco_val_mini' / '000000196141.jpg',
          DATA / 'coco_val_mini' / '000000197388.jpg']


def require_hpe():
    """The installed IR; a test that needs it fails (not skips) when it is missing."""
    if not (HPE_XML.is_file() and HPE_XML.with_suffix('.bin').is_file()):
        pytest.fail(f'{HPE_XML} (+ .bin) missing: run scripts/setup.sh with ../shared '
                    f'beside the checkout')
    return HPE_XML


def photo_tensor(path, height=SIZE[0], width=SIZE[1]) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return cv2.resize(image, (width, height)).astype(np.float32).transpose(2, 0, 1)[None].copy()


@pytest.fixture(scope='module')
def backend():
    result = OpenVinoBackend(str(require_hpe()), num_threads=2, precision_hint='f32',
                             input_shapes={'data': [1, 3, *SIZE]})
    yield result
    result.close()


# ------------------------------------------------------------------ the backend

def test_backend_reshapes_the_ir_and_names_its_tensors(backend):
    assert [(i.name, i.shape, i.dtype) for i in backend.inputs] == [
        ('data', (1, 3, 368, 656), np.dtype(np.float32))]  # f16 IR input served as f32
    outputs = {o.name: o.shape for o in backend.outputs}
    assert outputs == {'Mconv7_stage2_L1': (1, 38, 46, 82), 'Mconv7_stage2_L2': (1, 19, 46, 82)}
    assert 'OpenVINO' in backend.description and 'f32' in backend.description


def test_backend_runs_the_real_model_on_a_real_photo(backend):
    result = backend.run({'data': photo_tensor(PHOTOS[0])})
    heatmaps, pafs = result['Mconv7_stage2_L2'], result['Mconv7_stage2_L1']
    assert heatmaps.shape == (1, 19, 46, 82) and pafs.shape == (1, 38, 46, 82)
    assert heatmaps.dtype == np.float32 and np.isfinite(heatmaps).all()
    # People are in the photo: strong part peaks; the background channel is high elsewhere.
    assert heatmaps[0, :18].max() > 0.5 and np.median(heatmaps[0, 18]) > 0.5
    assert np.abs(pafs).max() > 0.3
    # The outputs are copies: a second run does not change the first's arrays.
    before = heatmaps.copy()
    second = photo_tensor(PHOTOS[1])
    second.flags.writeable = False  # as a zero-copy view of a message buffer is
    backend.run({'data': second})
    np.testing.assert_array_equal(heatmaps, before)


def test_a_tensor_of_the_wrong_size_is_refused_with_what_to_set(backend):
    with pytest.raises(ValueError, match=r'expects \(1,3,368,656\).*network_image_width'):
        prepare_inputs({'data': photo_tensor(PHOTOS[0], 368, 432)}, backend.inputs)
    with pytest.raises(ValueError, match='nhwc_to_nchw'):
        prepare_inputs({'data': np.zeros((1, 368, 656, 3), np.float32)}, backend.inputs)


def test_errors_name_the_file_device_hint_and_shape(tmp_path):
    xml = str(require_hpe())
    with pytest.raises(RuntimeError, match='model file not found.*nothing.xml'):
        OpenVinoBackend(str(tmp_path / 'nothing.xml'))
    lone = tmp_path / 'lone.xml'
    lone.write_bytes(HPE_XML.read_bytes())
    with pytest.raises(RuntimeError, match=r'weights file \(.bin beside the .xml\) not found'):
        OpenVinoBackend(str(lone))
    with pytest.raises(ValueError, match="no device 'NPU9'.*available"):
        OpenVinoBackend(xml, device='NPU9')
    with pytest.raises(ValueError, match="precision hint must be one of.*'bf16'"):
        OpenVinoBackend(xml, precision_hint='int4')
    with pytest.raises(RuntimeError, match=r'cannot be reshaped to \{.data.: \[1, 368, 656, 3\]\}'
                                           r'.*input_shape'):
        OpenVinoBackend(xml, input_shapes={'data': [1, 368, 656, 3]})  # NHWC: wrong layout
    with pytest.raises(RuntimeError, match=r"input_shapes names \['image'\]"):
        OpenVinoBackend(xml, input_shapes={'image': [1, 3, 368, 656]})
    broken = tmp_path / 'broken.xml'
    broken.write_text('<net version="10"><layers>')
    broken.with_suffix('.bin').write_bytes(b'')
    with pytest.raises(RuntimeError, match='OpenVINO cannot read the model'):
        OpenVinoBackend(str(broken))


def test_backend_runs_onnx_too():
    """The mobilenet_thin ONNX model on OpenVINO matches ONNX Runtime (f32)."""
    from pose_estimation_ros.core.backends.onnxruntime_backend import OnnxRuntimeBackend

    x = photo_tensor(PHOTOS[0], 368, 432).transpose(0, 2, 3, 1).copy()
    ov = OpenVinoBackend(str(MODEL), precision_hint='f32', num_threads=2,
                         input_shapes={'image': [1, 368, 432, 3]})
    ort = OnnxRuntimeBackend(str(MODEL), intra_op_num_threads=2)
    name = 'Openpose/concat_stage7'
    got, want = ov.run({'image': x})[name], ort.run({'image': x})[name]
    assert got.shape == want.shape == (1, 46, 54, 57)
    assert np.abs(got - want).max() < 1e-3


# ------------------------------------------------------------------ the converter

@pytest.fixture(scope='module')
def converted():
    return openvino_ir.convert_ir(openvino_ir.read_ir(require_hpe()), 'uint8')


def test_converter_matches_openvino_on_real_photos(converted, capsys):
    """ONNX Runtime on the converted model vs OpenVINO on the IR (f32 precision hint).

    Measured: max abs difference 0.17-0.38 at isolated cells (OpenVINO's INT8 kernels
    round a few activations to the neighbouring code), mean 0.0012; heatmaps and PAFs
    span 0..1 and -1..1. Agreement in keypoint AP: test_accuracy.py."""
    for photo in PHOTOS:
        image = cv2.imread(str(photo))
        figures = openvino_ir.compare_with_openvino(converted, HPE_XML, image,
                                                    sizes=((368, 656), (256, 456)))
        with capsys.disabled():
            print(f'\n{photo.name}: ' + json.dumps(figures))
        for size in figures.values():
            for name, f in size.items():
                assert f['max_abs_diff'] < 0.5, (photo.name, name, f)
                assert f['mean_abs_diff'] < 0.004, (photo.name, name, f)


def test_converter_folds_fake_quantize_into_int8_weights_and_qdq(converted):
    ops = [n.op_type for n in converted.graph.node]
    assert ops.count('Conv') == 58 and 'FakeQuantize' not in ops
    # Every convolution's weights are int8 (with int8 zero points), dequantized per
    # output channel; biases are int32 where the input is quantized per tensor.
    int8 = {i.name for i in converted.graph.initializer if i.data_type == 3}  # INT8
    assert len([n for n in int8 if n.endswith('/weights_int8')]) == 58
    assert any(i.data_type == 6 for i in converted.graph.initializer)  # INT32 biases
    assert ops.count('QuantizeLinear') > 40 and ops.count('Round') == 14
    assert [o.name for o in converted.graph.output] == ['Mconv7_stage2_L1', 'Mconv7_stage2_L2']
    float_model = openvino_ir.convert_ir(openvino_ir.read_ir(HPE_XML), 'float')
    assert 'QuantizeLinear' not in [n.op_type for n in float_model.graph.node]


def test_installed_onnx_sidecar_records_the_check_against_openvino():
    info = json.loads(openvino_ir.sidecar_path(HPE_ONNX).read_text())
    assert info['quantization'] == 'uint8'
    assert info['source_sha256'] == openvino_ir.HPE_FILES[HPE_XML.name][1]
    assert info['onnx_sha256'] == openvino_ir.file_sha256(HPE_ONNX)
    assert info['verification']['against_openvino'], 'set-up did not verify the conversion'


def test_files_with_a_wrong_checksum_are_refused(tmp_path):
    for name in openvino_ir.HPE_FILES:
        (tmp_path / name).write_bytes((REPO / 'models' / name).read_bytes())
    openvino_ir.check_files(tmp_path)  # the real files pass
    xml = tmp_path / HPE_XML.name
    xml.write_bytes(xml.read_bytes().replace(b'levels="256"', b'levels="255"', 1))
    with pytest.raises(ValueError, match='sha256.*expected'):
        openvino_ir.check_files(tmp_path)
    xml.write_bytes(HPE_XML.read_bytes())
    (tmp_path / HPE_XML.with_suffix('.bin').name).unlink()
    with pytest.raises(FileNotFoundError, match='omz_downloader'):
        openvino_ir.check_files(tmp_path)


def test_converter_refuses_unknown_operations(tmp_path):
    xml = tmp_path / 'm.xml'
    xml.write_text('<net name="m" version="10"><layers>'
                   '<layer id="0" name="x" type="Parameter" version="opset1">'
                   '<data element_type="f32" shape="1,3,8,8"/><output><port id="0"/></output>'
                   '</layer><layer id="1" name="s" type="Softmax" version="opset1">'
                   '<input><port id="0"/></input><output><port id="1"/></output></layer>'
                   '</layers><edges><edge from-layer="0" from-port="0" to-layer="1" '
                   'to-port="0"/></edges></net>')
    xml.with_suffix('.bin').write_bytes(b'')
    with pytest.raises(ValueError, match=r"unsupported OpenVINO operations \['Softmax'\]"):
        openvino_ir.read_ir(xml)


# ------------------------------------------------------------------ the auto rule

AUTO_SCRIPT = textwrap.dedent('''
    import sys
    if sys.argv[1] == 'without':
        sys.modules['openvino'] = None  # makes "import openvino" raise ImportError
    from pose_estimation_ros.core.backends.choice import create_backend
    from pose_estimation_ros.core.models import default_model
    backend, reason = create_backend('auto', sys.argv[2])
    chosen = default_model(sys.argv[3] + '/config', sys.argv[3] + '/models')
    print(backend.name)
    print(reason)
    print(chosen.params_file.name)
    print(chosen.reason)
''')


def _auto(mode: str) -> list[str]:
    result = subprocess.run([sys.executable, '-c', AUTO_SCRIPT, mode, str(MODEL), str(REPO)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_auto_picks_openvino_when_installed():
    usable, why = openvino_available()
    assert usable and why.startswith('OpenVINO ')
    name, reason, params, model_reason = _auto('with')
    assert name == 'openvino'
    assert reason.startswith('backend auto: no TensorRT (Python package "tensorrt" is not '
                             'installed); OpenVINO ') and 'using OpenVINO' in reason
    assert params == 'human_pose_estimation_0001.yaml'
    assert 'human-pose-estimation-0001 (INT8 IR) on OpenVINO' in model_reason


def test_auto_falls_back_to_onnxruntime_without_openvino():
    name, reason, params, model_reason = _auto('without')
    assert name == 'onnxruntime'
    assert 'OpenVINO cannot be imported' in reason and 'using ONNX Runtime' in reason
    assert params == 'mobilenet_thin.yaml'
    assert model_reason.startswith('model mobilenet_thin (fallback): OpenVINO is not installed')


def test_default_model_falls_back_without_the_files(tmp_path):
    chosen = default_model(REPO / 'config', tmp_path)
    assert chosen.params_file == REPO / 'config' / 'mobilenet_thin.yaml'
    assert 'not installed' in chosen.reason and 'README' in chosen.reason
    (tmp_path / HPE_XML.name).write_bytes(b'<net/>')  # the .xml without its .bin
    assert default_model(REPO / 'config', tmp_path).params_file.name == 'mobilenet_thin.yaml'
    chosen = default_model(REPO / 'config', REPO / 'models')
    assert chosen.params_file.name == 'human_pose_estimation_0001.yaml'
    assert chosen.model_file == HPE_XML


def test_bare_model_names_are_looked_up_in_the_models_directory(tmp_path):
    assert resolve_model_path('human-pose-estimation-0001.xml', REPO / 'models') == str(HPE_XML)
    assert resolve_model_path(str(MODEL), tmp_path) == str(MODEL)  # absolute: as given
    assert resolve_model_path('', tmp_path) == ''


def test_a_model_given_alone_gets_its_own_parameters_file(tmp_path):
    from pose_estimation_ros.core.models import params_file_for

    assert params_file_for(HPE_XML, tmp_path).name == 'human_pose_estimation_0001.yaml'
    assert params_file_for(HPE_ONNX, tmp_path).name == 'human_pose_estimation_0001.yaml'
    assert params_file_for(MODEL, tmp_path).name == 'mobilenet_thin.yaml'


def test_runner_without_a_parameters_file_runs_the_default_model(capfd):
    """The single-process runner adds the default model's installed parameters file."""
    from pose_estimation_ros.nodes.pose_estimation import with_default_params_file

    args = with_default_params_file(['pose_estimation', '-r', 'image:=/camera'])
    assert args[:3] == ['pose_estimation', '-r', 'image:=/camera']
    assert args[3:5] == ['--ros-args', '--params-file']
    assert args[5].endswith('share/pose_estimation_ros/config/human_pose_estimation_0001.yaml')
    assert 'human-pose-estimation-0001 (INT8 IR) on OpenVINO' in capfd.readouterr().err
    given = ['pose_estimation', '--ros-args', '--params-file', 'mine.yaml']
    assert with_default_params_file(given) == given


def test_int8_weights_are_exactly_the_fake_quantized_weights():
    """For every weight FakeQuantize of the real IR, the int8 values times their
    per-channel scale equal FakeQuantize's own output (OpenVINO's opset1 formula)."""
    graph = openvino_ir.read_ir(require_hpe())
    checked = 0
    for layer in graph.layers.values():
        source = graph.layers[layer.inputs[0][0]] if layer.inputs else None
        if layer.type != 'FakeQuantize' or source.type != 'Convert':
            continue
        weights = graph.consts[source.inputs[0][0]].astype(np.float32)
        ranges = [graph.consts[s] for s, _ in layer.inputs[1:]]
        levels = int(layer.data['levels'])
        quantized = openvino_ir._weight_int8([weights, *ranges], levels)
        assert quantized is not None, layer.name  # symmetric: representable as int8
        scale = quantized.scale.reshape(-1, *([1] * (weights.ndim - 1)))
        expected = openvino_ir.fake_quantize(weights, *ranges, levels)
        np.testing.assert_allclose(quantized.values * scale, expected, rtol=1e-5, atol=1e-6)
        checked += 1
    assert checked == 58
