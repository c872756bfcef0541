"""The package's installed executables as separate processes, for tests over DDS.

``with node_process('skeleton_3d_node', params={...}) as process:`` starts
``install/pose_estimation_ros/lib/pose_estimation_ros/<executable>`` (what ``ros2 run``
starts) in this test's environment (ROS_DOMAIN_ID, discovery range), collects its
output, and stops it with SIGINT (then SIGKILL) on exit.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from typing import Iterator

import pytest

from conftest import REPO

EXECUTABLES = REPO / 'install' / 'pose_estimation_ros' / 'lib' / 'pose_estimation_ros'


class NodeProcess:
    def __init__(self, popen: subprocess.Popen):
        self.popen = popen
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return ''.join(self.lines)

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        if self.running():
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._reader.join(timeout)
        return self.popen.returncode


@contextlib.contextmanager
def node_process(executable: str, *, params: dict | None = None, remap: dict | None = None,
                 params_file=None) -> Iterator[NodeProcess]:
    """Run an installed executable with ROS arguments: ``--params-file``, then
    ``-p name:=value`` and ``-r from:=to``."""
    path = EXECUTABLES / executable
    if not path.is_file():
        pytest.fail(f'{path} is missing: run scripts/setup.sh (colcon build)')
    ros_args = ['--ros-args']
    if params_file is not None:
        ros_args += ['--params-file', str(params_file)]
    for name, value in (params or {}).items():
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        ros_args += ['-p', f'{name}:={value}']
    for source, target in (remap or {}).items():
        ros_args += ['-r', f'{source}:={target}']
    env = dict(os.environ, PYTHONUNBUFFERED='1', RCUTILS_LOGGING_BUFFERED_STREAM='0')
    popen = subprocess.Popen([str(path), *ros_args], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env)
    process = NodeProcess(popen)
    try:
        yield process
    finally:
        process.stop()
