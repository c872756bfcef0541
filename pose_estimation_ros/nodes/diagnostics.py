"""Each node's health on ``/diagnostics`` (diagnostic_msgs/DiagnosticArray), about once a
second, as ``diagnostic_updater`` nodes do: rqt_runtime_monitor and diagnostic
aggregators show it on a robot.

One status per node, named ``<node name>: pipeline``: input and output rates, processing
time per message (median, max), the age of the frames it publishes (now - header stamp),
messages skipped (newer ones replaced them while the node was busy, from the publishers'
sequence numbers) and dropped (unusable: the last reason is given), plus what the node
adds (backend, model). Level: WARN with a message ``starting: <what it waits for>``
(and ``state`` ``starting``) until the node is ready, then ERROR while nothing arrives,
WARN while messages are dropped or skipped, OK otherwise.
"""
from __future__ import annotations

import socket
import time
from collections import OrderedDict
from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.node import Node

from pose_estimation_ros.nodes.compat import message_key, sequence_of

PERIOD = 1.0  # seconds between two DiagnosticArrays
SILENT_ERROR = 5.0  # seconds without input before the status is ERROR


def stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def stamp_text(stamp) -> str:
    return f'{stamp.sec}.{stamp.nanosec:09d}'


class FrameCounter:
    """Counts the messages of one input and those skipped: frames replaced by newer ones
    while the node was busy (or lost on the way), from the gaps in the publishers'
    sequence numbers. What each ROS distribution gives to go by is in
    :mod:`pose_estimation_ros.nodes.compat`: per publisher (Kilted), per input (Jazzy),
    nothing (Humble: ``skips_known`` is False, and the status says "unknown")."""

    RECENT = 256  # keys of the newest messages, to recognise a second copy

    def __init__(self, what: str):
        self.what = what
        self.received = self.skipped = 0
        self.skips_known = True
        self._last_sequence: dict[bytes | None, int] = {}
        self._recent: OrderedDict = OrderedDict()

    def count(self, info, msg=None, overlapping: bool = False) -> bool:
        """Count one message; False for a second copy of one already counted.
        ``overlapping``: two subscriptions of this input may both deliver it (see
        InputSubscription); only then is a header without MessageInfo evidence."""
        sequence = sequence_of(info)
        key = message_key(info, msg, sequence)
        if key is not None and (key[0] != 'header' or overlapping):
            if key in self._recent:
                return False
            self._recent[key] = None
            if len(self._recent) > self.RECENT:
                self._recent.popitem(last=False)
        if sequence is None:
            self.skips_known = False
        else:
            publisher, number = sequence
            last = self._last_sequence.get(publisher)
            if last is not None and number > last:
                self.skipped += number - last - 1
            # With a gid a lower number is a late copy (a restart has a new gid); without
            # one it is a restarted or another publisher: count from it on.
            self._last_sequence[publisher] = (max(number, last) if publisher is not None
                                              and last is not None else number)
        self.received += 1
        return True


class NodeStatus:
    """A node's counters, its ``/diagnostics`` status and its rate-limited logs."""

    def __init__(self, node: Node, details: Callable[[], dict] | None = None):
        self.node = node
        self.details = details or dict
        self.counters: list[FrameCounter] = []
        self.published = self.dropped = self.held = 0
        self.last_drop = ''
        # What the node waits for before it does its work (None: ready); see starting().
        self.waiting_for: str | None = None
        self._busy_ms: list[float] = []
        self._age_ms: list[float] = []
        self._last_input = time.monotonic()
        self._previous = (time.monotonic(), 0, 0, 0, 0)  # time, received, published, ...
        self._reported_skips, self._skips_logged = 0, 0.0
        self._hardware_id = socket.gethostname()
        self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        # A steady clock: with use_sim_time, ROS time stands still until /clock runs.
        self._timer = node.create_timer(PERIOD, self.publish,
                                        clock=Clock(clock_type=ClockType.STEADY_TIME))

    def counter(self, what: str) -> FrameCounter:
        counter = FrameCounter(what)
        self.counters.append(counter)
        return counter

    def arrived(self, counter: FrameCounter, info, msg=None,
                overlapping: bool = False) -> bool:
        """Count a message taken from ``counter``'s input; False: a duplicate, skip it."""
        self._last_input = time.monotonic()
        return counter.count(info, msg, overlapping)

    def done(self, started: float, stamp=None) -> None:
        """A message processed and its output published (``started``: perf_counter())."""
        self.published += 1
        self._busy_ms.append((time.perf_counter() - started) * 1e3)
        if stamp is not None:
            self._age_ms.append((time.time_ns() - stamp_ns(stamp)) / 1e6)

    def starting(self, waiting_for: str) -> None:
        """Not ready yet: the status says STARTING and what the node waits for."""
        if waiting_for != self.waiting_for:
            self.node.get_logger().info(f'starting: {waiting_for}')
        self.waiting_for = waiting_for

    def ready(self, message: str) -> None:
        """Ready (logged once per change, e.g. "ready: first skeletons can flow")."""
        if self.waiting_for is not None:
            self.node.get_logger().info(message)
            self.waiting_for = None
            self._last_input = time.monotonic()

    def hold(self, what: str, stamp) -> None:
        """A message that arrived before the node was ready: counted and logged, never
        silently lost (at most one line every 5 s)."""
        self.held += 1
        self.node.get_logger().warning(
            f'{what} {stamp_text(stamp)} not processed: starting, {self.waiting_for} '
            f'({self.held} so far)', throttle_duration_sec=5.0)

    def drop(self, what: str, stamp, error: Exception | str) -> None:
        """A message that cannot be processed: counted, its reason logged (at most one
        line every 5 s per node and reason type) and kept for the status."""
        self.dropped += 1
        self.last_drop = f'{what} {stamp_text(stamp)}: {error}'
        self.node.get_logger().error(f'dropped {self.last_drop} ({self.dropped} dropped '
                                     f'so far)', throttle_duration_sec=5.0)

    @property
    def received(self) -> int:
        return sum(c.received for c in self.counters)

    @property
    def skipped(self) -> int:
        return sum(c.skipped for c in self.counters)

    def status(self) -> DiagnosticStatus:
        now = time.monotonic()
        then, received, published, skipped, dropped = self._previous
        span = max(now - then, 1e-6)
        new = (self.received - received, self.published - published,
               self.skipped - skipped, self.dropped - dropped)
        self._previous = (now, self.received, self.published, self.skipped, self.dropped)
        busy, age = sorted(self._busy_ms), sorted(self._age_ms)
        self._busy_ms, self._age_ms = [], []
        silent = now - self._last_input
        if self.waiting_for is not None:
            level, message = DiagnosticStatus.WARN, f'starting: {self.waiting_for}'
        elif silent > SILENT_ERROR:
            level, message = DiagnosticStatus.ERROR, f'no input for {silent:.0f} s'
        elif new[3]:
            level, message = DiagnosticStatus.WARN, f'dropping messages: {self.last_drop}'
        elif new[2]:
            level = DiagnosticStatus.WARN
            message = (f'skipping frames: input faster than this node ({new[2]} in '
                       f'{span:.1f} s; the newest frame is processed)')
        else:
            level, message = DiagnosticStatus.OK, 'ok'
        values = {
            'state': 'starting' if self.waiting_for is not None else 'ready',
            'input rate (Hz)': f'{new[0] / span:.2f}',
            'output rate (Hz)': f'{new[1] / span:.2f}',
            'processing time median (ms)': f'{busy[len(busy) // 2]:.2f}' if busy else '-',
            'processing time max (ms)': f'{busy[-1]:.2f}' if busy else '-',
            'output stamp age median (ms)': f'{age[len(age) // 2]:.1f}' if age else '-',
            'messages received': str(self.received),
            'messages published': str(self.published),
            'frames skipped': (str(self.skipped) if all(c.skips_known for c in self.counters)
                               else f'{self.skipped}; unknown where rclpy gives no sequence '
                                    f'numbers (Humble)'),
            'messages dropped': str(self.dropped),
            'messages before ready': str(self.held),
            'last drop': self.last_drop or '-',
        }
        values.update({k: str(v) for k, v in self.details().items()})
        return DiagnosticStatus(
            level=level, name=f'{self.node.get_name()}: pipeline', message=message,
            hardware_id=self._hardware_id,
            values=[KeyValue(key=k, value=v) for k, v in values.items()])

    def publish(self) -> None:
        now = time.monotonic()
        if self.skipped > self._reported_skips and now - self._skips_logged >= 10.0:
            self.node.get_logger().info(
                f'skipped {self.skipped - self._reported_skips} frames (input faster than '
                f'this node: the newest frame is processed; {self.skipped} in all)')
            self._reported_skips, self._skips_logged = self.skipped, now
        msg = DiagnosticArray(status=[self.status()])
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self._publisher.publish(msg)
