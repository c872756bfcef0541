"""Every bad message of test/bad_inputs.py is refused with its documented reason, and
every tricky but valid one gives what its plain twin gives.

In one process, through the same conversions and core calls as the nodes' callbacks
(nodes/messages.py, then the encoder, InferenceStage or decoder). The nodes themselves
(log line, drop, next frame) are checked over DDS in test_nodes.py; the lead's
separate-process harness reuses the same catalogue.
"""
from __future__ import annotations

import numpy as np
import pytest

import bad_inputs
from bad_inputs import (BAD_INPUTS, COMPRESSED_TOPIC, ENCODED_TOPIC, GOOD, IMAGE_TOPIC,
                        OUTPUT_TOPIC, TRICKY_VALID, header)
from conftest import require_model
from pose_estimation_ros.core.encoder import ImageEncoder
from pose_estimation_ros.core.openpose import OpenPoseDecoder
from pose_estimation_ros.core.params import (DECODER_PARAMETERS, ENCODER_PARAMETERS,
                                             INFERENCE_PARAMETERS, decoder_params, defaults,
                                             encoder_config)
from pose_estimation_ros.core.pipeline import InferenceStage, extract_maps
from pose_estimation_ros.nodes import messages


@pytest.fixture(scope='module')
def stages():
    """What each node's callback runs, with the nodes' default parameters."""
    inference = InferenceStage({**defaults(INFERENCE_PARAMETERS),
                                'model_file_path': str(require_model()),
                                'intra_op_num_threads': 2})
    decoder_values = defaults(DECODER_PARAMETERS)
    encoder = ImageEncoder(encoder_config(defaults(ENCODER_PARAMETERS)))
    decoder = OpenPoseDecoder(decoder_params(decoder_values))

    def image(msg):
        return encoder.encode(messages.image_msg_to_array(msg), msg.encoding)

    def compressed(msg):
        return encoder.encode(*messages.compressed_msg_to_array(msg))

    def encoded(msg):
        return inference.run(messages.tensor_list_arrays(msg))

    def output(msg):
        arrays = messages.tensor_list_arrays(msg)
        return decoder.decode(*extract_maps(arrays, decoder_values),
                              messages.geometry_from_msg(msg.geometry))

    yield {IMAGE_TOPIC: image, COMPRESSED_TOPIC: compressed, ENCODED_TOPIC: encoded,
           OUTPUT_TOPIC: output}
    inference.close()


def test_good_messages_pass(stages):
    for topic, build in GOOD.items():
        stages[topic](build(header()))
    people = stages[OUTPUT_TOPIC](GOOD[OUTPUT_TOPIC](header()))
    assert len(people) == 1 and len(people[0].part_ids) == 18


def test_catalogue_names_are_unique_and_cover_every_topic():
    names = [bad.name for bad in BAD_INPUTS + TRICKY_VALID]
    assert len(names) == len(set(names))
    assert {bad.topic for bad in BAD_INPUTS} == set(GOOD)
    assert all(bad.error for bad in BAD_INPUTS)


@pytest.mark.parametrize('bad', BAD_INPUTS, ids=lambda bad: bad.name)
def test_bad_input_is_refused_with_its_reason(stages, bad):
    msg = bad.build(header(1))
    assert isinstance(msg, bad.msg_type)
    with pytest.raises(ValueError) as error:
        stages[bad.topic](msg)
    assert bad.error in str(error.value)
    # The node goes on: the next good message still converts.
    stages[bad.topic](GOOD[bad.topic](header(2)))


@pytest.mark.parametrize('tricky', TRICKY_VALID, ids=lambda bad: bad.name)
def test_tricky_input_gives_what_its_plain_twin_gives(stages, tricky):
    odd, plain = tricky.build(header())
    got, expected = stages[tricky.topic](odd), stages[tricky.topic](plain)
    if tricky.topic == IMAGE_TOPIC:
        np.testing.assert_array_equal(got[0], expected[0])
        assert got[1] == expected[1]
    else:
        assert [p.keypoints.tolist() for p in got] == [p.keypoints.tolist() for p in expected]


def test_bombs_declare_huge_sizes_in_few_bytes():
    """The bombs are what they claim: tiny data, a header over the pixel limit."""
    from pose_estimation_ros.core.validation import MAX_COMPRESSED_PIXELS, compressed_image_size
    for data, kind in ((bad_inputs.png_bomb(), 'PNG'), (bad_inputs.jpeg_bomb(), 'JPEG')):
        assert len(data) < 50_000
        with pytest.raises(ValueError, match=f'{kind} header declares .* over the limit'):
            compressed_image_size(data)
    kind, width, height = compressed_image_size(bad_inputs.png_bomb(8000, 8000))
    assert (kind, width, height) == ('png', 8000, 8000) and width * height <= \
        MAX_COMPRESSED_PIXELS
