"""What every node shares: the DDS profile, QoS choices, input subscriptions that
adapt to their publishers and count skipped frames, startup errors, and the ``main`` of
an executable with a clean shutdown."""
from __future__ import annotations

import functools
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable

import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import (InvalidParameterTypeException, InvalidParameterValueException,
                              ParameterException)
from rclpy.executors import (ExternalShutdownException, MultiThreadedExecutor,
                              SingleThreadedExecutor)
from rclpy.node import Node
from rclpy.qos import (QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy,
                       qos_profile_sensor_data)

from pose_estimation_ros.core.params import check_node_section
from pose_estimation_ros.nodes import compat
from pose_estimation_ros.nodes.diagnostics import FrameCounter, NodeStatus

PACKAGE = 'pose_estimation_ros'
# Environment variables naming Fast DDS's XML profile (which one is read: compat).
DDS_PROFILE_VARIABLES = tuple(compat.FAST_DDS_PROFILE_VARIABLES.values())


# Errors a node raises while reading its configuration: the executable reports them
# and exits instead of spinning with a half-configured node.
CONFIG_ERRORS = (ValueError, ParameterException, InvalidParameterTypeException,
                 InvalidParameterValueException)


class StartupError(RuntimeError):
    """Bad startup configuration; the message says what to fix."""


def startup_error(node: Node, error: Exception) -> StartupError:
    message = f'invalid configuration of node "{node.get_name()}": {error}'
    node.get_logger().fatal(message)
    return StartupError(message)


INPUT_QOS_CHOICES = ('auto', 'sensor_data', 'reliable')
# network_output history: decoding is cheap, so it keeps every frame inference made.
DECODER_QUEUE = 3


def dds_profile_path() -> Path:
    """config/fastdds.xml: installed in the package's share directory, else the source."""
    try:
        from ament_index_python.packages import (PackageNotFoundError,
                                                 get_package_share_directory)
        try:
            return Path(get_package_share_directory(PACKAGE)) / 'config' / 'fastdds.xml'
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover - ament_index_python comes with rclpy
        pass
    return Path(__file__).resolve().parents[2] / 'config' / 'fastdds.xml'


def use_dds_profile(environ=os.environ) -> str:
    """Make this process's DDS participant load config/fastdds.xml (large camera frames
    from other processes, see that file), unless the user names a profile of their own
    or runs another RMW. Must run before rclpy.init. Returns what was done, for the log."""
    rmw = environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    if not rmw.startswith('rmw_fastrtps'):
        return f'{rmw}: no Fast DDS profile loaded (see README, "Transport")'
    readers = compat.fast_dds_profile_variables(environ)
    fastdds, fastrtps = DDS_PROFILE_VARIABLES
    for variable in DDS_PROFILE_VARIABLES:
        if environ.get(variable):
            text = f'Fast DDS profile from {variable}={environ[variable]}'
            if variable == fastdds and readers == (fastrtps,) and not environ.get(fastrtps):
                # Fast DDS 2 would ignore it and run with its defaults, unnoticed.
                environ[fastrtps] = environ[variable]
                text += f' (also set as {fastrtps}, the name Fast DDS 2 reads)'
            return text
    path = dds_profile_path()
    if not path.is_file():
        return f'Fast DDS defaults ({path} is missing)'
    for variable in readers:
        environ[variable] = str(path)
    return f'Fast DDS profile {path}'


def tensor_qos(depth: int = 1) -> QoSProfile:
    """QoS between the pipeline's own nodes: reliable (no lost fragments of a large
    tensor) and a short history. Depth 1 where the next stage is the expensive one
    (inference takes the newest frame next, so no queue can grow); a few where it is
    cheap (the decoder keeps every frame inference made, even in a burst)."""
    return QoSProfile(depth=depth, reliability=QoSReliabilityPolicy.RELIABLE)


def _input_profile(reliable: bool, depth: int) -> QoSProfile:
    return QoSProfile(depth=depth, history=QoSHistoryPolicy.KEEP_LAST,
                      reliability=(QoSReliabilityPolicy.RELIABLE if reliable
                                   else QoSReliabilityPolicy.BEST_EFFORT),
                      durability=qos_profile_sensor_data.durability)


class InputSubscription:
    """A subscription to data from outside the pipeline (camera drivers, ros2 bag play).

    ``qos``: ``reliable``, ``sensor_data`` (best effort) or ``auto``: like ``ros2 bag
    record``, reliable while every publisher of the topic offers reliable (lost
    fragments of a large image are then resent), best effort as soon as one does not
    (a reliable reader would not match it); re-checked four times a second, so publishers
    that come later or change are followed. On a change the new subscription is made
    before the old one goes, and the old one goes only once a message came through the
    new one (a publisher matches a new reader a moment after the reader matches it);
    duplicates are dropped by sequence number: no frame is lost. ``depth`` 1
    (the default) keeps only the newest message: a node busy with one frame continues
    with the newest, never a backlog. Skipped messages are counted.
    """

    CHECK_PERIOD = 0.25  # seconds
    OVERLAP_GRACE = 2.0  # seconds after the old subscription went

    def __init__(self, node: Node, msg_type, topic: str, callback: Callable, qos: str,
                 status: NodeStatus | None, what: str | None = None, depth: int = 1):
        if qos not in INPUT_QOS_CHOICES:
            raise startup_error(node, f'input_qos must be one of '
                                      f'{", ".join(INPUT_QOS_CHOICES)}, got "{qos}"')
        self.node, self.msg_type, self.topic, self.depth = node, msg_type, topic, depth
        # Counted in the node's status (None: an input that is not the node's work,
        # e.g. the decoder's overlay images).
        self.status = status
        self.counter = (status.counter(what or topic) if status is not None
                        else FrameCounter(what or topic))
        self._callback = callback
        self.reliable = qos == 'reliable'
        self._generation = 0  # which subscription is the current one
        self._current_delivered = False
        # Until then two subscriptions may deliver the same message (see _follow_publishers).
        self._overlap_until = 0.0
        self._subscription = self._subscribe()
        self._previous = None  # the subscription being replaced, until the new one delivers
        self._timer = None
        if qos == 'auto':
            # A steady clock: with use_sim_time, ROS time stands still until /clock runs.
            self._timer = node.create_timer(self.CHECK_PERIOD, self._follow_publishers,
                                            clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _on_message(self, generation: int, msg, info) -> None:
        if generation == self._generation:
            self._current_delivered = True
        overlapping = self._previous is not None or time.monotonic() < self._overlap_until
        new = (self.status.arrived(self.counter, info, msg, overlapping)
               if self.status is not None else self.counter.count(info, msg, overlapping))
        if new:
            self._callback(msg)

    def _subscribe(self):
        self._generation += 1
        self._current_delivered = False
        # No QoS event handlers (rclpy's default one logs incompatible QoS, which this class
        # resolves): a multi-threaded executor building its wait set while a timer
        # destroys the replaced subscription fails on a destroyed event handler (rclpy
        # skips destroyed subscriptions, not destroyed waitables).
        return compat.create_subscription(
            self.node, self.msg_type, self.topic,
            functools.partial(self._on_message, self._generation),
            _input_profile(self.reliable, self.depth),
            event_callbacks=compat.SubscriptionEventCallbacks(use_default_callbacks=False))

    def _follow_publishers(self) -> None:
        if self._previous is not None and self._current_delivered:
            self.node.destroy_subscription(self._previous)
            self._previous = None
            # The new reader may still hand over messages the old one already delivered.
            self._overlap_until = time.monotonic() + self.OVERLAP_GRACE
        publishers = self.node.get_publishers_info_by_topic(self._subscription.topic_name)
        if not publishers:
            return
        reliable = all(p.qos_profile.reliability == QoSReliabilityPolicy.RELIABLE
                       for p in publishers)
        if reliable != self.reliable:
            self.reliable = reliable
            self.node.get_logger().info(
                f'{self._subscription.topic_name}: {len(publishers)} publisher(s), '
                f'subscribing {"reliable" if reliable else "best effort"}')
            if self._previous is not None:
                self.node.destroy_subscription(self._previous)
            self._previous, self._subscription = self._subscription, self._subscribe()
            self._overlap_until = 0.0

    @property
    def topic_name(self) -> str:
        return self._subscription.topic_name

    def get_publisher_count(self) -> int:
        return compat.publisher_count(self.node, self._subscription)

    def destroy(self) -> None:
        if self._timer is not None:
            self.node.destroy_timer(self._timer)
        for subscription in (self._subscription, self._previous):
            if subscription is not None:
                self.node.destroy_subscription(subscription)
        self._timer = self._subscription = self._previous = None


def _ignore_signals() -> None:
    """A second Ctrl-C (a terminal and ros2 launch each send one) or a SIGTERM during
    teardown must not interrupt it with a traceback."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


def parameters_files(argv) -> list[str]:
    """The ``--params-file`` paths of the ROS arguments in a command line."""
    files, in_ros_args, argv = [], False, list(argv)
    for i, arg in enumerate(argv):
        if arg == '--ros-args':
            in_ros_args = True
        elif arg == '--':
            in_ros_args = False
        elif in_ros_args and arg == '--params-file' and i + 1 < len(argv):
            files.append(argv[i + 1])
    return files


def check_parameters_files(node: Node, files) -> None:
    """StartupError when a parameters file's section for ``node`` holds names the node
    does not declare (rclpy would ignore them silently), naming the closest valid one."""
    declared = compat.declared_parameter_names(node)
    for path in files:
        try:
            check_node_section(path, node.get_fully_qualified_name(), declared)
        except ValueError as error:
            raise startup_error(node, error) from error


def run_nodes(name: str, node_classes, args=None) -> int:
    """The ``main`` of an executable: create ``node_classes``, spin them (several on a
    multi-threaded executor, so that stages of consecutive frames overlap) until
    shutdown. A configuration error exits with status 1 and a message saying what to
    fix; SIGINT (once or twice) and SIGTERM end it with status 0 and no traceback.
    """
    profile = use_dds_profile()
    rclpy.init(args=args)
    nodes = []
    try:
        params_files = parameters_files(sys.argv if args is None else args)
        for node_class in node_classes:
            nodes.append(node_class())
            check_parameters_files(nodes[-1], params_files)
        nodes[0].get_logger().info(f'DDS: {profile}')
        executor = (MultiThreadedExecutor(num_threads=len(nodes)) if len(nodes) > 1
                    else SingleThreadedExecutor())
        for node in nodes:
            executor.add_node(node)
        executor.spin()
    except StartupError:
        return 1  # already logged by startup_error
    except CONFIG_ERRORS as error:
        print(f'[{name}] invalid configuration: {error}', file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # A signal shut the context down while a callback ran: its publish then fails
        # ("context is invalid"). That is a normal stop; anything else is a real error.
        if rclpy.ok():
            raise
    finally:
        _ignore_signals()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
        # rclpy's shutdown restores the handlers it replaced: keep ignoring until exit.
        _ignore_signals()
    return 0
