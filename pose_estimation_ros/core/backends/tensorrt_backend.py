"""TensorRT inference backend (TensorRT >= 8.5 name-based tensor API, pycuda buffers).

NOT RUN: this module was written against TensorRT's documented Python API
(``get_tensor_name`` / ``get_tensor_mode`` / ``get_tensor_shape`` / ``set_input_shape``
/ ``set_tensor_address`` / ``execute_async_v3``) on a machine without TensorRT, pycuda
or a GPU. The project's tests check that it imports without them, that it fails with a
clear RuntimeError there, the engine-cache bookkeeping (pure Python), and type-check it
with mypy against TensorRT 10.13's API stubs (PyPI ``tensorrt-stubs``), so a misspelt
or removed TensorRT call fails a test. Run it on a Jetson / CUDA machine before relying
on it.

Importable without tensorrt/pycuda: they are imported when a backend is created (each
method imports ``tensorrt`` itself, so that the type checker sees the module's types).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pose_estimation_ros.core.inference import (
    InferenceBackend,
    TensorInfo,
    check_model_file,
)

if TYPE_CHECKING:  # the stubs (tensorrt-stubs) type the TensorRT objects for mypy
    import tensorrt as trt_types

MIN_TENSORRT = (8, 5)


def _dims(dims) -> tuple[int, ...]:
    """A TensorRT Dims as a tuple (indexing works in every TensorRT >= 8.5)."""
    return tuple(int(dims[i]) for i in range(len(dims)))


def import_tensorrt():
    """(tensorrt, pycuda.driver), or RuntimeError saying what to install."""
    try:
        import tensorrt as trt
    except ImportError as e:
        raise RuntimeError(f'backend "tensorrt" needs the tensorrt Python package '
                           f'(TensorRT >= 8.5) and it cannot be imported ({e}); install '
                           f'TensorRT (JetPack) or set backend to "onnxruntime"') from e
    try:
        import pycuda.driver as cuda
    except ImportError as e:
        raise RuntimeError(f'backend "tensorrt" needs pycuda for GPU buffers and it cannot '
                           f'be imported ({e}); pip install pycuda or set backend to '
                           f'"onnxruntime"') from e
    version = tuple(int(part) for part in trt.__version__.split('.')[:2])
    if version < MIN_TENSORRT:
        raise RuntimeError(f'TensorRT {trt.__version__} is too old: the backend uses the '
                           f'name-based tensor API of TensorRT >= 8.5')
    return trt, cuda


def cache_file_path(engine_file_path: str) -> str:
    """Sidecar that records what an engine was built from."""
    return engine_file_path + '.json'


def engine_cache_is_current(engine_file_path: str, stamp: Mapping) -> bool:
    """True when the engine exists and its sidecar records exactly ``stamp``."""
    try:
        with open(cache_file_path(engine_file_path)) as f:
            recorded = json.load(f)
    except (OSError, ValueError):
        return False
    return os.path.isfile(engine_file_path) and recorded == dict(stamp)


def write_engine_cache(engine_file_path: str, plan: bytes, stamp: Mapping):
    """Write engine and sidecar, each atomically (a crash never leaves half a file)."""
    directory = os.path.dirname(os.path.abspath(engine_file_path))
    os.makedirs(directory, exist_ok=True)
    # Engine first: a crash between the two leaves the old sidecar, which no longer
    # matches, so the engine is rebuilt rather than trusted.
    for path, content in ((engine_file_path, bytes(plan)),
                          (cache_file_path(engine_file_path),
                           json.dumps(dict(stamp), indent=1, sort_keys=True).encode())):
        temporary = f'{path}.tmp{os.getpid()}'
        try:
            with open(temporary, 'wb') as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())  # on disk before it takes the name
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(temporary)
            raise


class TensorRTBackend(InferenceBackend):
    """TensorRT engine built from an ONNX model and cached on disk (NOT TESTED, see
    the module docstring).

    The engine at ``engine_file_path`` (default: the model path with ``.engine``) is
    rebuilt from ``model_file_path`` when it is missing, when ``force_engine_update``
    is set, or when its sidecar ``<engine>.json`` (ONNX sha256, TensorRT version,
    fp16, input shapes) no longer matches. With no ONNX file, an existing engine is
    used as is. ``input_shapes`` {input name: shape} fixes the dims a model leaves
    dynamic (a one-shape optimisation profile); it is ignored for static inputs.
    """

    name = 'tensorrt'

    def __init__(self, model_file_path: str = '', engine_file_path: str = '', *,
                 force_engine_update: bool = False, enable_fp16: bool = False,
                 max_workspace_size: int = 1 << 30, device_id: int = 0,
                 input_shapes: Mapping[str, Sequence[int]] | None = None,
                 verbose: bool = False):
        self._trt, self._cuda = import_tensorrt()
        import tensorrt as trt
        cuda = self._cuda
        if not engine_file_path:
            if not model_file_path:
                raise RuntimeError('set model_file_path (ONNX) and/or engine_file_path')
            engine_file_path = os.path.splitext(model_file_path)[0] + '.engine'
        self.model_file_path, self.engine_file_path = model_file_path, engine_file_path
        self._input_shapes = {k: [int(d) for d in v] for k, v in (input_shapes or {}).items()}
        self._logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
        self._buffers: dict[str, tuple[Any, int]] = {}  # name -> (device memory, bytes)

        cuda.init()
        self._cuda_context = cuda.Device(int(device_id)).retain_primary_context()
        self._cuda_context.push()
        try:
            plan, self.build_reason = self._engine_plan(force_engine_update, enable_fp16,
                                                        int(max_workspace_size))
            self._runtime = trt.Runtime(self._logger)
            self._engine = self._runtime.deserialize_cuda_engine(plan)
            if self._engine is None:
                raise RuntimeError(f'TensorRT cannot load the engine {engine_file_path} '
                                   f'(built by another TensorRT version or GPU?): set '
                                   f'force_engine_update or delete the file')
            self._context = self._engine.create_execution_context()
            self._stream = cuda.Stream()
        except BaseException:
            self._cuda_context.pop()
            self._cuda_context.detach()  # release the retained context on failure
            self._cuda_context = None
            raise
        self._cuda_context.pop()
        self.inputs, self.outputs = [], []
        for i in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(i)
            info = TensorInfo(name, tuple(d if d >= 0 else None
                                          for d in _dims(self._engine.get_tensor_shape(name))),
                              np.dtype(trt.nptype(self._engine.get_tensor_dtype(name))))
            is_input = self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(info)
        self.description = (f'TensorRT {trt.__version__} on {cuda.Device(int(device_id)).name()}'
                            f' ({self.build_reason})')

    # --- engine cache ---

    def _engine_plan(self, force: bool, fp16: bool, workspace: int) -> tuple[bytes, str]:
        onnx_path = self.model_file_path
        have_onnx = bool(onnx_path) and os.path.isfile(onnx_path)
        if not have_onnx:
            if force or not os.path.isfile(self.engine_file_path):
                check_model_file(onnx_path, 'ONNX model file')  # raises with the path
            with open(self.engine_file_path, 'rb') as f:
                return f.read(), f'engine {self.engine_file_path} used as is (no ONNX file)'
        check_model_file(onnx_path, 'ONNX model file')
        # Read once: the hash recorded is that of the bytes the engine is built from, even
        # if the file is replaced meanwhile (a new file is picked up on the next start).
        with open(onnx_path, 'rb') as f:
            onnx_bytes = f.read()
        stamp = {'onnx_sha256': hashlib.sha256(onnx_bytes).hexdigest(),
                 'tensorrt': self._trt.__version__,
                 'enable_fp16': bool(fp16), 'input_shapes': self._input_shapes}
        if not force and engine_cache_is_current(self.engine_file_path, stamp):
            with open(self.engine_file_path, 'rb') as f:
                return f.read(), f'cached engine {self.engine_file_path}'
        plan = self._build(onnx_bytes, onnx_path, fp16, workspace)
        write_engine_cache(self.engine_file_path, plan, stamp)
        why = 'forced' if force else 'missing or out of date'
        return plan, f'engine built from {onnx_path} ({why}), saved to {self.engine_file_path}'

    def _build(self, onnx_bytes: bytes, onnx_path: str, fp16: bool, workspace: int) -> bytes:
        import tensorrt as trt

        builder = trt.Builder(self._logger)
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, 'EXPLICIT_BATCH'):  # implicit in TRT 10
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self._logger)
        # The path only locates external weights, if the model has any.
        if not parser.parse(onnx_bytes, onnx_path):
            errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RuntimeError(f'TensorRT cannot parse the ONNX model {onnx_path}: {errors}')
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
        if fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        profile = self._profile(builder, network)
        if profile is not None:
            config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise RuntimeError(f'TensorRT failed to build an engine from {onnx_path} (see '
                               f'the TensorRT log above; max_workspace_size={workspace})')
        return bytes(plan)

    def _profile(self, builder: trt_types.Builder, network: trt_types.INetworkDefinition
                 ) -> trt_types.IOptimizationProfile | None:
        """One-shape optimisation profile when an input has dynamic dims, else None."""
        import tensorrt as trt

        profile, dynamic, names = builder.create_optimization_profile(), False, []
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            dims, given = _dims(tensor.shape), self._input_shapes.get(tensor.name)
            names.append(tensor.name)
            if all(d >= 0 for d in dims):
                continue  # static: the model's own shape wins, input_shapes is ignored
            if given is None:
                raise RuntimeError(f'model input "{tensor.name}" has dynamic shape {dims}: '
                                   f'give its shape in input_shapes')
            if len(given) != len(dims) or any(d >= 0 and d != g for d, g in zip(dims, given)):
                raise RuntimeError(f'input_shapes["{tensor.name}"] = {given} does not fit '
                                   f'the model shape {dims}')
            shape = trt.Dims(given)  # min = opt = max
            profile.set_shape(tensor.name, shape, shape, shape)
            dynamic = True
        unknown = sorted(set(self._input_shapes) - set(names))
        if unknown:
            raise RuntimeError(f'input_shapes names {unknown} are not model inputs ({names})')
        return profile if dynamic else None

    # --- inference ---

    def _device_buffer(self, name: str, nbytes: int):
        memory, size = self._buffers.get(name, (None, 0))
        if size < nbytes:
            memory = self._cuda.mem_alloc(max(nbytes, 1))
            self._buffers[name] = (memory, nbytes)
        return memory

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._check_input_names(inputs)
        cuda, context, stream = self._cuda, self._context, self._stream
        self._cuda_context.push()  # the caller's thread may not own the CUDA context
        try:
            # Pageable host arrays: CUDA copies them synchronously, which is fine here
            # since run() waits for the results anyway.
            for info in self.inputs:
                array = np.ascontiguousarray(inputs[info.name])
                if array.dtype != info.dtype:
                    raise ValueError(f'input "{info.name}" is {array.dtype}, the engine '
                                     f'expects {info.dtype}')
                if not context.set_input_shape(info.name, array.shape):
                    raise ValueError(f'input "{info.name}": shape {array.shape} does not fit '
                                     f'the engine ({info.describe()})')
                memory = self._device_buffer(info.name, array.nbytes)
                cuda.memcpy_htod_async(memory, array, stream)
                context.set_tensor_address(info.name, int(memory))
            results = {}
            for info in self.outputs:
                shape = _dims(context.get_tensor_shape(info.name))
                if any(d < 0 for d in shape):
                    raise RuntimeError(f'output "{info.name}" has a data-dependent shape '
                                       f'{shape}, which this backend does not support')
                host = np.empty(shape, info.dtype)
                memory = self._device_buffer(info.name, host.nbytes)
                context.set_tensor_address(info.name, int(memory))
                results[info.name] = host
            if not context.execute_async_v3(stream_handle=stream.handle):
                raise RuntimeError(f'TensorRT execution of {self.engine_file_path} failed')
            for name, host in results.items():
                cuda.memcpy_dtoh_async(host, self._buffers[name][0], stream)
            stream.synchronize()
        finally:
            self._cuda_context.pop()
        return results

    def close(self):
        if getattr(self, '_cuda_context', None) is None:
            return
        self._cuda_context.push()
        try:
            for memory, _ in self._buffers.values():
                memory.free()
            self._buffers.clear()
            del self._context, self._engine, self._runtime, self._stream
        finally:
            self._cuda_context.pop()
            self._cuda_context.detach()
            self._cuda_context = None
