"""3D keypoints from 2D keypoints and an aligned depth image (no ROS imports).

Input: keypoints in source (colour) image pixels, a depth image registered to that
colour image (same camera, possibly another resolution), the colour camera's intrinsics.
Output: 3D points in the camera's optical frame (REP-103: x right, y down, z forward,
metres), each with a validity flag, and a 3D centroid per person.

The robustness rule (README "3D skeletons"):

1. Depth values are read in a ``window_size`` x ``window_size`` window of depth pixels
   around each keypoint; the driver's invalid values (0, NaN, Inf) and values outside
   ``[min_depth, max_depth]`` are dropped.
2. The person's reference depth is the median, over the person's keypoints, of each
   keypoint's near depth (the 25th percentile of its window): the background is behind
   a person, so a window that straddles a limb and the wall still gives the limb's depth,
   and the median over keypoints ignores a minority of keypoints that fall entirely on
   the background or on something in front.
3. A keypoint's depth is the median of its window's values within
   ``person_depth_tolerance`` of that reference (the person's own surface; the wall
   behind a thin limb is left out). Fewer than ``min_valid_pixels`` such values: the
   keypoint is invalid (NaN, flag false): no depth is guessed.
4. The pixel is undistorted (``plumb_bob`` / ``rational_polynomial``) and back-projected
   with the colour camera's intrinsics: ``X = x_n * z, Y = y_n * z, Z = z``.

Everything is vectorized over people x keypoints x window pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from pose_estimation_ros.core.encoder import image_to_array

# Encodings of depth images: 16-bit millimetres (REP-118) or 32-bit float metres.
DEPTH_ENCODINGS = ('16UC1', 'mono16', '32FC1')
# Distortion models OpenCV's undistortPoints implements with the CameraInfo D vector.
DISTORTION_MODELS = ('plumb_bob', 'rational_polynomial')
# Percentile of a keypoint's window taken as its "near" depth for the person reference.
NEAR_PERCENTILE = 25
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


@dataclass(frozen=True)
class DepthParams:
    """How depth is read around each keypoint (node parameters of the same names)."""

    window_size: int = 5
    person_depth_tolerance: float = 0.4
    min_valid_pixels: int = 3
    min_depth: float = 0.1
    max_depth: float = 20.0

    def validate(self) -> DepthParams:
        if self.window_size < 1 or self.window_size % 2 == 0:
            raise ValueError(f'window_size must be an odd number >= 1, got {self.window_size}')
        if not self.person_depth_tolerance > 0:
            raise ValueError('person_depth_tolerance must be positive, got '
                             f'{self.person_depth_tolerance}')
        if not 1 <= self.min_valid_pixels <= self.window_size ** 2:
            raise ValueError(f'min_valid_pixels must be in 1 .. window_size^2 = '
                             f'{self.window_size ** 2}, got {self.min_valid_pixels}')
        if not 0 <= self.min_depth < self.max_depth:
            raise ValueError(f'need 0 <= min_depth < max_depth, got {self.min_depth}, '
                             f'{self.max_depth}')
        return self


@dataclass(frozen=True)
class CameraModel:
    """The colour camera as sensor_msgs/CameraInfo describes it: the pixel grid the
    keypoints are in (``width`` x ``height``), its 3x3 matrix ``k`` and distortion
    ``d`` (model ``distortion_model``). OpenCV pixel convention: (0, 0) is the centre of
    the top-left pixel."""

    width: int
    height: int
    k: np.ndarray
    d: np.ndarray = field(default_factory=lambda: np.zeros(0))
    distortion_model: str = 'plumb_bob'

    @classmethod
    def from_camera_info(cls, width: int, height: int, k: Sequence[float],
                         d: Sequence[float], distortion_model: str, p: Sequence[float] = (),
                         rectified: bool = False) -> CameraModel:
        """From CameraInfo fields. ``rectified``: the images are rectified (image_rect),
        so the projection matrix P's left 3x3 applies and there is no distortion."""
        if width <= 0 or height <= 0:
            raise ValueError(f'camera_info has no image size ({width}x{height})')
        matrix = np.asarray(p if rectified else k, dtype=np.float64)
        if rectified:
            if matrix.size != 12:
                raise ValueError(f'camera_info P must have 12 values, got {matrix.size}')
            matrix = matrix.reshape(3, 4)[:, :3]
        elif matrix.size != 9:
            raise ValueError(f'camera_info K must have 9 values, got {matrix.size}')
        matrix = matrix.reshape(3, 3)
        if not (matrix[0, 0] > 0 and matrix[1, 1] > 0):
            raise ValueError(f'camera_info has no focal length (fx={matrix[0, 0]}, '
                             f'fy={matrix[1, 1]}): the camera is not calibrated')
        coefficients = np.zeros(0) if rectified else np.asarray(d, dtype=np.float64)
        if np.any(coefficients != 0) and distortion_model not in DISTORTION_MODELS:
            raise ValueError(f'distortion model "{distortion_model}" is not supported '
                             f'(supported: {", ".join(DISTORTION_MODELS)})')
        return cls(int(width), int(height), matrix, coefficients, distortion_model)

    def normalized(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) OpenCV pixel coordinates -> (N, 2) normalized image coordinates
        (x/z, y/z), undistorted when the camera has distortion."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self.d.size and np.any(self.d != 0) and len(xy):
            # More iterations than undistortPoints' default 5: exact at wide-angle corners.
            points = xy.reshape(-1, 1, 2)
            if hasattr(cv2, 'undistortPointsIter'):  # OpenCV 4.x
                return cv2.undistortPointsIter(points, self.k, self.d, None, None,
                                               _UNDISTORT_CRITERIA).reshape(-1, 2)
            return cv2.undistortPoints(points, self.k, self.d,  # OpenCV >= 5
                                       criteria=_UNDISTORT_CRITERIA).reshape(-1, 2)
        fx, fy, cx, cy = self.k[0, 0], self.k[1, 1], self.k[0, 2], self.k[1, 2]
        skew = self.k[0, 1]
        y = (xy[:, 1] - cy) / fy
        return np.stack([(xy[:, 0] - cx - skew * y) / fx, y], axis=1)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) camera-frame points -> (N, 2) OpenCV pixel coordinates (with distortion)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        pixels, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), self.k,
                                      self.d if self.d.size else None)
        return pixels.reshape(-1, 2)


def depth_to_metres(data, width: int, height: int, step: int, encoding: str,
                    is_bigendian: bool = False) -> np.ndarray:
    """sensor_msgs/Image fields of a depth image -> (H, W) float32 metres, NaN where the
    driver had no reading (0, NaN, +-Inf)."""
    if encoding in ('16UC1', 'mono16'):
        return depth_array_to_metres(image_to_array(data, width, height, step, encoding,
                                                    is_bigendian))
    if encoding != '32FC1':
        raise ValueError(f'unsupported depth encoding "{encoding}"; supported: '
                         f'{", ".join(DEPTH_ENCODINGS)}')
    if width <= 0 or height <= 0 or step < width * 4:
        raise ValueError(f'bad depth image size {width}x{height} step {step}')
    buffer = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) \
        else data.reshape(-1).view(np.uint8)
    if buffer.size != height * step:
        raise ValueError(f'depth data has {buffer.size} bytes but height*step is '
                         f'{height * step} (32FC1 {width}x{height})')
    wire = np.dtype('>f4' if is_bigendian else '<f4')
    return depth_array_to_metres(np.ndarray((height, width), dtype=wire, buffer=buffer,
                                            strides=(step, 4)))


def depth_array_to_metres(depth: np.ndarray) -> np.ndarray:
    """A depth array (uint16 millimetres or float metres) -> float32 metres, NaN invalid."""
    if depth.dtype == np.uint16:
        metres = depth.astype(np.float32) * np.float32(1e-3)
        metres[depth == 0] = np.nan
        return metres
    metres = depth.astype(np.float32)  # a native-order copy
    metres[~np.isfinite(metres) | (metres == 0)] = np.nan
    return metres


@dataclass
class Skeletons3D:
    """3D keypoints of P people with up to K keypoints each.

    ``xyz``: (P, K, 3) metres in the optical frame, NaN where invalid; ``valid``: (P, K);
    ``reference_depth``: (P,) the person reference depth (NaN: none); ``centroid``:
    (P, 3) per-axis median of the valid keypoints (NaN when none is valid)."""

    xyz: np.ndarray
    valid: np.ndarray
    reference_depth: np.ndarray
    centroid: np.ndarray

    @property
    def centroid_valid(self) -> np.ndarray:
        return np.isfinite(self.centroid[:, 2])


def _sorted_with_count(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values sorted along the last axis with the invalid ones (+inf) last, and the count."""
    return np.sort(np.where(valid, values, np.inf), axis=-1), valid.sum(axis=-1)


def _order_statistic(sorted_values: np.ndarray, count: np.ndarray, fraction: float
                     ) -> np.ndarray:
    """Linear-interpolated quantile ``fraction`` of the first ``count`` values of each
    row of ``sorted_values`` (NaN where count is 0): numpy's default percentile method."""
    position = np.maximum(count - 1, 0) * fraction
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, np.maximum(count - 1, 0))
    a = np.take_along_axis(sorted_values, low[..., None], axis=-1)[..., 0]
    b = np.take_along_axis(sorted_values, high[..., None], axis=-1)[..., 0]
    with np.errstate(invalid='ignore'):
        value = a + (b - a) * (position - low)
    return np.where(count > 0, value, np.nan)


def window_samples(depth_m: np.ndarray, pixels: np.ndarray, window_size: int) -> np.ndarray:
    """(..., 2) depth-image pixel positions (corner origin: pixel (i, j) spans
    [j, j+1) x [i, i+1)) -> (..., window_size**2) depth values around them, NaN outside
    the image, for NaN positions and where the depth is invalid."""
    height, width = depth_m.shape
    half = window_size // 2
    offsets = np.arange(-half, half + 1)
    finite = np.all(np.isfinite(pixels), axis=-1)
    col = np.floor(np.where(finite, pixels[..., 0], -1e9)).clip(-1e9, 1e9).astype(np.int64)
    row = np.floor(np.where(finite, pixels[..., 1], -1e9)).clip(-1e9, 1e9).astype(np.int64)
    rows = row[..., None, None] + offsets[:, None]  # (..., w, 1)
    cols = col[..., None, None] + offsets[None, :]  # (..., 1, w)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    values = depth_m[rows.clip(0, height - 1), cols.clip(0, width - 1)]
    values = np.where(inside & finite[..., None, None], values, np.nan)
    return values.reshape(*pixels.shape[:-1], window_size * window_size)


def lift_keypoints(xy: np.ndarray, depth_m: np.ndarray, camera: CameraModel,
                   params: DepthParams = DepthParams()) -> Skeletons3D:
    """3D keypoints of people.

    ``xy``: (P, K, 2) keypoints in colour-image pixels with the project's convention
    (origin at the top-left corner of the top-left pixel, as Keypoint2D), NaN for parts
    not found. ``depth_m``: (H, W) float metres (NaN invalid; :func:`depth_to_metres`),
    registered to the colour image; its size may differ from the camera's
    (``camera.width`` x ``camera.height``): pixel positions are scaled.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 3 or xy.shape[-1] != 2:
        raise ValueError(f'keypoints must be (people, parts, 2), got shape {xy.shape}')
    if depth_m.ndim != 2:
        raise ValueError(f'depth image must be one channel, got shape {depth_m.shape}')
    people, parts = xy.shape[:2]
    height, width = depth_m.shape
    scale = np.array([width / camera.width, height / camera.height])
    samples = window_samples(depth_m, xy * scale, params.window_size)  # (P, K, w*w)
    usable = np.isfinite(samples) & (samples >= params.min_depth) & \
        (samples <= params.max_depth)

    # Person reference: median over keypoints of each keypoint's near depth.
    ordered, count = _sorted_with_count(samples, usable)
    near = _order_statistic(ordered, count, NEAR_PERCENTILE / 100)  # (P, K)
    near_ordered, near_count = _sorted_with_count(near, np.isfinite(near))
    reference = _order_statistic(near_ordered, near_count, 0.5)  # (P,)

    # Keypoint depth: median of the window's values on the person's own surface.
    with np.errstate(invalid='ignore'):
        own = usable & (np.abs(samples - reference[:, None, None])
                        <= params.person_depth_tolerance)
    own_ordered, own_count = _sorted_with_count(samples, own)
    z = _order_statistic(own_ordered, own_count, 0.5)
    valid = (own_count >= params.min_valid_pixels) & np.all(np.isfinite(xy), axis=-1)
    z = np.where(valid, z, np.nan)

    # Back-projection (OpenCV pixel centres: subtract half a pixel).
    pixels = np.where(np.isfinite(xy), xy - 0.5, 0.0).reshape(-1, 2)
    normalized = camera.normalized(pixels).reshape(people, parts, 2)
    xyz = np.concatenate([normalized * z[..., None], z[..., None]], axis=-1)
    xyz[~valid] = np.nan

    centroid = np.full((people, 3), np.nan)
    if people:
        c_ordered, c_count = _sorted_with_count(np.moveaxis(xyz, 1, 2),
                                                np.broadcast_to(valid[:, None, :],
                                                                (people, 3, parts)))
        centroid = _order_statistic(c_ordered, c_count, 0.5)
    return Skeletons3D(xyz=xyz, valid=valid, reference_depth=reference, centroid=centroid)

