"""Which model runs by default, and where a model file named in a parameters file is.

The default is Open Model Zoo's human-pose-estimation-0001 (INT8 IR) on OpenVINO when
its files are installed and OpenVINO imports; otherwise the mobilenet_thin ONNX model
(always installed by the set-up) on the parameters file's backend. Every caller logs the
reason :func:`default_model` gives. No ROS imports: the callers pass the directories.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HPE_MODEL_FILE = 'human-pose-estimation-0001.xml'
HPE_PARAMS_FILE = 'human_pose_estimation_0001.yaml'
FALLBACK_MODEL_FILE = 'mobilenet_thin.onnx'
FALLBACK_PARAMS_FILE = 'mobilenet_thin.yaml'


@dataclass(frozen=True)
class DefaultModel:
    params_file: Path
    model_file: Path
    reason: str


def default_model(config_dir: str | Path, models_dir: str | Path) -> DefaultModel:
    """The parameters file and model to run when the user names none, and why."""
    config_dir, models_dir = Path(config_dir), Path(models_dir)
    hpe = models_dir / HPE_MODEL_FILE
    fallback = DefaultModel(config_dir / FALLBACK_PARAMS_FILE, models_dir / FALLBACK_MODEL_FILE,
                            '')
    if not (hpe.is_file() and hpe.with_suffix('.bin').is_file()):
        why = (f'{hpe} (+ .bin) not installed (scripts/setup.sh installs it from '
               f'../shared/models; README "Models")')
    elif not _openvino_importable():
        why = 'OpenVINO is not installed (pip install openvino)'
    else:
        return DefaultModel(config_dir / HPE_PARAMS_FILE, hpe,
                            f'model human-pose-estimation-0001 (INT8 IR) on OpenVINO: found '
                            f'{hpe}')
    return DefaultModel(fallback.params_file, fallback.model_file,
                        f'model mobilenet_thin (fallback): {why}')


def params_file_for(model_file: str | Path, config_dir: str | Path) -> Path:
    """The shipped parameters file of a model given without one: human-pose-estimation-0001
    (IR or its ONNX conversion) -> its file; anything else -> mobilenet_thin's (whose
    values are also the nodes' defaults)."""
    is_hpe = Path(model_file).stem == Path(HPE_MODEL_FILE).stem
    return Path(config_dir) / (HPE_PARAMS_FILE if is_hpe else FALLBACK_PARAMS_FILE)


def _openvino_importable() -> bool:
    try:
        import openvino  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def resolve_model_path(path: str, models_dir: str | Path | None) -> str:
    """``path`` as given when it exists or is absolute; a bare name that does not exist
    here is taken from ``models_dir`` (the package's installed models)."""
    if not path or os.path.isabs(path) or os.path.exists(path) or models_dir is None:
        return path
    if os.path.basename(path) == path:
        return str(Path(models_dir) / path)
    return path
