"""The inference backend interface and the checks between message tensors and model
bindings.

Pure Python + numpy, no ROS imports. The backends themselves are in
:mod:`pose_estimation_ros.core.backends` (one module each, imported only when chosen);
:func:`pose_estimation_ros.core.backends.choice.create_backend` picks one. The inference
node:

1. ``backend, reason = create_backend(...)`` once, and logs ``reason``;
2. per message: ``inputs = prepare_inputs(tensors, backend.inputs, mapping, conversions)``,
   ``outputs = backend.run(inputs)``, ``rename_outputs(outputs, backend.outputs, mapping)``.

Names follow Isaac ROS' TensorRT node: message tensor names (``input_tensor_names``)
are paired one to one with model binding names (``input_binding_names``); see
``name_mapping``.
"""
from __future__ import annotations

import abc
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pose_estimation_ros.core.tensors import data_type_code

# Layout conversions of 4-D input tensors: name -> axis permutation.
LAYOUT_CONVERSIONS: dict[str, tuple[int, ...]] = {
    'nchw_to_nhwc': (0, 2, 3, 1),
    'nhwc_to_nchw': (0, 3, 1, 2),
}


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: name, shape (int, or None / str for a dynamic dim),
    element type."""

    name: str
    shape: tuple
    dtype: np.dtype

    def describe(self) -> str:
        dims = ','.join(str(d) if isinstance(d, int) else '?' for d in self.shape)
        return f'{self.name} ({dims}) {self.dtype}'


class InferenceBackend(abc.ABC):
    """Runs a model: ``run({binding name: array}) -> {binding name: array}``."""

    name: str = ''
    description: str = ''  # runtime, version and device, for the log
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    @abc.abstractmethod
    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on arrays keyed by input binding name (every model input)."""

    def close(self):
        """Release the backend's resources (idempotent)."""

    def _check_input_names(self, inputs: Mapping[str, np.ndarray]):
        missing = [info.name for info in self.inputs if info.name not in inputs]
        if missing:
            raise ValueError(f'{self.name}: no array for model input(s) {missing}; model '
                             f'inputs: {_names(self.inputs)}; given: {list(inputs)}')


def check_model_file(path: str, what: str = 'model file') -> str:
    """``path`` if it is a readable file, else RuntimeError with the path."""
    if not path:
        raise RuntimeError(f'{what} path is empty: set model_file_path')
    if not os.path.isfile(path):
        raise RuntimeError(f'{what} not found (or not a file): {path}; set '
                           f'model_file_path to the model\'s path')
    if not os.access(path, os.R_OK):
        raise RuntimeError(f'{what} is not readable (check its permissions): {path}')
    return path


def file_sha256(path) -> str:
    """sha256 of a file's content (model and engine caches key on it)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


# --- message tensors <-> model bindings ---

def name_mapping(tensor_names: Sequence[str], binding_names: Sequence[str],
                 kind: str = 'input') -> dict[str, str] | None:
    """{tensor name: binding name} from Isaac's parallel name lists.

    Both lists empty means "same names" (returns None, which the functions below read
    as the identity).
    """
    tensor_names, binding_names = list(tensor_names), list(binding_names)
    if len(tensor_names) != len(binding_names):
        raise ValueError(f'{kind}_tensor_names has {len(tensor_names)} names but '
                         f'{kind}_binding_names has {len(binding_names)}; they pair one to '
                         f'one: {tensor_names} vs {binding_names}')
    for label, names in (('tensor', tensor_names), ('binding', binding_names)):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f'{kind}_{label}_names repeats {repeated}')
    return dict(zip(tensor_names, binding_names)) or None


def check_mapping(mapping: Mapping[str, str] | None, model_tensors: Sequence[TensorInfo],
                  kind: str = 'input', layout_conversions: Mapping[str, str] | None = None
                  ) -> dict[str, str]:
    """Validate a {tensor name: binding name} mapping against the model; returns it
    (the identity when None). Inputs must all be fed; outputs may be a subset."""
    model_names = _names(model_tensors)
    if mapping is None:
        mapping = {name: name for name in model_names}
    unknown = {t: b for t, b in mapping.items() if b not in model_names}
    if unknown:
        raise ValueError(f'{kind} binding name(s) {sorted(unknown.values())} are not '
                         f'{kind}s of the model; its {kind}s are: {model_names} '
                         f'(fix {kind}_binding_names)')
    if kind == 'input':
        unfed = [name for name in model_names if name not in mapping.values()]
        if unfed:
            raise ValueError(f'model input(s) {unfed} get no tensor: pair them with message '
                             f'tensors in input_tensor_names / input_binding_names')
    for tensor, conversion in (layout_conversions or {}).items():
        if conversion not in LAYOUT_CONVERSIONS:
            raise ValueError(f'layout conversion for "{tensor}" must be one of '
                             f'{", ".join(LAYOUT_CONVERSIONS)}; got {conversion!r}')
        if tensor not in mapping:
            raise ValueError(f'layout conversion given for "{tensor}", which is not an '
                             f'{kind} tensor name ({list(mapping)})')
    return dict(mapping)


def prepare_inputs(tensors: Mapping[str, np.ndarray], model_inputs: Sequence[TensorInfo],
                   mapping: Mapping[str, str] | None = None,
                   layout_conversions: Mapping[str, str] | None = None
                   ) -> dict[str, np.ndarray]:
    """Message tensors {name: array} -> model inputs {binding name: array}, checked.

    ``mapping``: {message tensor name: binding name} (None: same names); message
    tensors not in it are ignored. ``layout_conversions``: {message tensor name:
    'nchw_to_nhwc' | 'nhwc_to_nchw'} to transpose a 4-D tensor before the checks.
    Checks names, rank, static dims and dtype (uint8 tensors feed float inputs: exact);
    raises ValueError saying what to set.
    """
    mapping = check_mapping(mapping, model_inputs, 'input', layout_conversions)
    by_name = {info.name: info for info in model_inputs}
    result = {}
    for tensor_name, binding in mapping.items():
        if tensor_name not in tensors:
            raise ValueError(f'no tensor "{tensor_name}" in the message (it has '
                             f'{list(tensors)}) for model input "{binding}"; model inputs: '
                             f'{[i.describe() for i in model_inputs]} (fix '
                             f'input_tensor_names / input_binding_names)')
        array = np.asarray(tensors[tensor_name])
        try:
            data_type_code(array.dtype)
        except ValueError as e:
            raise ValueError(f'input "{tensor_name}": {e}') from None
        conversion = (layout_conversions or {}).get(tensor_name)
        if conversion:
            if array.ndim != 4:
                raise ValueError(f'input "{tensor_name}" has shape {array.shape}: layout '
                                 f'conversion {conversion} needs a 4-D tensor')
            array = np.ascontiguousarray(array.transpose(LAYOUT_CONVERSIONS[conversion]))
        info = by_name[binding]
        _check_shape(tensor_name, array.shape, info)
        if array.dtype == np.uint8 and np.issubdtype(info.dtype, np.floating):
            # 8-bit pixels widen exactly: the encoder sends uint8 where the model takes
            # raw 0..255 values (normalization none), a quarter of float32's bytes.
            array = array.astype(info.dtype)
        if array.dtype != info.dtype:
            raise ValueError(f'input "{tensor_name}" is {array.dtype} but model input '
                             f'"{binding}" expects {info.dtype}: produce {info.dtype} '
                             f'tensors (e.g. the encoder\'s data_type)')
        result[binding] = array
    return result


def rename_outputs(outputs: Mapping[str, np.ndarray], model_outputs: Sequence[TensorInfo],
                   mapping: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Model outputs {binding name: array} -> {message tensor name: array}.

    ``mapping`` is {message tensor name: binding name} (None: all outputs, same names).
    """
    mapping = check_mapping(mapping, model_outputs, 'output')
    return {tensor_name: outputs[binding] for tensor_name, binding in mapping.items()}


def _check_shape(tensor_name: str, shape: tuple, info: TensorInfo):
    expected = tuple(info.shape)
    fits = len(shape) == len(expected) and all(
        not isinstance(e, int) or e == s for s, e in zip(shape, expected))
    if fits:
        return
    shown = '(' + ','.join(str(e) if isinstance(e, int) else '?' for e in expected) + ')'
    message = (f'input "{tensor_name}" has shape ({",".join(map(str, shape))}) but the '
               f'model input "{info.name}" expects {shown}')
    hint = ''
    if len(shape) == 4 == len(expected):
        for conversion, perm in LAYOUT_CONVERSIONS.items():
            permuted = tuple(shape[i] for i in perm)
            if all(not isinstance(e, int) or e == s for s, e in zip(permuted, expected)):
                hint = (f': set the input layout conversion (input_layout_conversion) to '
                        f'{conversion}, or make the encoder produce {conversion[-4:]} '
                        f'tensors (its tensor_layout)')
                break
        else:
            hint = (': make the encoder\'s network_image_width / network_image_height and '
                    'tensor_layout match the model')
    elif len(shape) != len(expected):
        hint = f' (rank {len(shape)} vs {len(expected)})'
    raise ValueError(message + hint)


def _names(tensors: Sequence[TensorInfo]) -> list[str]:
    return [info.name for info in tensors]
