"""What the model converters share: files written atomically with a JSON sidecar, the
cache and check-image locations, ONNX Runtime sessions for the checks, the ONNX target.

Pure Python + numpy (OpenCV and ONNX Runtime imported where used); no ROS imports.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

# Opset 13 / IR 7 (ONNX 1.8): loadable by ONNX Runtime >= 1.6 and TensorRT >= 7.2/8.x,
# including the versions shipped for Jetson. Opset 13 also has per-channel
# QuantizeLinear/DequantizeLinear (axis), which the INT8 ONNX models use.
OPSET = 13
IR_VERSION = 7

Log = Callable[[str], None]


def repo_root() -> Path:
    """The source checkout this module lives in (``<repo>/pose_estimation_ros/tools``)."""
    return Path(__file__).resolve().parents[2]


def default_cache_dir() -> Path:
    """``<repo>/.cache`` in a source checkout, else ``~/.cache/pose_estimation_ros``."""
    root = repo_root()
    if (root / 'package.xml').is_file() or (root / 'setup.py').is_file():
        return root / '.cache'
    return Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache')) / 'pose_estimation_ros'


def default_check_image() -> Path:
    """A real photo of people from the shared test data beside the checkout."""
    return repo_root().parent / 'shared' / 'data' / 'coco_val_mini' / '000000000785.jpg'


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sidecar_path(output: Path) -> Path:
    """The JSON file describing ``output``: ``<output>.json``."""
    output = Path(output)
    return output.with_name(output.name + '.json')


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename, so readers never see
    a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_image(path: Path | None = None) -> tuple[np.ndarray, str]:
    """A BGR uint8 photo for the checks and a description of it.

    ``path`` None uses the shared test photo; when that does not exist (e.g. on a robot)
    a deterministic pseudo-random image stands in (the numeric check stays exact, only
    less realistic).
    """
    path = default_check_image() if path is None else Path(path)
    if path.is_file():
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f'cannot read image {path}')
        return image, str(path)
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), 'pseudo-random (seed 0)'


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def make_session(model, threads: int = 2):
    """ONNX Runtime CPU session for a ModelProto, serialized bytes or a path."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not isinstance(model, (bytes, str, os.PathLike)):
        model = model.SerializeToString()
    if isinstance(model, os.PathLike):
        model = str(model)
    return ort.InferenceSession(model, options, providers=['CPUExecutionProvider'])
