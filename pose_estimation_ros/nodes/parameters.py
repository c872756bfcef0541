"""Declaring the nodes' parameters (tables in pose_estimation_ros.core.params).

:func:`declare_parameters` declares a table with full ``ParameterDescriptor``s (so
``ros2 param describe`` and rqt_reconfigure show the description, type and slider
ranges) and returns the values; :func:`on_parameters_change` validates live changes.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.node import Node
from rclpy.parameter import Parameter

from pose_estimation_ros.core.params import Param


def _descriptor(param: Param) -> ParameterDescriptor:
    kind = Parameter.Type.from_parameter_value(param.default)
    descriptor = ParameterDescriptor(
        name=param.name, type=kind.value, description=param.description,
        read_only=param.read_only)
    if param.range is not None:
        low, high = param.range
        if kind == Parameter.Type.INTEGER:
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high),
                                                     step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(low), to_value=float(high), step=0.0)]
    return descriptor


def declare_parameters(node: Node, params: Sequence[Param]) -> dict[str, Any]:
    """Declare ``params`` on ``node`` and return ``{name: value}``.

    Values whose type does not match the declared type (e.g. a string where a number is
    expected in the YAML file) raise rclpy's InvalidParameterTypeException, naming the
    parameter; callers turn that into a startup error.
    """
    values = {}
    for param in params:
        value = node.declare_parameter(param.name, param.default, _descriptor(param)).value
        # An empty list in YAML has no element type; keep the declared default's type.
        values[param.name] = list(value) if isinstance(value, (list, tuple)) else value
    return values


def on_parameters_change(node: Node, params: Sequence[Param],
                         apply: Callable[[dict[str, Any]], None]) -> None:
    """Validate and apply live changes of the writable ``params``.

    ``apply`` receives the full set of values with the changes merged in and must raise
    ValueError with the reason when they are invalid: the change is then refused with
    that reason, and the old values stay.
    """
    writable = {p.name for p in params if not p.read_only}

    def callback(changes: list[Parameter]) -> SetParametersResult:
        mine = [c for c in changes if c.name in writable]
        if not mine:
            return SetParametersResult(successful=True)
        values = {p.name: node.get_parameter(p.name).value for p in params}
        for change in mine:
            values[change.name] = change.value
        try:
            apply(values)
        except ValueError as error:
            node.get_logger().warning(f'parameter change refused: {error}')
            return SetParametersResult(successful=False, reason=str(error))
        node.get_logger().info('parameters changed: ' + ', '.join(
            f'{c.name}={c.value}' for c in mine))
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(callback)
