"""A catalogue of bad (and tricky but valid) messages for each node's input topic.

Every entry of :data:`BAD_INPUTS` names the topic it goes to, the node that must drop it
and a fragment of the error that node must log (the ValueError of the conversion or the
core); :data:`TRICKY_VALID` holds messages that look odd but must be processed like
their plain twin (:func:`BadInput.build` of those returns ``(odd, plain)``). Tests feed
them in one process (test/test_bad_inputs.py) and, through the separate-process graph,
the lead's harness: parametrise over ``BAD_INPUTS`` and check the log line, then that
the next good message (:data:`GOOD`) still gives output.

Messages are built from the real sample photo (or synthetic maps for the decoder) and
sized for the nodes' default parameters (mobilenet_thin, 432x368 NHWC input,
46x54x57 NHWC output).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from conftest import DATA
from pose_estimation_ros.core.encoder import ImageEncoder
from pose_estimation_ros.core.params import ENCODER_PARAMETERS, encoder_config, defaults
from pose_estimation_ros.core.tensors import fill_tensor, to_byte_array
from pose_estimation_ros.msg import ImageGeometry as ImageGeometryMsg, Tensor, TensorList
from pose_estimation_ros.nodes import messages
from synthetic_pose import render_mobilenet_thin, skeleton

PHOTO = DATA / 'coco_val_mini' / '000000000785.jpg'
IMAGE_TOPIC, COMPRESSED_TOPIC = 'image', 'image/compressed'
ENCODED_TOPIC, OUTPUT_TOPIC = 'encoded_tensor', 'network_output'
ENCODER, INFERENCE, DECODER = 'image_encoder', 'inference', 'openpose_decoder'
# The default parameters' tensors.
INPUT_NAME, INPUT_SHAPE = 'image', (1, 368, 432, 3)
OUTPUT_NAME, OUTPUT_SHAPE = 'Openpose/concat_stage7', (1, 46, 54, 57)


def header(index: int = 0) -> Header:
    h = Header(frame_id='camera_optical_frame')
    h.stamp.sec, h.stamp.nanosec = 1_700_000_000 + index, 0
    return h


def _photo(width: int = 160) -> np.ndarray:
    bgr = cv2.imread(str(PHOTO))
    return cv2.resize(bgr, (width, width * bgr.shape[0] // bgr.shape[1]),
                      interpolation=cv2.INTER_AREA)


# ------------------------------------------------------------------ good messages
def good_image(h: Header) -> Image:
    return messages.array_to_image_msg(_photo(), 'bgr8', h)


def good_compressed(h: Header) -> CompressedImage:
    return CompressedImage(header=h, format='jpeg', data=_jpeg())


def good_encoded(h: Header) -> TensorList:
    encoder = ImageEncoder(encoder_config(defaults(ENCODER_PARAMETERS)))
    tensor, geometry = encoder.encode(_photo(), 'bgr8')
    return messages.tensor_list_msg(h, {INPUT_NAME: tensor}, geometry)


def good_maps() -> np.ndarray:
    """(1, 46, 54, 57) mobilenet_thin-like output: one synthetic standing person."""
    return render_mobilenet_thin([skeleton(27.0, 18.0, 30.0)], 46, 54)[None].astype(
        np.float32)


def good_output(h: Header) -> TensorList:
    encoder = ImageEncoder(encoder_config(defaults(ENCODER_PARAMETERS)))
    _, geometry = encoder.encode(_photo(), 'bgr8')
    return messages.tensor_list_msg(h, {OUTPUT_NAME: good_maps()}, geometry)


GOOD: dict[str, Callable[[Header], object]] = {
    IMAGE_TOPIC: good_image, COMPRESSED_TOPIC: good_compressed,
    ENCODED_TOPIC: good_encoded, OUTPUT_TOPIC: good_output}
MSG_TYPES = {IMAGE_TOPIC: Image, COMPRESSED_TOPIC: CompressedImage,
             ENCODED_TOPIC: TensorList, OUTPUT_TOPIC: TensorList}
NODE_OF_TOPIC = {IMAGE_TOPIC: ENCODER, COMPRESSED_TOPIC: ENCODER, ENCODED_TOPIC: INFERENCE,
                 OUTPUT_TOPIC: DECODER}


@dataclass(frozen=True)
class BadInput:
    """One message for ``topic``; ``error``: fragment of the reason the node logs."""

    name: str
    topic: str
    build: Callable[[Header], object]
    error: str = ''

    @property
    def node(self) -> str:
        return NODE_OF_TOPIC[self.topic]

    @property
    def msg_type(self):
        return MSG_TYPES[self.topic]


# ------------------------------------------------------------------ images
def _image(h: Header, **fields) -> Image:
    msg = good_image(h)
    for key, value in fields.items():
        setattr(msg, key, value)
    return msg


def _raw(h: Header, pixels: np.ndarray, encoding: str, pad: int = 0,
         bigendian: bool = False) -> Image:
    """Image of ``pixels`` with ``pad`` bytes after each row, in either byte order."""
    if bigendian:
        pixels = pixels.astype(pixels.dtype.newbyteorder('>'))
    rows = np.ascontiguousarray(pixels).reshape(pixels.shape[0], -1).view(np.uint8)
    padded = np.zeros((rows.shape[0], rows.shape[1] + pad), np.uint8)
    padded[:, :rows.shape[1]] = rows
    return Image(header=h, height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
                 is_bigendian=int(bigendian), step=padded.shape[1],
                 data=to_byte_array(padded))


def _mono16() -> np.ndarray:
    return cv2.cvtColor(_photo(), cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257


def _shorter(h: Header) -> Image:
    msg = good_image(h)
    msg.data = msg.data[:-7]
    return msg


def _longer(h: Header) -> Image:
    msg = good_image(h)
    msg.data = to_byte_array(np.concatenate([np.frombuffer(msg.data, np.uint8),
                                             np.zeros(msg.step, np.uint8)]))
    return msg


IMAGE_INPUTS = [
    BadInput('unsupported_encoding', IMAGE_TOPIC,
             lambda h: _image(h, encoding='32FC1'), 'unsupported image encoding "32FC1"'),
    BadInput('unknown_encoding', IMAGE_TOPIC,
             lambda h: _image(h, encoding='yuv422_yuy2'), 'unsupported image encoding'),
    BadInput('width_zero', IMAGE_TOPIC, lambda h: _image(h, width=0),
             'image size must be positive'),
    BadInput('height_zero', IMAGE_TOPIC, lambda h: _image(h, height=0, data=b''),
             'image size must be positive'),
    BadInput('data_shorter_than_step_times_height', IMAGE_TOPIC, _shorter,
             'but height*step is'),
    BadInput('data_longer_than_step_times_height', IMAGE_TOPIC, _longer,
             'but height*step is'),
    BadInput('step_smaller_than_a_row', IMAGE_TOPIC,
             lambda h: _image(h, step=100, data=b'\0' * 100 * good_image(h).height),
             'is smaller than a row'),
]


# ------------------------------------------------------------------ compressed images
def _jpeg() -> bytes:
    return cv2.imencode('.jpg', _photo())[1].tobytes()


def _png() -> bytes:
    return cv2.imencode('.png', _photo())[1].tobytes()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid 100-odd byte PNG declaring width x height grey pixels (all zero)."""
    row = zlib.compressobj()
    body = row.compress(b'\0' * (width + 1) * 16) + row.flush()  # the first rows only
    return (b'\x89PNG\r\n\x1a\n' +
            _png_chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)) +
            _png_chunk(b'IDAT', body) + _png_chunk(b'IEND', b''))


def jpeg_bomb() -> bytes:
    """A real JPEG whose frame header is rewritten to declare 65500x65500 pixels."""
    data = bytearray(_jpeg())
    sof = data.index(b'\xff\xc0')
    data[sof + 5:sof + 9] = struct.pack('>HH', 65500, 65500)
    return bytes(data)


def _corrupt_jpeg() -> bytes:
    """A JPEG whose tables and scan after the frame header are zeroed."""
    data = bytearray(_jpeg())
    sof = data.index(b'\xff\xc0')
    start = sof + 2 + int.from_bytes(data[sof + 2:sof + 4], 'big')
    data[start:-2] = bytes(len(data) - 2 - start)
    return bytes(data)


def _corrupt_png() -> bytes:
    """A PNG whose image data is replaced by bytes that are not a zlib stream."""
    data = _png()
    ihdr_end = 8 + 25
    return data[:ihdr_end] + _png_chunk(b'IDAT', bytes(range(256)) * 4) + \
        _png_chunk(b'IEND', b'')


def _compressed(data: Callable[[], bytes], format: str = 'jpeg'):
    return lambda h: CompressedImage(header=h, format=format, data=data())


COMPRESSED_INPUTS = [
    BadInput('compressed_empty', COMPRESSED_TOPIC, _compressed(lambda: b''), 'no data'),
    BadInput('compressed_unknown_format_bmp', COMPRESSED_TOPIC,
             _compressed(lambda: cv2.imencode('.bmp', _photo())[1].tobytes(), 'bmp'),
             'unknown image format'),
    BadInput('compressed_garbage', COMPRESSED_TOPIC,
             _compressed(lambda: b'not an image at all' * 10), 'unknown image format'),
    BadInput('compressed_truncated_jpeg', COMPRESSED_TOPIC,
             _compressed(lambda: _jpeg()[:len(_jpeg()) // 2]), 'truncated JPEG'),
    BadInput('compressed_truncated_png', COMPRESSED_TOPIC,
             _compressed(lambda: _png()[:len(_png()) // 2], 'png'), 'truncated PNG'),
    BadInput('compressed_corrupt_jpeg', COMPRESSED_TOPIC, _compressed(_corrupt_jpeg),
             'corrupt JPEG'),
    BadInput('compressed_corrupt_png', COMPRESSED_TOPIC, _compressed(_corrupt_png, 'png'),
             'corrupt PNG'),
    BadInput('compressed_png_bomb', COMPRESSED_TOPIC, _compressed(png_bomb, 'png'),
             'over the limit'),
    BadInput('compressed_jpeg_bomb', COMPRESSED_TOPIC, _compressed(jpeg_bomb),
             'over the limit'),
    BadInput('compressed_depth_transport', COMPRESSED_TOPIC,
             _compressed(_png, '16UC1; compressedDepth png'), 'compressedDepth'),
]


# ------------------------------------------------------------------ tensor lists
def _tensor_list(h: Header, tensors: dict[str, np.ndarray], geometry=None,
                 good=good_encoded) -> TensorList:
    msg = messages.tensor_list_msg(h, tensors, None)
    msg.geometry = good(h).geometry if geometry is None else geometry
    return msg


def _edit(good: Callable[[Header], TensorList], edit: Callable[[TensorList], None]):
    def build(h: Header) -> TensorList:
        msg = good(h)
        edit(msg)
        return msg
    return build


def _set_tensor(**fields):
    def edit(msg: TensorList) -> None:
        for key, value in fields.items():
            setattr(msg.tensors[0], key, value)
    return edit


def _with_value(value: float):
    def edit(msg: TensorList) -> None:
        tensor = msg.tensors[0]
        array = np.frombuffer(tensor.data, np.float32).copy()
        array[len(array) // 3] = value
        tensor.data = to_byte_array(array)
    return edit


def _tensor(name: str, array: np.ndarray) -> Tensor:
    return fill_tensor(Tensor(), name, array)


def _add_tensor(name: str, array: np.ndarray):
    return lambda msg: msg.tensors.append(_tensor(name, array))


def _geometry(**fields):
    def edit(msg: TensorList) -> None:
        for key, value in fields.items():
            setattr(msg.geometry, key, value)
    return edit


def _tensor_field_faults(prefix: str, topic: str, good: Callable[[Header], TensorList]):
    """Faults of the Tensor fields themselves, alike for every TensorList input."""
    return [
        BadInput(f'{prefix}_unknown_data_type', topic, _edit(good, _set_tensor(data_type=42)),
                 'unknown data_type 42'),
        BadInput(f'{prefix}_rank_not_dims', topic,
                 _edit(good, lambda m: setattr(m.tensors[0].shape, 'rank', 3)),
                 'rank 3 but 4 dims'),
        BadInput(f'{prefix}_byte_length', topic,
                 _edit(good, lambda m: setattr(m.tensors[0], 'data', m.tensors[0].data[:-3])),
                 'data bytes, expected'),
        BadInput(f'{prefix}_strides', topic, _edit(good, _set_tensor(strides=[4, 4, 4, 4])),
                 'C-contiguous strides'),
        BadInput(f'{prefix}_nan', topic, _edit(good, _with_value(np.nan)), 'NaN values in'),
        BadInput(f'{prefix}_inf', topic, _edit(good, _with_value(-np.inf)),
                 'infinite values in'),
    ]


_input = np.zeros(INPUT_SHAPE, np.float32)
_maps = np.zeros(OUTPUT_SHAPE, np.float32)

ENCODED_INPUTS = [
    BadInput('encoded_missing_tensor', ENCODED_TOPIC,
             lambda h: _tensor_list(h, {'input': _input}), "missing ['image']"),
    BadInput('encoded_extra_tensor', ENCODED_TOPIC,
             _edit(good_encoded, _add_tensor('depth', _input)), "unexpected ['depth']"),
    BadInput('encoded_duplicate_tensor', ENCODED_TOPIC,
             _edit(good_encoded, _add_tensor(INPUT_NAME, _input)), 'appears twice'),
    BadInput('encoded_wrong_rank', ENCODED_TOPIC,
             lambda h: _tensor_list(h, {INPUT_NAME: _input[0]}), 'rank 3 vs 4'),
    # mobilenet_thin takes any height and width (dynamic dims), but 3 channels.
    BadInput('encoded_wrong_shape', ENCODED_TOPIC,
             lambda h: _tensor_list(h, {INPUT_NAME: np.zeros((1, 368, 432, 4), np.float32)}),
             'model input "image" expects'),
    BadInput('encoded_wrong_dtype', ENCODED_TOPIC,
             lambda h: _tensor_list(h, {INPUT_NAME: _input.astype(np.float64)}),
             'expects float32'),
]


def _outputs(tensors: dict[str, np.ndarray]):
    return lambda h: _tensor_list(h, tensors, good=good_output)


OUTPUT_INPUTS = [
    BadInput('output_missing_tensor', OUTPUT_TOPIC, _outputs({'heatmap': _maps}),
             "missing ['Openpose/concat_stage7']"),
    BadInput('output_extra_tensor', OUTPUT_TOPIC,
             _edit(good_output, _add_tensor('heatmap', _maps)), "unexpected ['heatmap']"),
    BadInput('output_wrong_rank', OUTPUT_TOPIC, _outputs({OUTPUT_NAME: _maps[0, 0]}),
             'expected a 3-D or 4-D'),
    BadInput('output_batch_of_two', OUTPUT_TOPIC,
             _outputs({OUTPUT_NAME: np.zeros((2, 46, 54, 57), np.float32)}), 'batch of 1'),
    BadInput('output_too_few_channels', OUTPUT_TOPIC,
             _outputs({OUTPUT_NAME: np.zeros((1, 46, 54, 10), np.float32)}),
             'heatmap_channels (0, 18) outside'),
    # edges_paf needs channels up to 56: a 40-channel output cannot hold them.
    BadInput('output_edges_paf_past_channels', OUTPUT_TOPIC,
             _outputs({OUTPUT_NAME: np.zeros((1, 46, 54, 40), np.float32)}),
             'check edges_paf'),
    BadInput('output_wrong_dtype', OUTPUT_TOPIC,
             _outputs({OUTPUT_NAME: _maps.astype(np.int32)}), 'the decoder takes float'),
    BadInput('output_smaller_than_nms_window', OUTPUT_TOPIC,
             _outputs({OUTPUT_NAME: np.zeros((1, 2, 2, 57), np.float32)}),
             'smaller than the 3x3 NMS window'),
    BadInput('output_geometry_zero_scale', OUTPUT_TOPIC,
             _edit(good_output, _geometry(scale_x=0.0)), 'inconsistent image geometry'),
    BadInput('output_geometry_negative_scale', OUTPUT_TOPIC,
             _edit(good_output, _geometry(scale_y=-2.0)), 'inconsistent image geometry'),
    BadInput('output_geometry_nan_scale', OUTPUT_TOPIC,
             _edit(good_output, _geometry(scale_x=float('nan'))), 'inconsistent image geometry'),
    BadInput('output_geometry_zero_size', OUTPUT_TOPIC,
             _edit(good_output, _geometry(source_width=0)), 'inconsistent image geometry'),
    BadInput('output_geometry_offset_outside', OUTPUT_TOPIC,
             _edit(good_output, _geometry(offset_x=-5.0)), 'inconsistent image geometry'),
]

ENCODED_INPUTS += _tensor_field_faults('encoded', ENCODED_TOPIC, good_encoded)
OUTPUT_INPUTS += _tensor_field_faults('output', OUTPUT_TOPIC, good_output)
BAD_INPUTS: list[BadInput] = IMAGE_INPUTS + COMPRESSED_INPUTS + ENCODED_INPUTS + OUTPUT_INPUTS


# ------------------------------------------------------------------ tricky but valid
def _pair(odd: Callable[[Header], Image], plain: Callable[[Header], Image]):
    return lambda h: (odd(h), plain(h))


TRICKY_VALID: list[BadInput] = [
    BadInput('mono16_big_endian', IMAGE_TOPIC,
             _pair(lambda h: _raw(h, _mono16(), 'mono16', bigendian=True),
                   lambda h: _raw(h, _mono16(), 'mono16'))),
    BadInput('rgb16_big_endian_padded', IMAGE_TOPIC,
             _pair(lambda h: _raw(h, _photo()[:, :, ::-1].astype(np.uint16) * 257, 'rgb16',
                                  pad=6, bigendian=True),
                   lambda h: _raw(h, _photo()[:, :, ::-1].astype(np.uint16) * 257, 'rgb16'))),
    # Padding that is not a whole number of pixels (cv_bridge misreads these rows).
    BadInput('bgr8_odd_step_padding', IMAGE_TOPIC,
             _pair(lambda h: _raw(h, _photo(), 'bgr8', pad=1),
                   lambda h: _raw(h, _photo(), 'bgr8'))),
    BadInput('mono16_odd_step_padding', IMAGE_TOPIC,
             _pair(lambda h: _raw(h, _mono16(), 'mono16', pad=3),
                   lambda h: _raw(h, _mono16(), 'mono16'))),
    BadInput('geometry_left_empty', OUTPUT_TOPIC,
             _pair(_edit(good_output, lambda m: setattr(m, 'geometry', ImageGeometryMsg())),
                   lambda h: messages.tensor_list_msg(h, {OUTPUT_NAME: good_maps()}, None))),
]
