"""OpenVINO inference backend: OpenVINO IR (``.xml`` + ``.bin``) and ONNX models on Intel
CPUs (INT8/bf16 kernels where the CPU has them), Intel GPUs or OpenVINO's ``AUTO``.

The model is reshaped to ``input_shapes`` (the encoder's tensor shape) before it is
compiled, so a model saved for another input size (the Open Model Zoo IR is 456x256)
runs at the configured one with static shapes. Float16 inputs and outputs of an IR are
presented as float32 (OpenVINO converts inside the compiled model), so the encoder and
the decoder need not know how the IR stores its precision.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from pose_estimation_ros.core.inference import InferenceBackend, TensorInfo, check_model_file

# OpenVINO's INFERENCE_PRECISION_HINT values offered ('' leaves the device's default:
# bf16 on CPUs with AMX / AVX-512 BF16, else f32).
PRECISION_HINTS = ('', 'f32', 'bf16', 'f16')
# Devices that are OpenVINO plugins composing others, not hardware.
VIRTUAL_DEVICES = ('AUTO', 'MULTI', 'HETERO', 'BATCH')


def import_openvino():
    """The openvino module, or RuntimeError saying what to install."""
    try:
        import openvino
    except ImportError as e:
        raise RuntimeError(f'backend "openvino" needs the openvino Python package and it '
                           f'cannot be imported ({e}): pip install openvino, or set backend '
                           f'to "onnxruntime"') from e
    return openvino


def model_files(model_file_path: str) -> tuple[str, str | None]:
    """(model, weights): an IR's ``.xml`` needs its ``.bin`` beside it; ONNX has none."""
    check_model_file(model_file_path)
    if os.path.splitext(model_file_path)[1].lower() != '.xml':
        return model_file_path, None
    weights = os.path.splitext(model_file_path)[0] + '.bin'
    check_model_file(weights, 'OpenVINO IR weights file (.bin beside the .xml)')
    return model_file_path, weights


class OpenVinoBackend(InferenceBackend):
    """An OpenVINO compiled model and one infer request (latency hint).

    ``device``: ``CPU``, ``GPU`` (Intel graphics), ``AUTO`` or any device OpenVINO lists.
    ``precision_hint``: one of :data:`PRECISION_HINTS` (layers quantized in the model,
    e.g. an INT8 IR's, stay INT8 whatever the hint). ``num_threads``: CPU inference
    threads (0: OpenVINO decides). ``input_shapes`` {input name: shape} reshapes the
    model before compiling; a shape that does not fit is a RuntimeError naming it.
    """

    name = 'openvino'

    def __init__(self, model_file_path: str, device: str = 'CPU', precision_hint: str = '',
                 num_threads: int = 0,
                 input_shapes: Mapping[str, Sequence[int]] | None = None):
        ov = import_openvino()
        if precision_hint not in PRECISION_HINTS:
            raise ValueError(f'OpenVINO precision hint must be one of '
                             f'{", ".join(repr(h) for h in PRECISION_HINTS)}; got '
                             f'{precision_hint!r}')
        if int(num_threads) < 0:
            raise ValueError(f'OpenVINO thread count must be >= 0; got {num_threads}')
        model_path, weights_path = model_files(model_file_path)
        core = ov.Core()
        available = list(core.available_devices)
        base = str(device).split(':')[0].split('.')[0]
        if base not in VIRTUAL_DEVICES and not any(d.split('.')[0] == base
                                                   for d in available):
            raise ValueError(f'OpenVINO has no device {device!r} here; available: '
                             f'{available} (or AUTO)')
        try:
            model = core.read_model(model_path, weights_path)
        except Exception as e:  # OpenVINO raises its own RuntimeError subclasses
            raise RuntimeError(f'OpenVINO cannot read the model {model_path} (cannot load the '
                               f'model: not an ONNX model or OpenVINO IR, or damaged: set '
                               f'model_file_path to one): {e}') from e
        self.model_file_path = model_path
        if input_shapes:
            self._reshape(ov, model, input_shapes)
        model = self._float32_interface(ov, model)
        config: dict[str, object] = {'PERFORMANCE_HINT': 'LATENCY'}
        if precision_hint:
            config['INFERENCE_PRECISION_HINT'] = precision_hint
        if int(num_threads) and base == 'CPU':
            config['INFERENCE_NUM_THREADS'] = int(num_threads)
        try:
            self._compiled = core.compile_model(model, device, config)
        except Exception as e:
            raise RuntimeError(f'OpenVINO cannot compile {model_path} for {device} '
                               f'({config}): {e}') from e
        self._request = self._compiled.create_infer_request()
        self.inputs = [_port_info(p) for p in self._compiled.inputs]
        self.outputs = [_port_info(p) for p in self._compiled.outputs]
        # The device's actual precision (the hint's effect), for the log.
        try:
            hint = self._compiled.get_property('INFERENCE_PRECISION_HINT')
            precision = getattr(hint, 'type_name', None) or str(hint)
        except Exception:  # not every device reports it
            precision = precision_hint or 'device default'
        self.description = (f'OpenVINO {ov.__version__} on {device} (precision '
                            f'{precision}, threads {int(num_threads) or "auto"})')

    @staticmethod
    def _reshape(ov, model, input_shapes: Mapping[str, Sequence[int]]):
        names = {name: port for port in model.inputs for name in port.get_names()}
        unknown = sorted(set(input_shapes) - set(names))
        if unknown:
            raise RuntimeError(f'input_shapes names {unknown} are not model inputs '
                               f'({sorted(names)})')
        shapes = {names[name]: ov.PartialShape([int(d) for d in shape])
                  for name, shape in input_shapes.items()}
        try:
            model.reshape(shapes)
        except Exception as e:
            wanted = {name: list(shape) for name, shape in input_shapes.items()}
            have = {port.get_any_name(): str(port.get_partial_shape())
                    for port in model.inputs}
            raise RuntimeError(f'the model cannot be reshaped to {wanted} (its inputs: '
                               f'{have}): set the input shape (input_shape, in the model\'s '
                               f'layout) to the encoder\'s tensor shape; OpenVINO said: '
                               f'{str(e).strip().splitlines()[0]}') from e

    @staticmethod
    def _float32_interface(ov, model):
        """f16 inputs/outputs become f32 tensors (converted inside the compiled model)."""
        from openvino.preprocess import PrePostProcessor

        f16 = ov.Type.f16
        ppp, changed = PrePostProcessor(model), False
        for i, port in enumerate(model.inputs):
            if port.get_element_type() == f16:
                ppp.input(i).tensor().set_element_type(ov.Type.f32)
                changed = True
        for i, port in enumerate(model.outputs):
            if port.get_element_type() == f16:
                ppp.output(i).tensor().set_element_type(ov.Type.f32)
                changed = True
        return ppp.build() if changed else model

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._check_input_names(inputs)
        try:
            for i, info in enumerate(self.inputs):
                self._request.set_input_tensor(i, _ov_tensor(inputs[info.name]))
            self._request.infer()
            # The request's output buffers are reused by the next inference: copy.
            return {info.name: self._request.get_output_tensor(i).data.copy()
                    for i, info in enumerate(self.outputs)}
        except Exception as e:
            raise RuntimeError(f'OpenVINO failed to run {self.model_file_path}: {e}') from e

    def close(self):
        self._request = self._compiled = None


def _ov_tensor(array: np.ndarray):
    from openvino import Tensor

    # shared_memory: no copy of a C-contiguous array (the encoder makes one); OpenVINO
    # shares only writeable memory, so a read-only view of a message buffer is copied.
    array = np.ascontiguousarray(array)
    return Tensor(array, shared_memory=bool(array.flags.writeable))


def _port_info(port) -> TensorInfo:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return TensorInfo(port.get_any_name(), shape, np.dtype(port.get_element_type().to_dtype()))
