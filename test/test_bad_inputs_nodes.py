"""The catalogue of bad messages (test/bad_inputs.py) through the real nodes over DDS,
in this process: each bad message is dropped (nothing published for it), the node logs
why and keeps running, and the good message sent after it gives output.

The separate-process graph (one process per node) reuses the same catalogue in the
lead's harness.
"""
from __future__ import annotations

import pytest
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, QoSReliabilityPolicy

from bad_inputs import (BAD_INPUTS, COMPRESSED_TOPIC, ENCODED_TOPIC, GOOD, IMAGE_TOPIC,
                        MSG_TYPES, OUTPUT_TOPIC, header)
from conftest import require_model
from pose_estimation_ros.msg import Skeleton2DArray, TensorList
from pose_estimation_ros.nodes.image_encoder_node import ImageEncoderNode
from pose_estimation_ros.nodes.inference_node import InferenceNode
from pose_estimation_ros.nodes.openpose_decoder_node import OpenPoseDecoderNode

RELIABLE = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)


def _encoder(context):
    return ImageEncoderNode(context=context, parameter_overrides=[
        Parameter('input_qos', value='reliable'), Parameter('subscribe_compressed', value=True)])


def _inference(context):
    return InferenceNode(context=context, parameter_overrides=[
        Parameter('model_file_path', value=str(require_model())),
        Parameter('intra_op_num_threads', value=2)])


# topic -> (node factory, output topic, output type)
NODES = {IMAGE_TOPIC: (_encoder, 'encoded_tensor', TensorList),
         COMPRESSED_TOPIC: (_encoder, 'encoded_tensor', TensorList),
         ENCODED_TOPIC: (_inference, 'network_output', TensorList),
         OUTPUT_TOPIC: (lambda context: OpenPoseDecoderNode(context=context), 'skeletons',
                        Skeleton2DArray)}


def _taken(node) -> int:
    """Messages the node has taken from its input so far (its frame counters)."""
    counters = [i.counter for i in getattr(node, 'inputs', [])] or [node.counter]
    return sum(c.received for c in counters)


@pytest.mark.parametrize('topic', [IMAGE_TOPIC, COMPRESSED_TOPIC, ENCODED_TOPIC,
                                   OUTPUT_TOPIC])
def test_each_bad_message_is_dropped_and_the_next_good_one_processed(ros, capfd, topic):
    factory, output_topic, output_type = NODES[topic]
    node = ros.add(factory(ros.context))
    publisher = ros.node('source').create_publisher(MSG_TYPES[topic], topic, RELIABLE)
    outputs, subscription = ros.collect(output_type, output_topic, RELIABLE)
    ros.wait_matched(publisher)
    ros.wait_matched(subscription=subscription)
    bads = [bad for bad in BAD_INPUTS if bad.topic == topic]
    for index, bad in enumerate(bads):
        bad_stamp, good_stamp = 2 * index + 1, 2 * index + 2
        taken = _taken(node)
        publisher.publish(bad.build(header(bad_stamp)))
        # The encoder and inference keep only the newest input (depth 1): let the node
        # take the bad message before the good one replaces it.
        ros.spin_until(lambda taken=taken: _taken(node) > taken, 30.0, f'{bad.name} to be taken')
        publisher.publish(GOOD[topic](header(good_stamp)))
        ros.spin_until(lambda stamp=good_stamp: any(
            m.header.stamp.sec == 1_700_000_000 + stamp for m in outputs),
            60.0, f'output after {bad.name}')
    stamps = [m.header.stamp.sec - 1_700_000_000 for m in outputs]
    assert stamps == [2 * i + 2 for i in range(len(bads))], stamps
    # Logged (rate-limited: at least the first reason of the burst).
    log = capfd.readouterr().err
    assert 'dropped' in log and bads[0].error in log, log[-2000:]
