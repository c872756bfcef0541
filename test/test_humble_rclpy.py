"""The Humble rclpy emulation (test/humble_rclpy.py) does what Humble's rclpy 3.3 does,
with real rclpy nodes over real DDS; and a process run under it talks to Kilted ones."""
from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
import warnings
from pathlib import Path

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from std_msgs.msg import String

import humble_rclpy as shim
from humble_rclpy import humble_rclpy_fixture  # noqa: F401  (fixture humble_rclpy)

HERE = Path(__file__).resolve().parent
RELIABLE = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
BEST_EFFORT = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.BEST_EFFORT)
KILTED_INFO_KEYS = {'source_timestamp', 'received_timestamp', 'publication_sequence_number',
                    'reception_sequence_number', 'publisher_gid'}


@pytest.fixture(autouse=True)
def _localhost_only(monkeypatch):
    """What a Humble user sets to keep discovery on this machine (Humble ignores
    ROS_AUTOMATIC_DISCOVERY_RANGE); the emulation turns it into Kilted's variable."""
    monkeypatch.setenv('ROS_LOCALHOST_ONLY', '1')


def _topic(what: str) -> str:
    return f'humble_{what}_{uuid.uuid4().hex[:8]}'


def test_event_handler_module_does_not_exist(humble_rclpy):
    import rclpy
    with pytest.raises(ImportError):
        from rclpy.event_handler import SubscriptionEventCallbacks  # noqa: F401
    with pytest.raises(ImportError):
        importlib.import_module('rclpy.event_handler')
    assert not hasattr(rclpy, 'event_handler')
    with pytest.raises(ImportError):
        from rclpy.clock_type import ClockType  # noqa: F401
    from rclpy.clock import Clock, ClockType
    assert Clock(clock_type=ClockType.STEADY_TIME).clock_type == ClockType.STEADY_TIME


def test_qos_event_is_humbles(humble_rclpy):
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # Kilted's rclpy.qos_event warns on import
        from rclpy.qos_event import (PublisherEventCallbacks, QoSEventHandler,
                                     SubscriptionEventCallbacks, UnsupportedEventTypeError)
    assert list(inspect.signature(SubscriptionEventCallbacks).parameters) == [
        'deadline', 'incompatible_qos', 'liveliness', 'message_lost', 'use_default_callbacks']
    assert list(inspect.signature(PublisherEventCallbacks).parameters) == [
        'deadline', 'liveliness', 'incompatible_qos', 'use_default_callbacks']
    assert SubscriptionEventCallbacks(use_default_callbacks=False).use_default_callbacks is False
    for kilted_only in ('matched', 'incompatible_type'):
        with pytest.raises(TypeError):
            SubscriptionEventCallbacks(**{kilted_only: print})
    assert issubclass(UnsupportedEventTypeError, Exception) and QoSEventHandler is not None


def test_event_handlers_are_humbles(humble_rclpy, ros):
    from rclpy.qos_event import QoSEventHandler, SubscriptionEventCallbacks
    node = ros.node('humble_events')
    topic = _topic('events')
    default = node.create_subscription(String, topic, print, RELIABLE)
    silent = node.create_subscription(
        String, topic, print, RELIABLE,
        event_callbacks=SubscriptionEventCallbacks(use_default_callbacks=False))
    publisher = node.create_publisher(String, topic, RELIABLE)
    # Humble: one default handler (incompatible QoS); Kilted adds one for incompatible types.
    assert len(default.event_handlers) == 1 and len(publisher.event_handlers) == 1
    assert isinstance(default.event_handlers[0], QoSEventHandler)
    assert silent.event_handlers == []

    events = []
    node.create_subscription(String, topic, print, RELIABLE,
                             event_callbacks=SubscriptionEventCallbacks(
                                 incompatible_qos=events.append))
    ros.node('humble_events_source').create_publisher(String, topic, BEST_EFFORT)
    ros.spin_until(lambda: events, 20.0, 'an incompatible QoS event')
    assert events[0].total_count >= 1


def test_parameters_are_humbles(humble_rclpy, ros):
    from rcl_interfaces.msg import SetParametersResult
    from rcl_interfaces.srv import ListParameters
    from rclpy.parameter import Parameter

    node = ros.node('humble_params')
    node.declare_parameter('alpha', 1)
    with pytest.raises(AttributeError):
        node.list_parameters([], 0)
    assert {'alpha', 'use_sim_time'} <= set(node.get_parameters_by_prefix(''))
    node.add_on_set_parameters_callback(
        lambda params: SetParametersResult(successful=all(p.value > 0 for p in params)))
    assert not node.set_parameters([Parameter('alpha', value=-1)])[0].successful
    assert node.get_parameter('alpha').value == 1

    # `ros2 param list` still works: the node's ListParameters service over DDS.
    client = ros.node('humble_params_client').create_client(
        ListParameters, '/humble_params/list_parameters')
    ros.spin_until(client.service_is_ready, 20.0, 'the list_parameters service')
    future = client.call_async(ListParameters.Request())
    ros.spin_until(future.done, 20.0, 'the list_parameters response')
    assert 'alpha' in future.result().result.names


def test_subscriptions_are_humbles(humble_rclpy, ros):
    import rclpy.subscription
    node = ros.node('humble_subscriber')
    topic = _topic('flow')
    received, subscription = ros.collect(String, topic, RELIABLE, node=node)
    assert not hasattr(subscription, 'get_publisher_count')
    assert not hasattr(rclpy.subscription.Subscription, 'CallbackType')
    with pytest.raises(ImportError):
        from rclpy.subscription import MessageInfo  # noqa: F401
    publisher = ros.node('humble_publisher').create_publisher(String, topic, RELIABLE)
    ros.spin_until(lambda: node.count_publishers(topic) >= 1, 20.0, 'count_publishers')
    ros.wait_matched(publisher=publisher)
    publisher.publish(String(data='hello'))
    ros.spin_until(lambda: received, 20.0, 'the message')
    assert received[0].data == 'hello'


class _InputLike:
    """The shape of the package's input subscriptions: a partial over (generation, msg, info)."""

    def _on_message(self, generation, msg, info):
        raise AssertionError('never called with a MessageInfo on Humble')


def _two_parameter_function(msg, info):
    raise AssertionError('never called with a MessageInfo on Humble')


@pytest.mark.parametrize('make_callback', [
    lambda: _two_parameter_function,
    lambda: functools.partial(_InputLike()._on_message, 1),
], ids=['function', 'partial'])
def test_two_parameter_callback_fails_at_first_message(humble_rclpy, ros, make_callback):
    """Humble's executor calls callback(msg): TypeError at the first message, none at
    creation (a single-threaded executor re-raises it from spin_once on every version)."""
    from rclpy.node import Node
    topic = _topic('two_params')
    node = Node('humble_two_params', context=ros.context)
    ros.nodes.append(node)  # destroyed with the others; spun by its own executor
    node.create_subscription(String, topic, make_callback(), RELIABLE)
    executor = SingleThreadedExecutor(context=ros.context)
    executor.add_node(node)
    publisher = ros.node('humble_two_params_source').create_publisher(String, topic, RELIABLE)
    error = None
    deadline = time.monotonic() + 20.0
    try:
        while error is None and time.monotonic() < deadline:
            publisher.publish(String(data='x'))
            try:
                executor.spin_once(timeout_sec=0.1)
            except TypeError as exc:
                error = exc
    finally:
        executor.shutdown()
    assert error is not None, 'no message reached the callback'
    assert "missing 1 required positional argument: 'info'" in str(error)


def test_kilted_passes_message_info(ros):
    """Without the emulation (Kilted 9.1): a two-parameter callback gets (msg, info)."""
    topic = _topic('kilted_info')
    infos = []
    node = ros.node('kilted_info')
    node.create_subscription(String, topic, lambda msg, info: infos.append(info), RELIABLE)
    publisher = ros.node('kilted_info_source').create_publisher(String, topic, RELIABLE)
    ros.wait_matched(publisher=publisher)
    publisher.publish(String(data='x'))
    ros.spin_until(lambda: infos, 20.0, 'a message with its info')
    assert set(infos[0]) == KILTED_INFO_KEYS


def test_create_timer_is_humbles(humble_rclpy, ros):
    from rclpy.clock import Clock, ClockType
    from rclpy.node import Node
    assert list(inspect.signature(Node.create_timer).parameters) == [
        'self', 'timer_period_sec', 'callback', 'callback_group', 'clock']
    node = ros.node('humble_timer')
    with pytest.raises(TypeError):
        node.create_timer(0.01, print, autostart=False)
    ticks = []
    node.create_timer(0.01, lambda: ticks.append(1), clock=Clock(clock_type=ClockType.STEADY_TIME))
    ros.spin_until(lambda: len(ticks) >= 2, 20.0, 'two timer ticks')


def test_environment_is_what_humbles_rcl_reads(monkeypatch):
    assert shim.humble_environment({'ROS_LOCALHOST_ONLY': '1'})[
        'ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    for environ in ({}, {'ROS_LOCALHOST_ONLY': '0'},
                    {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}):
        assert shim.humble_environment(environ)['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'SUBNET'
    monkeypatch.setenv('ROS_STATIC_PEERS', '127.0.0.1')
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'OFF')
    shim.apply(monkeypatch)
    assert os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert 'ROS_STATIC_PEERS' not in os.environ


def test_import_fresh_imports_again_under_the_emulation(tmp_path, monkeypatch, request):
    package = tmp_path / 'humble_probe_pkg'
    package.mkdir()
    (package / '__init__.py').write_text('')
    (package / 'probe.py').write_text(textwrap.dedent('''
        try:
            from rclpy.event_handler import SubscriptionEventCallbacks
        except ImportError:
            from rclpy.qos_event import SubscriptionEventCallbacks
        SOURCE = SubscriptionEventCallbacks.__module__
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, 'humble_probe_pkg', raising=False)
    monkeypatch.delitem(sys.modules, 'humble_probe_pkg.probe', raising=False)
    kilted = importlib.import_module('humble_probe_pkg.probe')
    assert kilted.SOURCE == 'rclpy.event_handler'
    emulation = request.getfixturevalue('humble_rclpy')
    humble = emulation.import_fresh('humble_probe_pkg.probe', monkeypatch,
                                    prefixes=('humble_probe_pkg',))
    assert humble is not kilted and humble.SOURCE == 'rclpy.qos_event'


def test_undo_restores_kilted():
    import rclpy.node
    import rclpy.subscription
    patches = shim.apply(environment=False)
    try:
        assert shim.is_applied() and not hasattr(rclpy.node.Node, 'list_parameters')
        with pytest.raises(RuntimeError):
            shim.apply(environment=False)
    finally:
        patches.undo()
    assert not shim.is_applied()
    from rclpy.event_handler import SubscriptionEventCallbacks
    assert rclpy.node.SubscriptionEventCallbacks is SubscriptionEventCallbacks
    assert hasattr(rclpy.node.Node, 'list_parameters')
    assert hasattr(rclpy.subscription.Subscription, 'CallbackType')
    assert hasattr(rclpy.subscription.Subscription, 'get_publisher_count')


ECHO_MODULE = '''
import importlib
import json
import os
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from std_msgs.msg import String


def main():
    try:
        importlib.import_module('rclpy.event_handler')
        event_handler = True
    except ImportError:
        event_handler = False
    from rclpy.qos_event import SubscriptionEventCallbacks  # noqa: F401
    from rclpy.subscription import Subscription
    checks = {
        'event_handler': event_handler,
        'list_parameters': hasattr(Node, 'list_parameters'),
        'get_publisher_count': hasattr(Subscription, 'get_publisher_count'),
        'range': os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE'),
        'argv': sys.argv[1:],
    }
    rclpy.init()
    node = rclpy.create_node('humble_echo')
    publisher = node.create_publisher(String, sys.argv[2], 10)
    node.create_subscription(
        String, sys.argv[1],
        lambda msg: publisher.publish(String(data=json.dumps([checks, msg.data]))), 10)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
'''


def test_runner_runs_a_module_under_the_emulation_in_its_own_process(ros, tmp_path):
    (tmp_path / 'humble_echo.py').write_text(textwrap.dedent(ECHO_MODULE))
    ping, pong = _topic('ping'), _topic('pong')
    env = dict(os.environ, ROS_LOCALHOST_ONLY='1',
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    process = subprocess.Popen(
        [sys.executable, str(HERE / 'humble_rclpy.py'), 'humble_echo', ping, pong],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        received, _ = ros.collect(String, pong, RELIABLE)
        publisher = ros.node('kilted_ping').create_publisher(String, ping, RELIABLE)
        deadline = time.monotonic() + 60.0
        while not received:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, 'no echo from the emulated process'
            publisher.publish(String(data='ping'))
            resend = time.monotonic() + 0.5
            while not received and time.monotonic() < resend:
                ros.executor.spin_once(timeout_sec=0.05)
        checks, data = json.loads(received[0].data)
        assert data == 'ping'
        assert checks == {'event_handler': False, 'list_parameters': False,
                          'get_publisher_count': False, 'range': 'LOCALHOST',
                          'argv': [ping, pong]}
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
