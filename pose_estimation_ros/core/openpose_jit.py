"""Compiled (numba) steps of the OpenPose decoder, each linear in the number of people.

The numpy steps of :class:`~pose_estimation_ros.core.openpose.OpenPoseDecoder` are the
reference; these compute the same results (tests compare the two on synthetic and real
maps) in one pass each without per-call numpy overhead, which dominates at the decoder's
map sizes (46x54 cells). ``AVAILABLE`` is False when numba is not installed: the decoder
then runs the numpy steps.

Compiled on first use and cached on disk once per machine: in ``CACHE_DIR``, one
directory per source text of this module and numba/llvmlite/numpy/Python version, not
per install path (numba's own cache sits next to the source or mirrors its path, so each
new colcon install prefix compiled again: most of a minute). numba's index keys every
entry by CPU name and features too, so another CPU compiles its own. Where numba lacks
the (internal) custom-locator hook, ``CACHE_NOTE`` says so and numba's default cache is
used. The float32/float64 arithmetic follows the numpy steps operation by operation;
sums may differ from numpy's pairwise summation in the last bits.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

try:
    import numba
except ImportError:  # the numpy reference runs instead
    numba = None

AVAILABLE = numba is not None
# Where the compiled steps are cached (None: numba's default place, CACHE_NOTE says why).
CACHE_DIR: Path | None = None
CACHE_NOTE = ''
# Cache directories of other source versions kept (a checkout switching branches).
_KEEP_VERSIONS = 4


def cache_root() -> Path:
    """``$POSE_ESTIMATION_ROS_CACHE_DIR``, else ``$NUMBA_CACHE_DIR/pose_estimation_ros``,
    else ``${XDG_CACHE_HOME:-~/.cache}/pose_estimation_ros/numba``."""
    if os.environ.get('POSE_ESTIMATION_ROS_CACHE_DIR'):
        return Path(os.environ['POSE_ESTIMATION_ROS_CACHE_DIR']).expanduser()
    if os.environ.get('NUMBA_CACHE_DIR'):
        return Path(os.environ['NUMBA_CACHE_DIR']).expanduser() / 'pose_estimation_ros'
    return Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / \
        'pose_estimation_ros' / 'numba'


def cache_key(source: bytes) -> str:
    """The cache directory's key: this module's source text and every version the
    machine code depends on (a changed source or upgraded numba never loads old code)."""
    import llvmlite
    digest = hashlib.sha256(source)
    for part in (numba.__version__, llvmlite.__version__, np.__version__,
                 sys.implementation.cache_tag):
        digest.update(b'\0' + str(part).encode())
    return digest.hexdigest()[:20]


def _use_source_keyed_cache() -> None:
    """Put numba's cache of this module's functions in ``CACHE_DIR`` (see module doc):
    a cache locator keyed by the source text, registered before the decorations below.
    ``numba.core.caching``'s locator classes are internal API: without them (another
    numba), numba's default cache is used and ``CACHE_NOTE`` says so."""
    global CACHE_DIR, CACHE_NOTE
    fallback = 'the compiled decoder is cached where numba puts it by default (next to ' \
        'the installed source, or in $NUMBA_CACHE_DIR by its path): each new install ' \
        'prefix compiles it again'
    try:
        from numba.core import caching
        base = caching._CacheLocator
        impl = getattr(caching, 'CacheImpl', None) or caching._CacheImpl
        classes = impl._locator_classes
        if not isinstance(classes, list):
            raise TypeError(f'_locator_classes is a {type(classes).__name__}')
    except (ImportError, AttributeError, TypeError) as error:
        CACHE_NOTE = f'numba {numba.__version__} has no cache locator hook ({error}): {fallback}'
        return
    if numba.config.CACHE_LOCATOR_CLASSES:  # the user chose numba's locators
        CACHE_NOTE = f'NUMBA_CACHE_LOCATOR_CLASSES is set: {fallback}'
        return
    try:
        source = Path(__file__).read_bytes()
        directory = cache_root() / f'openpose_jit-{cache_key(source)}'
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()  # writable?
    except (OSError, RuntimeError) as error:  # RuntimeError: no home directory
        CACHE_NOTE = f'cannot use the cache directory ({error}): {fallback}'
        return
    module_file = os.path.realpath(__file__)
    stamp = directory.name

    class SourceKeyedLocator(base):
        """This module's functions only, all in ``directory``; the source stamp is the
        content key (numba's stamp and directory follow the file's path)."""

        def __init__(self, py_func, py_file):
            self._lineno = py_func.__code__.co_firstlineno

        def get_cache_path(self):
            return str(directory)

        def get_source_stamp(self):
            return stamp

        def get_disambiguator(self):
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            if os.path.realpath(py_file) != module_file:
                return None  # someone else's function: numba's own locators
            locator = cls(py_func, py_file)
            try:
                locator.ensure_cache_path()
            except OSError:
                return None
            return locator

    classes.insert(0, SourceKeyedLocator)
    CACHE_DIR = directory


def cpu_key() -> str:
    """What numba compiles for here (target triple, CPU name, CPU features: its cache
    index keys entries by this ``magic_tuple``), as a short hash."""
    try:
        from numba.core.registry import cpu_target
        magic = cpu_target.target_context.codegen().magic_tuple()
    except Exception:  # internal API moved: the same parts from llvmlite
        import llvmlite.binding as ll
        magic = (ll.get_process_triple(), numba.config.CPU_NAME or ll.get_host_cpu_name(),
                 numba.config.CPU_FEATURES or ll.get_host_cpu_features().flatten())
    return hashlib.sha256(repr(magic).encode()).hexdigest()[:16]


def _manifest() -> Path | None:
    return None if CACHE_DIR is None else CACHE_DIR / f'ready-{cpu_key()}.json'


def is_cached() -> bool:
    """The cache holds every compiled step for this CPU (written by :func:`mark_cached`
    after a complete load); False also when numba's default cache is in use."""
    manifest = _manifest()
    return manifest is not None and manifest.is_file()


def mark_cached(info: dict) -> None:
    """Record that the cache is complete for this CPU (``info``: what for, how long);
    on a load, refresh its time (last use); keep the newest few other source versions."""
    manifest = _manifest()
    if manifest is None:
        return
    try:
        if manifest.is_file():
            os.utime(manifest)
            return
        import llvmlite
        info = {**info, 'numba': numba.__version__, 'llvmlite': llvmlite.__version__,
                'numpy': np.__version__, 'python': sys.implementation.cache_tag}
        temporary = manifest.with_suffix(f'.tmp{os.getpid()}')
        temporary.write_text(json.dumps(info, indent=1, sort_keys=True) + '\n')
        os.replace(temporary, manifest)
        _prune(manifest.parent)
    except OSError:
        pass  # a read-only cache still loads; the next start asks again


def _prune(current: Path) -> None:
    def last_use(directory: Path) -> float:
        times = [p.stat().st_mtime for p in directory.glob('ready-*.json')]
        return max(times, default=directory.stat().st_mtime)

    others = [d for d in current.parent.glob('openpose_jit-*') if d.is_dir() and d != current]
    for old in sorted(others, key=last_use, reverse=True)[_KEEP_VERSIONS:]:
        shutil.rmtree(old, ignore_errors=True)


if AVAILABLE:
    _use_source_keyed_cache()


def _jit(function):
    if numba is None:
        return function
    # error_model numpy: a division by zero gives inf/nan as in the numpy steps (e.g.
    # threshold_edge_size 0 on coincident peaks), not a ZeroDivisionError.
    return numba.njit(cache=True, nogil=True, boundscheck=False,
                      error_model='numpy')(function)


@_jit
def find_peaks(heat, pool, use_pool, threshold, kernel_size, num_parts, work):
    """Part candidates ``(part, row, col, confidence, starts)`` sorted by part, then by
    cell (the order of the numpy step); part ``p``'s are ``starts[p]:starts[p + 1]``.
    ``work``: int64 scratch of at least H * W * parts."""
    height, width = heat.shape[0], heat.shape[1]
    r = kernel_size // 2
    n = 0
    counts = np.zeros(num_parts + 1, dtype=np.int64)
    for i in range(height):
        for j in range(width):
            for p in range(num_parts):
                v = heat[i, j, p]
                if not v > threshold:
                    continue
                if use_pool:
                    peak = v == pool[i, j, p]
                else:
                    peak = True
                    for y in range(max(i - r, 0), min(i + r + 1, height)):
                        for x in range(max(j - r, 0), min(j + r + 1, width)):
                            if not heat[y, x, p] <= v:  # a NaN neighbour too, as numpy
                                peak = False
                                break
                        if not peak:
                            break
                if peak:
                    work[n] = (i * width + j) * num_parts + p
                    counts[p + 1] += 1
                    n += 1
    starts = np.cumsum(counts)
    fill = starts[:num_parts].copy()
    part = np.empty(n, dtype=np.int64)
    row = np.empty(n, dtype=np.int64)
    col = np.empty(n, dtype=np.int64)
    conf = np.empty(n, dtype=np.float32)
    for k in range(n):  # counting sort by part, stable
        flat = work[k]
        p = flat % num_parts
        pixel = flat // num_parts
        at = fill[p]
        fill[p] += 1
        part[at] = p
        row[at] = pixel // width
        col[at] = pixel % width
        conf[at] = heat[row[at], col[at], p]
    return part, row, col, conf, starts


@_jit
def refine_peaks(heat, part, row, col, refine, sigma):
    """(N, 2) ``x, y`` map coordinates, as ``OpenPoseDecoder.refine_peaks``."""
    n = part.shape[0]
    height, width = heat.shape[0], heat.shape[1]
    xy = np.empty((n, 2), dtype=np.float64)
    for k in range(n):
        i, j, p = row[k], col[k], part[k]
        xy[k, 0] = j + 0.5
        xy[k, 1] = i + 0.5
        if not refine:
            continue
        c = math.log(max(np.float64(heat[i, j, p]), 1e-6))
        for axis in range(2):
            if axis == 0:
                if not (0 < j < width - 1):
                    continue
                lo = math.log(max(np.float64(heat[i, j - 1, p]), 1e-6))
                hi = math.log(max(np.float64(heat[i, j + 1, p]), 1e-6))
            else:
                if not (0 < i < height - 1):
                    continue
                lo = math.log(max(np.float64(heat[i - 1, j, p]), 1e-6))
                hi = math.log(max(np.float64(heat[i + 1, j, p]), 1e-6))
            curvature = -1.0 / sigma ** 2 if sigma > 0 else lo - 2 * c + hi
            if curvature < 0:
                offset = 0.5 * (lo - hi) / curvature
                xy[k, axis] += min(max(offset, -0.5), 0.5)
    return xy


@_jit
def _grown(array, capacity):
    out = np.empty(capacity, dtype=array.dtype)
    out[:array.shape[0]] = array
    return out


# Edge types with more candidate pairs than this get a support mask (below) first.
MASK_MIN_PAIRS = 256


@_jit
def _support_mask(pafs, cx, cy, threshold, mask, cell):
    """``mask[y0, x0]``: a PAF sample interpolated in the 2x2 block at (y0, x0) can give
    a dot product above ``threshold`` (some corner has max(|x|, |y|) * sqrt(2) above it,
    with a margin for float32 rounding); no sample elsewhere can."""
    height, width = pafs.shape[0], pafs.shape[1]
    limit = threshold / (math.sqrt(2.0) * (1.0 + 1e-4))
    for y in range(height):
        for x in range(width):
            cell[y, x] = max(abs(pafs[y, x, cx]), abs(pafs[y, x, cy])) > limit
    step_x = 1 if width > 1 else 0
    step_y = 1 if height > 1 else 0
    for y in range(height - step_y):
        for x in range(width - step_x):
            mask[y, x] = cell[y, x] or cell[y, x + step_x] or cell[y + step_y, x] or \
                cell[y + step_y, x + step_x]


@_jit
def score_edges(pafs, part_starts, edge_a, edge_b, paf_x, paf_y, xy, t, min_length,
                threshold_score, threshold_counter, mask, cell):
    """Scored edge candidates ``(peak a, peak b, score, edge type)`` passing the
    thresholds, in the numpy step's order (edge type, then a, then b).

    ``threshold_score`` float32 (numpy compares the float32 products in float32). A pair
    is dropped as soon as too few of its samples can still count. For edge types with
    many pairs (crowds), a support mask of the PAF (:func:`_support_mask`, one pass over
    the map) rejects most wrong pairs (two people's parts far apart) from a few look-ups
    before any interpolation; exact, as no sample outside the mask can count.
    ``mask``/``cell``: (H, W) bool scratch.
    """
    height, width = pafs.shape[0], pafs.shape[1]
    steps = t.shape[0]
    max_fail = steps - (threshold_counter + 1)  # more failures than this: no edge
    total = 0
    for e in range(edge_a.shape[0]):
        total += (part_starts[edge_a[e] + 1] - part_starts[edge_a[e]]) * (
            part_starts[edge_b[e] + 1] - part_starts[edge_b[e]])
    # Kept edges: grown as needed (noise maps can have millions of pairs, few edges).
    capacity = min(total, 1024)
    out_a = np.empty(capacity, dtype=np.int64)
    out_b = np.empty(capacity, dtype=np.int64)
    out_score = np.empty(capacity, dtype=np.float64)
    out_type = np.empty(capacity, dtype=np.int64)
    dots = np.empty(steps, dtype=np.float32)
    channels = pafs.shape[2]
    flat = pafs.reshape(-1)  # C-contiguous: flat offsets, no per-axis index arithmetic
    step_x = np.uint64(channels if width > 1 else 0)
    step_y = np.uint64(width * channels if height > 1 else 0)
    step_xy = step_x + step_y
    max_x0, max_y0 = max(width - 2, 0), max(height - 2, 0)
    hi_x, hi_y = np.float32(width - 1), np.float32(height - 1)
    zero = np.float32(0.0)
    flat_mask = mask.reshape(-1).view(np.uint8)
    block = np.empty(steps, dtype=np.int64)
    n = 0
    for e in range(edge_a.shape[0]):
        cx, cy = paf_x[e], paf_y[e]
        ch_x, ch_y = np.uint64(cx), np.uint64(cy)
        a0, a1 = part_starts[edge_a[e]], part_starts[edge_a[e] + 1]
        b0, b1 = part_starts[edge_b[e]], part_starts[edge_b[e] + 1]
        masked = threshold_score >= 0 and (a1 - a0) * (b1 - b0) > MASK_MIN_PAIRS
        if masked:
            _support_mask(pafs, cx, cy, threshold_score, mask, cell)
        for ia in range(a0, a1):
            ax = np.float32(xy[ia, 0]) - np.float32(0.5)
            ay = np.float32(xy[ia, 1]) - np.float32(0.5)
            for ib in range(b0, b1):
                dx = xy[ib, 0] - xy[ia, 0]
                dy = xy[ib, 1] - xy[ia, 1]
                dx32, dy32 = np.float32(dx), np.float32(dy)
                if masked:
                    # All samples' blocks at once (a loop the compiler vectorizes), then
                    # branch-free look-ups. Samples are clipped to >= 0: int() is floor().
                    for k in range(steps):
                        block[k] = min(int(min(max(ay + dy32 * t[k], zero), hi_y)),
                                       max_y0) * width + min(
                            int(min(max(ax + dx32 * t[k], zero), hi_x)), max_x0)
                    hits = 0
                    for k in range(steps):
                        hits += flat_mask[block[k]]
                    if hits <= threshold_counter:
                        continue
                length = math.sqrt(dx ** 2 + dy ** 2)
                if not length >= min_length:
                    continue
                len32 = np.float32(length)
                ux, uy = dx32 / len32, dy32 / len32
                counter = 0
                fails = 0
                for k in range(steps):
                    sx = min(max(ax + dx32 * t[k], zero), hi_x)
                    sy = min(max(ay + dy32 * t[k], zero), hi_y)
                    x0 = min(int(sx), max_x0)
                    y0 = min(int(sy), max_y0)
                    wx, wy = sx - np.float32(x0), sy - np.float32(y0)
                    at = np.uint64((y0 * width + x0) * channels)
                    v00, v01 = flat[at + ch_x], flat[at + ch_x + step_x]
                    v10, v11 = flat[at + ch_x + step_y], flat[at + ch_x + step_xy]
                    top = v00 + wx * (v01 - v00)
                    field_x = top + wy * ((v10 + wx * (v11 - v10)) - top)
                    v00, v01 = flat[at + ch_y], flat[at + ch_y + step_x]
                    v10, v11 = flat[at + ch_y + step_y], flat[at + ch_y + step_xy]
                    top = v00 + wx * (v01 - v00)
                    field_y = top + wy * ((v10 + wx * (v11 - v10)) - top)
                    dot = field_x * ux + field_y * uy
                    dots[k] = dot
                    if dot > threshold_score:
                        counter += 1
                    else:
                        fails += 1
                        if fails > max_fail:
                            break
                if counter <= threshold_counter:
                    continue
                total32 = np.float32(0.0)
                for k in range(steps):
                    total32 += dots[k]
                mean = np.float64(np.float32(np.float64(total32) / steps))
                score = mean + min(0.5 * height / length - 1.0, 0.0)
                if not score > 0:
                    continue
                if n == capacity:
                    capacity = max(2 * capacity, 16)
                    out_a = _grown(out_a, capacity)
                    out_b = _grown(out_b, capacity)
                    out_score = _grown(out_score, capacity)
                    out_type = _grown(out_type, capacity)
                out_a[n], out_b[n], out_score[n], out_type[n] = ia, ib, score, e
                n += 1
    return out_a[:n], out_b[:n], out_score[:n], out_type[:n]


@_jit
def greedy(ea, eb, rank, etype, num_peaks, num_types):
    """Sequential greedy one-to-one matching per edge type by decreasing ``rank``
    (ties: lower index first); the kept indices, best first."""
    order = np.argsort(-rank, kind='mergesort')
    used_a = np.zeros(num_types * num_peaks, dtype=np.bool_)
    used_b = np.zeros(num_types * num_peaks, dtype=np.bool_)
    keep = np.empty(order.shape[0], dtype=np.int64)
    n = 0
    for c in order:
        ka = etype[c] * num_peaks + ea[c]
        kb = etype[c] * num_peaks + eb[c]
        if used_a[ka] or used_b[kb]:
            continue
        used_a[ka] = True
        used_b[kb] = True
        keep[n] = c
        n += 1
    return keep[:n]


@_jit
def _root(parent, g):
    while parent[g] != g:
        parent[g] = parent[parent[g]]
        g = parent[g]
    return g


@_jit
def assemble(part, ea, eb, num_peaks):
    """Groups from matched edges taken in order (``OpenPoseDecoder.assemble`` before
    split merging): ``(peak group, edge group)``, -1 for none / a dropped edge. Groups
    are numbered in creation order; a merged group keeps the number of the larger one
    (the first one's on a tie), as the numpy step keeps its list position."""
    n_edges = ea.shape[0]
    owner = np.full(num_peaks, -1, dtype=np.int64)
    parent = np.empty(n_edges, dtype=np.int64)
    size = np.zeros(n_edges, dtype=np.int64)
    mask = np.zeros(n_edges, dtype=np.int64)
    edge_group = np.full(n_edges, -1, dtype=np.int64)
    groups = 0
    for c in range(n_edges):
        a, b = ea[c], eb[c]
        ga = _root(parent, owner[a]) if owner[a] >= 0 else -1
        gb = _root(parent, owner[b]) if owner[b] >= 0 else -1
        if ga < 0 and gb < 0:
            g = groups
            groups += 1
            parent[g] = g
            owner[a] = owner[b] = g
            size[g] = 2
            mask[g] = (np.int64(1) << part[a]) | (np.int64(1) << part[b])
        elif ga < 0 or gb < 0:
            g, new = (ga, b) if gb < 0 else (gb, a)
            bit = np.int64(1) << part[new]
            if mask[g] & bit:
                continue
            owner[new] = g
            size[g] += 1
            mask[g] |= bit
        elif ga != gb:
            if mask[ga] & mask[gb]:
                continue
            if size[ga] < size[gb]:
                ga, gb = gb, ga
            parent[gb] = ga
            size[ga] += size[gb]
            mask[ga] |= mask[gb]
            g = ga
        else:
            g = ga
        edge_group[c] = g
    peak_group = np.full(num_peaks, -1, dtype=np.int64)
    for k in range(num_peaks):
        if owner[k] >= 0:
            peak_group[k] = _root(parent, owner[k])
    for c in range(n_edges):
        if edge_group[c] >= 0:
            edge_group[c] = _root(parent, edge_group[c])
    return peak_group, edge_group


@_jit
def merge_splits(peak_group, edge_group, part, part_starts, row, conf, xy, ea, eb, etype,
                 num_parts, threshold):
    """Split-graph merging of ``OpenPoseDecoder._merge_splits``, in place on the group
    and edge arrays. Pairs of groups are found from pairs of same-part candidates
    closer than ``threshold`` (a row window over the part's candidates, which are sorted
    by row): no all-groups-against-all-groups table."""
    num_peaks = part.shape[0]
    num_groups = 0
    for k in range(num_peaks):
        num_groups = max(num_groups, peak_group[k] + 1)
    slot = np.full((num_groups, num_parts), -1, dtype=np.int64)
    max_rows = threshold + 1.0  # refined offsets are within half a cell
    while True:
        slot[:] = -1
        for k in range(num_peaks):
            if peak_group[k] >= 0:
                slot[peak_group[k], part[k]] = k
        # Candidate group pairs from close same-part candidates of two groups.
        pairs = []
        for p in range(num_parts):
            for k1 in range(part_starts[p], part_starts[p + 1]):
                g1 = peak_group[k1]
                if g1 < 0:
                    continue
                for k2 in range(k1 + 1, part_starts[p + 1]):
                    if row[k2] - row[k1] > max_rows:
                        break
                    g2 = peak_group[k2]
                    if g2 < 0 or g2 == g1:
                        continue
                    dx = xy[k1, 0] - xy[k2, 0]
                    dy = xy[k1, 1] - xy[k2, 1]
                    if math.sqrt(dx ** 2 + dy ** 2) < threshold:
                        pairs.append((min(g1, g2), max(g1, g2)))
        if len(pairs) == 0:
            break
        keys = np.empty(len(pairs), dtype=np.int64)
        for q in range(len(pairs)):
            keys[q] = pairs[q][0] * num_groups + pairs[q][1]
        keys = np.unique(keys)  # sorted: ties below stay in (i, j) order
        split = np.empty(keys.shape[0], dtype=np.float64)
        for q in range(keys.shape[0]):
            gi, gj = keys[q] // num_groups, keys[q] % num_groups
            total = 0.0
            for p in range(num_parts):
                k1, k2 = slot[gi, p], slot[gj, p]
                if k1 >= 0 and k2 >= 0:
                    dx = xy[k1, 0] - xy[k2, 0]
                    dy = xy[k1, 1] - xy[k2, 1]
                    total += math.sqrt(dx ** 2 + dy ** 2)
            split[q] = total
        order = np.argsort(split, kind='mergesort')
        done = np.zeros(num_groups, dtype=np.bool_)
        remap = np.arange(num_peaks)
        merged = False
        for q in order:
            if not split[q] < threshold:
                continue
            gi, gj = keys[q] // num_groups, keys[q] % num_groups
            if done[gi] or done[gj]:
                continue
            done[gi] = done[gj] = True
            merged = True
            for p in range(num_parts):
                k1, k2 = slot[gi, p], slot[gj, p]
                if k2 < 0:
                    continue
                if k1 < 0:
                    peak_group[k2] = gi
                elif conf[k2] > conf[k1]:  # the more confident stays (tie: the first)
                    peak_group[k2] = gi
                    peak_group[k1] = -1
                    remap[k1] = k2
                else:
                    peak_group[k2] = -1
                    remap[k2] = k1
        if not merged:
            break
        for c in range(ea.shape[0]):
            if edge_group[c] >= 0:
                edge_group[c] = peak_group[remap[ea[c]]]
                ea[c] = remap[ea[c]]
                eb[c] = remap[eb[c]]
        # One edge per (type, a, b): keep the best ranked (lowest index).
        keys_e = np.empty(ea.shape[0], dtype=np.int64)
        for c in range(ea.shape[0]):
            lo, hi = min(ea[c], eb[c]), max(ea[c], eb[c])
            keys_e[c] = (etype[c] * num_peaks + lo) * num_peaks + hi
        order_e = np.argsort(keys_e, kind='mergesort')
        previous = -1
        for c in order_e:
            if edge_group[c] < 0:
                continue
            if keys_e[c] == previous:
                edge_group[c] = -1
            previous = keys_e[c]


@_jit
def collect_people(peak_group, edge_group, part, conf, score, etype, num_types, min_parts,
                   min_score):
    """People from groups, as ``openpose._collect_people`` (the numpy reference)."""
    num = 0
    for k in range(peak_group.shape[0]):
        num = max(num, peak_group[k] + 1)
    counts = np.zeros(num, dtype=np.int64)
    total = np.zeros(num, dtype=np.float64)
    for k in range(peak_group.shape[0]):
        g = peak_group[k]
        if g >= 0:
            counts[g] += 1
            total[g] += conf[k]
    uses = np.zeros((num, num_types), dtype=np.bool_)
    for c in range(edge_group.shape[0]):
        g = edge_group[c]
        if g >= 0:
            total[g] += score[c]
            uses[g, etype[c]] = True
    kept = []
    for g in range(num):
        if counts[g] > 0 and counts[g] >= min_parts and total[g] / counts[g] >= min_score:
            kept.append(g)
    n = len(kept)
    person_score = np.empty(n, dtype=np.float64)
    for q in range(n):
        person_score[q] = total[kept[q]] / counts[kept[q]]
    order = np.argsort(-person_score, kind='mergesort')
    slot = np.full(num, -1, dtype=np.int64)
    bounds = np.zeros(n + 1, dtype=np.int64)
    type_bounds = np.zeros(n + 1, dtype=np.int64)
    for q in range(n):
        g = kept[order[q]]
        slot[g] = q
        bounds[q + 1] = bounds[q] + counts[g]
        type_bounds[q + 1] = type_bounds[q] + uses[g].sum()
    members = np.empty(bounds[n], dtype=np.int64)
    fill = bounds[:n].copy()
    for k in range(peak_group.shape[0]):  # candidates are sorted by part
        g = peak_group[k]
        if g >= 0 and slot[g] >= 0:
            members[fill[slot[g]]] = k
            fill[slot[g]] += 1
    types = np.empty(type_bounds[n], dtype=np.int64)
    for q in range(n):
        g = kept[order[q]]
        at = type_bounds[q]
        for e in range(num_types):
            if uses[g, e]:
                types[at] = e
                at += 1
    return members, bounds, person_score[order], types, type_bounds


@_jit
def rank_edges(ea, eb, score, conf, weight):
    """Matching rank: ``score + weight * min(conf[a], conf[b])`` (float32 min, as numpy)."""
    if weight <= 0:
        return score.copy()
    rank = np.empty(score.shape[0], dtype=np.float64)
    for c in range(score.shape[0]):
        rank[c] = score[c] + weight * np.float64(min(conf[ea[c]], conf[eb[c]]))
    return rank


@_jit
def decode_greedy(heat, pool, use_pool, pafs, threshold_heatmap, kernel_size, num_parts,
                  work, refine, sigma, edge_a, edge_b, paf_x, paf_y, t, min_length,
                  threshold_score, threshold_counter, mask, cell, weight, split_threshold,
                  min_parts, min_score):
    """Every step with greedy matching in one call (the per-call overhead of seven calls
    is a tenth of the decoder's time on sparse images). Returns ``(part, conf, xy)`` of
    the candidates and :func:`collect_people`'s arrays."""
    part, row, col, conf, starts = find_peaks(heat, pool, use_pool, threshold_heatmap,
                                              kernel_size, num_parts, work)
    xy = refine_peaks(heat, part, row, col, refine, sigma)
    ea, eb, score, etype = score_edges(pafs, starts, edge_a, edge_b, paf_x, paf_y, xy, t,
                                       min_length, threshold_score, threshold_counter, mask,
                                       cell)
    keep = greedy(ea, eb, rank_edges(ea, eb, score, conf, weight), etype, part.shape[0],
                  edge_a.shape[0])
    ea, eb, score, etype = ea[keep], eb[keep], score[keep], etype[keep]
    peak_group, edge_group = assemble(part, ea, eb, part.shape[0])
    if ea.shape[0] > 1 and split_threshold > 0:
        merge_splits(peak_group, edge_group, part, starts, row, conf, xy, ea, eb, etype,
                     num_parts, split_threshold)
    members, bounds, scores, types, type_bounds = collect_people(
        peak_group, edge_group, part, conf, score, etype, edge_a.shape[0], min_parts,
        min_score)
    return part, conf, xy, members, bounds, scores, types, type_bounds
