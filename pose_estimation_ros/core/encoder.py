"""Image -> network input tensor, the pure core of the image encoder node.

Pure numpy + OpenCV, no ROS imports. Three parts:

- ``image_to_array``: the raw fields of a sensor_msgs/Image -> numpy array, with the
  semantics of ``cv_bridge.CvBridge().imgmsg_to_cv2(msg, 'passthrough')``: channels in
  the message's order, values in native byte order, shape HxW for one channel and HxWxC
  otherwise. The node may use cv_bridge instead; both give the same array.
- ``decode_compressed``: sensor_msgs/CompressedImage data -> (array, encoding), like
  ``compressed_imgmsg_to_cv2(msg, 'passthrough')`` (OpenCV's ``imdecode``, so colour
  comes out BGR whatever the format string says).
- ``ImageEncoder``: resize (stretch or letterbox), channel order, normalisation, layout
  and data type, following Isaac ROS' DNN image encoder.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pose_estimation_ros.core.geometry import ImageGeometry
from pose_estimation_ros.core.validation import compressed_image_size

# encoding -> (element type, channels, colour order). Order 'bgr' also covers the alpha
# variants (alpha last); generic OpenCV types follow OpenCV's convention (BGR), as
# cv_bridge does when it converts them to a colour encoding.
_U8 = np.dtype(np.uint8)
_U16 = np.dtype(np.uint16)
ENCODINGS: dict[str, tuple[np.dtype, int, str]] = {
    'rgb8': (_U8, 3, 'rgb'), 'bgr8': (_U8, 3, 'bgr'),
    'rgba8': (_U8, 4, 'rgb'), 'bgra8': (_U8, 4, 'bgr'),
    'mono8': (_U8, 1, 'mono'), '8UC1': (_U8, 1, 'mono'),
    '8UC3': (_U8, 3, 'bgr'), '8UC4': (_U8, 4, 'bgr'),
    'rgb16': (_U16, 3, 'rgb'), 'bgr16': (_U16, 3, 'bgr'),
    'rgba16': (_U16, 4, 'rgb'), 'bgra16': (_U16, 4, 'bgr'),
    'mono16': (_U16, 1, 'mono'), '16UC1': (_U16, 1, 'mono'),
    '16UC3': (_U16, 3, 'bgr'), '16UC4': (_U16, 4, 'bgr'),
}

NORMALIZATION_TYPES = ('none', 'unit', 'positive_negative', 'mean_stddev')
CHANNEL_ORDERS = ('rgb', 'bgr')
TENSOR_LAYOUTS = ('nchw', 'nhwc')
# Output element types; uint8 only carries raw pixel values (normalization 'none').
ENCODER_DATA_TYPES = ('float32', 'float16', 'float64', 'uint8')


def _encoding_info(encoding: str) -> tuple[np.dtype, int, str]:
    info = ENCODINGS.get(encoding)
    if info is None:
        raise ValueError(f'unsupported image encoding "{encoding}"; supported: '
                         f'{", ".join(ENCODINGS)}: publish one of them (or convert, e.g. '
                         f'depth images to mono16)')
    return info


def check_image_fields(width: int, height: int, step: int, encoding: str,
                       data_size: int) -> tuple[np.dtype, int]:
    """(pixel type, channels) of a sensor_msgs/Image's fields, checked in O(1).

    ValueError names the problem and the fix: an unsupported encoding, an empty size,
    a ``step`` shorter than a row, ``data`` not exactly ``step * height`` bytes.
    """
    dtype, channels, _ = _encoding_info(encoding)
    if width <= 0 or height <= 0:
        raise ValueError(f'image size must be positive, got {width}x{height}: the '
                         f'publisher sent an empty image')
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ValueError(f'step {step} is smaller than a row of {width} {encoding} pixels '
                         f'({row_bytes} bytes): the publisher must set step to the row '
                         f'length in bytes (with any padding)')
    if data_size != height * step:
        raise ValueError(f'image data has {data_size} bytes but height*step is '
                         f'{height}*{step} = {height * step} ({encoding} {width}x{height}): '
                         f'the publisher must send exactly step * height bytes')
    return dtype, channels


def image_to_array(data, width: int, height: int, step: int, encoding: str,
                   is_bigendian: bool = False) -> np.ndarray:
    """Array of a sensor_msgs/Image's pixels (HxW for one channel, HxWxC otherwise).

    ``data`` is the message's ``data`` (``array.array``, ``bytes``, ``memoryview``,
    numpy array or list). Returns a view of it when no conversion is needed (rows
    padded to ``step`` stay padded in memory: the view has ``strides[0] == step``), or a
    native-byte-order copy for 16-bit data in the other byte order or on rows whose
    padding is not a whole number of pixel elements. Channel order is the message's own
    (an rgb8 image comes back RGB), as with cv_bridge's passthrough.
    """
    if isinstance(data, (list, tuple)):
        data = np.asarray(data, dtype=np.uint8)
    buffer = memoryview(data).cast('B') if not isinstance(data, np.ndarray) else \
        data.reshape(-1).view(np.uint8)
    dtype, channels = check_image_fields(width, height, step, encoding, len(buffer))
    wire = dtype.newbyteorder('>' if is_bigendian else '<')
    shape = (height, width) if channels == 1 else (height, width, channels)
    strides = (step, wire.itemsize) if channels == 1 else \
        (step, channels * wire.itemsize, wire.itemsize)
    image = np.ndarray(shape, dtype=wire, buffer=buffer, strides=strides)
    if not wire.isnative or step % wire.itemsize:
        image = image.astype(dtype)  # one pass, native order and aligned rows
    return image


def decode_compressed(data, format: str = '') -> tuple[np.ndarray, str]:
    """Decode sensor_msgs/CompressedImage data -> (array, encoding of that array).

    JPEG and PNG only, checked first by
    :func:`~pose_estimation_ros.core.validation.compressed_image_size` (empty, unknown
    format, truncated, declared size over ``MAX_COMPRESSED_PIXELS``: ValueError). Uses
    ``cv2.imdecode(..., IMREAD_UNCHANGED)`` like cv_bridge: colour images come out
    bgr8/bgra8 (bgr16/bgra16 for 16-bit PNG), grey ones mono8/mono16. ``format`` is only
    checked for the ``compressedDepth`` transport, whose extra header OpenCV can't read.
    """
    if 'compresseddepth' in format.lower():
        raise ValueError(f'CompressedImage format "{format}" (compressedDepth) is not '
                         f'supported; subscribe to the "compressed" or raw image transport')
    buffer = np.asarray(data, dtype=np.uint8) if isinstance(data, (list, tuple)) else \
        np.frombuffer(data, dtype=np.uint8)
    # Header checks first: format, truncation and declared size (no decompression bomb).
    kind, width, height = compressed_image_size(buffer, format)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None or image.shape[:2] != (height, width):
        raise ValueError(f'cannot decode CompressedImage ({buffer.size} bytes, format '
                         f'"{format}"): corrupt {kind.upper()} data; the publisher must '
                         f'send whole JPEG/PNG images')
    channels = 1 if image.ndim == 2 else image.shape[2]
    names = {(_U8, 1): 'mono8', (_U8, 3): 'bgr8', (_U8, 4): 'bgra8',
             (_U16, 1): 'mono16', (_U16, 3): 'bgr16', (_U16, 4): 'bgra16'}
    encoding = names.get((image.dtype, channels))
    if encoding is None:
        raise ValueError(f'decoded CompressedImage has an unsupported pixel type: '
                         f'{image.dtype} with {channels} channels')
    return image, encoding


@dataclass(frozen=True)
class ImageEncoderConfig:
    """Parameters of the image encoder (names follow Isaac ROS' DNN image encoder).

    - ``network_image_width`` / ``network_image_height``: size of the network input.
    - ``keep_aspect_ratio``: letterbox (one scale, image centred, rest filled with
      ``padding_value``) or stretch to fill the input.
    - ``padding_value``: pixel value of the letterbox padding on the 8-bit scale
      (0..255, e.g. 0 black, 128 mid grey); normalised like any pixel.
    - ``normalization_type``, applied to the 8-bit pixel value ``x``:
      ``none`` -> x (0..255); ``unit`` -> x / 255; ``positive_negative`` -> x / 127.5 - 1;
      ``mean_stddev`` -> (x / 255 - image_mean[c]) / image_stddev[c], with mean and
      stddev given per tensor channel (in ``channel_order``).
    - 16-bit images are mapped to the 8-bit scale as ``x = v / 257`` (65535 -> 255.0),
      without rounding, so the float outputs keep the full precision.
    - ``channel_order``: channel order of the tensor; mono images are repeated into
      all three channels and alpha is dropped.
    - ``tensor_layout``: ``nchw`` (1x3xHxW) or ``nhwc`` (1xHxWx3).
    - ``data_type``: element type of the tensor (uint8 needs normalization ``none``).
    """

    network_image_width: int = 432
    network_image_height: int = 368
    keep_aspect_ratio: bool = True
    padding_value: float = 0.0
    normalization_type: str = 'unit'
    image_mean: tuple = (0.5, 0.5, 0.5)
    image_stddev: tuple = (0.5, 0.5, 0.5)
    channel_order: str = 'rgb'
    tensor_layout: str = 'nchw'
    tensor_name: str = 'input_tensor'
    data_type: str = 'float32'

    def __post_init__(self):
        # ROS parameters come as lists; keep the frozen config hashable.
        for name in ('image_mean', 'image_stddev'):
            value = getattr(self, name)
            if isinstance(value, (list, np.ndarray)):
                object.__setattr__(self, name, tuple(value))

    def validate(self) -> ImageEncoderConfig:
        """Raise ValueError naming the first bad field and its allowed values."""
        for name in ('network_image_width', 'network_image_height'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value <= 0:
                raise ValueError(f'{name} must be a positive integer, got {value!r}')
        if type(self.keep_aspect_ratio) not in (bool, np.bool_):
            raise ValueError(f'keep_aspect_ratio must be true or false, got '
                             f'{self.keep_aspect_ratio!r}')
        if not _is_number(self.padding_value) or not 0 <= self.padding_value <= 255:
            raise ValueError(f'padding_value must be a number in [0, 255] (a pixel value '
                             f'on the 8-bit scale), got {self.padding_value!r}')
        for name, allowed in (('normalization_type', NORMALIZATION_TYPES),
                              ('channel_order', CHANNEL_ORDERS),
                              ('tensor_layout', TENSOR_LAYOUTS),
                              ('data_type', ENCODER_DATA_TYPES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f'{name} must be one of {", ".join(allowed)}; got '
                                 f'{getattr(self, name)!r}')
        for name in ('image_mean', 'image_stddev'):
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(value) != 3 or \
                    not all(_is_number(v) and math.isfinite(v) for v in value):
                raise ValueError(f'{name} must be a list of 3 finite numbers (one per '
                                 f'channel, in channel_order), got {value!r}')
        if not all(v > 0 for v in self.image_stddev):
            raise ValueError(f'image_stddev values must be > 0, got {self.image_stddev!r}')
        if not isinstance(self.tensor_name, str) or not self.tensor_name:
            raise ValueError(f'tensor_name must be a non-empty string, got '
                             f'{self.tensor_name!r}')
        if self.data_type == 'uint8' and self.normalization_type != 'none':
            raise ValueError(f'data_type uint8 needs normalization_type none (raw 0..255 '
                             f'pixels); got normalization_type {self.normalization_type!r}')
        return self

    @property
    def tensor_shape(self) -> tuple[int, int, int, int]:
        h, w = self.network_image_height, self.network_image_width
        return (1, 3, h, w) if self.tensor_layout == 'nchw' else (1, h, w, 3)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, (bool, np.bool_))


# Output types OpenCV's LUT writes (the 8-bit fast path of ImageEncoder.encode).
_CV_LUT_TYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint8))
# cvtColor codes giving three channels in the tensor's order: (source order or 'mono',
# channels, swap to the other order) -> code.
_TO_THREE = {('mono', 1, False): cv2.COLOR_GRAY2BGR, ('mono', 1, True): cv2.COLOR_GRAY2BGR,
             ('bgr', 3, True): cv2.COLOR_BGR2RGB, ('rgb', 3, True): cv2.COLOR_RGB2BGR,
             ('bgr', 4, False): cv2.COLOR_BGRA2BGR, ('bgr', 4, True): cv2.COLOR_BGRA2RGB,
             ('rgb', 4, False): cv2.COLOR_RGBA2RGB, ('rgb', 4, True): cv2.COLOR_RGBA2BGR}


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` resized to ``width`` x ``height`` with OpenCV, without aliasing.

    INTER_AREA (each target pixel the average of the source pixels it covers) when
    shrinking on both axes, INTER_LINEAR otherwise. INTER_AREA costs about 2.5 ms of CPU
    for 960x540 -> 432x368 where INTER_LINEAR costs 0.3 ms, but bilinear sampling loses
    keypoint AP on coco_val_mini at 432x368 (0.600 instead of 0.604; dev 0.288 instead of
    0.286, 656x368 unchanged), so the slower one stays. Both map pixel centres alike
    (``ImageGeometry``).
    """
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    shrink = width <= w and height <= h
    return cv2.resize(image, (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class ImageEncoder:
    """Encodes images into one contiguous network input tensor.

    Per frame: :func:`resize`, then, for 8-bit images, one
    ``cvtColor`` for channel order/alpha/mono when needed and one ``cv2.LUT`` pass
    straight into the tensor that does normalisation and type conversion (the table
    holds the normalised value of every pixel value, computed once in float64); other
    pixel types take one numpy table look-up pass per channel.
    """

    def __init__(self, config: ImageEncoderConfig):
        self.config = config.validate()
        self._dtype = np.dtype(config.data_type)
        self._luts: dict[np.dtype, np.ndarray] = {}
        self._fill = self._normalize(np.float64(config.padding_value))
        # (256, 1, 3) table for cv2.LUT, one column per tensor channel.
        self._cv_lut = np.ascontiguousarray(self._lut(_U8).T.reshape(256, 1, 3)) \
            if self._dtype in _CV_LUT_TYPES else None

    def _normalize(self, x8: np.ndarray) -> np.ndarray:
        """Normalised values (3 x len(x8)) of pixel values on the 8-bit scale."""
        cfg = self.config
        x8 = np.asarray(x8, dtype=np.float64)[None]
        if cfg.normalization_type == 'none':
            values = np.repeat(x8, 3, axis=0)
        elif cfg.normalization_type == 'unit':
            values = np.repeat(x8 / 255.0, 3, axis=0)
        elif cfg.normalization_type == 'positive_negative':
            values = np.repeat(x8 / 127.5 - 1.0, 3, axis=0)
        else:
            mean = np.asarray(cfg.image_mean, dtype=np.float64).reshape(
                (3,) + (1,) * (x8.ndim - 1))
            std = np.asarray(cfg.image_stddev, dtype=np.float64).reshape(mean.shape)
            values = (x8 / 255.0 - mean) / std
        if self._dtype.kind == 'u':
            values = np.rint(values)
        return values.astype(self._dtype)

    def _lut(self, dtype: np.dtype) -> np.ndarray:
        """Per-channel look-up table (3 x 256 or 3 x 65536) for a pixel type."""
        lut = self._luts.get(dtype)
        if lut is None:
            levels = np.arange(np.iinfo(dtype).max + 1, dtype=np.float64)
            if dtype == _U16:
                levels /= 257.0  # 16-bit -> 8-bit scale, 65535 -> 255
            lut = self._luts[dtype] = self._normalize(levels)
        return lut

    def encode(self, image: np.ndarray, encoding: str) -> tuple[np.ndarray, ImageGeometry]:
        """(tensor, geometry) for an image given with its sensor_msgs encoding.

        ``image`` is what ``image_to_array`` / cv_bridge passthrough returns for that
        encoding. The tensor is C-contiguous with shape ``config.tensor_shape``;
        ``geometry`` maps tensor pixels back to image pixels.
        """
        pixel_type, channels, order = _encoding_info(encoding)
        image = _check_image(image, encoding, pixel_type, channels)
        cfg = self.config
        height, width = image.shape[:2]
        geometry = ImageGeometry.fit(width, height, cfg.network_image_width,
                                     cfg.network_image_height, cfg.keep_aspect_ratio)
        rw, rh = geometry.resized_size
        image = resize(image, rw, rh)
        swap = order != 'mono' and order != cfg.channel_order

        tensor = np.empty(cfg.tensor_shape, dtype=self._dtype)
        # Channel-first view of the output whatever the layout: (3, H, W).
        planes = tensor[0] if cfg.tensor_layout == 'nchw' else tensor[0].transpose(2, 0, 1)
        x0, y0 = int(geometry.offset_x), int(geometry.offset_y)
        _fill_border(planes, self._fill, x0, y0, rw, rh)
        if image.dtype == _U8 and self._cv_lut is not None:
            code = _TO_THREE.get((order, channels, swap))
            if code is not None:
                image = cv2.cvtColor(image, code)
            if cfg.tensor_layout == 'nhwc':
                area = tensor[0, y0:y0 + rh, x0:x0 + rw]
                if area.flags.c_contiguous:  # stretched, or letterboxed top/bottom
                    cv2.LUT(image, self._cv_lut, dst=area)
                else:
                    area[...] = cv2.LUT(image, self._cv_lut)
            else:
                planes[:, y0:y0 + rh, x0:x0 + rw] = cv2.LUT(
                    image, self._cv_lut).transpose(2, 0, 1)
            return tensor, geometry
        if order == 'mono':
            sources = (0, 0, 0)
        else:
            sources = (2, 1, 0) if swap else (0, 1, 2)
        lut = self._lut(image.dtype)
        for c, source in enumerate(sources):
            plane = image if image.ndim == 2 else image[:, :, source]
            # mode='clip' writes straight into `out` (indices are in range anyway).
            np.take(lut[c], plane, out=planes[c, y0:y0 + rh, x0:x0 + rw], mode='clip')
        return tensor, geometry


def _check_image(image, encoding: str, pixel_type: np.dtype, channels: int) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(f'image must be a numpy array, got {type(image).__name__}')
    if image.ndim == 3 and channels == 1 and image.shape[2] == 1:
        image = image[:, :, 0]
    shape_ok = image.ndim == 2 if channels == 1 else \
        image.ndim == 3 and image.shape[2] == channels
    if not shape_ok or image.shape[0] == 0 or image.shape[1] == 0:
        expected = 'HxW' if channels == 1 else f'HxWx{channels}'
        raise ValueError(f'{encoding} image must have shape {expected}, got {image.shape}')
    if image.dtype.newbyteorder('=') != pixel_type:
        raise ValueError(f'{encoding} image must have dtype {pixel_type}, got {image.dtype}')
    if not image.dtype.isnative:
        image = image.astype(pixel_type)
    return image


def _fill_border(planes: np.ndarray, fill: np.ndarray, x0: int, y0: int, width: int,
                 height: int):
    """Set the letterbox padding around the (x0, y0, width, height) image area."""
    fill = fill.reshape(3, 1, 1)
    planes[:, :y0] = fill
    planes[:, y0 + height:] = fill
    planes[:, y0:y0 + height, :x0] = fill
    planes[:, y0:y0 + height, x0 + width:] = fill
