"""The pipeline as robots run it, for the tests and the benchmark: each node its own
process, started as ``ros2 launch`` starts it, beside a camera driver in another process.

:func:`node_process` runs one installed executable (what ``ros2 run`` starts).
:class:`ProcessGraph` starts the installed executables with
:func:`pose_estimation_ros.nodes.graph.command_line` (the description the launch file is
built from: node names, parameters file, launch-argument parameters, remappings), each
with its output collected. :func:`run_camera` runs tools/camera.py, a driver with the
middleware's defaults (not this package's DDS profile). The caller watches the outputs
over DDS like any other node.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from pose_estimation_ros.nodes.common import DDS_PROFILE_VARIABLES
from pose_estimation_ros.nodes.graph import (PACKAGE, command_line, runner_command_line,
                                             started)



def install_prefix() -> Path:
    """The package's install prefix (colcon's install/pose_estimation_ros)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    try:
        return Path(get_package_prefix(PACKAGE))
    except PackageNotFoundError as error:
        raise FileNotFoundError(f'{PACKAGE} is not installed: run scripts/setup.sh (colcon '
                                f'build) and source scripts/env.sh') from error


INSTALL = install_prefix()
# The inference node's start-up log line (InferenceStage.speed_report).
INFERENCE_TIME = re.compile(r': (\d+) ms per frame, at most ')
SHARE = INSTALL / 'share' / PACKAGE


def foreign_environment() -> dict[str, str]:
    """The environment of a process that is not ours (a camera driver): no DDS profile."""
    env = {k: v for k, v in os.environ.items() if k not in DDS_PROFILE_VARIABLES}
    env['PYTHONUNBUFFERED'] = '1'
    return env


class NodeProcess:
    """One running executable; its output (stdout and stderr) collected by a thread."""

    def __init__(self, command: list[str], env=None):
        self.popen = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            stdin=subprocess.DEVNULL, env=env or node_environment(),
            # Own session: a signal sent to one node reaches only that node.
            start_new_session=True)
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

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 5.0) -> int:
        """SIGINT, as Ctrl-C does; SIGKILL after ``timeout`` s."""
        if self.running():
            self.popen.send_signal(signal.SIGINT)
            if self.wait(timeout) is None:
                self.popen.kill()
                self.popen.wait()
        self._reader.join(timeout)
        return self.popen.returncode


def node_environment() -> dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED='1', RCUTILS_LOGGING_BUFFERED_STREAM='0')


@contextlib.contextmanager
def node_process(executable: str, *, params: dict | None = None, remap: dict | None = None,
                 params_file=None) -> Iterator[NodeProcess]:
    """Run one installed executable (what ``ros2 run`` starts) with ``--params-file``,
    ``-p name:=value`` and ``-r from:=to``; stopped on exit."""
    path = INSTALL / 'lib' / PACKAGE / executable
    if not path.is_file():
        raise FileNotFoundError(f'{path} is missing: run scripts/setup.sh (colcon build)')
    ros_args = ['--ros-args']
    if params_file is not None:
        ros_args += ['--params-file', str(params_file)]
    for name, value in (params or {}).items():
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        ros_args += ['-p', f'{name}:={value}']
    for source, target in (remap or {}).items():
        ros_args += ['-r', f'{source}:={target}']
    process = NodeProcess([str(path), *ros_args])
    try:
        yield process
    finally:
        process.stop()


class ProcessGraph:
    """The launch file's nodes as separate processes (those its ``arguments`` start), or
    with ``runner=True`` the same graph in the single-process runner."""

    def __init__(self, arguments: dict[str, str] | None = None, runner: bool = False,
                 wrap=None, env: dict[str, str] | None = None):
        """``wrap(executable, command)``: the command to run instead (e.g. the node under
        an emulated rclpy); ``env``: the processes' environment."""
        self.arguments = dict(arguments or {})
        self.runner = runner
        self.wrap = wrap or (lambda executable, command: command)
        self.env = env
        self.processes: dict[str, NodeProcess] = {}

    def commands(self) -> dict[str, list[str]]:
        if self.runner:
            commands = {'pose_estimation': runner_command_line(INSTALL, self.arguments)}
        else:
            commands = {node.executable: command_line(node, INSTALL, self.arguments)
                        for node in started(self.arguments)}
        return {name: self.wrap(name, command) for name, command in commands.items()}

    def start(self) -> ProcessGraph:
        for name, command in self.commands().items():
            self.processes[name] = NodeProcess(command, self.env)
        return self

    def log(self, name: str) -> str:
        return self.processes[name].output

    def inference_seconds(self, timeout: float = 120.0) -> float:
        """Seconds per inference on this machine, as the graph's inference node measured
        at start-up (its log line "... N ms per frame, at most ... Hz")."""
        name = 'pose_estimation' if self.runner else 'inference_node'
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = INFERENCE_TIME.search(self.log(name))
            if found:
                return float(found.group(1)) / 1e3
            self.assert_running()
            time.sleep(0.1)
        raise RuntimeError(f'{name} logged no inference time within {timeout} s:\n'
                           f'{self.log(name)[-2000:]}')

    def assert_running(self) -> None:
        dead = {name: p.popen.returncode for name, p in self.processes.items()
                if not p.running()}
        assert not dead, f'nodes exited: {dead}\n' + '\n'.join(
            f'--- {name}\n{self.log(name)[-3000:]}' for name in dead)

    def signal(self, number: int) -> None:
        for process in self.processes.values():
            if process.running():
                process.popen.send_signal(number)

    def wait(self, timeout: float) -> dict[str, int | None]:
        """Exit codes after at most ``timeout`` seconds (None: still running)."""
        deadline = time.monotonic() + timeout
        return {name: p.wait(deadline - time.monotonic())
                for name, p in self.processes.items()}

    def stop(self) -> dict[str, int]:
        return {name: p.stop() for name, p in self.processes.items()}


def run_camera(*, images: str | Path, topic: str, size: str, qos: str,
               image_format: str = 'raw', encoding: str = 'bgr8', rate: float = 4.0,
               frames: int = 20, subscribers: int = 1, timeout: float = 120.0) -> list[int]:
    """Run tools/camera.py to the end; the stamps (ns) of the frames it sent."""
    command = [sys.executable, '-m', 'pose_estimation_ros.tools.camera', '--images',
               str(images), '--topic', topic, '--size', size, '--qos', qos,
               '--format', image_format, '--encoding', encoding, '--rate', str(rate),
               '--frames', str(frames), '--subscribers', str(subscribers)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            env=foreign_environment(), stdin=subprocess.DEVNULL)
    lines = [line for line in result.stdout.splitlines() if line.startswith('{')]
    assert result.returncode == 0 and lines, \
        f'camera failed ({result.returncode}):\n{result.stdout}\n{result.stderr}'
    return json.loads(lines[-1])['sent']


class GraphWatcher:
    """A node of its own on a background thread, watching the graph like any other node:
    Skeleton2DArray arrivals (``arrivals``: stamp ns -> first arrival ns; ``skeletons``:
    stamp ns -> message) and the nodes' /diagnostics (``statuses``: node name -> its
    DiagnosticStatus messages). ``publishers``: {key: (type, topic)} to make, e.g. to
    inject messages. Its own rclpy context unless one is given. ``namespace``: the
    graph's (the ``namespace`` launch argument), so that graphs side by side stay apart."""

    def __init__(self, publishers: dict | None = None, context=None, namespace: str = ''):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, QoSReliabilityPolicy

        from pose_estimation_ros.msg import Skeleton2DArray

        self.prefix = '/' + namespace.strip('/') if namespace.strip('/') else ''
        self._own_context = context is None
        if context is None:
            context = rclpy.Context()
            rclpy.init(context=context)
        self.context = context
        reliable = QoSProfile(depth=100, reliability=QoSReliabilityPolicy.RELIABLE)
        self.node = Node(f'graph_watcher_{os.getpid()}_{id(self)}', context=context)
        self.lock = threading.RLock()  # wait() holds it while its predicate reads
        self.arrivals: dict[int, int] = {}
        self.skeletons: dict[int, object] = {}
        self.statuses: dict[str, list] = {}
        self.skeleton_subscription = self.node.create_subscription(
            Skeleton2DArray, f'{self.prefix}/skeletons', self._on_skeletons, reliable)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics,
                                      reliable)
        self.publishers = {key: self.node.create_publisher(kind, topic, reliable)
                           for key, (kind, topic) in (publishers or {}).items()}
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._stop = False
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self):
        while not self._stop:
            self.executor.spin_once(timeout_sec=0.05)

    def _on_skeletons(self, msg):
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            self.arrivals.setdefault(stamp, now)
            self.skeletons[stamp] = msg

    def _on_diagnostics(self, msg):
        with self.lock:
            for status in msg.status:
                self.statuses.setdefault(status.name.split(':')[0], []).append(status)

    def latest(self, node: str):
        """The node's newest DiagnosticStatus (None before its first)."""
        with self.lock:
            return (self.statuses.get(node) or [None])[-1]

    def counter(self, node: str, key: str) -> int:
        status = self.latest(node)
        values = {kv.key: kv.value for kv in status.values} if status else {}
        return int(values.get(key, 0))

    def wait(self, predicate, timeout: float) -> bool:
        """Wait until ``predicate()`` (called under the lock) or ``timeout``; its value."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if predicate():
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def delivered(self, stamps, timeout: float) -> list[int]:
        """Wait until every stamp's skeletons arrived (at most ``timeout``); those that did,
        in ``stamps`` order."""
        wanted = set(stamps)
        self.wait(lambda: wanted <= set(self.arrivals), timeout)
        with self.lock:
            return [s for s in stamps if s in self.arrivals]

    def wait_matched(self, timeout: float = 30.0) -> None:
        """Until the decoder's skeletons publisher is matched (a frame sent before
        would give skeletons nobody here receives); RuntimeError after ``timeout``."""
        from pose_estimation_ros.nodes.compat import publisher_count
        if not self.wait(lambda: publisher_count(self.node, self.skeleton_subscription),
                         timeout):
            raise RuntimeError(f'no publisher of {self.prefix}/skeletons matched within '
                               f'{timeout} s')

    def latencies_ms(self, stamps) -> list[float]:
        with self.lock:
            return [(self.arrivals[s] - s) / 1e6 for s in stamps if s in self.arrivals]

    def wait_ready(self, graph: ProcessGraph, topic: str, timeout: float = 120.0) -> None:
        """All nodes up: the encoder listens to ``topic``, inference (model loaded) to the
        encoder, the decoder to inference; RuntimeError (with the logs) otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            graph.assert_running()
            if (self.node.count_subscribers(topic) and self.node.count_subscribers(
                    f'{self.prefix}/encoded_tensor') and self.node.count_subscribers(
                    f'{self.prefix}/network_output') and self.node.count_publishers(
                    f'{self.prefix}/skeletons')):
                return
            time.sleep(0.1)
        raise RuntimeError(f'the graph did not come up within {timeout} s:\n' + '\n'.join(
            graph.log(name)[-2000:] for name in graph.processes))

    def close(self):
        import rclpy
        self._stop = True
        self.thread.join(2.0)
        self.executor.shutdown()
        self.node.destroy_node()
        if self._own_context:
            rclpy.try_shutdown(context=self.context)
