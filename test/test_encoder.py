"""Image encoder core: sensor_msgs/Image decoding, normalisation, layout, letterbox."""
from __future__ import annotations

import array
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pose_estimation_ros.core.encoder import (
    ENCODINGS,
    ImageEncoder,
    ImageEncoderConfig,
    decode_compressed,
    image_to_array,
    resize,
)

DATA = Path(__file__).resolve().parents[1].parent / 'shared' / 'data'
FRAME = DATA / 'video' / '000000.jpg'  # 1280x720 football match
SKIER = DATA / 'coco_val_mini' / '000000000785.jpg'


def encoder(**kwargs) -> ImageEncoder:
    return ImageEncoder(ImageEncoderConfig(**kwargs))


def random_image(encoding: str, height: int = 5, width: int = 7, seed: int = 0):
    dtype, channels, _ = ENCODINGS[encoding]
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, np.iinfo(dtype).max + 1, shape,
                                                dtype=dtype)


def message_bytes(image: np.ndarray, pad: int = 0, bigendian: bool = False):
    """(data, step) of an image as a sensor_msgs/Image lays it out, rows padded."""
    rows = image.reshape(image.shape[0], -1)
    rows = rows.astype(rows.dtype.newbyteorder('>' if bigendian else '<'))
    raw = rows.view(np.uint8).reshape(image.shape[0], -1)
    step = raw.shape[1] + pad
    padded = np.full((image.shape[0], step), 0xAB, dtype=np.uint8)  # junk in padding
    padded[:, :raw.shape[1]] = raw
    return array.array('B', padded.tobytes()), step


def cv_bridge_passthrough(data, width, height, step, encoding, is_bigendian):
    """What cv_bridge's imgmsg_to_cv2(msg, 'passthrough') computes (vision_opencv,
    Humble and later): rows of step / pixel-size pixels, cropped to width, copied,
    bytes swapped to native order."""
    dtype, channels, _ = ENCODINGS[encoding]
    dtype = dtype.newbyteorder('>' if is_bigendian else '<')
    shape = (height, step // dtype.itemsize) if channels == 1 else \
        (height, step // dtype.itemsize // channels, channels)
    image = np.ndarray(shape, dtype=dtype, buffer=bytes(data))
    image = np.ascontiguousarray(image[:, :width])
    if is_bigendian == (sys.byteorder == 'little'):
        image = image.byteswap().view(image.dtype.newbyteorder())
    return image


# ------------------------------------------------------------ image_to_array

@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
@pytest.mark.parametrize('pad', [0, 6, 24])
@pytest.mark.parametrize('bigendian', [False, True])
def test_image_to_array_every_encoding(encoding, pad, bigendian):
    image = random_image(encoding)
    data, step = message_bytes(image, pad, bigendian)
    result = image_to_array(data, 7, 5, step, encoding, bigendian)
    assert result.dtype == image.dtype and result.dtype.isnative
    assert result.shape == image.shape
    np.testing.assert_array_equal(result, image)
    dtype, channels, _ = ENCODINGS[encoding]
    if step % (dtype.itemsize * channels) == 0:
        # Same array as cv_bridge. (cv_bridge misreads rows whose step is not a whole
        # number of pixels, e.g. 16UC4 with 6 padding bytes; we read them right.)
        np.testing.assert_array_equal(
            result, cv_bridge_passthrough(data, 7, 5, step, encoding, bigendian))


def test_image_to_array_keeps_message_channel_order():
    rgb = np.array([[[10, 20, 30]]], np.uint8)  # one red-ish pixel R=10 G=20 B=30
    data, step = message_bytes(rgb)
    np.testing.assert_array_equal(image_to_array(data, 1, 1, step, 'rgb8'), rgb)
    np.testing.assert_array_equal(image_to_array(data, 1, 1, step, 'bgr8'), rgb)


def test_image_to_array_is_a_view_without_conversion():
    image = random_image('bgr8', 4, 6)
    data, step = message_bytes(image, pad=3)
    result = image_to_array(data, 6, 4, step, 'bgr8')
    assert result.strides[0] == step  # padded rows stay in place: no copy
    assert np.shares_memory(result, np.frombuffer(data, np.uint8))


def test_image_to_array_16bit_big_and_little_endian():
    image = np.array([[0, 1, 256, 0x1234, 65535]], np.uint16)
    little = image.astype('<u2').tobytes()
    big = image.astype('>u2').tobytes()
    assert little != big
    np.testing.assert_array_equal(image_to_array(little, 5, 1, 10, 'mono16', False), image)
    np.testing.assert_array_equal(image_to_array(big, 5, 1, 10, 'mono16', True), image)
    # An odd step puts 16-bit rows at odd addresses: still read right.
    data, step = message_bytes(random_image('16UC1', 3, 4), pad=1, bigendian=True)
    assert step % 2 == 1
    np.testing.assert_array_equal(image_to_array(data, 4, 3, step, '16UC1', True),
                                  random_image('16UC1', 3, 4))


@pytest.mark.parametrize('kind', ['bytes', 'memoryview', 'list', 'numpy'])
def test_image_to_array_accepts_data_containers(kind):
    image = random_image('rgb8', 2, 3)
    raw = image.tobytes()
    data = {'bytes': raw, 'memoryview': memoryview(raw), 'list': list(raw),
            'numpy': np.frombuffer(raw, np.uint8)}[kind]
    np.testing.assert_array_equal(image_to_array(data, 3, 2, 9, 'rgb8'), image)


@pytest.mark.parametrize('encoding', ['yuv422', 'bayer_rggb8', '32FC1', 'BGR8', ''])
def test_image_to_array_rejects_unsupported_encoding(encoding):
    with pytest.raises(ValueError, match='unsupported image encoding') as error:
        image_to_array(bytes(12), 2, 2, 6, encoding)
    assert f'"{encoding}"' in str(error.value) and 'rgb8' in str(error.value) \
        and 'mono16' in str(error.value)


@pytest.mark.parametrize('length', [35, 37, 0])
def test_image_to_array_rejects_wrong_data_length(length):
    with pytest.raises(ValueError, match=r'height\*step is 3\*12 = 36'):
        image_to_array(bytes(length), 4, 3, 12, 'bgr8')


def test_image_to_array_rejects_bad_step_and_size():
    with pytest.raises(ValueError, match='step 11 is smaller than a row'):
        image_to_array(bytes(33), 4, 3, 11, 'bgr8')
    with pytest.raises(ValueError, match='must be positive'):
        image_to_array(b'', 0, 3, 12, 'bgr8')


# ------------------------------------------------------------ decode_compressed

def test_decode_compressed_jpeg_real_frame_matches_imread():
    data = FRAME.read_bytes()
    image, encoding = decode_compressed(array.array('B', data), 'rgb8; jpeg compressed bgr8')
    assert encoding == 'bgr8' and image.shape == (720, 1280, 3)
    np.testing.assert_array_equal(image, cv2.imread(str(FRAME), cv2.IMREAD_UNCHANGED))


@pytest.mark.parametrize('encoding', ['mono8', 'bgr8', 'bgra8', 'mono16', 'bgr16'])
def test_decode_compressed_png_round_trip(encoding):
    image = random_image(encoding, 6, 9)
    ok, png = cv2.imencode('.png', image)
    assert ok
    decoded, decoded_encoding = decode_compressed(png.tobytes(), 'png')
    assert decoded_encoding == encoding
    np.testing.assert_array_equal(decoded, image)


@pytest.mark.parametrize('data, reason', [
    (b'', 'no data'), (b'not an image at all', 'unknown image format'),
    (FRAME.read_bytes()[:300], 'truncated JPEG')])
def test_decode_compressed_rejects_undecodable_data(data, reason):
    with pytest.raises(ValueError, match=f'cannot decode CompressedImage \\({len(data)} '
                                         f'bytes, format "jpeg"\\).*{reason}'):
        decode_compressed(data, 'jpeg')


def test_decode_compressed_rejects_compressed_depth():
    with pytest.raises(ValueError, match='compressedDepth'):
        decode_compressed(bytes(100), '16UC1; compressedDepth png')


# ------------------------------------------------------------ normalisation

# 1x3 image, distinct values per channel: B, G, R columns of a bgr8 image.
PIXELS_BGR = np.array([[[0, 51, 255], [102, 153, 204], [255, 0, 51]]], np.uint8)


def encode_same_size(image, encoding='bgr8', **kwargs):
    """Encode without resizing (input size = image size), NCHW unless told."""
    h, w = image.shape[:2]
    tensor, geometry = encoder(network_image_width=w, network_image_height=h,
                               **kwargs).encode(image, encoding)
    assert (geometry.scale_x, geometry.scale_y, geometry.offset_x) == (1.0, 1.0, 0.0)
    return tensor


def test_normalization_none_is_raw_pixels():
    tensor = encode_same_size(PIXELS_BGR, normalization_type='none')
    assert tensor.dtype == np.float32 and tensor.shape == (1, 3, 1, 3)
    np.testing.assert_array_equal(tensor[0, :, 0], [[255, 204, 51],   # R
                                                    [51, 153, 0],     # G
                                                    [0, 102, 255]])   # B


def test_normalization_unit():
    tensor = encode_same_size(PIXELS_BGR, normalization_type='unit')
    np.testing.assert_array_equal(tensor[0, :, 0], np.float32([[1.0, 0.8, 0.2],
                                                               [0.2, 0.6, 0.0],
                                                               [0.0, 0.4, 1.0]]))


def test_normalization_positive_negative():
    tensor = encode_same_size(PIXELS_BGR, normalization_type='positive_negative')
    np.testing.assert_array_equal(tensor[0, :, 0], np.float32([[1.0, 0.6, -0.6],
                                                               [-0.6, 0.2, -1.0],
                                                               [-1.0, -0.2, 1.0]]))


def test_normalization_mean_stddev_after_unit_scaling():
    tensor = encode_same_size(PIXELS_BGR, normalization_type='mean_stddev',
                              image_mean=[0.485, 0.456, 0.406],
                              image_stddev=[0.229, 0.224, 0.225])
    # (x / 255 - mean[c]) / stddev[c], worked out by hand.
    expected = [[(1.0 - 0.485) / 0.229, (0.8 - 0.485) / 0.229, (0.2 - 0.485) / 0.229],
                [(0.2 - 0.456) / 0.224, (0.6 - 0.456) / 0.224, (0.0 - 0.456) / 0.224],
                [(0.0 - 0.406) / 0.225, (0.4 - 0.406) / 0.225, (1.0 - 0.406) / 0.225]]
    np.testing.assert_allclose(tensor[0, :, 0], expected, rtol=1e-6)
    assert tensor[0, 0, 0, 2] == pytest.approx(-1.2445414847, rel=1e-6)
    assert tensor[0, 2, 0, 0] == pytest.approx(-1.8044444444, rel=1e-6)


def test_mean_stddev_follow_channel_order():
    # Mean/stddev are per tensor channel: with bgr order, index 0 is blue.
    tensor = encode_same_size(PIXELS_BGR, normalization_type='mean_stddev',
                              channel_order='bgr', image_mean=[0.1, 0.0, 0.0],
                              image_stddev=[0.5, 1.0, 1.0])
    np.testing.assert_allclose(tensor[0, 0, 0], (np.array([0, 102, 255]) / 255 - 0.1) / 0.5,
                               rtol=1e-6)


def test_data_types():
    half = encode_same_size(PIXELS_BGR, data_type='float16')
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half[0, 0, 0], np.float16([1.0, 0.8, 0.2]))
    raw = encode_same_size(PIXELS_BGR, data_type='uint8', normalization_type='none')
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw[0].transpose(1, 2, 0), PIXELS_BGR[:, :, ::-1])
    double = encode_same_size(PIXELS_BGR, data_type='float64')
    assert double.dtype == np.float64 and double[0, 0, 0, 1] == 204 / 255


# ------------------------------------------------------------ channels and layout

@pytest.mark.parametrize('encoding, order, expected_rgb', [
    ('bgr8', 'rgb', [30, 20, 10]), ('bgr8', 'bgr', [10, 20, 30]),
    ('rgb8', 'rgb', [10, 20, 30]), ('rgb8', 'bgr', [30, 20, 10]),
    ('bgra8', 'rgb', [30, 20, 10]), ('rgba8', 'rgb', [10, 20, 30]),
    ('8UC3', 'rgb', [30, 20, 10]), ('8UC4', 'bgr', [10, 20, 30]),
])
def test_channel_order(encoding, order, expected_rgb):
    channels = ENCODINGS[encoding][1]
    image = np.array([[[10, 20, 30, 99][:channels]]], np.uint8)  # alpha 99 is dropped
    tensor = encode_same_size(image, encoding, channel_order=order, normalization_type='none')
    np.testing.assert_array_equal(tensor[0, :, 0, 0], expected_rgb)


@pytest.mark.parametrize('encoding', ['mono8', '8UC1'])
def test_mono_is_repeated_into_three_channels(encoding):
    image = np.array([[0, 51], [102, 255]], np.uint8)
    tensor = encode_same_size(image, encoding, normalization_type='mean_stddev',
                              image_mean=[0.0, 0.5, 1.0], image_stddev=[1.0, 1.0, 2.0])
    assert tensor.shape == (1, 3, 2, 2)
    np.testing.assert_allclose(tensor[0], [image / 255, image / 255 - 0.5,
                                           (image / 255 - 1.0) / 2], rtol=1e-6)
    # HxWx1 is accepted as mono too.
    np.testing.assert_array_equal(
        encode_same_size(image[:, :, None], encoding, normalization_type='mean_stddev',
                         image_mean=[0.0, 0.5, 1.0], image_stddev=[1.0, 1.0, 2.0]), tensor)


def test_mono16_is_mapped_to_8bit_scale_by_257():
    image = np.array([[0, 257 * 51, 65535, 1000]], np.uint16)
    raw = encode_same_size(image, 'mono16', normalization_type='none')
    np.testing.assert_array_equal(raw[0, 0, 0], np.float32([0, 51, 255, 1000 / 257]))
    unit = encode_same_size(image, 'mono16', normalization_type='unit')
    np.testing.assert_array_equal(unit[0, 1, 0], np.float32(image[0] / 65535))
    raw8 = encode_same_size(image, 'mono16', normalization_type='none', data_type='uint8')
    np.testing.assert_array_equal(raw8[0, 2, 0], [0, 51, 255, 4])


def test_16bit_big_and_little_endian_messages_encode_alike():
    image = random_image('rgb16', 9, 11)
    tensors = []
    for bigendian in (False, True):
        data, step = message_bytes(image, pad=2, bigendian=bigendian)
        array16 = image_to_array(data, 11, 9, step, 'rgb16', bigendian)
        tensors.append(encoder(network_image_width=8, network_image_height=6).encode(
            array16, 'rgb16')[0])
    np.testing.assert_array_equal(tensors[0], tensors[1])
    # A non-native-order array given directly gives the same tensor again.
    swapped = image.astype(image.dtype.newbyteorder())
    np.testing.assert_array_equal(
        encoder(network_image_width=8, network_image_height=6).encode(swapped, 'rgb16')[0],
        tensors[0])


def test_nhwc_is_nchw_transposed_and_contiguous():
    image = cv2.imread(str(SKIER))
    nchw, g1 = encoder(tensor_layout='nchw').encode(image, 'bgr8')
    nhwc, g2 = encoder(tensor_layout='nhwc').encode(image, 'bgr8')
    assert nchw.shape == (1, 3, 368, 432) and nhwc.shape == (1, 368, 432, 3)
    assert nchw.flags.c_contiguous and nhwc.flags.c_contiguous
    assert g1 == g2
    np.testing.assert_array_equal(nhwc, nchw.transpose(0, 2, 3, 1))


def test_row_padded_view_encodes_like_contiguous_image():
    image = cv2.imread(str(FRAME))
    data, step = message_bytes(image, pad=64)
    view = image_to_array(data, 1280, 720, step, 'bgr8')
    assert not view.flags.c_contiguous
    enc = encoder()
    np.testing.assert_array_equal(enc.encode(view, 'bgr8')[0], enc.encode(image, 'bgr8')[0])


# ------------------------------------------------------------ letterbox geometry

def _coverage(start: float, stop: float, count: int) -> np.ndarray:
    """How much of each unit cell [k, k + 1), k < count, the interval covers."""
    cells = np.arange(count)
    return np.clip(np.minimum(cells + 1, stop) - np.maximum(cells, start), 0, None)


def area_average(source: np.ndarray, geometry, row: int, col: int) -> np.ndarray:
    """Exact mean of the source pixels under input pixel (row, col), weighted by how
    much of each the pixel covers (what INTER_AREA computes), from the geometry."""
    (x0, x1), (y0, y1) = geometry.to_source(np.array([col, col + 1]),
                                            np.array([row, row + 1]))
    wx, wy = _coverage(x0, x1, source.shape[1]), _coverage(y0, y1, source.shape[0])
    return np.einsum('y,x,yxc->c', wy, wx, source.astype(np.float64)) / (wx.sum() * wy.sum())


def bilinear(source: np.ndarray, x: float, y: float) -> np.ndarray:
    """Source value at continuous point (x, y), pixel centres at +0.5, edges clamped."""
    h, w = source.shape[:2]
    fx, fy = np.clip(x - 0.5, 0, w - 1), np.clip(y - 0.5, 0, h - 1)
    ix, iy = min(int(fx), w - 2), min(int(fy), h - 2)
    ax, ay = fx - ix, fy - iy
    s = source.astype(np.float64)
    return ((1 - ay) * ((1 - ax) * s[iy, ix] + ax * s[iy, ix + 1]) +
            ay * ((1 - ax) * s[iy + 1, ix] + ax * s[iy + 1, ix + 1]))


def test_letterbox_geometry_and_padding_real_frame():
    image = cv2.imread(str(FRAME))
    tensor, geometry = encoder(padding_value=128, normalization_type='none',
                               channel_order='bgr').encode(image, 'bgr8')
    assert (geometry.scale_x, geometry.scale_y) == (0.3375, 0.3375)
    assert (geometry.offset_x, geometry.offset_y) == (0.0, 62.0)
    assert geometry.resized_size == (432, 243)
    planes = tensor[0]
    assert np.all(planes[:, :62] == 128) and np.all(planes[:, 62 + 243:] == 128)
    assert planes[:, 62:62 + 243].std() > 20  # the picture itself, not padding
    # A point mapped forward and back lands where it started.
    rng = np.random.default_rng(1)
    xs, ys = rng.uniform(0, 1280, 100), rng.uniform(0, 720, 100)
    back = geometry.to_source(*geometry.to_input(xs, ys))
    np.testing.assert_allclose(back, (xs, ys), atol=1e-9)
    # The corners of the source land on the corners of the picture area.
    np.testing.assert_allclose(geometry.to_input([0, 1280], [0, 720]),
                               ([0, 432], [62, 62 + 243]))


def test_letterbox_content_at_mapped_points_shrinking_real_frame():
    """Each tensor pixel is the area average of the source pixels the geometry says it
    covers (INTER_AREA), on a real, textured frame: an offset or scale off by even one
    pixel would not match."""
    image = cv2.imread(str(FRAME))
    tensor, geometry = encoder(normalization_type='none', channel_order='bgr',
                               tensor_layout='nhwc').encode(image, 'bgr8')
    rng = np.random.default_rng(2)
    rows, cols = rng.integers(62, 62 + 243, 60), rng.integers(0, 432, 60)
    for row, col in zip(rows, cols):
        expected = area_average(image, geometry, row, col)
        np.testing.assert_allclose(tensor[0, row, col], expected, atol=0.51)


def test_letterbox_content_at_mapped_points_enlarging_real_crop():
    """Enlarging (INTER_LINEAR): tensor pixel centres sample the source bilinearly at
    the point the geometry maps them to. A portrait crop gives side padding."""
    image = cv2.imread(str(SKIER))[100:160, 200:240]  # 40x60 crop -> 3x zoom into 432x368
    tensor, geometry = encoder(normalization_type='none', channel_order='bgr',
                               tensor_layout='nhwc', padding_value=7).encode(image, 'bgr8')
    x0, width = int(geometry.offset_x), geometry.resized_size[0]
    # Whole-pixel picture size: 245 = round(40 * 368 / 60), so x and y scales differ a bit.
    assert width == 245 and geometry.scale_x == 245 / 40 and geometry.scale_y == 368 / 60
    assert x0 == (432 - width) // 2 > 0 and geometry.offset_y == 0
    assert np.all(tensor[0, :, :x0] == 7) and np.all(tensor[0, :, x0 + width:] == 7)
    rng = np.random.default_rng(3)
    for row, col in zip(rng.integers(0, 368, 60), rng.integers(x0, x0 + width, 60)):
        x, y = geometry.to_source(col + 0.5, row + 0.5)
        np.testing.assert_allclose(tensor[0, row, col], bilinear(image, x, y), atol=1.01)


def test_stretch_content_at_mapped_points_shrinking_real_frame():
    """Stretched to mobilenet_thin's wide input (1280x720 -> 656x368, two scales below
    2): each tensor pixel is still the area average of the source pixels it covers."""
    image = cv2.imread(str(FRAME))
    tensor, geometry = encoder(network_image_width=656, normalization_type='none',
                               channel_order='bgr', tensor_layout='nhwc',
                               keep_aspect_ratio=False).encode(image, 'bgr8')
    assert geometry.scale_x != geometry.scale_y and 0.5 < geometry.scale_x < 1
    rng = np.random.default_rng(4)
    for row, col in zip(rng.integers(0, 368, 60), rng.integers(0, 656, 60)):
        np.testing.assert_allclose(tensor[0, row, col], area_average(image, geometry, row, col),
                                   atol=0.51)


def test_tensor_from_opencv_lut_equals_table_lookup_per_channel():
    """The 8-bit path (cvtColor + cv2.LUT into the tensor) gives exactly the values of the
    per-channel table look-up the other pixel types use, for every layout, order,
    normalisation and type, letterboxed and stretched."""
    image = cv2.imread(str(FRAME))
    for layout in ('nhwc', 'nchw'):
        for order in ('rgb', 'bgr'):
            for normalization, dtype in (('none', 'float32'), ('mean_stddev', 'float32'),
                                         ('unit', 'float64'), ('none', 'uint8')):
                for keep in (True, False):
                    enc = encoder(tensor_layout=layout, channel_order=order,
                                  normalization_type=normalization, data_type=dtype,
                                  keep_aspect_ratio=keep, padding_value=9)
                    got, geometry = enc.encode(image, 'bgr8')
                    resized = resize(image, *geometry.resized_size)
                    x0, y0 = int(geometry.offset_x), int(geometry.offset_y)
                    planes = got[0] if layout == 'nchw' else got[0].transpose(2, 0, 1)
                    lut = enc._lut(np.dtype(np.uint8))
                    for c, source in enumerate((2, 1, 0) if order == 'rgb' else (0, 1, 2)):
                        window = planes[c, y0:y0 + resized.shape[0], x0:x0 + resized.shape[1]]
                        np.testing.assert_array_equal(window, lut[c][resized[:, :, source]])


@pytest.mark.parametrize('source_size', [(160, 120), (1280, 720), (300, 500)])
@pytest.mark.parametrize('keep_aspect_ratio', [True, False])
def test_constant_blocks_keep_their_value_at_mapped_points(source_size, keep_aspect_ratio):
    """The tensor at the point a source pixel maps to equals that source pixel (inside
    constant 20x20 blocks, where resizing cannot blend colours)."""
    width, height = source_size
    rng = np.random.default_rng(4)
    colours = rng.integers(0, 256, (height // 20 + 1, width // 20 + 1, 3), dtype=np.uint8)
    image = np.ascontiguousarray(colours.repeat(20, 0).repeat(20, 1)[:height, :width])
    tensor, geometry = encoder(normalization_type='none', channel_order='bgr',
                               tensor_layout='nhwc', keep_aspect_ratio=keep_aspect_ratio
                               ).encode(image, 'bgr8')
    bx, by = np.meshgrid(np.arange(width // 20), np.arange(height // 20))
    xs, ys = bx.ravel() * 20 + 10.0, by.ravel() * 20 + 10.0  # block centres
    ix, iy = geometry.to_input(xs, ys)
    np.testing.assert_array_equal(tensor[0, iy.astype(int), ix.astype(int)],
                                  image[ys.astype(int), xs.astype(int)])


def test_stretch_fills_the_input_with_two_scales():
    image = cv2.imread(str(FRAME))
    tensor, geometry = encoder(keep_aspect_ratio=False, normalization_type='none',
                               channel_order='bgr', tensor_layout='nhwc').encode(image, 'bgr8')
    assert (geometry.offset_x, geometry.offset_y) == (0.0, 0.0)
    assert geometry.scale_x == 432 / 1280 and geometry.scale_y == 368 / 720
    for row, col in [(0, 0), (367, 431), (100, 200), (300, 50)]:
        np.testing.assert_allclose(tensor[0, row, col], area_average(image, geometry, row,
                                                                     col), atol=0.51)


# ------------------------------------------------------------ errors

@pytest.mark.parametrize('field, value', [
    ('network_image_width', 0), ('network_image_width', -4), ('network_image_height', 1.5),
    ('network_image_height', True), ('keep_aspect_ratio', 'yes'), ('padding_value', 256),
    ('padding_value', -1), ('padding_value', 'black'), ('normalization_type', 'imagenet'),
    ('image_mean', [0.5, 0.5]), ('image_mean', [0.5, float('nan'), 0.5]),
    ('image_stddev', [0.5, 0.0, 0.5]), ('image_stddev', 'abc'), ('channel_order', 'rgba'),
    ('tensor_layout', 'chw'), ('data_type', 'int32'), ('tensor_name', ''),
])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ImageEncoderConfig(**{field: value}).validate()
    with pytest.raises(ValueError, match=field):
        ImageEncoder(ImageEncoderConfig(**{field: value}))


def test_bad_config_lists_allowed_values():
    with pytest.raises(ValueError, match='none, unit, positive_negative, mean_stddev'):
        ImageEncoderConfig(normalization_type='imagenet').validate()
    with pytest.raises(ValueError, match='float32, float16, float64, uint8'):
        ImageEncoderConfig(data_type='int8').validate()
    with pytest.raises(ValueError, match='uint8 needs normalization_type none'):
        ImageEncoderConfig(data_type='uint8', normalization_type='unit').validate()


def test_config_from_ros_lists_is_hashable():
    config = ImageEncoderConfig(image_mean=[0.1, 0.2, 0.3], image_stddev=[1, 2, 3])
    assert config.image_mean == (0.1, 0.2, 0.3)
    assert hash(config) == hash(config.validate())


@pytest.mark.parametrize('image, encoding, message', [
    (np.zeros((4, 4, 3), np.float32), 'bgr8', 'bgr8 image must have dtype uint8'),
    (np.zeros((4, 4, 3), np.uint16), 'rgb8', 'rgb8 image must have dtype uint8'),
    (np.zeros((4, 4, 4), np.uint8), 'bgr8', r'shape HxWx3, got \(4, 4, 4\)'),
    (np.zeros((4, 4, 3), np.uint8), 'mono8', r'shape HxW, got \(4, 4, 3\)'),
    (np.zeros((4, 4), np.uint8), 'rgba8', 'shape HxWx4'),
    (np.zeros((0, 4, 3), np.uint8), 'bgr8', 'shape HxWx3'),
    (np.zeros((4, 4), np.uint8), 'yuv422', 'unsupported image encoding "yuv422"'),
])
def test_bad_image_input(image, encoding, message):
    with pytest.raises(ValueError, match=message):
        encoder().encode(image, encoding)


def test_non_array_input_is_a_type_error():
    with pytest.raises(TypeError, match='numpy array'):
        encoder().encode([[1, 2], [3, 4]], 'mono8')
