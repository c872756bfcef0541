"""Test-only emulation of ROS 2 Humble's rclpy (3.3.x) API on the Kilted rclpy (9.x) installed here.

Humble cannot be installed on this machine, yet the package must run there. ``apply()``
changes, in this process, exactly the rclpy behaviours listed below to what Humble does,
so that the package's nodes (and its compatibility layer's feature detection) meet
Humble's API while real messages still flow over real DDS through Kilted's executor.
Everything else stays Kilted's. Nothing of pose_estimation_ros is touched.

Emulated (each with the evidence it rests on; "Jazzy" is rclpy 7.1.x, checked in
~/.cache/pose_estimation_ros/venv-jazzy, "Kilted" the 9.1.x wheels of this venv):

1. ``rclpy.event_handler`` does not exist (``import`` raises ImportError, ``rclpy`` has no
   such attribute). Humble has ``rclpy/qos_event.py`` only; ``event_handler`` came with
   ros2/rclpy#1058 (Iron development, Dec 2022), which left ``qos_event`` as a deprecated
   alias (Jazzy and Kilted: ``qos_event.py`` re-exports ``event_handler`` and warns).
2. ``rclpy.qos_event`` is Humble's module, imported without any deprecation warning:
   ``SubscriptionEventCallbacks(deadline, incompatible_qos, liveliness, message_lost,
   use_default_callbacks=True)``, ``PublisherEventCallbacks(deadline, liveliness,
   incompatible_qos, use_default_callbacks=True)`` (no ``incompatible_type`` or
   ``matched``: those events came with Iron), ``QoSEventHandler`` (the handler class,
   Kilted's ``EventHandler``) and the payload/enum/exception names of Humble's module.
   With ``use_default_callbacks`` the only default handler is the one logging incompatible
   QoS (Humble's ``create_event_handlers``); Kilted also registers a default
   incompatible-type handler. Nodes use these classes when ``event_callbacks`` is omitted,
   so a subscription or publisher carries Humble's set of event handlers.
3. ``Node.list_parameters`` does not exist (added by ros2/rclpy#1124, merged 2023-09, in
   Jazzy and Kilted). ``get_parameters_by_prefix('')`` (all versions) still works, and so
   does the node's ``~/list_parameters`` service (Humble answers it without the method).
4. ``Subscription.get_publisher_count`` does not exist (added by ros2/rclpy#1089,
   2023-03; Jazzy and Kilted have it). ``Node.count_publishers(topic)`` (all versions)
   still works.
5. Subscription callbacks get the message only, never a MessageInfo: Humble's executor
   calls ``await_or_execute(sub.callback, msg)`` (``Executor._execute_subscription``, as
   the rclpy 3.3 tracebacks of /opt/ros/humble show). Message-info callbacks came with
   ros2/rclpy#922 (released in 3.4.0, after Humble's 3.3.x): from then on (Jazzy, Kilted)
   ``Subscription.callback``'s setter binds ``inspect.signature`` to one, then two
   arguments and the executor passes ``(msg, info)`` for ``CallbackType.WithMessageInfo``.
   Here the setter always chooses the message-only call (so a two-parameter callback
   fails with TypeError at its first message, as on Humble) and validates nothing (Humble
   raises no RuntimeError at creation for a callback of the wrong arity).
   ``Subscription.CallbackType`` and ``rclpy.subscription.MessageInfo`` do not exist
   (Humble has neither; Jazzy has the first only). The package's input callbacks,
   ``functools.partial(self._on_message, generation)`` over ``(generation, msg, info)``,
   are bound by Kilted's check as WithMessageInfo and fail on Humble. MessageInfo keys,
   for the record: Humble's C++ ``take_message`` returns ``source_timestamp`` and
   ``received_timestamp`` only (Humble-era ``src/rclpy/subscription.cpp``); #922 added
   ``publication_sequence_number`` and ``reception_sequence_number`` (Jazzy);
   ``publisher_gid`` came with ros2/rclpy#1466 (2025-06) and is in Kilted 9.1.x, not in
   Jazzy 7.1.x. Under this emulation no user callback receives an info dict, so its keys
   are not rewritten.
6. ``Node.create_timer(timer_period_sec, callback, callback_group=None, clock=None)``: no
   ``autostart`` (asked for in ros2/rclpy#1137, 2023-06; Jazzy and Kilted have it).
7. ``rclpy.clock_type`` does not exist (Iron's module list has none, Jazzy's has it);
   ``ClockType`` is imported from ``rclpy.clock`` as on every version.
8. Environment (``environment=True``, the default): Humble's rcl reads
   ``ROS_LOCALHOST_ONLY`` (``"1"``: this host only; otherwise the whole network) and knows
   neither ``ROS_AUTOMATIC_DISCOVERY_RANGE`` nor ``ROS_STATIC_PEERS`` (ros2/rcl
   ``src/rcl/localhost.c`` of that era); Kilted's rcl reads only the latter two (Jazzy's
   both). So ``ROS_AUTOMATIC_DISCOVERY_RANGE`` becomes ``LOCALHOST`` when
   ``ROS_LOCALHOST_ONLY=1`` and ``SUBNET`` otherwise, and ``ROS_STATIC_PEERS`` is removed.
   ``ROS_DISTRO`` is left as it is: it is no rclpy API, and below rclpy this is still
   Kilted's rmw_fastrtps with Fast DDS 3, so choices made from ``ROS_DISTRO=humble`` (e.g.
   which Fast DDS profile variable to set) would be exercised against the wrong DDS.

The same on Humble, Jazzy and Kilted, so nothing to emulate (all older than Humble, by the
rclpy pull request that added them; present in the Jazzy and Kilted sources installed
here): ``Node.count_publishers`` (#183, 2018), ``Clock(clock_type=ClockType.STEADY_TIME)``
with ``ClockType`` in ``rclpy.clock`` (#210, 2018), ``create_timer(clock=...)`` (#419),
``Node.get_parameters_by_prefix`` (#374, 2019), ``Node.add_on_set_parameters_callback``
with ``SetParametersResult`` (#457, Foxy), ``Node.get_publishers_info_by_topic`` (#454,
Foxy), ``Publisher.wait_for_all_acked`` (#793, 2021), ``rclpy.try_shutdown`` and
``rclpy.executors.ExternalShutdownException`` (before #868, 2021-12; Humble code catching
it in ros2/rclpy#1077), ``MultiThreadedExecutor(num_threads=...)``, the loggers'
``throttle_duration_sec``, ``SubscriptionEventCallbacks(use_default_callbacks=False)``
(no handlers at all, Humble's qos_event as in Kilted).

Not emulated: whether an exception raised in a callback run by a MultiThreadedExecutor
reaches ``spin()`` differs between Humble patch releases (ros2/rclpy#984, reverted by #1017);
this keeps Kilted's (it does). Kilted-only extras that Humble lacks and the package does
not use (timer callbacks annotated with TimerInfo, content filters, rclpy.experimental:
its EventsExecutor does not work under the emulation) are left as they are. Order:
apply before creating nodes (subscriptions created earlier keep Kilted's callback type,
parameter services Kilted's callback).

Use:

* In-process, with pytest: request the ``humble_rclpy`` fixture (import it into the test
  module: ``from humble_rclpy import humble_rclpy_fixture  # noqa: F401``) before ``ros``; it
  applies the emulation with the test's ``monkeypatch`` and everything is undone after
  the test. Package modules imported before (at collection) were imported under Kilted
  (e.g. ``nodes/compat.py`` decides at import):
  ``humble_rclpy.import_fresh('pose_estimation_ros.nodes.inference_node', monkeypatch)``
  imports them again under the emulation (the ``pose_estimation_ros.nodes`` modules of
  before are back after the test; message modules are never imported twice).
* In a process of its own: ``python test/humble_rclpy.py pose_estimation_ros.nodes.inference_node
  --ros-args ...`` applies the emulation, then runs that module's ``main()`` (or
  ``module:function``) with ``sys.argv`` set to the module name and the remaining
  arguments, and exits with its return value; ``--no-environment`` first keeps the
  discovery variables. Equivalent: ``python -c "import humble_rclpy; humble_rclpy.apply();
  from pose_estimation_ros.nodes.inference_node import main; main()" --ros-args ...`` with
  test/ on PYTHONPATH.
* Elsewhere: ``patches = apply()`` and ``patches.undo()``.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import types

KILTED_MAJOR = 9  # the rclpy these patches were written against (its internals)
HIDDEN_MODULES = ('rclpy.event_handler', 'rclpy.clock_type')
# Kilted names that Humble's rclpy/qos_event.py defines too, under the same name.
_QOS_EVENT_NAMES = (
    'QoSPublisherEventType', 'QoSSubscriptionEventType', 'QoSRequestedDeadlineMissedInfo',
    'QoSLivelinessChangedInfo', 'QoSMessageLostInfo', 'QoSRequestedIncompatibleQoSInfo',
    'QoSOfferedDeadlineMissedInfo', 'QoSLivelinessLostInfo', 'QoSOfferedIncompatibleQoSInfo',
    'UnsupportedEventTypeError')
_MISSING = object()


class Patches:
    """The subset of pytest's MonkeyPatch that ``apply`` uses, for use outside pytest."""

    def __init__(self):
        self._undo = []

    def setattr(self, target, name, value, raising=True):
        old = getattr(target, name, _MISSING)
        if old is _MISSING and raising:
            raise AttributeError(f'{target!r} has no attribute {name!r}')
        self._undo.append((_restore_attr, target, name, old))
        setattr(target, name, value)

    def delattr(self, target, name, raising=True):
        old = getattr(target, name, _MISSING)
        if old is _MISSING:
            if raising:
                raise AttributeError(name)
            return
        self._undo.append((_restore_attr, target, name, old))
        delattr(target, name)

    def setitem(self, mapping, key, value):
        self._undo.append((_restore_item, mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def delitem(self, mapping, key, raising=True):
        if key not in mapping:
            if raising:
                raise KeyError(key)
            return
        self._undo.append((_restore_item, mapping, key, mapping[key]))
        del mapping[key]

    def setenv(self, name, value, prepend=None):
        self.setitem(os.environ, name, str(value))

    def delenv(self, name, raising=True):
        self.delitem(os.environ, name, raising)

    def undo(self):
        while self._undo:
            restore, target, name, old = self._undo.pop()
            restore(target, name, old)


def _restore_attr(target, name, old):
    if old is _MISSING:
        if hasattr(target, name):
            delattr(target, name)
    else:
        setattr(target, name, old)


def _restore_item(mapping, key, old):
    if old is _MISSING:
        mapping.pop(key, None)
    else:
        mapping[key] = old


class _State:
    applied = False


def is_applied() -> bool:
    return _State.applied


def humble_environment(environ=os.environ) -> dict:
    """The environment changes that make Kilted's rcl discover as Humble's would with
    ``environ``: {name: value, or None to remove}."""
    localhost = environ.get('ROS_LOCALHOST_ONLY') == '1'
    return {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST' if localhost else 'SUBNET',
            'ROS_STATIC_PEERS': None}


def _rclpy_major() -> int:
    from importlib import metadata
    for distribution in ('rclpy', 'ros_rclpy', 'ros-rclpy'):
        try:
            return int(metadata.version(distribution).split('.')[0])
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return -1


def _preimport_rclpy() -> None:
    """Import every rclpy module now (except rclpy.experimental and the deprecated
    rclpy.qos_event), so that the modules hidden afterwards were already bound wherever
    rclpy itself imports them at module level."""
    import rclpy
    for info in pkgutil.walk_packages(rclpy.__path__, 'rclpy.'):
        name = info.name
        if (name.startswith('rclpy.experimental') or name == 'rclpy.qos_event'
                or name.startswith('rclpy._')):
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - optional pieces (e.g. missing message packages)
            pass


def _incompatible_qos_logger(parent, topic_name: str, other: str, consequence: str):
    """Humble's default incompatible-QoS callback: a warning on the entity's logger."""
    from rclpy.logging import get_logger
    from rclpy.qos import qos_policy_name_from_kind

    with parent:
        logger = get_logger(parent.get_logger_name())

    def _default_incompatible_qos_callback(event):
        policy_name = qos_policy_name_from_kind(event.last_policy_kind)
        logger.warning(f"New {other} discovered on topic '{topic_name}', {consequence}. "
                    f'Last incompatible policy: {policy_name}')
    return _default_incompatible_qos_callback


def _make_event_callback_classes(kilted):
    """Humble's SubscriptionEventCallbacks and PublisherEventCallbacks, creating their
    handlers through Kilted's classes (without Kilted's default incompatible-type one)."""

    class SubscriptionEventCallbacks:
        """Container to provide middleware event callbacks for a Subscription (Humble)."""

        def __init__(self, *, deadline=None, incompatible_qos=None, liveliness=None,
                     message_lost=None, use_default_callbacks=True):
            self.deadline = deadline
            self.incompatible_qos = incompatible_qos
            self.liveliness = liveliness
            self.message_lost = message_lost
            self.use_default_callbacks = use_default_callbacks

        def create_event_handlers(self, callback_group, subscription, topic_name):
            incompatible_qos = self.incompatible_qos
            if not incompatible_qos and self.use_default_callbacks:
                incompatible_qos = _incompatible_qos_logger(
                    subscription, topic_name, 'publisher',
                    'offering incompatible QoS. No messages will be received from it')
            return kilted.SubscriptionEventCallbacks(
                deadline=self.deadline, incompatible_qos=incompatible_qos,
                liveliness=self.liveliness, message_lost=self.message_lost,
                use_default_callbacks=False,
            ).create_event_handlers(callback_group, subscription, topic_name)

    class PublisherEventCallbacks:
        """Container to provide middleware event callbacks for a Publisher (Humble)."""

        def __init__(self, *, deadline=None, liveliness=None, incompatible_qos=None,
                     use_default_callbacks=True):
            self.deadline = deadline
            self.liveliness = liveliness
            self.incompatible_qos = incompatible_qos
            self.use_default_callbacks = use_default_callbacks

        def create_event_handlers(self, callback_group, publisher, topic_name):
            incompatible_qos = self.incompatible_qos
            if not incompatible_qos and self.use_default_callbacks:
                incompatible_qos = _incompatible_qos_logger(
                    publisher, topic_name, 'subscription',
                    'requesting incompatible QoS. No messages will be sent to it')
            return kilted.PublisherEventCallbacks(
                deadline=self.deadline, liveliness=self.liveliness,
                incompatible_qos=incompatible_qos, use_default_callbacks=False,
            ).create_event_handlers(callback_group, publisher, topic_name)

    for cls in (SubscriptionEventCallbacks, PublisherEventCallbacks):
        cls.__module__ = 'rclpy.qos_event'
    return SubscriptionEventCallbacks, PublisherEventCallbacks


def _humble_qos_event_module(kilted, subscription_callbacks, publisher_callbacks):
    module = types.ModuleType('rclpy.qos_event', 'QoS event callbacks (emulated Humble API).')
    for name in _QOS_EVENT_NAMES:
        if hasattr(kilted, name):
            setattr(module, name, getattr(kilted, name))
    module.QoSEventHandler = kilted.EventHandler
    module.SubscriptionEventCallbacks = subscription_callbacks
    module.PublisherEventCallbacks = publisher_callbacks
    return module


def apply(monkeypatch=None, *, environment: bool = True):
    """Make this process's rclpy present Humble's API (see the module docstring).

    ``monkeypatch``: pytest's fixture (undone with the test) or None for a ``Patches``
    of its own. Returns the object holding the patches (``.undo()`` reverts them).
    ``environment``: also the discovery variables (read by rclpy.init, so apply first).
    """
    if _State.applied:
        raise RuntimeError('the Humble rclpy emulation is already applied in this process')
    major = _rclpy_major()
    if major != KILTED_MAJOR:
        raise RuntimeError(f'humble_rclpy patches Kilted rclpy {KILTED_MAJOR}.x internals; '
                           f'this is rclpy {major}.x')
    patches = monkeypatch if monkeypatch is not None else Patches()
    _preimport_rclpy()

    import rclpy
    import rclpy.event_handler as kilted_events
    import rclpy.executors
    import rclpy.node
    import rclpy.parameter_service
    import rclpy.subscription
    from rcl_interfaces.msg import ListParametersResult

    Node = rclpy.node.Node
    Subscription = rclpy.subscription.Subscription
    ParameterService = rclpy.parameter_service.ParameterService
    for owner, name in ((Node, 'list_parameters'), (Node, 'create_timer'),
                        (Subscription, 'CallbackType'), (Subscription, 'get_publisher_count'),
                        (rclpy.subscription, 'MessageInfo'), (rclpy.executors, 'Subscription'),
                        (ParameterService, '_list_parameters_callback')):
        if not hasattr(owner, name):
            raise RuntimeError(f'humble_rclpy: {owner.__name__}.{name} not found; '
                               f'rclpy changed, update the emulation')
    callback_types = Subscription.CallbackType
    message_only = callback_types.MessageOnly
    kilted_list_parameters = Node.list_parameters
    kilted_create_timer = Node.create_timer

    # 1, 7: modules Humble does not have.
    for name in HIDDEN_MODULES:
        patches.setitem(sys.modules, name, None)
        patches.delattr(rclpy, name.split('.', 1)[1], raising=False)

    # 2: Humble's qos_event, and its classes for entities created without event_callbacks.
    subscription_callbacks, publisher_callbacks = _make_event_callback_classes(kilted_events)
    qos_event = _humble_qos_event_module(kilted_events, subscription_callbacks,
                                         publisher_callbacks)
    patches.setitem(sys.modules, 'rclpy.qos_event', qos_event)
    patches.setattr(rclpy, 'qos_event', qos_event, raising=False)
    patches.setattr(rclpy.node, 'SubscriptionEventCallbacks', subscription_callbacks)
    patches.setattr(rclpy.node, 'PublisherEventCallbacks', publisher_callbacks)

    # 3: no Node.list_parameters; the ListParameters service answers without it.
    def _list_parameters_callback(self, request, response):
        node = self._get_node()
        try:
            response.result = kilted_list_parameters(node, request.prefixes, request.depth)
        except (TypeError, ValueError):
            response.result = ListParametersResult()
        return response

    patches.delattr(Node, 'list_parameters')
    patches.setattr(ParameterService, '_list_parameters_callback', _list_parameters_callback)

    # 4: no Subscription.get_publisher_count.
    patches.delattr(Subscription, 'get_publisher_count')

    # 5: callbacks get the message only. Kilted's executor passes the message alone when
    # sub._callback_type is Subscription.CallbackType.MessageOnly; it keeps the enum
    # through a name of its own while the class loses it, as Humble's has none.
    def _get_callback(self):
        return self._callback

    def _set_callback(self, value):
        self._callback = value
        self._callback_type = message_only

    patches.setattr(Subscription, 'callback', property(_get_callback, _set_callback))
    patches.setattr(rclpy.executors, 'Subscription',
                    type('Subscription', (), {'CallbackType': callback_types}))
    patches.delattr(Subscription, 'CallbackType')
    patches.delattr(rclpy.subscription, 'MessageInfo')

    # 6: create_timer without autostart.
    def create_timer(self, timer_period_sec, callback, callback_group=None, clock=None):
        """Create a new timer (Humble's signature: no ``autostart``)."""
        return kilted_create_timer(self, timer_period_sec, callback, callback_group, clock)

    patches.setattr(Node, 'create_timer', create_timer)

    # 8: what Humble's rcl reads.
    if environment:
        for name, value in humble_environment(os.environ).items():
            if value is None:
                patches.delenv(name, raising=False)
            else:
                patches.setenv(name, value)

    patches.setattr(_State, 'applied', True)
    return patches


def import_fresh(module_name: str, monkeypatch, prefixes=('pose_estimation_ros.nodes',)):
    """Import ``module_name`` again under the emulation: the loaded modules under
    ``prefixes`` leave sys.modules (restored with ``monkeypatch``) and are imported anew.
    Message modules stay: a second copy of a message class would not match the first."""
    if not _State.applied:
        raise RuntimeError('apply() the emulation first')
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + '.') for p in prefixes):
            monkeypatch.delitem(sys.modules, name)
    return importlib.import_module(module_name)


try:
    import pytest
except ImportError:  # pragma: no cover - the runner works without pytest
    pytest = None

if pytest is not None:
    @pytest.fixture(name='humble_rclpy')
    def humble_rclpy_fixture(monkeypatch):
        """The Humble rclpy emulation for one test (undone after it); request it before
        ``ros``. Yields this module (``import_fresh`` and the rest)."""
        apply(monkeypatch)
        yield sys.modules[__name__]


USAGE = (f'usage: python {os.path.basename(__file__)} [--no-environment] '
         f'MODULE[:FUNCTION] [ARGS...]\n'
         f'Runs MODULE.FUNCTION() (default main) under the Humble rclpy emulation, '
         f'sys.argv = [MODULE, ARGS...].')


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    environment = True
    if argv and argv[0] == '--no-environment':
        environment = False
        argv.pop(0)
    if not argv or argv[0] in ('-h', '--help'):
        print(USAGE, file=sys.stderr)
        return 2
    target, args = argv[0], argv[1:]
    module_name, _, function = target.partition(':')
    apply(environment=environment)
    sys.argv = [module_name, *args]
    result = getattr(importlib.import_module(module_name), function or 'main')()
    return result if isinstance(result, int) else 0


if __name__ == '__main__':
    sys.exit(main())
