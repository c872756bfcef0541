"""ONNX Runtime inference backend: CUDA execution provider when present, else CPU."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pose_estimation_ros.core.inference import InferenceBackend, TensorInfo, check_model_file

_ORT_TYPES = {
    'tensor(float)': np.float32, 'tensor(float16)': np.float16, 'tensor(double)': np.float64,
    'tensor(int8)': np.int8, 'tensor(uint8)': np.uint8, 'tensor(int16)': np.int16,
    'tensor(uint16)': np.uint16, 'tensor(int32)': np.int32, 'tensor(uint32)': np.uint32,
    'tensor(int64)': np.int64, 'tensor(uint64)': np.uint64, 'tensor(bool)': np.bool_,
}


class OnnxRuntimeBackend(InferenceBackend):
    """ONNX Runtime session: CUDA execution provider when present, else CPU.

    ``providers`` (e.g. ``['CPUExecutionProvider']``) overrides the choice; a provider
    this onnxruntime build lacks is an error rather than a silent fallback.
    ``intra_op_num_threads`` / ``inter_op_num_threads``: 0 lets ONNX Runtime decide.
    """

    name = 'onnxruntime'

    def __init__(self, model_file_path: str, intra_op_num_threads: int = 0,
                 inter_op_num_threads: int = 0, providers: Sequence | None = None,
                 device_id: int = 0):
        import onnxruntime as ort

        check_model_file(model_file_path)
        available = ort.get_available_providers()
        if providers is None:
            providers = [('CUDAExecutionProvider', {'device_id': int(device_id)})] \
                if 'CUDAExecutionProvider' in available else []
            providers.append('CPUExecutionProvider')
        else:
            providers = list(providers)
            unknown = [p for p in providers
                       if (p[0] if isinstance(p, tuple) else p) not in available]
            if unknown:
                raise ValueError(f'onnxruntime {ort.__version__} has no execution provider '
                                 f'{unknown}; available: {available}')
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(intra_op_num_threads)
        options.inter_op_num_threads = int(inter_op_num_threads)
        try:
            self._session = ort.InferenceSession(model_file_path, sess_options=options,
                                                 providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types
            raise RuntimeError(f'ONNX Runtime cannot load the model {model_file_path} '
                               f'(not an ONNX model, or damaged: set model_file_path to '
                               f'an ONNX file, e.g. from tools/get_model): {e}') from e
        self.model_file_path = model_file_path
        self.providers = self._session.get_providers()
        self.description = f'ONNX Runtime {ort.__version__} ({", ".join(self.providers)})'
        self.inputs = [_ort_info(node, 'input') for node in self._session.get_inputs()]
        self.outputs = [_ort_info(node, 'output') for node in self._session.get_outputs()]
        self._output_names = [info.name for info in self.outputs]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._check_input_names(inputs)
        feed = {info.name: inputs[info.name] for info in self.inputs}
        try:
            values = self._session.run(self._output_names, feed)
        except Exception as e:
            raise RuntimeError(f'ONNX Runtime failed to run {self.model_file_path}: {e}') \
                from e
        return dict(zip(self._output_names, values))


def _ort_info(node, kind: str) -> TensorInfo:
    dtype = _ORT_TYPES.get(node.type)
    if dtype is None:
        raise RuntimeError(f'model {kind} "{node.name}" has type {node.type}, which this '
                           f'node cannot carry; supported: {", ".join(_ORT_TYPES)}')
    # ONNX Runtime reports a dynamic dim as its symbolic name (str) or None.
    shape = tuple((d if d >= 0 else None) if isinstance(d, int) else (d or None)
                  for d in node.shape)
    return TensorInfo(node.name, shape, np.dtype(dtype))


