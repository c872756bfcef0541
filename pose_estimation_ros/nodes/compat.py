"""What differs between the ROS 2 distributions the nodes run on, in one place.

Found by feature detection on the rclpy that is imported, never by ``ROS_DISTRO`` (a
source build, a back-port or a mixed environment makes distro names lie). Every node
goes through these names; the README's support table says what each distribution gets.

=============================  ===========================  ===========================
behaviour                      Humble (rclpy 3.3)           Jazzy (7.1), Kilted (9.x)
=============================  ===========================  ===========================
QoS event callbacks            ``rclpy.qos_event``          ``rclpy.event_handler``
subscription callback          message only                 message and MessageInfo
                                                            when it takes two arguments
MessageInfo in callbacks       none                         sequence numbers; Kilted
                                                            also the publisher's gid
matched publisher count        ``Node.count_publishers``    ``Subscription.get_...``
                               (publishers on the topic)
=============================  ===========================  ===========================

Consequences for frame counting (:class:`~pose_estimation_ros.nodes.diagnostics.
FrameCounter`): with a publisher gid (Kilted) skipped frames are counted per publisher;
with sequence numbers only (Jazzy) per input, a sequence going back being a restarted (or
another) publisher, never a duplicate; without MessageInfo (Humble) skips are unknown.
Duplicates (the same message delivered by the two subscriptions that overlap while an
input changes its QoS) are recognised on every distribution: see :func:`message_key`.
"""
from __future__ import annotations

import os
from typing import Callable

from rclpy.subscription import Subscription

try:  # Iron and newer
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

# rclpy (Iron and newer) passes the MessageInfo to a callback that takes two arguments,
# choosing by the callback's signature (Subscription.CallbackType); Humble's
# Subscription has no such choice and calls every callback with the message only.
PASSES_MESSAGE_INFO = hasattr(Subscription, 'CallbackType')

__all__ = ['FAST_DDS_PROFILE_VARIABLES', 'PASSES_MESSAGE_INFO', 'SubscriptionEventCallbacks',
           'create_subscription', 'declared_parameter_names', 'fast_dds_profile_variables',
           'message_key', 'publisher_count', 'sequence_of']


def create_subscription(node, msg_type, topic: str, callback: Callable, qos, **kwargs):
    """``node.create_subscription`` for a ``callback(msg, info)``: ``info`` is rclpy's
    MessageInfo (a dict) where rclpy gives one, None where it does not (Humble)."""
    if not PASSES_MESSAGE_INFO:
        def message_only(msg, _callback=callback):
            _callback(msg, None)
        return node.create_subscription(msg_type, topic, message_only, qos, **kwargs)
    return node.create_subscription(msg_type, topic, callback, qos, **kwargs)


def declared_parameter_names(node) -> list[str]:
    """Every parameter ``node`` declared (``Node.list_parameters`` is Iron and newer;
    ``get_parameters_by_prefix('')`` is on every distribution)."""
    return list(node.get_parameters_by_prefix(''))


def publisher_count(node, subscription) -> int:
    """Publishers matched to ``subscription``; on Humble (no
    ``Subscription.get_publisher_count``) the publishers of its topic."""
    if hasattr(subscription, 'get_publisher_count'):
        return subscription.get_publisher_count()
    return node.count_publishers(subscription.topic_name)


def sequence_of(info) -> tuple[bytes | None, int] | None:
    """``(publisher gid or None, publication sequence number)`` of a message, or None
    where rclpy or the middleware gives no sequence number (Humble; 0 = unsupported)."""
    sequence = info.get('publication_sequence_number') if info else None
    if not sequence:
        return None
    gid = info.get('publisher_gid')
    return (bytes(gid.get('data', b'')) if gid else b'') or None, sequence


def message_key(info, msg, sequence=...) -> tuple | None:
    """What tells one message from another of the same topic, for dropping the second
    copy that overlapping subscriptions deliver: the publisher gid with the sequence
    number (Kilted); the source timestamp with it (Jazzy: no gid, and a restarted
    publisher starts again at 1, so the sequence number alone would call its frames
    duplicates); the header (Humble: no MessageInfo), only meaningful while
    subscriptions overlap (a looped bag repeats its stamps). None: nothing to go by.
    ``sequence``: :func:`sequence_of` ``info``, when the caller has it already."""
    if sequence is ...:
        sequence = sequence_of(info)
    if sequence is not None:
        gid, number = sequence
        return ('gid', gid, number) if gid else ('source', info.get('source_timestamp'),
                                                 number)
    header = getattr(msg, 'header', None)
    if header is None:
        return None
    return ('header', header.stamp.sec, header.stamp.nanosec, header.frame_id)


# Fast DDS's XML profile variable: Fast DDS 3 (Kilted, library libfastdds) reads
# FASTDDS_DEFAULT_PROFILES_FILE, and Kilted's rmw also loads FASTRTPS_'s file (with a
# deprecation warning; XMLPARSER "profile already exists" errors when the two paths
# differ, as the installed share path and the source it links to with colcon's
# --symlink-install); Fast DDS 2 (Humble 2.6, Jazzy 2.14, libfastrtps) reads only
# FASTRTPS_DEFAULT_PROFILES_FILE. So one name is set, the one this Fast DDS reads.
FAST_DDS_PROFILE_VARIABLES = {'libfastdds.so': 'FASTDDS_DEFAULT_PROFILES_FILE',
                              'libfastrtps.so': 'FASTRTPS_DEFAULT_PROFILES_FILE'}


def fast_dds_profile_variables(environ) -> tuple[str, ...]:
    """The profile variables the Fast DDS found on the library path reads (the
    directories of LD_LIBRARY_PATH and of every AMENT_PREFIX_PATH's lib): one name,
    or both where neither or both libraries are found."""
    folders = [*environ.get('LD_LIBRARY_PATH', '').split(os.pathsep),
               *(os.path.join(p, 'lib') for p in environ.get('AMENT_PREFIX_PATH', '')
                 .split(os.pathsep) if p)]
    found = {variable for library, variable in FAST_DDS_PROFILE_VARIABLES.items()
             if any(folder and os.path.exists(os.path.join(folder, library))
                    for folder in folders)}
    return tuple(v for v in FAST_DDS_PROFILE_VARIABLES.values()
                 if len(found) != 1 or v in found)
