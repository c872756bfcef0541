"""Property-based tests (hypothesis) of the decoder, the encoder and the message
conversions: arbitrary inputs and parameters within their declared ranges never raise
anything but the documented ValueError, and results are always well formed.

Examples per test are kept modest (60) so that CI stays quick (about 15 s in all);
hypothesis shrinks any failure to a minimal example and prints it.
"""
from __future__ import annotations

import math
import os

import cv2
import numpy as np
from hypothesis import HealthCheck, event, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from pose_estimation_ros.core.encoder import (CHANNEL_ORDERS, ENCODER_DATA_TYPES, ENCODINGS,
                                              NORMALIZATION_TYPES, TENSOR_LAYOUTS,
                                              ImageEncoder, ImageEncoderConfig,
                                              decode_compressed, image_to_array)
from pose_estimation_ros.core.geometry import ImageGeometry
from pose_estimation_ros.core.openpose import (COCO18_LABELS, MATCHING_METHODS, DecoderParams,
                                               OpenPoseDecoder)
from pose_estimation_ros.core.params import DECODER_PARAMETERS
from pose_estimation_ros.core.tensors import DATA_TYPES, fill_tensor, tensor_to_array
from pose_estimation_ros.msg import ImageGeometry as ImageGeometryMsg, Tensor
from pose_estimation_ros.nodes import messages
from synthetic_pose import render_mobilenet_thin, skeleton

# A longer search: PROPERTY_EXAMPLES=600 scripts/test.sh -k properties
SETTINGS = settings(max_examples=int(os.environ.get('PROPERTY_EXAMPLES', '60')), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)
TAME = st.floats(-1e3, 1e3, width=32)


# ------------------------------------------------------------------ decoder
def _in_range(param):
    """Values of a decoder parameter within its declared range (core/params.py)."""
    low, high = param.range
    if isinstance(param.default, bool):
        return st.booleans()
    if isinstance(param.default, int):
        return st.integers(int(low), int(high))
    return st.floats(low, high)


_RANGED = {p.name: p for p in DECODER_PARAMETERS if p.range is not None and
           p.name in DecoderParams.__dataclass_fields__}


@st.composite
def ranged_values(draw, num_parts: int):
    """Decoder parameters within their declared ranges, and within the bounds other
    parameters put on them (validate() refuses the rest, tested separately)."""
    values = {name: draw(_in_range(param)) for name, param in _RANGED.items()}
    values['threshold_edge_sampling_counter'] = draw(
        st.integers(0, values['edge_sampling_steps'] - 1))
    values['threshold_part_counter'] = draw(st.integers(1, num_parts))
    values['threshold_object_score'] = draw(st.one_of(st.floats(0, 1.5), st.floats(0, 10)))
    values['nms_kernel_size'] = draw(st.sampled_from([3, 5, 7, 9, 11, 13, 15]))
    return values


@st.composite
def decoder_params(draw):
    num_parts = draw(st.integers(2, 6))
    pairs = [(a, b) for a in range(num_parts) for b in range(num_parts) if a != b]
    edges = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=6, unique=True))
    values = draw(ranged_values(num_parts))
    values.update(
        labels=[f'part{i}' for i in range(num_parts)], edges=edges,
        # PAF channels after the heatmaps, x and y of each edge in turn.
        edges_paf=[(num_parts + 2 * i, num_parts + 2 * i + 1) for i in range(len(edges))],
        refine_parts_coordinates=draw(st.booleans()),
        matching=draw(st.sampled_from(MATCHING_METHODS)),
        output_scale=draw(st.sampled_from([None, (2.0, 3.0)])))
    return values


@st.composite
def geometries(draw, height: int, width: int):
    """A geometry as the encoder makes it, for maps of height x width cells."""
    if draw(st.booleans()) or not height or not width:
        return None
    stride = draw(st.sampled_from([1, 4, 8]))
    return ImageGeometry.fit(draw(st.integers(1, 2000)), draw(st.integers(1, 2000)),
                             width * stride, height * stride, draw(st.booleans()))


@st.composite
def decoder_inputs(draw):
    values = draw(decoder_params())
    num_parts = len(values['labels'])
    channels = num_parts + 2 * len(values['edges'])
    sides = st.one_of(st.integers(3, 24), st.integers(0, 24))
    height, width = draw(sides), draw(sides)
    elements = st.one_of(TAME, FLOATS) if draw(st.booleans()) else st.floats(0, 1, width=32)
    maps = draw(hnp.arrays(np.float32, (height, width, channels), elements=elements))
    if draw(st.booleans()):  # peaky maps, so that people are found
        maps[..., :num_parts] = np.abs(maps[..., :num_parts])
    return values, maps, draw(geometries(height, width))


@st.composite
def people_inputs(draw):
    """COCO-18 maps of 1-3 synthetic people plus noise, parameters within range."""
    values = draw(ranged_values(len(COCO18_LABELS)))
    if draw(st.integers(0, 3)):  # mostly near the working point, so that people appear
        values.update(threshold_heatmap=draw(st.floats(0, 0.5)),
                      threshold_edge_score=draw(st.floats(-1, 0.5)),
                      threshold_edge_sampling_counter=draw(st.integers(0, 3)),
                      edge_sampling_steps=draw(st.integers(4, 20)),
                      threshold_part_counter=draw(st.integers(1, 8)),
                      threshold_object_score=draw(st.floats(0, 1.0)),
                      threshold_edge_size=draw(st.floats(0, 2.0)),
                      nms_kernel_size=draw(st.sampled_from([3, 5])))
    values['matching'] = draw(st.sampled_from(MATCHING_METHODS))
    values['refine_parts_coordinates'] = draw(st.booleans())
    height, width = draw(st.integers(20, 40)), draw(st.integers(20, 48))
    people = [skeleton(draw(st.floats(0, width)), draw(st.floats(0, height)),
                       draw(st.floats(4, 30))) for _ in range(draw(st.integers(1, 3)))]
    maps = render_mobilenet_thin(people, height, width).astype(np.float32)
    noise = draw(st.floats(0, 0.3))
    maps += noise * np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(
        maps.shape).astype(np.float32)
    return values, maps, draw(geometries(height, width))


def _decode_and_check(case):
    values, maps, geometry = case
    try:
        decoder = OpenPoseDecoder(DecoderParams(**values))
        people = decoder.decode(maps, maps, None, geometry)
    except ValueError as error:
        event(f'ValueError: {str(error)[:40]}')
        return
    event(f'decoded, {"people" if people else "nobody"}')
    params = decoder.params
    assert np.isfinite(maps).all()  # NaN/Inf maps must have been refused
    for person in people:
        parts = person.part_ids
        assert len(parts) >= params.threshold_part_counter
        assert len(set(parts.tolist())) == len(parts)
        assert ((0 <= parts) & (parts < len(params.labels))).all()
        assert np.isfinite(person.keypoints).all() and math.isfinite(person.score)
        assert person.score >= params.threshold_object_score
        assert (person.confidences > params.threshold_heatmap).all()
        assert all(0 <= e < len(params.edges) for e in person.edge_ids.tolist())
        for e in person.edge_ids.tolist():  # a limb joins two of the person's parts
            assert set(params.edges[e]) <= set(parts.tolist())
        x, y = person.xy[:, 0], person.xy[:, 1]
        if params.output_scale is None and geometry is not None:
            assert (x >= 0).all() and (x <= geometry.source_width).all()
            assert (y >= 0).all() and (y <= geometry.source_height).all()
        elif params.output_scale is None:
            assert (x >= 0).all() and (x <= maps.shape[1]).all()
            assert (y >= 0).all() and (y <= maps.shape[0]).all()
        x_min, y_min, x_max, y_max = person.bbox
        assert x_min == x.min() and x_max == x.max() and y_min == y.min() and \
            y_max == y.max()
    assert [p.score for p in people] == sorted((p.score for p in people), reverse=True)


@SETTINGS
@given(decoder_inputs())
def test_decoder_on_arbitrary_maps_and_topologies(case):
    _decode_and_check(case)


@SETTINGS
@given(people_inputs())
def test_decoder_on_noisy_people(case):
    _decode_and_check(case)


# ------------------------------------------------------------------ encoder
@st.composite
def encoder_configs(draw):
    normalization = draw(st.sampled_from(NORMALIZATION_TYPES))
    data_type = draw(st.sampled_from(ENCODER_DATA_TYPES))
    stddev = st.floats(1e-3, 10.0)
    return ImageEncoderConfig(
        network_image_width=draw(st.integers(1, 64)),
        network_image_height=draw(st.integers(1, 64)),
        keep_aspect_ratio=draw(st.booleans()), padding_value=draw(st.floats(0, 255)),
        normalization_type=normalization,
        image_mean=tuple(draw(st.floats(-10, 10)) for _ in range(3)),
        image_stddev=tuple(draw(stddev) for _ in range(3)),
        channel_order=draw(st.sampled_from(CHANNEL_ORDERS)),
        tensor_layout=draw(st.sampled_from(TENSOR_LAYOUTS)),
        data_type=data_type)


@st.composite
def images(draw):
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    dtype, channels, _ = ENCODINGS[encoding]
    shape = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    if channels > 1:
        shape += (channels,)
    return draw(hnp.arrays(dtype, shape)), encoding


@SETTINGS
@given(encoder_configs(), images())
def test_encoder_gives_a_finite_tensor_of_the_configured_shape(config, image_case):
    image, encoding = image_case
    try:
        encoder = ImageEncoder(config)
    except ValueError:
        return  # e.g. uint8 with a normalisation: refused with the reason
    tensor, geometry = encoder.encode(image, encoding)
    assert tensor.shape == config.tensor_shape and tensor.flags.c_contiguous
    assert tensor.dtype == np.dtype(config.data_type)
    assert np.isfinite(tensor.astype(np.float64)).all()
    geometry.validate()
    assert (geometry.source_width, geometry.source_height) == (image.shape[1], image.shape[0])
    # The resized image lies inside the input, and maps back onto the whole source.
    rw, rh = geometry.resized_size
    assert geometry.offset_x + rw <= config.network_image_width
    assert geometry.offset_y + rh <= config.network_image_height
    x, y = geometry.to_source([geometry.offset_x, geometry.offset_x + rw],
                              [geometry.offset_y, geometry.offset_y + rh])
    np.testing.assert_allclose([x[0], y[0]], 0.0, atol=1e-6)


@st.composite
def image_fields(draw):
    encoding = draw(st.one_of(st.sampled_from(sorted(ENCODINGS)),
                              st.sampled_from(['32FC1', 'yuv422', '', 'RGB8', 'bayer_rggb8'])))
    width, height = draw(st.integers(0, 12)), draw(st.integers(0, 12))
    step = draw(st.integers(0, 120))
    size = draw(st.one_of(st.just(step * height), st.integers(0, 1500)))
    data = draw(st.binary(min_size=size, max_size=size))
    return data, width, height, step, encoding, draw(st.booleans())


@SETTINGS
@given(image_fields())
def test_image_conversion_gives_the_declared_pixels_or_value_error(fields):
    data, width, height, step, encoding, bigendian = fields
    try:
        image = image_to_array(data, width, height, step, encoding, bigendian)
    except ValueError:
        assert not (encoding in ENCODINGS and width > 0 and height > 0 and
                    len(data) == step * height and
                    step >= width * ENCODINGS[encoding][1] * ENCODINGS[encoding][0].itemsize)
        return
    dtype, channels, _ = ENCODINGS[encoding]
    assert image.shape == ((height, width) if channels == 1 else (height, width, channels))
    assert image.dtype == dtype and image.dtype.isnative
    # Each row's first pixel reads the row's first bytes, in the message's byte order.
    rows = np.frombuffer(data, np.uint8).reshape(height, step)
    first = rows[:, :dtype.itemsize].copy().view(dtype.newbyteorder('>' if bigendian else '<'))
    np.testing.assert_array_equal(image.reshape(height, width, -1)[:, 0, 0], first[:, 0])
    # And the numpy path feeds the encoder.
    ImageEncoder(ImageEncoderConfig(network_image_width=8, network_image_height=8)).encode(
        image, encoding)


def _real_compressed():
    rng = np.random.default_rng(0)
    pixels = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
    return [cv2.imencode(ext, pixels)[1].tobytes() for ext in ('.jpg', '.png')] + [
        cv2.imencode('.png', (pixels[:, :, 0].astype(np.uint16) * 257))[1].tobytes()]


@st.composite
def damaged_compressed(draw):
    data = bytearray(draw(st.sampled_from(_real_compressed())))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(['flip', 'cut', 'insert']))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == 'flip' and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == 'cut':
            del data[at:at + draw(st.integers(1, 200))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=50))
    return bytes(data)


@SETTINGS
@given(st.one_of(damaged_compressed(), st.binary(max_size=200)),
       st.sampled_from(['jpeg', 'png', '', 'bgr8; jpeg compressed bgr8']))
def test_compressed_conversion_gives_an_image_or_value_error(data, format):
    try:
        image, encoding = decode_compressed(data, format)
    except ValueError:
        return
    dtype, channels, _ = ENCODINGS[encoding]
    assert image.dtype == dtype and image.size > 0
    assert (image.ndim == 2) == (channels == 1)


# ------------------------------------------------------------------ tensor messages
@SETTINGS
@given(st.sampled_from(sorted(DATA_TYPES)).flatmap(lambda code: hnp.arrays(
    DATA_TYPES[code], hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))))
def test_tensor_message_round_trip_is_exact(array):
    view = tensor_to_array(fill_tensor(Tensor(), 'x', array))
    assert view.shape == array.shape and view.dtype == array.dtype
    np.testing.assert_array_equal(view, array)


@SETTINGS
@given(data_type=st.integers(0, 255), rank=st.integers(-3, 6),
       dims=st.lists(st.integers(0, 6), max_size=5),
       strides=st.one_of(st.just(None), st.lists(st.integers(0, 400), max_size=5)),
       size=st.integers(0, 600))
def test_tensor_message_fields_are_checked(data_type, rank, dims, strides, size):
    tensor = Tensor(name='t', data_type=data_type, data=bytes(size))
    tensor.shape.rank, tensor.shape.dims = rank, dims
    if strides is not None:
        tensor.strides = strides
    try:
        view = tensor_to_array(tensor)
    except ValueError:
        return
    assert view.shape == tuple(dims) and rank == len(dims)
    assert view.nbytes == size and view.dtype == DATA_TYPES[data_type]
    assert not view.flags.writeable


@SETTINGS
@given(st.tuples(st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 5000),
                 st.integers(0, 5000)), st.tuples(FLOATS, FLOATS, FLOATS, FLOATS))
def test_geometry_message_is_none_valid_or_value_error(sizes, numbers):
    msg = ImageGeometryMsg(source_width=sizes[0], source_height=sizes[1],
                           input_width=sizes[2], input_height=sizes[3],
                           scale_x=float(numbers[0]), scale_y=float(numbers[1]),
                           offset_x=float(numbers[2]), offset_y=float(numbers[3]))
    try:
        geometry = messages.geometry_from_msg(msg)
    except ValueError:
        return
    if geometry is None:
        assert not any(sizes) and not any(numbers)
        return
    x, y = geometry.to_source(np.array([0.0, geometry.input_width]),
                              np.array([0.0, geometry.input_height]))
    assert np.isfinite(x).all() and np.isfinite(y).all()

