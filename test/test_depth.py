"""3D keypoints from an aligned depth image (core.depth) on the synthetic scene of known
geometry of depth_scene.py (clean and noisy, 16UC1 and 32FC1, depth at the colour
resolution and at half of it, with and without lens distortion), the stamp cache that
pairs the streams (core.stamps), and the depth message conversions.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pose_estimation_ros.core.depth import (CameraModel, DepthParams, depth_array_to_metres,
                                            depth_to_metres, lift_keypoints,
                                            window_samples)
from pose_estimation_ros.core.stamps import StampCache
from depth_scene import (HEIGHT, K, KEYPOINTS, P, PLUMB_BOB, WALL, WIDTH, camera,
                         keypoint_array, render)

def check_scene(result, model: CameraModel, bound: float) -> float:
    """Every keypoint valid exactly when it has a true depth; valid ones within
    ``bound`` metres of the truth (the ray through the keypoint at the true depth,
    checked by reprojecting with the forward distortion model). Returns the max error."""
    worst = 0.0
    for (person, part), (pixel, depth) in KEYPOINTS.items():
        assert result.valid[person, part] == (depth is not None), (person, part)
        point = result.xyz[person, part]
        if depth is None:
            assert np.all(np.isnan(point))
            continue
        # Truth: the point at the true depth whose projection is the keypoint pixel.
        truth = np.append(model.normalized(np.array([pixel]) - 0.5)[0] * depth, depth)
        reprojected = model.project(truth[None])[0] + 0.5
        np.testing.assert_allclose(reprojected, pixel, atol=1e-3)
        error = float(np.linalg.norm(point - truth))
        assert error <= bound, f'person {person} part {part}: error {error:.4f} m'
        worst = max(worst, error)
    return worst


@pytest.mark.parametrize('encoding', ['16UC1', '32FC1'])
@pytest.mark.parametrize('scale', [1.0, 0.5])
@pytest.mark.parametrize('distorted', [False, True])
def test_clean_scene_within_a_centimetre_and_invalid_flagged(encoding, scale, distorted):
    model = camera(distorted)
    depth = depth_array_to_metres(render(scale, encoding))
    result = lift_keypoints(keypoint_array(), depth, model)
    # Clean depth: only the 16UC1 millimetre quantization is left.
    worst = check_scene(result, model, bound=0.001)
    assert worst <= (0.0006 if encoding == '16UC1' else 1e-5)
    np.testing.assert_allclose(result.reference_depth, [2.0, 3.0], atol=1e-3)


@pytest.mark.parametrize('encoding', ['16UC1', '32FC1'])
@pytest.mark.parametrize('scale', [1.0, 0.5])
def test_noisy_scene_within_two_centimetres(encoding, scale):
    """Depth noise of sigma 1 cm (a good RGB-D camera at 2 m): every valid keypoint
    within 2 cm, over several noise draws."""
    model = camera(True)
    for seed in range(5):
        depth = depth_array_to_metres(render(scale, encoding, noise=0.01, seed=seed))
        check_scene(lift_keypoints(keypoint_array(), depth, model), model, bound=0.02)


def test_thin_limb_resolved_to_the_person_where_one_pixel_gives_the_wall():
    depth = depth_array_to_metres(render())
    (x, y), truth = KEYPOINTS[(0, 2)]
    assert depth[int(y), int(x)] == WALL  # what a one-pixel lookup would report
    result = lift_keypoints(keypoint_array(), depth, camera(False))
    assert result.xyz[0, 2, 2] == pytest.approx(truth, abs=1e-4)
    # Without the person rule (a huge tolerance) the window's median is the wall's.
    loose = lift_keypoints(keypoint_array(), depth, camera(False),
                           DepthParams(person_depth_tolerance=5.0))
    assert loose.xyz[0, 2, 2] == pytest.approx(WALL, abs=1e-4)


def test_keypoint_with_too_few_person_pixels_is_invalid():
    depth = depth_array_to_metres(render())
    # One column of arm pixels in a 3x3 window: 3 person pixels.
    xy = keypoint_array()
    xy[0, 2] = (362.5, 250.0)
    strict = lift_keypoints(xy, depth, camera(False), DepthParams(window_size=3,
                                                                  min_valid_pixels=4))
    assert not strict.valid[0, 2]
    relaxed = lift_keypoints(xy, depth, camera(False), DepthParams(window_size=3,
                                                                   min_valid_pixels=3))
    assert relaxed.valid[0, 2]


def test_centroid_is_the_median_of_valid_keypoints():
    depth = depth_array_to_metres(render())
    result = lift_keypoints(keypoint_array(), depth, camera(False))
    for person in range(2):
        expected = np.median(result.xyz[person][result.valid[person]], axis=0)
        np.testing.assert_allclose(result.centroid[person], expected)
    assert result.centroid_valid.tolist() == [True, True]
    # A person with no valid keypoint: no centroid, flagged.
    xy = np.full((1, 3, 2), np.nan)
    xy[0, 0] = (306.0, 206.0)  # the hole
    nobody = lift_keypoints(xy, depth, camera(False))
    assert not nobody.valid.any() and not nobody.centroid_valid[0]
    assert np.all(np.isnan(nobody.centroid))


def test_no_people_and_depth_range():
    depth = depth_array_to_metres(render())
    empty = lift_keypoints(np.zeros((0, 18, 2)), depth, camera(False))
    assert empty.xyz.shape == (0, 18, 3) and empty.centroid.shape == (0, 3)
    # Readings beyond max_depth are dropped like invalid ones.
    near = lift_keypoints(keypoint_array(), depth, camera(False), DepthParams(max_depth=2.5))
    assert near.valid[0, 0] and not near.valid[1].any()


def test_window_samples_at_edges():
    depth = np.arange(12, dtype=np.float32).reshape(3, 4)
    samples = window_samples(depth, np.array([[0.2, 0.9], [3.99, 2.5], [np.nan, 1.0]]), 3)
    assert np.isnan(samples[0]).sum() == 5  # top-left corner: 4 of 9 inside
    np.testing.assert_array_equal(np.sort(samples[0][np.isfinite(samples[0])]), [0, 1, 4, 5])
    np.testing.assert_array_equal(np.sort(samples[1][np.isfinite(samples[1])]), [6, 7, 10, 11])
    assert np.isnan(samples[2]).all()


def test_depth_message_fields_to_metres():
    mm = np.array([[0, 1500, 65535], [2000, 0, 1]], np.uint16)
    padded = np.zeros((2, 8), np.uint8)
    padded[:, :6] = mm.view(np.uint8)
    metres = depth_to_metres(padded.tobytes(), 3, 2, 8, '16UC1')
    np.testing.assert_allclose(metres, [[np.nan, 1.5, 65.535], [2.0, np.nan, 0.001]],
                               rtol=1e-6)
    big = depth_to_metres(mm.astype('>u2').tobytes(), 3, 2, 6, 'mono16', is_bigendian=True)
    np.testing.assert_array_equal(np.isnan(big), np.isnan(metres))
    values = np.array([[1.25, np.nan, np.inf], [0.0, -np.inf, 3.5]], np.float32)
    floats = depth_to_metres(values.tobytes(), 3, 2, 12, '32FC1')
    np.testing.assert_array_equal(np.isnan(floats),
                                  [[False, True, True], [True, True, False]])
    assert floats[0, 0] == 1.25 and floats[1, 2] == 3.5
    with pytest.raises(ValueError, match='unsupported depth encoding "rgb8"'):
        depth_to_metres(b'\0' * 18, 3, 2, 9, 'rgb8')
    with pytest.raises(ValueError, match='bytes'):
        depth_to_metres(values.tobytes()[:-4], 3, 2, 12, '32FC1')


def test_camera_model_from_camera_info():
    model = CameraModel.from_camera_info(WIDTH, HEIGHT, K, PLUMB_BOB, 'plumb_bob', P)
    pixels = np.array([[10.0, 20.0], [600.0, 400.0], [319.5, 239.5]])
    normalized = model.normalized(pixels)
    rays = np.concatenate([normalized, np.ones((3, 1))], axis=1)
    np.testing.assert_allclose(model.project(rays), pixels, atol=1e-3)
    # Rectified images: P's intrinsics, no distortion.
    rect_p = list(P)
    rect_p[0] = rect_p[5] = 500.0
    rectified = CameraModel.from_camera_info(WIDTH, HEIGHT, K, PLUMB_BOB, 'plumb_bob', rect_p,
                                             rectified=True)
    np.testing.assert_allclose(rectified.normalized(np.array([[819.5, 239.5]])), [[1.0, 0.0]])
    with pytest.raises(ValueError, match='not calibrated'):
        CameraModel.from_camera_info(WIDTH, HEIGHT, [0.0] * 9, [], 'plumb_bob')
    with pytest.raises(ValueError, match='equidistant'):
        CameraModel.from_camera_info(WIDTH, HEIGHT, K, [0.1, 0, 0, 0], 'equidistant')
    with pytest.raises(ValueError, match='no image size'):
        CameraModel.from_camera_info(0, 0, K, [], 'plumb_bob')
    with pytest.raises(ValueError, match='window_size'):
        DepthParams(window_size=4).validate()


def test_stamp_cache_pairs_exact_and_nearest():
    cache = StampCache(3)
    for stamp in (100, 200, 300):
        assert cache.add(stamp, f'item{stamp}') == []
    assert cache.nearest(200, 0) == (200, 'item200')
    assert cache.nearest(205, 0) is None
    assert cache.nearest(205, 10) == (200, 'item200')
    assert cache.nearest(260, 50) == (300, 'item300')
    assert cache.nearest(400, 50) is None
    assert cache.add(400, 'item400') == [(100, 'item100')]  # oldest pushed out
    assert len(cache) == 3 and cache.latest == 400
    assert cache.passed(350, 40) and not cache.passed(350, 60)
    with pytest.raises(ValueError):
        StampCache(0)


def test_people_are_independent():
    """Many people at once give the same result as one by one (no per-person state)."""
    depth = depth_array_to_metres(render(noise=0.01, seed=3))
    xy = keypoint_array()
    together = lift_keypoints(xy, depth, camera(True))
    for person in range(2):
        alone = lift_keypoints(xy[person:person + 1], depth, camera(True))
        np.testing.assert_array_equal(alone.valid[0], together.valid[person])
        np.testing.assert_allclose(alone.xyz[0], together.xyz[person], equal_nan=True)


def test_undistortion_matters_at_the_image_corner():
    """With the plumb_bob lens, ignoring the distortion at a corner keypoint is off by
    decimetres: the model is used."""
    model = camera(True)
    depth = np.full((HEIGHT, WIDTH), 2.0, np.float32)
    xy = np.array([[[20.0, 20.0]]])
    point = lift_keypoints(xy, depth, model).xyz[0, 0]
    pinhole = lift_keypoints(xy, depth, camera(False)).xyz[0, 0]
    assert np.linalg.norm(point - pinhole) > 0.1
    np.testing.assert_allclose(model.project(point[None])[0] + 0.5, [20.0, 20.0], atol=1e-3)
    assert cv2.__version__  # OpenCV does the (iterative) undistortion
