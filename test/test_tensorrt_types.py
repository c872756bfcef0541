"""The TensorRT backend type-checked with mypy against TensorRT 10.13's Python API stubs.

TensorRT cannot be installed here (no GPU, NVIDIA's index unreachable), so the backend
never runs in these tests. What can be checked is that every TensorRT call it makes
exists with that signature: PyPI's ``tensorrt-stubs`` carries TensorRT's whole Python API
as type stubs; scripts/setup.sh installs them apart in ``<venv>/stubs`` (in
site-packages their stub-only ``tensorrt`` directory would import as an empty package).
A second run on a copy with one misspelt call shows that the check can fail.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

MODULE = 'pose_estimation_ros.core.backends.tensorrt_backend'
STUBS = Path(sys.prefix) / 'stubs'
# Two lines of the generated 10.13 stubs are not valid Python (a parameter named `in`,
# and a parameter without default after defaulted ones, in plugin and scale-layer APIs
# the backend does not use): mypy stops at syntax errors, so a copy is patched.
STUB_FIXES = (
    (re.compile(r'(def \w+\(self(?:: IPluginV3)?, )in: '), r'\1in_: '),
    (re.compile(r'power: Weights = None, channel_axis: int\)'),
     'power: Weights = None, channel_axis: int = ...)'),
)
CONFIG = """[mypy]
ignore_missing_imports = True
check_untyped_defs = True
explicit_package_bases = True
follow_imports = silent
# The stubs themselves are generated and not clean; only the backend is under test.
[mypy-tensorrt_bindings.*]
ignore_errors = True
[mypy-tensorrt.*]
ignore_errors = True
"""


@pytest.fixture(scope='module')
def stubs(tmp_path_factory) -> Path:
    if not (STUBS / 'tensorrt' / '__init__.pyi').is_file():
        pytest.fail(f'TensorRT stubs missing in {STUBS}: run scripts/setup.sh')
    target = tmp_path_factory.mktemp('stubs')
    for name in ('tensorrt', 'tensorrt_bindings'):
        shutil.copytree(STUBS / name, target / name)
    bindings = target / 'tensorrt_bindings' / 'tensorrt.pyi'
    text = bindings.read_text()
    for pattern, replacement in STUB_FIXES:
        text, count = pattern.subn(replacement, text)
        assert count, f'stub fix {pattern.pattern!r} matched nothing: stubs changed?'
    bindings.write_text(text)
    return target


def _mypy(stubs: Path, tmp_path: Path, *targets: str) -> subprocess.CompletedProcess:
    config = tmp_path / 'mypy.ini'
    config.write_text(CONFIG)
    env = {'MYPYPATH': str(stubs), 'PATH': '/usr/bin:/bin'}
    return subprocess.run([sys.executable, '-m', 'mypy', '--config-file', str(config),
                           '--cache-dir', str(tmp_path / 'cache'), *targets],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def test_tensorrt_is_not_importable_here():
    """Said plainly: the stubs do not make TensorRT importable, nothing here runs it."""
    result = subprocess.run([sys.executable, '-c', 'import tensorrt; tensorrt.Builder'],
                            capture_output=True, text=True)
    assert result.returncode != 0


def test_tensorrt_backend_type_checks_against_the_stubs(stubs, tmp_path):
    result = _mypy(stubs, tmp_path, '-m', MODULE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'no issues found' in result.stdout


def test_a_misspelt_tensorrt_call_fails_the_check(stubs, tmp_path):
    source = (REPO / Path(*MODULE.split('.'))).with_suffix('.py').read_text()
    assert source.count('get_tensor_mode(name)') == 1
    broken = tmp_path / 'trt_misspelt.py'
    broken.write_text(source.replace('get_tensor_mode(name)', 'get_tensor_moode(name)')
                      .replace('set_input_shape(', 'set_input_shapes('))
    result = _mypy(stubs, tmp_path, str(broken))
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"ICudaEngine" has no attribute "get_tensor_moode"' in result.stdout
    assert '"IExecutionContext" has no attribute "set_input_shapes"' in result.stdout
