"""Shared test fixtures: paths to the shared data and the model, and real rclpy over DDS.

DDS tests wait for publisher/subscription matching and for messages with timeouts,
never on fixed sleeps. scripts/test.sh gives every run its own ROS_DOMAIN_ID and keeps
discovery on this machine.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / 'shared' / 'data'
MODEL = REPO / 'models' / 'mobilenet_thin.onnx'
PARAMS_FILE = REPO / 'config' / 'mobilenet_thin.yaml'


def shipped_params() -> dict:
    """config/mobilenet_thin.yaml as a dict keyed by node name (its sections are written
    ``/**/node`` so that they apply in any namespace), for tests to edit and write."""
    import yaml
    return {key.rstrip('/').split('/')[-1]: section
            for key, section in yaml.safe_load(PARAMS_FILE.read_text()).items()}


def require_model() -> Path:
    """The converted model; a test that needs it fails (not skips) when it is missing."""
    if not MODEL.is_file():
        pytest.fail(f'{MODEL} is missing: run the README\'s set-up/test command '
                    f'(scripts/test.sh) to convert the model')
    return MODEL


@pytest.fixture
def ros():
    """A fresh rclpy context and executor for one test; everything torn down after."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    harness = RosHarness(context, executor)
    try:
        yield harness
    finally:
        harness.close()


class RosHarness:
    def __init__(self, context, executor):
        self.context = context
        self.executor = executor
        self.nodes = []

    def close(self):
        """Stop spinning, destroy the nodes, shut the context down."""
        import rclpy

        self.executor.shutdown()
        for node in self.nodes:
            node.destroy_node()
        rclpy.shutdown(context=self.context)

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def node(self, name: str, **kwargs):
        from rclpy.node import Node
        return self.add(Node(name, context=self.context, **kwargs))

    def spin_until(self, predicate, timeout: float = 30.0, what: str = 'condition'):
        """Spin the executor until ``predicate()`` is true; fail after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f'timed out after {timeout} s waiting for {what}')
            self.executor.spin_once(timeout_sec=0.05)

    def wait_matched(self, publisher=None, subscription=None, count: int = 1,
                     timeout: float = 20.0):
        """Wait until a publisher has ``count`` subscriptions (or a subscription has
        ``count`` publishers) matched."""
        from pose_estimation_ros.nodes import compat

        def publisher_count(subscription):
            node = next((n for n in self.nodes if subscription in n.subscriptions), None)
            return compat.publisher_count(node, subscription)

        if publisher is not None:
            self.spin_until(lambda: publisher.get_subscription_count() >= count, timeout,
                            f'{count} subscription(s) on {publisher.topic_name}')
        if subscription is not None:
            self.spin_until(lambda: publisher_count(subscription) >= count, timeout,
                            f'{count} publisher(s) on {subscription.topic_name}')

    def collect(self, msg_type, topic: str, qos=10, node=None):
        """Subscribe ``topic``: returns (list the messages are appended to, subscription)."""
        received = []
        node = node or self.node(f'collector_{len(self.nodes)}')
        subscription = node.create_subscription(msg_type, topic, received.append, qos)
        return received, subscription


def check_markers(markers, skeletons, namespace: str = 'skeleton') -> None:
    """A frame's MarkerArray describes its Skeleton2DArray: DELETEALL first (stale
    people vanish), all in the image's frame; every joint in one SPHERE_LIST, every limb
    in one LINE_LIST; one ``#id`` label per tracked person, its marker id the tracking
    id."""
    from visualization_msgs.msg import Marker

    first, *rest = markers.markers
    assert first.action == Marker.DELETEALL
    assert all(m.header == skeletons.header for m in markers.markers)
    people = skeletons.skeletons
    if not people:
        assert rest == []
        return
    joints, limbs, *labels = rest
    assert all(m.action == Marker.ADD for m in rest)
    assert (joints.ns, joints.id, joints.type) == (f'{namespace}/joints', 0, Marker.SPHERE_LIST)
    assert (limbs.ns, limbs.id, limbs.type) == (f'{namespace}/limbs', 0, Marker.LINE_LIST)
    assert len(joints.points) == len(joints.colors) == sum(len(s.keypoints) for s in people)
    assert len(limbs.points) == len(limbs.colors) == 2 * sum(len(s.edge_ids) for s in people)
    tracked = [s.tracking_id for s in people if s.tracking_id]
    assert [(m.ns, m.id, m.type, m.text) for m in labels] == [
        (f'{namespace}/ids', i, Marker.TEXT_VIEW_FACING, f'#{i}') for i in tracked]
