"""Frame counting and duplicate detection with the MessageInfo each ROS distribution
gives (pose_estimation_ros.nodes.compat): Kilted (publisher gid and sequence numbers),
Jazzy (sequence numbers and source timestamps, no gid), Humble (no MessageInfo).

The infos are shaped as rclpy builds them (test/humble_rclpy.py gives the evidence); the
real ones cross DDS in test_graph.py (Kilted, Jazzy in CI) and test_humble.py."""
from __future__ import annotations

from std_msgs.msg import Header

from pose_estimation_ros.nodes.compat import message_key, sequence_of
from pose_estimation_ros.nodes.diagnostics import FrameCounter


def kilted(gid: int, sequence: int, source: int = 0) -> dict:
    return {'source_timestamp': source, 'received_timestamp': source + 1,
            'publication_sequence_number': sequence, 'reception_sequence_number': sequence,
            'publisher_gid': {'implementation_identifier': 'rmw_fastrtps_cpp',
                              'data': bytes([gid] * 16)}}


def jazzy(sequence: int, source: int) -> dict:
    info = kilted(0, sequence, source)
    del info['publisher_gid']
    return info


def msg(sec: int):
    header = Header(frame_id='camera')
    header.stamp.sec = sec
    return type('Msg', (), {'header': header})()


def test_kilted_counts_skips_per_publisher_and_drops_second_copies():
    counter = FrameCounter('images')
    assert [counter.count(kilted(1, n)) for n in (1, 2, 5)] == [True] * 3
    assert counter.skipped == 2  # 3 and 4 replaced while busy
    assert counter.count(kilted(1, 5)) is False  # the other subscription's copy
    # A second (or restarted) publisher: its own numbering, nothing dropped.
    assert [counter.count(kilted(2, n)) for n in (1, 2)] == [True, True]
    # A late copy (lower number, same gid) is no restart: the count goes on from 5.
    assert counter.count(kilted(1, 3)) is True
    assert counter.count(kilted(1, 6)) is True
    assert (counter.received, counter.skipped, counter.skips_known) == (7, 2, True)


def test_jazzy_restarted_publisher_loses_no_frame():
    """No gid: a restarted camera starts again at sequence 1. Its frames are new (other
    source timestamps), never duplicates; the skip count starts over with it."""
    counter = FrameCounter('images')
    assert all(counter.count(jazzy(n, 100 + n)) for n in (1, 2, 3, 6))
    assert counter.skipped == 2
    assert counter.count(jazzy(6, 106)) is False  # the same message twice
    assert all(counter.count(jazzy(n, 900 + n)) for n in (1, 2, 3))  # restarted
    assert (counter.received, counter.skipped) == (7, 2)
    assert sequence_of(jazzy(4, 1)) == (None, 4)


def test_humble_without_message_info():
    """No MessageInfo: skips unknown; a frame's header recognises the second copy only
    while two subscriptions overlap (a looped bag repeats its stamps)."""
    counter = FrameCounter('images')
    assert counter.count(None, msg(10), overlapping=True) is True
    assert counter.count(None, msg(10), overlapping=True) is False
    assert counter.count(None, msg(11), overlapping=True) is True
    # Not overlapping: the same stamps again are a bag replayed, not copies.
    assert counter.count(None, msg(10)) is True
    assert counter.count(None, msg(10)) is True
    assert (counter.received, counter.skipped, counter.skips_known) == (4, 0, False)


def test_message_key_by_what_each_distribution_gives():
    assert message_key(kilted(3, 7), msg(1))[0] == 'gid'
    assert message_key(jazzy(7, 123), msg(1)) == ('source', 123, 7)
    assert message_key(None, msg(1)) == ('header', 1, 0, 'camera')
    # Sequence number 0: the middleware does not support them; the header then.
    assert message_key(jazzy(0, 123), msg(2))[0] == 'header'
    assert message_key(None, object()) is None
