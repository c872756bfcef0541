"""Static checks: ruff (set to Python 3.10, Humble's) over the whole package and tests."""
from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_ruff_py310_is_clean():
    result = subprocess.run([sys.executable, '-m', 'ruff', 'check', '--no-cache', '.'],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_has_no_ros_imports():
    """The core and the model conversion stay usable without ROS: no rclpy or message
    package imports, in every module of their subpackages too."""
    offenders = []
    package = REPO / 'pose_estimation_ros'
    paths = sorted([*(package / 'core').rglob('*.py'), *(package / 'conversion').rglob('*.py')])
    assert any(p.parent.name == 'backends' for p in paths), 'core/backends/ not covered'
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            words = line.split()
            if words[:1] in (['import'], ['from']) and len(words) > 1 and (
                    words[1].split('.')[0] in ('rclpy', 'rcl_interfaces', 'std_msgs',
                                               'sensor_msgs', 'visualization_msgs',
                                               'vision_msgs', 'cv_bridge', 'builtin_interfaces')
                    or words[1].startswith('pose_estimation_ros.msg')
                    or words[1].startswith('pose_estimation_ros.nodes')):
                offenders.append(f'{path.relative_to(package)}:{number}: {line.strip()}')
    assert not offenders, offenders
