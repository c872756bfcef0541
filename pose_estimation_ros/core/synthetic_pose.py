"""Synthetic OpenPose network maps rendered from known skeletons, for decoder tests and
the decoder's cost against the number of people (tools/benchmark).

Skeletons are (P, 2) arrays of map coordinates ``x, y`` (cell ``(i, j)`` covers
``[j, j + 1) x [i, i + 1)``, its centre is ``(j + 0.5, i + 0.5)``), NaN for a missing part.
Heatmaps: per part, the maximum over people of a Gaussian at the part, sampled at cell
centres (as OpenPose's ground truth). PAFs: per edge, the unit vector a->b on the cells
within ``limb_width`` of the segment, averaged where people overlap (as OpenPose's).
"""
from __future__ import annotations

import math

import numpy as np

from pose_estimation_ros.core.openpose import (COCO18_EDGES, COCO18_LABELS,
                                               MOBILENET_THIN_EDGES_PAF)

NUM_PARTS = len(COCO18_LABELS)

# A standing person facing the camera, 1 unit tall (head top to ankles), neck-relative.
_TEMPLATE = np.array([
    (0.00, -0.40),   # nose
    (0.00, -0.28),   # neck
    (-0.12, -0.27),  # right shoulder (image left: the person faces us)
    (-0.17, -0.10),  # right elbow
    (-0.20, 0.06),   # right wrist
    (0.12, -0.27),   # left shoulder
    (0.17, -0.10),   # left elbow
    (0.20, 0.06),    # left wrist
    (-0.08, 0.05),   # right hip
    (-0.09, 0.30),   # right knee
    (-0.10, 0.55),   # right ankle
    (0.08, 0.05),    # left hip
    (0.09, 0.30),    # left knee
    (0.10, 0.55),    # left ankle
    (-0.05, -0.46),  # right eye
    (0.05, -0.46),   # left eye
    (-0.11, -0.43),  # right ear
    (0.11, -0.43),   # left ear
])


def skeleton(x: float, y: float, height: float, *, missing=(), jitter: float = 0.0,
             rng: np.random.Generator | None = None) -> np.ndarray:
    """(18, 2) COCO-18 skeleton with its neck at (x, y), ``height`` map cells tall."""
    pts = _TEMPLATE * height + np.array([x, y])
    if jitter:
        pts = pts + (rng or np.random.default_rng(0)).uniform(-jitter, jitter, pts.shape)
    pts[list(missing)] = np.nan
    return pts


def render_heatmaps(people, height: int, width: int, *, sigma: float = 1.0,
                    num_parts: int = NUM_PARTS) -> np.ndarray:
    """(H, W, num_parts) float32 Gaussian part heatmaps."""
    cy, cx = np.mgrid[0:height, 0:width] + 0.5
    heat = np.zeros((height, width, num_parts), dtype=np.float32)
    for pts in people:
        for k, (x, y) in enumerate(np.asarray(pts, dtype=np.float64)[:num_parts]):
            if np.isnan(x) or np.isnan(y):
                continue
            g = np.exp(-((cx - x) ** 2 + (cy - y) ** 2) / (2 * sigma ** 2))
            np.maximum(heat[:, :, k], g, out=heat[:, :, k])
    return heat


def render_pafs(people, height: int, width: int, num_channels: int, *,
                edges=COCO18_EDGES, edges_paf=MOBILENET_THIN_EDGES_PAF,
                limb_width: float = 1.0) -> np.ndarray:
    """(H, W, num_channels) float32 with each edge's (x, y) field in its edges_paf channels."""
    cy, cx = np.mgrid[0:height, 0:width] + 0.5
    pafs = np.zeros((height, width, num_channels), dtype=np.float32)
    for (pa, pb), (ch_x, ch_y) in zip(edges, edges_paf):
        acc = np.zeros((height, width, 2))
        count = np.zeros((height, width))
        for pts in people:
            a, b = np.asarray(pts[pa], float), np.asarray(pts[pb], float)
            if np.isnan(a).any() or np.isnan(b).any():
                continue
            d = b - a
            length = np.hypot(*d)
            if length < 1e-9:
                continue
            u = d / length
            along = (cx - a[0]) * u[0] + (cy - a[1]) * u[1]
            across = np.abs((cx - a[0]) * u[1] - (cy - a[1]) * u[0])
            on = (along >= 0) & (along <= length) & (across <= limb_width)
            acc[on] += u
            count[on] += 1
        nz = count > 0
        pafs[nz, ch_x] = acc[nz, 0] / count[nz]
        pafs[nz, ch_y] = acc[nz, 1] / count[nz]
    return pafs


def render_mobilenet_thin(people, height: int, width: int, *, sigma: float = 1.0,
                          limb_width: float = 1.0) -> np.ndarray:
    """mobilenet_thin-like (H, W, 57) output: 18 heatmaps, background, 38 PAF channels."""
    out = render_pafs(people, height, width, 57, limb_width=limb_width)
    heat = render_heatmaps(people, height, width, sigma=sigma)
    out[:, :, :NUM_PARTS] = heat
    out[:, :, NUM_PARTS] = 1.0 - heat.max(axis=2)
    return out


def trt_pose_edges_paf(num_edges: int = len(COCO18_EDGES)) -> tuple[tuple[int, int], ...]:
    """trt_pose's PAF channel order: edge k's y field in channel 2k, x in 2k + 1."""
    return tuple((2 * k + 1, 2 * k) for k in range(num_edges))


def render_trt_pose(people, height: int, width: int, *, sigma: float = 1.0,
                    limb_width: float = 1.0, kernel: int = 3):
    """trt_pose-like NCHW outputs (1, C, H, W): heatmap, part_affinity_fields, maxpool."""
    from scipy.ndimage import maximum_filter

    edges_paf = trt_pose_edges_paf()
    heat = render_heatmaps(people, height, width, sigma=sigma)
    pafs = render_pafs(people, height, width, 2 * len(COCO18_EDGES), edges_paf=edges_paf,
                       limb_width=limb_width)
    pool = maximum_filter(heat, size=(kernel, kernel, 1), mode='constant', cval=-np.inf)
    return tuple(np.ascontiguousarray(v.transpose(2, 0, 1)[None]) for v in (heat, pafs, pool))


def grid_of_people(count: int, *, cell_w: float = 24.0, cell_h: float = 36.0,
                   columns: int = 8, person_height: float = 28.0, margin: float = 2.0,
                   jitter: float = 0.0, seed: int = 0):
    """``count`` people on a grid; returns (skeletons, map height, map width)."""
    rng = np.random.default_rng(seed)
    columns = min(columns, count)
    rows = -(-count // columns)
    people = []
    for k in range(count):
        r, c = divmod(k, columns)
        # +0.3: off the cell borders, where a part would make a two-cell plateau.
        x = margin + (c + 0.5) * cell_w + 0.3
        y = margin + r * cell_h + 0.47 * person_height + 1.3
        people.append(skeleton(x, y, person_height, jitter=jitter, rng=rng))
    return people, int(rows * cell_h + 2 * margin), int(columns * cell_w + 2 * margin)


def crowd(count: int, height: int = 46, width: int = 54, *, seed: int = 0):
    """``count`` people filling a map of the model's size (46x54 cells: mobilenet_thin at
    432x368), on a grid of about square cells, each person as tall as their cell allows;
    returns (skeletons, mobilenet_thin-like (H, W, 57) maps)."""
    columns = max(1, round(math.sqrt(count * width / height)))
    rows = -(-count // columns)
    cell_w, cell_h = width / columns, height / rows
    person_height = min(cell_h * 0.85, cell_w * 2.0)
    rng = np.random.default_rng(seed)
    people = []
    for k in range(count):
        r, c = divmod(k, columns)
        x = (c + 0.5) * cell_w + 0.3
        y = r * cell_h + cell_h / 2 - 0.07 * person_height + 0.3
        people.append(skeleton(x, y, person_height, jitter=0.1 * person_height / 8, rng=rng))
    # Peaks and limbs as wide as the people are small (a network sees small people so).
    scale = min(1.0, person_height / 10)
    return people, render_mobilenet_thin(people, height, width, sigma=scale, limb_width=scale)
