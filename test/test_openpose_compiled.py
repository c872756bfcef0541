"""The compiled decoder steps (core/openpose_jit.py, numba) against the numpy reference:
same people, parts, edges, coordinates and scores on synthetic scenes, on crowds and on
the real model's maps of real COCO images; and the decoder without numba."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest
from conftest import DATA, PARAMS_FILE, REPO, require_model
from synthetic_pose import crowd, grid_of_people, render_mobilenet_thin, render_trt_pose

from pose_estimation_ros.core import openpose_jit
from pose_estimation_ros.core.geometry import ImageGeometry
from pose_estimation_ros.core.openpose import (DecoderParams, OpenPoseDecoder,
                                               split_network_outputs)
from pose_estimation_ros.core.params import ENCODER_NODE, load_parameters_file
from pose_estimation_ros.core.pipeline import Pipeline, extract_maps

# numba is in requirements.txt: without it these tests fail (ImportError from
# OpenPoseDecoder(implementation='compiled')), they do not skip.


def assert_same(params: DecoderParams, heat, pafs, maxpool=None, geometry=None):
    """Both implementations decode the maps alike; returns the people."""
    want = OpenPoseDecoder(params, 'numpy').decode(heat, pafs, maxpool, geometry)
    got = OpenPoseDecoder(params, 'compiled').decode(heat, pafs, maxpool, geometry)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.part_ids.tolist() == w.part_ids.tolist()
        assert g.edge_ids.tolist() == w.edge_ids.tolist()
        np.testing.assert_allclose(g.keypoints, w.keypoints, rtol=0, atol=1e-6)
        np.testing.assert_allclose(g.bbox, w.bbox, rtol=0, atol=1e-6)
        assert g.score == pytest.approx(w.score, abs=1e-6)
    return got


def maps(out):
    return split_network_outputs(out[None], layout='NHWC', heatmap_channels=(0, 18))[:2]


VARIANTS = {
    'defaults': {},
    'hungarian': {'matching': 'hungarian'},
    'no_refinement': {'refine_parts_coordinates': False},
    'estimated_sigma': {'refine_peak_sigma': 0.0},
    'no_split_merge': {'threshold_split_score': 0.0},
    'pafs_only_ranking': {'part_confidence_weight': 0.0},
    # A negative score threshold counts samples on empty PAF: no support mask.
    'negative_edge_score': {'threshold_edge_score': -0.05},
    'strict_edges': {'threshold_edge_sampling_counter': 6, 'edge_sampling_steps': 10},
    'nms_5': {'nms_kernel_size': 5},
    'output_scale': {'output_scale': (8.0, 8.0)},
}


@pytest.mark.parametrize('variant', sorted(VARIANTS))
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_same_people_on_synthetic_scenes(variant, seed):
    people, h, w = grid_of_people(4 + 3 * seed, jitter=1.5, seed=seed)
    out = render_mobilenet_thin(people, h, w)
    rng = np.random.default_rng(seed)
    # Spurious peaks (some on limbs) and PAF noise, as a real network gives.
    cells = rng.integers(0, [h, w, 18], (60, 3))
    out[cells[:, 0], cells[:, 1], cells[:, 2]] += rng.uniform(0.02, 0.5, 60).astype(np.float32)
    out[:, :, 19:] += rng.normal(0, 0.03, (h, w, 38)).astype(np.float32)
    found = assert_same(DecoderParams(**VARIANTS[variant]), *maps(out))
    assert found


@pytest.mark.parametrize('count', [1, 5, 20, 50])
def test_same_people_on_crowds(count):
    found = assert_same(DecoderParams(), *maps(crowd(count)[1]))
    assert len(found) >= count * 0.9


def test_same_people_with_maxpool_tensor_and_geometry():
    people, h, w = grid_of_people(5, jitter=1.0, seed=3)
    heat, pafs, pool = render_trt_pose(people, h, w)
    heat, pafs, pool = split_network_outputs(heat, pafs, pool, layout='NCHW')
    params = DecoderParams(edges_paf=[(2 * k + 1, 2 * k) for k in range(19)])
    geometry = ImageGeometry.fit(640, 480, w * 8, h * 8, True)
    assert len(assert_same(params, heat, pafs, pool, geometry)) == 5


def test_same_people_on_real_coco_maps():
    """The real model's maps of the COCO mini images, at both sizes, stretched and
    letterboxed: crowded, faint and cut people."""
    model = require_model()
    images = sorted((DATA / 'coco_val_mini').glob('*.jpg'))
    assert len(images) == 4
    parameters = load_parameters_file(PARAMS_FILE)
    total = 0
    for width, keep in ((432, False), (656, True)):
        pipeline = Pipeline(parameters, {
            ENCODER_NODE: {'network_image_width': width, 'keep_aspect_ratio': keep},
            'inference': {'backend': 'onnxruntime', 'model_file_path': str(model)}})
        params = pipeline.decoder.params
        for path in images:
            outputs, geometry = pipeline.infer(cv2.imread(str(path)), 'bgr8')
            heat, pafs, _ = extract_maps(outputs, pipeline.values['openpose_decoder'])
            for variant in (params, replace(params, matching='hungarian'),
                            replace(params, threshold_heatmap=0.01)):
                total += len(assert_same(variant, heat, pafs, geometry=geometry))
        pipeline.inference.close()
    assert total >= 30  # people were found, so the comparison compared something


def test_decoder_without_numba():
    """Where numba is missing the decoder imports and runs its numpy steps, and asking
    for the compiled ones says what is missing."""
    script = '''
import sys
sys.modules['numba'] = None  # import numba raises ImportError
import numpy as np
from pose_estimation_ros.core import openpose_jit
from pose_estimation_ros.core.openpose import OpenPoseDecoder
from pose_estimation_ros.core.openpose import split_network_outputs
from pose_estimation_ros.core.synthetic_pose import crowd
assert not openpose_jit.AVAILABLE
decoder = OpenPoseDecoder()
assert not decoder.compiled
out = crowd(5)[1]
heat, pafs, _ = split_network_outputs(out[None], layout='NHWC', heatmap_channels=(0, 18))
print(len(decoder.decode(heat, pafs)))
try:
    OpenPoseDecoder(implementation='compiled')
except ImportError as error:
    print('ImportError:', error)
'''
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == '5'
    assert 'numba' in lines[1]


def test_implementation_choice():
    assert OpenPoseDecoder().compiled
    assert not OpenPoseDecoder(implementation='numpy').compiled
    with pytest.raises(ValueError, match='implementation'):
        OpenPoseDecoder(implementation='fast')
    # More parts than the compiled assembly's bit masks hold: numpy steps.
    labels = [f'p{i}' for i in range(70)]
    assert not OpenPoseDecoder(DecoderParams(labels=labels, edges=[(0, 1)],
                                             edges_paf=[(70, 71)])).compiled


def test_nan_cells_are_refused_and_the_peak_steps_agree():
    """A NaN cell (a broken network output): decode refuses the maps in both
    implementations (the input checks); the peak search steps themselves still agree
    step against step (numpy's max-pool propagates NaN: the peak next to it is dropped)."""
    people, h, w = grid_of_people(3, seed=4)
    out = render_mobilenet_thin(people, h, w)
    x, y = people[0][1]  # first person's neck
    out[int(y), int(x) + 1, 1] = np.nan
    for implementation in ('numpy', 'compiled'):
        with pytest.raises(ValueError, match='NaN values in heatmaps'):
            OpenPoseDecoder(implementation=implementation).decode(*maps(out)[:2])
    heat = np.ascontiguousarray(out[:, :, :18])
    want = OpenPoseDecoder(implementation='numpy').find_peaks(heat)
    got = openpose_jit.find_peaks(heat, heat, False, np.float32(0.03), 3, 18,
                                  np.empty(heat.size, np.int64))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    neck = (want[0] == 1)
    assert neck.sum() == 2  # three necks, the one beside the NaN gone
