"""Per-message input checks (no ROS imports): what a node drops, and why.

Each function raises ValueError whose message names the problem and the fix. They run
on every frame, so each is O(1) (headers, names, shapes) or one vectorized pass over
the data (finiteness): never a per-element Python loop.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

# Largest image a CompressedImage may declare (width x height, read from its header
# before decoding): 8192 x 8192, above any camera's. A PNG or JPEG of a few bytes can
# declare a giant size ("decompression bomb") whose decoding would exhaust memory.
MAX_COMPRESSED_PIXELS = 8192 * 8192
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_END = b'IEND\xaeB`\x82'  # the IEND chunk's type and CRC: the last 8 bytes
_JPEG_START = b'\xff\xd8\xff'
# JPEG frame headers (SOF0..SOF15 without DHT C4, JPG C8, DAC CC) hold the image size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Segments read before the frame header at most (real files have a dozen).
_JPEG_MAX_SEGMENTS = 256
_FIX_COMPRESSED = ('publish JPEG or PNG data as image_transport\'s "compressed" transport '
                   'does')


def compressed_image_size(data: bytes | memoryview, format: str = '') -> tuple[str, int, int]:
    """(``'jpeg'`` or ``'png'``, width, height) of CompressedImage data, from its header.

    Refuses, before any decoding: empty data, formats other than JPEG and PNG, data cut
    short (no JPEG end marker, no PNG end chunk) and sizes over
    :data:`MAX_COMPRESSED_PIXELS`. Reads only the header and the last bytes.
    """
    size = len(data)
    what = f'cannot decode CompressedImage ({size} bytes, format "{format}")'
    if size == 0:
        raise ValueError(f'{what}: no data, the publisher sent an empty image')
    head = bytes(data[:32])
    if head.startswith(_PNG_SIGNATURE):
        kind = 'png'
        if size < 33 or head[12:16] != b'IHDR':
            raise ValueError(f'{what}: corrupt PNG (no IHDR header chunk); {_FIX_COMPRESSED}')
        width, height = int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big')
        if bytes(data[-8:]) != _PNG_END:
            raise ValueError(f'{what}: truncated PNG (no IEND chunk at the end): the image was '
                             f'cut short in transport or recording')
    elif head.startswith(_JPEG_START):
        kind = 'jpeg'
        width, height = _jpeg_size(data, what)
        # Some encoders pad after the end-of-image marker: look at the last bytes only.
        tail = bytes(data[-64:]).rstrip(b'\x00')
        if not tail.endswith(b'\xff\xd9'):
            raise ValueError(f'{what}: truncated JPEG (no end-of-image marker): the image '
                             f'was cut short in transport or recording')
    else:
        raise ValueError(f'{what}: unknown image format (starts with {head[:8].hex(" ")}): '
                         f'only JPEG and PNG are decoded; {_FIX_COMPRESSED}')
    if width == 0 or height == 0:
        raise ValueError(f'{what}: corrupt {kind.upper()} header declaring a '
                         f'{width}x{height} image')
    if width * height > MAX_COMPRESSED_PIXELS:
        raise ValueError(f'{what}: {kind.upper()} header declares {width}x{height} pixels, '
                         f'over the limit of {MAX_COMPRESSED_PIXELS} '
                         f'(MAX_COMPRESSED_PIXELS, 8192x8192): refused without decoding '
                         f'(a decompression bomb or a corrupt header); send smaller images')
    return kind, width, height


def _jpeg_size(data, what: str) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header, walking the segments before it."""
    size, offset = len(data), 2
    for _ in range(_JPEG_MAX_SEGMENTS):
        if offset + 4 > size:
            break
        # Markers may be preceded by fill bytes 0xFF.
        while offset < size - 1 and data[offset] == 0xFF and data[offset + 1] == 0xFF:
            offset += 1
        if data[offset] != 0xFF:
            break
        marker = int(data[offset + 1])
        length = int.from_bytes(bytes(data[offset + 2:offset + 4]), 'big')
        if marker in _JPEG_SOF:
            if offset + 9 > size:
                break
            height = int.from_bytes(bytes(data[offset + 5:offset + 7]), 'big')
            width = int.from_bytes(bytes(data[offset + 7:offset + 9]), 'big')
            return width, height
        if length < 2:
            break
        offset += 2 + length
    raise ValueError(f'{what}: corrupt or truncated JPEG (no frame header with the image '
                     f'size); {_FIX_COMPRESSED}')


def check_finite(name: str, array: np.ndarray, fix: str) -> None:
    """ValueError when a float array holds NaN or infinity (two reductions, no copy:
    NaN propagates through min/max, infinities show as their value)."""
    if array.dtype.kind != 'f' or array.size == 0:
        return
    low, high = array.min(), array.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = 'NaN' if np.isnan(low) or np.isnan(high) else 'infinite'
        raise ValueError(f'{bad} values in {name}: {fix}')


def check_tensor_names(present: Iterable[str], expected: Iterable[str], what: str,
                       fix: str) -> None:
    """ValueError naming the tensors missing from a message and the extra ones."""
    present, expected = list(present), [n for n in expected if n]
    missing = [n for n in expected if n not in present]
    extra = [n for n in present if n not in expected]
    if missing or extra:
        problems = ([f'missing {missing}'] if missing else []) + (
            [f'unexpected {extra}'] if extra else [])
        raise ValueError(f'{what}: tensor names {present} do not match {expected} '
                         f'({", ".join(problems)}): {fix}')


def check_decoder_maps(maps: Mapping[str, np.ndarray], nms_kernel_size: int) -> None:
    """The decoder's input maps (HWC, names for the messages): real numbers, finite,
    and at least one NMS window in each direction."""
    for name, array in maps.items():
        if array is None:
            continue
        array = np.asarray(array)
        if array.dtype.kind not in 'fiu' or array.dtype.kind == 'b':
            raise ValueError(f'{name} has element type {array.dtype}: the decoder takes '
                             f'real-valued maps (float32 from the network)')
        if array.ndim == 3 and min(array.shape[:2]) < nms_kernel_size:
            raise ValueError(f'{name}: {array.shape[0]}x{array.shape[1]} cells, '
                             f'smaller than the {nms_kernel_size}x{nms_kernel_size} NMS '
                             f'window (nms_kernel_size): check the network input size '
                             f'(encoder network_image_width/height) and tensor_layout')
        check_finite(name, array, 'the network output is broken (check the model, its '
                                  'input normalisation and the inference backend)')
