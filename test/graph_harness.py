"""The pipeline as robots run it: each node its own process, started as ``ros2 launch``
starts it, beside a camera driver in another process.

:class:`ProcessGraph` starts the installed executables with
:func:`pose_estimation_ros.nodes.graph.command_line` (the description the launch file is
built from: node names, parameters file, launch-argument parameters, remappings), each
with its output in a log file. :func:`run_camera` runs test/camera.py, a driver with the
middleware's defaults (not this package's DDS profile). The test process watches the
outputs over DDS like any other node.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO
from pose_estimation_ros.nodes.common import DDS_PROFILE_VARIABLES
from pose_estimation_ros.nodes.graph import (PACKAGE, PIPELINE, command_line,
                                             runner_command_line)

INSTALL = REPO / 'install' / PACKAGE
SHARE_CONFIG = INSTALL / 'share' / PACKAGE / 'config'
CAMERA = Path(__file__).resolve().parent / 'camera.py'


def foreign_environment() -> dict[str, str]:
    """The environment of a process that is not ours (a camera driver): no DDS profile."""
    env = {k: v for k, v in os.environ.items() if k not in DDS_PROFILE_VARIABLES}
    env['PYTHONUNBUFFERED'] = '1'
    return env


class ProcessGraph:
    """The launch file's nodes as separate processes; ``executables`` picks which (by
    executable name), or ``['pose_estimation']`` for the single-process runner."""

    def __init__(self, log_dir: Path, arguments: dict[str, str] | None = None,
                 params_file: str | Path | None = None, executables=None):
        self.log_dir = Path(log_dir)
        self.arguments = dict(arguments or {})
        self.params_file = params_file or SHARE_CONFIG / 'mobilenet_thin.yaml'
        self.executables = executables
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs = {}

    def commands(self) -> dict[str, list[str]]:
        if self.executables == ['pose_estimation']:
            return {'pose_estimation': runner_command_line(INSTALL, self.params_file,
                                                           self.arguments)}
        return {node.executable: command_line(node, INSTALL, self.params_file,
                                              self.arguments)
                for node in PIPELINE
                if self.executables is None or node.executable in self.executables}

    def start(self) -> ProcessGraph:
        env = dict(os.environ, PYTHONUNBUFFERED='1')
        for name, command in self.commands().items():
            self.start_one(name, command, env)
        return self

    def start_one(self, name: str, command: list[str], env=None) -> None:
        log = open(self.log_dir / f'{name}.log', 'ab')
        self._logs[name] = log
        # Own session: a signal sent to one node reaches only that node.
        self.processes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env or dict(os.environ, PYTHONUNBUFFERED='1'), start_new_session=True)

    def log(self, name: str) -> str:
        path = self.log_dir / f'{name}.log'
        return path.read_text(errors='replace') if path.exists() else ''

    def assert_running(self) -> None:
        dead = {name: p.returncode for name, p in self.processes.items()
                if p.poll() is not None}
        assert not dead, f'nodes exited: {dead}\n' + '\n'.join(
            f'--- {name}\n{self.log(name)[-3000:]}' for name in dead)

    def signal(self, number: int, names=None) -> None:
        for name, process in self.processes.items():
            if (names is None or name in names) and process.poll() is None:
                process.send_signal(number)

    def wait(self, timeout: float) -> dict[str, int | None]:
        """Exit codes after at most ``timeout`` seconds (None: still running)."""
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        return {name: p.poll() for name, p in self.processes.items()}

    def stop(self) -> dict[str, int | None]:
        """SIGINT, as Ctrl-C in ros2 launch's terminal; SIGKILL what is left after 5 s."""
        self.signal(signal.SIGINT)
        codes = self.wait(5.0)
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in self._logs.values():
            log.close()
        return codes


def run_camera(*, topic: str, size: str, qos: str, image_format: str = 'raw',
               encoding: str = 'bgr8', rate: float = 4.0, frames: int = 20,
               subscribers: int = 1, timeout: float = 120.0) -> list[int]:
    """Run test/camera.py to the end; the stamps (ns) of the frames it sent."""
    command = [sys.executable, str(CAMERA), '--topic', topic, '--size', size, '--qos', qos,
               '--format', image_format, '--encoding', encoding, '--rate', str(rate),
               '--frames', str(frames), '--subscribers', str(subscribers)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            env=foreign_environment(), stdin=subprocess.DEVNULL)
    lines = [line for line in result.stdout.splitlines() if line.startswith('{')]
    assert result.returncode == 0 and lines, \
        f'camera failed ({result.returncode}):\n{result.stdout}\n{result.stderr}'
    return json.loads(lines[-1])['sent']
