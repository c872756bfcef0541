"""The choice of inference backend: ``create_backend`` and the ``auto`` rule.

``auto``: TensorRT where it and a CUDA GPU are usable (Jetson, NVIDIA desktops), else
OpenVINO where it is installed (fastest on Intel/AMD CPUs, INT8 and bf16 kernels), else
ONNX Runtime. The reason for the choice is returned so that the caller can log it.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence

from pose_estimation_ros.core.inference import InferenceBackend

BACKENDS = ('auto', 'tensorrt', 'openvino', 'onnxruntime')


def tensorrt_available() -> tuple[bool, str]:
    """(usable, why): TensorRT and pycuda importable and a CUDA device present."""
    for module in ('tensorrt', 'pycuda'):
        if importlib.util.find_spec(module) is None:
            return False, f'Python package "{module}" is not installed'
    try:
        import pycuda.driver as cuda
        import tensorrt as trt
    except (ImportError, OSError) as e:  # e.g. a shared library is missing
        return False, f'TensorRT/pycuda cannot be imported: {e}'
    try:
        cuda.init()
        count = cuda.Device.count()
    except (cuda.Error, RuntimeError, OSError) as e:  # no driver or no GPU
        return False, f'CUDA unusable: {e}'
    if count == 0:
        return False, 'no CUDA device found'
    return True, f'TensorRT {trt.__version__} and {count} CUDA device(s) found'


def openvino_available() -> tuple[bool, str]:
    """(usable, why): the openvino Python package imports."""
    try:
        import openvino
    except (ImportError, OSError) as e:  # not installed, or a shared library is missing
        return False, f'OpenVINO cannot be imported ({e})'
    return True, f'OpenVINO {openvino.__version__} installed'


def auto_backend() -> tuple[str, str]:
    """(backend name, why) of the ``auto`` rule."""
    usable, why_not_trt = tensorrt_available()
    if usable:
        return 'tensorrt', why_not_trt
    usable, why = openvino_available()
    if usable:
        return 'openvino', f'no TensorRT ({why_not_trt}); {why}'
    return 'onnxruntime', f'no TensorRT ({why_not_trt}); {why}'


def create_backend(backend: str, model_file_path: str = '', *, engine_file_path: str = '',
                   force_engine_update: bool = False, enable_fp16: bool = False,
                   max_workspace_size: int = 1 << 30, device_id: int = 0,
                   input_shapes: Mapping[str, Sequence[int]] | None = None,
                   intra_op_num_threads: int = 0, inter_op_num_threads: int = 0,
                   providers: Sequence | None = None, openvino_device: str = 'CPU',
                   openvino_precision_hint: str = '', openvino_num_threads: int = 0
                   ) -> tuple[InferenceBackend, str]:
    """Create a backend; returns it and a human-readable reason for the choice.

    ``backend``: 'tensorrt', 'openvino', 'onnxruntime' or 'auto' (see the module
    docstring). Each backend ignores the others' options (``device_id`` serves TensorRT
    and ONNX Runtime's CUDA provider). ``input_shapes`` {input name: shape}: TensorRT's
    profile for dynamic dims; OpenVINO reshapes the model to it.
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {", ".join(BACKENDS)}; got {backend!r}')
    if backend == 'auto':
        backend, why = auto_backend()
        reason = f'backend auto: {why}'
    else:
        reason = f'backend {backend} requested'
    result: InferenceBackend
    if backend == 'tensorrt':
        from pose_estimation_ros.core.backends.tensorrt_backend import TensorRTBackend

        result = TensorRTBackend(model_file_path, engine_file_path,
                                 force_engine_update=force_engine_update,
                                 enable_fp16=enable_fp16,
                                 max_workspace_size=max_workspace_size,
                                 device_id=device_id, input_shapes=input_shapes)
    elif backend == 'openvino':
        from pose_estimation_ros.core.backends.openvino_backend import OpenVinoBackend

        result = OpenVinoBackend(model_file_path, device=openvino_device,
                                 precision_hint=openvino_precision_hint,
                                 num_threads=openvino_num_threads, input_shapes=input_shapes)
    else:
        from pose_estimation_ros.core.backends.onnxruntime_backend import OnnxRuntimeBackend

        result = OnnxRuntimeBackend(model_file_path, intra_op_num_threads,
                                    inter_op_num_threads, providers, device_id)
    return result, f'{reason}; using {result.description}'
