"""numpy <-> Tensor message helpers (msg/Tensor.msg), without importing ROS.

The functions take and fill message objects by duck typing, so they work with the
rclpy-generated classes and are testable without rclpy. Large arrays move as one
buffer copy into the message's ``uint8[]`` field and are read back as a zero-copy view.
"""
from __future__ import annotations

import array

import numpy as np

# Tensor.data_type codes (Isaac ROS numbering), little-endian element types.
DATA_TYPES: dict[int, np.dtype] = {
    1: np.dtype('<i1'), 2: np.dtype('<u1'), 3: np.dtype('<i2'), 4: np.dtype('<u2'),
    5: np.dtype('<i4'), 6: np.dtype('<u4'), 7: np.dtype('<i8'), 8: np.dtype('<u8'),
    9: np.dtype('<f2'), 10: np.dtype('<f4'), 11: np.dtype('<f8'),
}
_CODES = {dtype: code for code, dtype in DATA_TYPES.items()}
# Names accepted in parameters (e.g. the encoder's tensor data type).
DATA_TYPE_NAMES: dict[str, int] = {
    'int8': 1, 'uint8': 2, 'int16': 3, 'uint16': 4, 'int32': 5, 'uint32': 6,
    'int64': 7, 'uint64': 8, 'float16': 9, 'float32': 10, 'float64': 11,
}


def data_type_code(dtype) -> int:
    """Tensor.data_type code of a numpy dtype; ValueError for unsupported types."""
    code = _CODES.get(np.dtype(dtype).newbyteorder('<'))
    if code is None:
        raise ValueError(f'unsupported tensor dtype {np.dtype(dtype)}; supported: '
                         f'{", ".join(DATA_TYPE_NAMES)}')
    return code


def to_byte_array(values: np.ndarray) -> array.array:
    """One copy of an array's bytes (C order, little-endian) into an ``array('B')``.

    This is the type rclpy keeps for ``uint8[]`` fields; assigning it skips the
    per-element checks rclpy runs on any other sequence.
    """
    values = np.ascontiguousarray(values)
    if values.dtype.byteorder == '>':
        values = values.astype(values.dtype.newbyteorder('<'))
    out = array.array('B')
    if values.size:  # memoryview cannot cast a view with a zero in its shape
        out.frombytes(memoryview(values).cast('B'))
    return out


def _c_strides(shape, itemsize: int) -> list[int]:
    """Byte strides of a C-contiguous array of that shape."""
    return [int(np.prod(shape[i + 1:], dtype=np.int64)) * itemsize
            for i in range(len(shape))]


def fill_tensor(tensor, name: str, values: np.ndarray):
    """Fill a Tensor message from a numpy array; returns the message."""
    values = np.asarray(values)
    code = data_type_code(values.dtype)
    tensor.name = name
    tensor.shape.rank = values.ndim
    tensor.shape.dims = [int(d) for d in values.shape]
    tensor.data_type = code
    tensor.strides = _c_strides(values.shape, DATA_TYPES[code].itemsize)
    tensor.data = to_byte_array(values)
    return tensor


def tensor_to_array(tensor) -> np.ndarray:
    """Read-only numpy view of a Tensor message's data with its shape and dtype.

    Raises ValueError with the reason when the message is inconsistent.
    """
    dtype = DATA_TYPES.get(int(tensor.data_type))
    if dtype is None:
        raise ValueError(f'tensor "{tensor.name}": unknown data_type {tensor.data_type}; '
                         f'the publisher must use the Tensor.msg codes 1 (int8) .. 11 '
                         f'(float64)')
    dims = [int(d) for d in tensor.shape.dims]
    if int(tensor.shape.rank) != len(dims):
        raise ValueError(f'tensor "{tensor.name}": rank {tensor.shape.rank} but '
                         f'{len(dims)} dims; the publisher must set shape.rank to the '
                         f'number of shape.dims')
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(tensor.data) != expected:
        raise ValueError(f'tensor "{tensor.name}": {len(tensor.data)} data bytes, expected '
                         f'{expected} for shape {dims} of {dtype.name}; the publisher must '
                         f'send exactly the shape\'s bytes')
    if len(tensor.strides) and [int(s) for s in tensor.strides] != _c_strides(
            dims, dtype.itemsize):
        raise ValueError(f'tensor "{tensor.name}": only C-contiguous strides are '
                         f'supported, got {list(tensor.strides)}; the publisher must send '
                         f'C-order data with strides {_c_strides(dims, dtype.itemsize)} '
                         f'(or none)')
    view = np.frombuffer(tensor.data, dtype=dtype).reshape(dims)
    view.flags.writeable = False
    return view


def find_tensor(tensors, name: str):
    """The tensor called ``name`` in a sequence of Tensor messages; KeyError if absent."""
    for tensor in tensors:
        if tensor.name == name:
            return tensor
    raise KeyError(f'no tensor named "{name}"; present: '
                   f'{", ".join(t.name for t in tensors) or "none"}')
