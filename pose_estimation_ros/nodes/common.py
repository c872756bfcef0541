"""What every node shares: QoS choices, startup errors, the ``main`` of an executable."""
from __future__ import annotations

import sys

import rclpy
from rclpy.exceptions import (InvalidParameterTypeException, InvalidParameterValueException,
                              ParameterException)
from rclpy.executors import (ExternalShutdownException, MultiThreadedExecutor,
                              SingleThreadedExecutor)
from rclpy.node import Node
from rclpy.qos import QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data

from pose_estimation_ros.core.params import check_node_section

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


def input_qos(node: Node, name: str) -> QoSProfile:
    """QoS for subscriptions to data from outside the pipeline (cameras, bags)."""
    if name == 'sensor_data':
        return qos_profile_sensor_data
    if name == 'reliable':
        return QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
    raise startup_error(node, f'input_qos must be sensor_data or reliable, got "{name}"')


def tensor_qos() -> QoSProfile:
    """QoS between the pipeline's own nodes: reliable, a short queue so that a slow
    stage works on recent frames rather than a growing backlog."""
    return QoSProfile(depth=2, reliability=QoSReliabilityPolicy.RELIABLE)


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
    declared = node.list_parameters([], 0).names
    for path in files:
        try:
            check_node_section(path, node.get_fully_qualified_name(), declared)
        except ValueError as error:
            raise startup_error(node, error) from error


def run_nodes(name: str, node_classes, args=None) -> int:
    """The ``main`` of an executable: create ``node_classes``, spin them (several on a
    multi-threaded executor, so that stages of consecutive frames overlap) until
    shutdown. A configuration error exits with status 1 and a message saying what to fix.
    """
    rclpy.init(args=args)
    nodes = []
    try:
        params_files = parameters_files(sys.argv if args is None else args)
        for node_class in node_classes:
            nodes.append(node_class())
            check_parameters_files(nodes[-1], params_files)
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
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
