"""A model file replaced while the inference runs is picked up only on restart, never
half-read; the TensorRT engine cache is written atomically.

ONNX Runtime reads the model once, when the session is created: a running backend keeps
computing with what it loaded, whatever happens to the file, and a new one (a restart)
loads the file as it is then: a half-written file is refused with a clear error, never
loaded in part. Replace models atomically (write beside, then rename) so that a restart
always finds a whole file.
"""
from __future__ import annotations

import os
import resource
import shutil
import signal

import numpy as np
import pytest

from conftest import require_model
from pose_estimation_ros.core.backends import tensorrt_backend
from pose_estimation_ros.core.backends.onnxruntime_backend import OnnxRuntimeBackend

INPUT = np.random.default_rng(0).uniform(0, 255, (1, 64, 80, 3)).astype(np.float32)


def _run(backend) -> np.ndarray:
    return next(iter(backend.run({backend.inputs[0].name: INPUT}).values()))


def test_running_backend_keeps_its_model_and_a_restart_reads_the_new_file(tmp_path):
    model = tmp_path / 'model.onnx'
    shutil.copyfile(require_model(), model)
    backend = OnnxRuntimeBackend(str(model), intra_op_num_threads=2)
    try:
        expected = _run(backend)
        whole = model.read_bytes()
        # Overwritten in place, half written (a copy in progress), then removed.
        model.write_bytes(whole[:len(whole) // 2])
        np.testing.assert_array_equal(_run(backend), expected)
        model.unlink()
        np.testing.assert_array_equal(_run(backend), expected)
    finally:
        backend.close()
    # A restart on the half-written file: refused, not half-loaded.
    model.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(RuntimeError, match=f'cannot load the model {model}'):
        OnnxRuntimeBackend(str(model))
    # Replaced atomically by the whole model: the restart picks it up.
    temporary = tmp_path / 'model.onnx.new'
    temporary.write_bytes(whole)
    os.replace(temporary, model)
    restarted = OnnxRuntimeBackend(str(model), intra_op_num_threads=2)
    try:
        np.testing.assert_array_equal(_run(restarted), expected)
    finally:
        restarted.close()


def test_engine_cache_write_failure_keeps_the_previous_engine(tmp_path):
    """A write that fails part-way (here: a file-size limit, as on a full disk) leaves
    the previous engine and sidecar whole, and no temporary file behind."""
    engine = tmp_path / 'model.engine'
    old_stamp = {'onnx_sha256': 'a' * 64, 'tensorrt': '10.3.0', 'enable_fp16': True,
                 'input_shapes': {}}
    tensorrt_backend.write_engine_cache(str(engine), b'old plan', old_stamp)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, hard))
    try:
        with pytest.raises(OSError):
            tensorrt_backend.write_engine_cache(str(engine), bytes(1_000_000),
                                                dict(old_stamp, onnx_sha256='b' * 64))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert engine.read_bytes() == b'old plan'
    assert tensorrt_backend.engine_cache_is_current(str(engine), old_stamp)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.engine',
                                                          'model.engine.json']
