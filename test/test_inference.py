"""Inference core: ONNX Runtime backend on small synthetic ONNX models, name mapping,
layout conversion, the errors, and backend selection.

TensorRT cannot be installed here (no GPU): the only TensorRT behaviour tested is that
asking for it fails clearly, that its module imports without it, and its engine-cache
bookkeeping (plain files). The TensorRT execution path itself is NOT tested.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np
import onnx_models
import pytest

from pose_estimation_ros.core.backends import tensorrt_backend
from pose_estimation_ros.core.backends.choice import create_backend
from pose_estimation_ros.core.backends.onnxruntime_backend import OnnxRuntimeBackend
from pose_estimation_ros.core.encoder import ImageEncoder, ImageEncoderConfig
from pose_estimation_ros.core.inference import (
    TensorInfo,
    check_mapping,
    file_sha256,
    name_mapping,
    prepare_inputs,
    rename_outputs,
)

DATA = Path(__file__).resolve().parents[1].parent / 'shared' / 'data'
FRAMES = sorted((DATA / 'video').glob('*.jpg'))
HAVE_TENSORRT = importlib.util.find_spec('tensorrt') is not None
TRT_POSE_OUTPUTS = ['part_affinity_fields', 'heatmap', 'maxpool_heatmap']


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    """Paths of the synthetic models, written once per module."""
    folder = tmp_path_factory.mktemp('models')
    return {
        'trt_pose': onnx_models.save(onnx_models.trt_pose_isaac_model(224, 224),
                                     folder / 'trt_pose.onnx'),
        'affine': onnx_models.save(onnx_models.affine_model(dynamic=True),
                                   folder / 'affine.onnx'),
        'nhwc': onnx_models.save(onnx_models.nhwc_model(6, 5), folder / 'nhwc.onnx'),
        'difference': onnx_models.save(onnx_models.difference_model(),
                                       folder / 'difference.onnx'),
        'string': onnx_models.save(onnx_models.string_model(), folder / 'string.onnx'),
    }


@pytest.fixture(scope='module')
def trt_pose(models):
    return OnnxRuntimeBackend(str(models['trt_pose']), intra_op_num_threads=1)


# ------------------------------------------------------------ ONNX Runtime backend

def test_trt_pose_signature(trt_pose):
    assert trt_pose.name == 'onnxruntime'
    assert 'CPUExecutionProvider' in trt_pose.providers
    assert trt_pose.inputs == [TensorInfo('input', (1, 3, 224, 224), np.dtype(np.float32))]
    assert [o.name for o in trt_pose.outputs] == TRT_POSE_OUTPUTS
    assert [o.shape for o in trt_pose.outputs] == [(1, 56, 56, 42), (1, 56, 56, 18),
                                                   (1, 56, 56, 18)]
    assert all(o.dtype == np.float32 for o in trt_pose.outputs)


@pytest.mark.parametrize('frame', FRAMES[:2], ids=lambda p: p.name)
def test_trt_pose_model_on_encoded_real_frames(trt_pose, frame):
    """Encoder -> mapping -> ONNX Runtime on real frames, checked against numpy."""
    encoder = ImageEncoder(ImageEncoderConfig(
        network_image_width=224, network_image_height=224, normalization_type='unit',
        channel_order='rgb', tensor_layout='nchw', tensor_name='image'))
    tensor, _ = encoder.encode(cv2.imread(str(frame)), 'bgr8')
    inputs = prepare_inputs({'image': tensor}, trt_pose.inputs, {'image': 'input'})
    outputs = rename_outputs(trt_pose.run(inputs), trt_pose.outputs)
    expected = onnx_models.trt_pose_isaac_reference(tensor)
    assert list(outputs) == TRT_POSE_OUTPUTS
    for name in TRT_POSE_OUTPUTS:
        assert outputs[name].dtype == np.float32
        np.testing.assert_allclose(outputs[name], expected[name], atol=2e-5, rtol=1e-4)
    # Not a flat function: the maps vary across the picture.
    assert outputs['heatmap'].std() > 0.01 and outputs['part_affinity_fields'].std() > 0.01
    np.testing.assert_array_less(outputs['heatmap'] - 1e-7, outputs['maxpool_heatmap'])


def test_dynamic_dims_accept_any_size(models):
    backend = OnnxRuntimeBackend(str(models['affine']))
    assert backend.inputs[0].shape == ('batch', 3, 'height', 'width')
    for shape in [(1, 3, 4, 5), (2, 3, 7, 3)]:
        x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        y = backend.run(prepare_inputs({'x': x}, backend.inputs))['y']
        np.testing.assert_allclose(y, 2 * x + 1, rtol=1e-6)


def test_explicit_cpu_provider_and_threads(models):
    backend = OnnxRuntimeBackend(str(models['difference']), intra_op_num_threads=1,
                                 inter_op_num_threads=1, providers=['CPUExecutionProvider'])
    assert backend.providers == ['CPUExecutionProvider']
    assert 'CPUExecutionProvider' in backend.description


def test_unknown_provider_is_an_error(models):
    with pytest.raises(ValueError, match='no execution provider.*NoSuchExecutionProvider'):
        OnnxRuntimeBackend(str(models['difference']), providers=['NoSuchExecutionProvider'])


def test_run_names_missing_inputs(models):
    backend = OnnxRuntimeBackend(str(models['difference']))
    with pytest.raises(ValueError, match=r"no array for model input\(s\) \['b'\]"):
        backend.run({'a': np.zeros((1, 4), np.float32)})


def test_run_wraps_runtime_failures(models):
    backend = OnnxRuntimeBackend(str(models['difference']))
    with pytest.raises(RuntimeError, match='ONNX Runtime failed to run .*difference.onnx'):
        backend.run({'a': np.zeros((1, 5), np.float32), 'b': np.zeros((1, 5), np.float32)})


# ------------------------------------------------------------ model file errors

def test_missing_model_file(tmp_path):
    path = tmp_path / 'nowhere' / 'model.onnx'
    with pytest.raises(RuntimeError, match=f'model file not found.*{path}'):
        OnnxRuntimeBackend(str(path))
    with pytest.raises(RuntimeError, match='not a file'):
        OnnxRuntimeBackend(str(tmp_path))
    with pytest.raises(RuntimeError, match='path is empty'):
        OnnxRuntimeBackend('')


@pytest.mark.parametrize('content', [b'', b'this is not a protobuf'], ids=['empty', 'text'])
def test_unparsable_model_file(tmp_path, content):
    path = tmp_path / 'broken.onnx'
    path.write_bytes(content)
    with pytest.raises(RuntimeError, match=f'ONNX Runtime cannot load the model {path}'):
        OnnxRuntimeBackend(str(path))


def test_truncated_model_file(tmp_path, models):
    path = tmp_path / 'truncated.onnx'
    path.write_bytes(models['trt_pose'].read_bytes()[:500])
    with pytest.raises(RuntimeError, match=f'cannot load the model {path}'):
        OnnxRuntimeBackend(str(path))


@pytest.mark.skipif(os.name != 'posix' or os.geteuid() == 0,
                    reason='root reads any file: permissions cannot be tested as root')
def test_unreadable_model_file(tmp_path, models):
    path = tmp_path / 'secret.onnx'
    path.write_bytes(models['difference'].read_bytes())
    path.chmod(0)
    with pytest.raises(RuntimeError, match=f'not readable.*{path}'):
        OnnxRuntimeBackend(str(path))


def test_model_with_unsupported_input_type(models):
    with pytest.raises(RuntimeError, match=r'model input "text" has type tensor\(string\)'):
        OnnxRuntimeBackend(str(models['string']))


# ------------------------------------------------------------ name mapping

def test_name_mapping_pairs_lists():
    assert name_mapping(['left', 'right'], ['a', 'b']) == {'left': 'a', 'right': 'b'}
    assert name_mapping([], []) is None  # same names
    with pytest.raises(ValueError, match='input_tensor_names has 2 names but '
                                         'input_binding_names has 1'):
        name_mapping(['left', 'right'], ['a'])
    with pytest.raises(ValueError, match=r"output_binding_names repeats \['a'\]"):
        name_mapping(['x', 'y'], ['a', 'a'], 'output')


def test_mapping_routes_tensors_to_bindings(models):
    backend = OnnxRuntimeBackend(str(models['difference']))
    left = np.array([[10, 20, 30, 40]], np.float32)
    right = np.array([[1, 2, 3, 4]], np.float32)
    tensors = {'left': left, 'right': right, 'unused': np.zeros(3)}
    straight = prepare_inputs(tensors, backend.inputs, {'left': 'a', 'right': 'b'})
    swapped = prepare_inputs(tensors, backend.inputs, {'left': 'b', 'right': 'a'})
    np.testing.assert_array_equal(backend.run(straight)['difference'], left - right)
    np.testing.assert_array_equal(backend.run(swapped)['difference'], right - left)
    renamed = rename_outputs(backend.run(straight), backend.outputs, {'delta': 'difference'})
    assert list(renamed) == ['delta']


def test_unknown_binding_lists_the_model_inputs(models):
    backend = OnnxRuntimeBackend(str(models['difference']))
    with pytest.raises(ValueError, match=r"binding name\(s\) \['c'\] are not inputs of the "
                                         r"model; its inputs are: \['a', 'b'\]"):
        prepare_inputs({'x': np.zeros((1, 4), np.float32)}, backend.inputs,
                       {'x': 'a', 'y': 'c'})


def test_unfed_model_input_is_named(models):
    backend = OnnxRuntimeBackend(str(models['difference']))
    with pytest.raises(ValueError, match=r"model input\(s\) \['b'\] get no tensor"):
        check_mapping({'x': 'a'}, backend.inputs)


def test_missing_message_tensor_lists_what_is_there(trt_pose):
    tensor = np.zeros((1, 3, 224, 224), np.float32)
    with pytest.raises(ValueError) as error:
        prepare_inputs({'image': tensor}, trt_pose.inputs)  # identity: needs "input"
    message = str(error.value)
    assert 'no tensor "input" in the message' in message
    assert "it has ['image']" in message and 'input (1,3,224,224) float32' in message
    assert 'input_tensor_names' in message


def test_unknown_output_binding(trt_pose):
    with pytest.raises(ValueError, match=r"\['heatmaps'\] are not outputs of the model; "
                                         r"its outputs are: \['part_affinity_fields', "
                                         r"'heatmap', 'maxpool_heatmap'\]"):
        check_mapping({'maps': 'heatmaps'}, trt_pose.outputs, 'output')


# ------------------------------------------------------------ shapes, layout, dtype

def test_layout_conversion_nchw_to_nhwc(models):
    backend = OnnxRuntimeBackend(str(models['nhwc']))
    nchw = np.arange(1 * 3 * 6 * 5, dtype=np.float32).reshape(1, 3, 6, 5)
    inputs = prepare_inputs({'image': nchw}, backend.inputs,
                            layout_conversions={'image': 'nchw_to_nhwc'})
    assert inputs['image'].shape == (1, 6, 5, 3) and inputs['image'].flags.c_contiguous
    np.testing.assert_array_equal(backend.run(inputs)['nchw'], nchw)


def test_layout_conversion_nhwc_to_nchw(trt_pose):
    nhwc = np.random.default_rng(5).random((1, 224, 224, 3), dtype=np.float32)
    inputs = prepare_inputs({'input': nhwc}, trt_pose.inputs,
                            layout_conversions={'input': 'nhwc_to_nchw'})
    np.testing.assert_array_equal(inputs['input'], nhwc.transpose(0, 3, 1, 2))


def test_wrong_layout_suggests_the_conversion(models, trt_pose):
    backend = OnnxRuntimeBackend(str(models['nhwc']))
    with pytest.raises(ValueError) as error:
        prepare_inputs({'image': np.zeros((1, 3, 6, 5), np.float32)}, backend.inputs)
    assert str(error.value).startswith('input "image" has shape (1,3,6,5) but the model input '
                                       '"image" expects (1,6,5,3): set the input layout '
                                       'conversion (input_layout_conversion) to nchw_to_nhwc')
    with pytest.raises(ValueError, match='to nhwc_to_nchw'):
        prepare_inputs({'input': np.zeros((1, 224, 224, 3), np.float32)}, trt_pose.inputs)


def test_wrong_size_and_rank(trt_pose):
    with pytest.raises(ValueError, match=r'\(1,3,368,432\) but the model input "input" expects '
                                         r'\(1,3,224,224\): make the encoder\'s '
                                         r'network_image_width'):
        prepare_inputs({'input': np.zeros((1, 3, 368, 432), np.float32)}, trt_pose.inputs)
    with pytest.raises(ValueError, match=r'rank 3 vs 4'):
        prepare_inputs({'input': np.zeros((3, 224, 224), np.float32)}, trt_pose.inputs)


def test_bad_layout_conversion_requests(trt_pose):
    with pytest.raises(ValueError, match='must be one of nchw_to_nhwc, nhwc_to_nchw'):
        prepare_inputs({'input': np.zeros((1, 3, 224, 224), np.float32)}, trt_pose.inputs,
                       layout_conversions={'input': 'chw'})
    with pytest.raises(ValueError, match='"image", which is not an input tensor name'):
        prepare_inputs({'input': np.zeros((1, 3, 224, 224), np.float32)}, trt_pose.inputs,
                       layout_conversions={'image': 'nchw_to_nhwc'})
    with pytest.raises(ValueError, match='needs a 4-D tensor'):
        prepare_inputs({'input': np.zeros((3, 224, 224), np.float32)}, trt_pose.inputs,
                       layout_conversions={'input': 'nchw_to_nhwc'})


def test_dtype_mismatch_and_unsupported_dtype(trt_pose):
    with pytest.raises(ValueError, match='input "input" is float64 but model input "input" '
                                         'expects float32'):
        prepare_inputs({'input': np.zeros((1, 3, 224, 224))}, trt_pose.inputs)
    with pytest.raises(ValueError, match='input "input": unsupported tensor dtype complex64'):
        prepare_inputs({'input': np.zeros((1, 3, 224, 224), np.complex64)}, trt_pose.inputs)
    with pytest.raises(ValueError, match='unsupported tensor dtype bool'):
        prepare_inputs({'input': np.zeros((1, 3, 224, 224), bool)}, trt_pose.inputs)


def test_uint8_tensors_feed_float_inputs_exactly(trt_pose):
    pixels = np.arange(3 * 224 * 224, dtype=np.int64).reshape(1, 3, 224, 224) % 256
    prepared = prepare_inputs({'input': pixels.astype(np.uint8)}, trt_pose.inputs)['input']
    assert prepared.dtype == np.float32
    np.testing.assert_array_equal(prepared, pixels.astype(np.float32))
    # Other integer types are not widened silently.
    with pytest.raises(ValueError, match='is int16 but model input'):
        prepare_inputs({'input': pixels.astype(np.int16)}, trt_pose.inputs)


# ------------------------------------------------------------ backend selection

# The auto rule with and without OpenVINO: test/test_openvino.py.


def test_onnxruntime_requested(models):
    backend, reason = create_backend('onnxruntime', str(models['affine']),
                                     intra_op_num_threads=1)
    assert backend.name == 'onnxruntime' and 'backend onnxruntime requested' in reason


@pytest.mark.skipif(HAVE_TENSORRT, reason='TensorRT is installed')
def test_tensorrt_requested_without_tensorrt_fails_clearly(models):
    with pytest.raises(RuntimeError, match='backend "tensorrt" needs the tensorrt Python '
                                           'package.*set backend to "onnxruntime"'):
        create_backend('tensorrt', str(models['trt_pose']))
    with pytest.raises(RuntimeError, match='needs the tensorrt Python package'):
        tensorrt_backend.TensorRTBackend(str(models['trt_pose']))


def test_unknown_backend_name():
    with pytest.raises(ValueError, match="backend must be one of auto, tensorrt, "
                                         "openvino, onnxruntime; got 'tflite'"):
        create_backend('tflite', 'model.onnx')


def test_engine_cache_bookkeeping(tmp_path):
    """Plain-file logic of the TensorRT engine cache (no TensorRT involved)."""
    engine = tmp_path / 'cache' / 'model.engine'
    onnx_file = tmp_path / 'model.onnx'
    onnx_file.write_bytes(b'first model')
    stamp = {'onnx_sha256': file_sha256(str(onnx_file)),
             'tensorrt': '10.3.0', 'enable_fp16': True, 'input_shapes': {}}
    assert not tensorrt_backend.engine_cache_is_current(str(engine), stamp)
    tensorrt_backend.write_engine_cache(str(engine), b'plan bytes', stamp)
    assert engine.read_bytes() == b'plan bytes'
    assert tensorrt_backend.engine_cache_is_current(str(engine), stamp)
    assert sorted(p.name for p in engine.parent.iterdir()) == ['model.engine',
                                                               'model.engine.json']
    onnx_file.write_bytes(b'second model')  # the ONNX file changed: engine out of date
    changed = dict(stamp, onnx_sha256=file_sha256(str(onnx_file)))
    assert changed['onnx_sha256'] != stamp['onnx_sha256']
    assert not tensorrt_backend.engine_cache_is_current(str(engine), changed)
    assert not tensorrt_backend.engine_cache_is_current(str(engine),
                                                        dict(stamp, enable_fp16=False))
    engine.unlink()  # a sidecar without its engine is no cache
    assert not tensorrt_backend.engine_cache_is_current(str(engine), stamp)


@pytest.mark.parametrize('params_file, model, size', [
    ('mobilenet_thin.yaml', 'mobilenet_thin.onnx', '432x368'),  # dynamic dimensions
    ('human_pose_estimation_0001.yaml', 'human-pose-estimation-0001.xml', '656x368')])
def test_start_up_measurement_of_the_real_models(params_file, model, size):
    """What the inference node logs at start-up: the time per frame on this machine and the
    rate it allows, at the size the encoder sends (dynamic model dimensions included)."""
    from pose_estimation_ros.core.params import load_parameters_file
    from pose_estimation_ros.core.pipeline import SLOW_INFERENCE, InferenceStage

    repo = Path(__file__).resolve().parents[1]
    values = load_parameters_file(repo / 'config' / params_file)['inference']
    values['model_file_path'] = str(repo / 'models' / model)
    if not Path(values['model_file_path']).is_file():
        pytest.fail(f'{values["model_file_path"]} missing: run scripts/setup.sh')
    stage = InferenceStage(values)
    try:
        seconds = stage.time_per_frame()
        assert seconds is not None and 0 < seconds < 30
        report = stage.speed_report(seconds)
        assert report.startswith(f'inference of {size} on ')
        assert f'{seconds * 1e3:.0f} ms per frame, at most {1 / seconds:.1f} Hz' in report
        assert ('faster' in report) == (seconds > SLOW_INFERENCE)
        assert 'smaller network image' in stage.speed_report(2 * SLOW_INFERENCE)
    finally:
        stage.close()
