"""A synthetic RGB-D scene of known geometry for the 3D skeleton tests.

A camera (525 px focal length, 640x480) looking at a wall 5 m away; a person's torso
(a box face at 2 m) with a hole and a patch of NaN/Inf readings in it, a thin arm (4 px,
1.9 m) beside the torso with the wall visible between them, and a second person at 3 m
touching the image's left edge. Rectangles are in colour-image pixels (corner origin),
rendered at any depth resolution as 16UC1 millimetres or 32FC1 metres. KEYPOINTS says
where the keypoints are and what depth each must get (None: must be flagged invalid).

For the real frame (../shared/data/rgbd_five_people): :func:`silhouette_depth`, the
independent reference of where a person is.
"""
from __future__ import annotations

import cv2
import numpy as np

from pose_estimation_ros.core.depth import CameraModel

WIDTH, HEIGHT = 640, 480
K = [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]
P = [525.0, 0.0, 319.5, 0.0, 0.0, 525.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
PLUMB_BOB = [-0.28, 0.11, 0.001, -0.0015, -0.02]  # a strong wide-angle lens
WALL = 5.0
# (x0, y0, x1, y1) in colour pixels (corner origin), depth in metres; later ones on top.
SURFACES = [
    ((0, 0, WIDTH, HEIGHT), WALL),
    ((260, 150, 360, 330), 2.0),   # torso
    ((363, 170, 367, 320), 1.9),   # thin arm, 3 px of wall between it and the torso
    ((0, 100, 60, 400), 3.0),      # second person at the left edge
]
HOLE = (296, 196, 316, 216)        # no readings (0)
BAD_PATCH = (300, 260, 320, 280)   # NaN / Inf / 0 readings (32FC1), 0 (16UC1)

# (person, part) -> (keypoint pixel, true depth or None: must be flagged invalid)
KEYPOINTS = {
    (0, 0): ((310.2, 240.7), 2.0),    # torso, well inside
    (0, 1): ((261.0, 160.5), 2.0),    # torso corner: window half on the wall
    (0, 2): ((362.5, 250.0), 1.9),    # just off the thin arm: its own pixel is the wall
    (0, 3): ((364.9, 300.2), 1.9),    # on the thin arm
    (0, 4): ((306.0, 206.0), None),   # in the hole
    (0, 5): ((310.0, 270.0), None),   # in the NaN/Inf patch
    (0, 6): ((200.0, 420.0), None),   # detector error: only wall around it
    (0, 7): ((np.nan, np.nan), None),  # part not found
    (1, 0): ((30.0, 250.0), 3.0),
    (1, 1): ((0.4, 120.3), 3.0),      # at the image edge: window partly outside
    (1, 2): ((-6.0, 200.0), None),    # outside the image
}
PARTS = 8


def render(scale: float = 1.0, encoding: str = '32FC1', noise: float = 0.0,
           seed: int = 0) -> np.ndarray:
    """The scene's depth image at ``scale`` x the colour resolution."""
    height, width = round(HEIGHT * scale), round(WIDTH * scale)
    # Colour-pixel position of each depth pixel's centre.
    u = (np.arange(width) + 0.5) / scale
    v = (np.arange(height) + 0.5) / scale
    uu, vv = np.meshgrid(u, v)
    depth = np.zeros((height, width), np.float64)

    def inside(rect):
        x0, y0, x1, y1 = rect
        return (uu >= x0) & (uu < x1) & (vv >= y0) & (vv < y1)

    for rect, z in SURFACES:
        depth[inside(rect)] = z
    rng = np.random.default_rng(seed)
    if noise:
        depth += rng.normal(0.0, noise, depth.shape)
    hole, bad = inside(HOLE), inside(BAD_PATCH)
    if encoding == '16UC1':
        out = np.round(depth * 1000).astype(np.uint16)
        out[hole | bad] = 0
        return out
    out = depth.astype(np.float32)
    out[hole] = 0.0
    out[bad] = rng.choice(np.array([np.nan, np.inf, -np.inf, 0.0], np.float32),
                          size=int(bad.sum()))
    return out


def camera(distorted: bool) -> CameraModel:
    return CameraModel.from_camera_info(WIDTH, HEIGHT, K, PLUMB_BOB if distorted else [0.0] * 5,
                                        'plumb_bob', P)


def keypoint_array() -> np.ndarray:
    xy = np.full((2, PARTS, 2), np.nan)
    for (person, part), (pixel, _) in KEYPOINTS.items():
        xy[person, part] = pixel
    return xy


# rgbd_five_people: the far wall is at about 6 m, the people at 1.8-2.7 m.
WALL_DEPTH = 4.0


def silhouette_depth(depth_m: np.ndarray, xy: np.ndarray) -> float:
    """Median valid depth inside the convex hull of a person's (n, 2) keypoint pixels:
    mostly the person's own silhouette."""
    mask = np.zeros(depth_m.shape, np.uint8)
    hull = cv2.convexHull(np.asarray(xy, np.float32)).astype(np.int32)
    cv2.fillConvexPoly(mask, hull, 1)
    return float(np.median(depth_m[(mask > 0) & np.isfinite(depth_m)]))
