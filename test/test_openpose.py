"""OpenPose decoder core on synthetic maps rendered from known skeletons (synthetic_pose)."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.ndimage import maximum_filter
from synthetic_pose import (NUM_PARTS, grid_of_people, render_heatmaps, render_mobilenet_thin,
                            render_trt_pose, skeleton, trt_pose_edges_paf)

from pose_estimation_ros.core import openpose_jit
from pose_estimation_ros.core.geometry import ImageGeometry
from pose_estimation_ros.core.openpose import (COCO18_EDGES, MATCHING_METHODS, DecoderParams,
                                               OpenPoseDecoder, Person, max_pool,
                                               split_network_outputs, to_hwc)

ALL_EDGES = list(range(len(COCO18_EDGES)))


@pytest.fixture(autouse=True, params=['numpy', 'compiled'])
def implementation(request, monkeypatch):
    """Every test here runs on the numpy reference and on the compiled steps."""
    if request.param == 'compiled' and not openpose_jit.AVAILABLE:
        pytest.fail('numba is missing: the compiled decoder cannot be tested')
    monkeypatch.setattr(OpenPoseDecoder.__init__, '__defaults__', (None, request.param))
    return request.param
# synthetic_pose renders Gaussian peaks of sigma 1 cell: refine with that known width.
RENDER_SIGMA = 1.0


def decoder_params(**values) -> DecoderParams:
    return DecoderParams(**{'refine_peak_sigma': RENDER_SIGMA, **values})


def decode(people, height, width, params=None, *, out=None, geometry=None, **kwargs):
    """Render mobilenet_thin-like maps of ``people`` and decode them."""
    out = render_mobilenet_thin(people, height, width, **kwargs) if out is None else out
    heat, pafs, _ = split_network_outputs(out[None], layout='NHWC', heatmap_channels=(0, 18))
    return OpenPoseDecoder(params or decoder_params()).decode(heat, pafs, geometry=geometry)


def match(found: list[Person], truth, tol: float):
    """Pairs each true skeleton with the found person whose parts all lie within ``tol``
    of it, asserting every found part is a true one and none is missing."""
    assert len(found) == len(truth), f'found {len(found)} people, expected {len(truth)}'
    unused = list(range(len(found)))
    for k, gt in enumerate(truth):
        present = np.flatnonzero(~np.isnan(gt[:, 0]))
        for i in unused:
            p = found[i]
            if set(p.part_ids.tolist()) == set(present.tolist()) and \
                    np.abs(p.xy - gt[p.part_ids]).max() < tol:
                unused.remove(i)
                break
        else:
            pytest.fail(f'no decoded person matches true skeleton {k}: '
                        f'{[(p.part_ids.tolist(), p.xy.round(2).tolist()) for p in found]}')


# ---------------------------------------------------------------- exact recovery

def test_one_person_exact_with_all_edges_and_score():
    gt = skeleton(30.3, 22.6, 30.0)
    people = decode([gt], 50, 60)
    match(people, [gt], tol=0.02)
    p = people[0]
    assert p.edge_ids.tolist() == ALL_EDGES
    assert p.part_ids.tolist() == list(range(NUM_PARTS))
    # Confidence: the heatmap at the peak cell, a Gaussian less than 0.71 cells away.
    assert np.all((p.confidences > math.exp(-0.5 ** 2)) & (p.confidences <= 1.0))
    # Isaac's score: (part confidences + edge scores) / parts; unit PAFs along every edge
    # score about 1.
    assert 0.9 * 19 < p.score * 18 - p.confidences.sum() <= 19.0
    assert p.bbox == pytest.approx((p.xy[:, 0].min(), p.xy[:, 1].min(),
                                    p.xy[:, 0].max(), p.xy[:, 1].max()))


@pytest.mark.parametrize('count', [1, 2, 3, 7, 16, 40])
def test_many_people_exact(count):
    people, height, width = grid_of_people(count, jitter=1.0, seed=count)
    match(decode(people, height, width), people, tol=0.05)


@pytest.mark.parametrize('matching', ['greedy', 'hungarian'])
def test_crossing_limbs(matching):
    """Two people side by side whose forearms cross each other's."""
    a = skeleton(20.3, 20.4, 30.0)
    b = skeleton(30.6, 20.2, 30.0)
    a[7] = b[4] + (2.5, 1.5)   # a's left wrist reaches over to b's right side
    b[4] = a[7] + (-5.5, 2.0)  # b's right wrist reaches back across a's forearm
    found = decode([a, b], 48, 52, decoder_params(matching=matching))
    match(found, [a, b], tol=0.05)


def test_people_cut_by_the_border():
    """Parts outside the map leave no peak; limbs crossing the border leave their field."""
    h, w = 40, 60
    left = skeleton(2.3, 20.5, 30.0)     # right side of the body outside (x < 0)
    bottom = skeleton(40.4, 32.7, 30.0)  # legs below the map
    visible = [np.where(((g[:, 0] > 0) & (g[:, 0] < w) & (g[:, 1] > 0) & (g[:, 1] < h))
                        [:, None], g, np.nan) for g in (left, bottom)]
    out = render_mobilenet_thin([left, bottom], h, w)
    out[:, :, :NUM_PARTS] = render_heatmaps(visible, h, w)
    found = decode(None, h, w, out=out)
    # Peaks in the border cells are not refined across the border: cell centre there.
    match(found, visible, tol=0.5)
    for p in found:
        gt = min(visible, key=lambda g: np.nanmax(np.abs(g[p.part_ids] - p.xy)))[p.part_ids]
        inner = (p.xy[:, 0] > 1) & (p.xy[:, 0] < w - 1) & (p.xy[:, 1] < h - 1)
        assert np.abs(p.xy - gt)[inner].max() < 0.05
        assert len(p.part_ids) < NUM_PARTS
    # Edges into the missing parts are not reported.
    for p in found:
        present = set(p.part_ids.tolist())
        assert all(COCO18_EDGES[e][0] in present and COCO18_EDGES[e][1] in present
                   for e in p.edge_ids)


def test_missing_parts_and_used_edges():
    gt = skeleton(25.5, 20.5, 30.0, missing=(6, 7, 15, 17))  # left arm and left face
    (p,) = decode([gt], 45, 50)
    match([p], [gt], tol=0.02)
    used = {COCO18_EDGES[e] for e in p.edge_ids}
    assert used == {e for e in COCO18_EDGES if not {6, 7, 15, 17} & set(e)}


def test_nothing_found_on_empty_maps():
    assert decode([], 30, 40) == []
    heat = np.zeros((30, 40, 19), np.float32)
    heat[10, 10, 3] = 0.9  # a lone part makes no person
    assert OpenPoseDecoder().decode(heat, np.zeros((30, 40, 57), np.float32)) == []


# ---------------------------------------------------------------- split graphs

def split_neck_maps():
    """A person whose neck shows two peaks 2 cells apart (a near-duplicate)."""
    gt = skeleton(24.5, 20.5, 30.0)
    left, right = gt.copy(), gt.copy()
    left[1] += (-1.0, 0.0)
    right[1] += (1.0, 0.0)
    # Left-side limbs see the left neck, the rest the right one.
    out = render_mobilenet_thin([gt], 45, 50)
    out[:, :, :NUM_PARTS] = np.maximum(render_heatmaps([left], 45, 50),
                                       render_heatmaps([right], 45, 50))
    return gt, out


def test_split_graphs_merged_below_threshold_split_score():
    gt, out = split_neck_maps()
    apart = decode(None, 45, 50, decoder_params(threshold_split_score=0.0,
                                               threshold_part_counter=1), out=out)
    assert len(apart) == 2 and all(1 in p.part_ids for p in apart)
    (merged,) = decode(None, 45, 50, decoder_params(threshold_split_score=3.0), out=out)
    assert merged.part_ids.tolist() == list(range(NUM_PARTS))
    # The kept neck is one of the two peaks; every neck edge now starts there.
    assert abs(abs(merged.xy[1, 0] - gt[1, 0]) - 1.0) < 0.3
    neck_edges = [e for e, (a, b) in enumerate(COCO18_EDGES) if a == 1]
    assert set(neck_edges) <= set(merged.edge_ids.tolist())


def test_plateau_duplicates_give_one_person():
    # A neck exactly on a cell border: two equal heatmap cells, both NMS peaks.
    gt = skeleton(25.0, 20.5, 30.0)
    (p,) = decode([gt], 45, 50)
    match([p], [gt], tol=0.02)


# ---------------------------------------------------------------- each threshold

def test_threshold_heatmap():
    gt = skeleton(25.5, 20.5, 30.0)
    out = render_mobilenet_thin([gt], 45, 50)
    out[:, :, 4] *= 0.2  # a faint right wrist
    low = decode(None, 45, 50, decoder_params(threshold_heatmap=0.1), out=out)[0]
    high = decode(None, 45, 50, decoder_params(threshold_heatmap=0.3), out=out)[0]
    assert 4 in low.part_ids and 4 not in high.part_ids


def test_threshold_edge_size():
    gt = skeleton(25.5, 20.5, 30.0)
    gt[14] = gt[0] + (-1.2, -1.6)  # right eye 2 cells from the nose
    edge = COCO18_EDGES.index((0, 14))
    small = decode([gt], 45, 50, decoder_params(threshold_edge_size=1.5))[0]
    large = decode([gt], 45, 50, decoder_params(threshold_edge_size=2.5))[0]
    assert edge in small.edge_ids and edge not in large.edge_ids


def test_threshold_edge_score():
    gt = skeleton(25.5, 20.5, 30.0)
    out = render_mobilenet_thin([gt], 45, 50)
    out[:, :, [35, 36]] *= 0.3  # a weak right forearm field (edge 3-4)
    edge = COCO18_EDGES.index((3, 4))
    loose = decode(None, 45, 50, decoder_params(threshold_edge_score=0.2), out=out)[0]
    strict = decode(None, 45, 50, decoder_params(threshold_edge_score=0.4), out=out)[0]
    assert edge in loose.edge_ids and 4 in loose.part_ids
    assert edge not in strict.edge_ids and 4 not in strict.part_ids


def test_threshold_edge_sampling_counter():
    gt = skeleton(25.5, 20.5, 30.0)
    # A vertical 16-cell right forearm on cell centres: the 8 samples fall on cells.
    gt[3], gt[4] = (10.5, 15.5), (10.5, 31.5)
    out = render_mobilenet_thin([gt], 45, 50)
    out[24:, :, 35:37] = 0.0  # field only on the half near the elbow: 4 samples count
    edge = COCO18_EDGES.index((3, 4))
    three = decode(None, 45, 50, decoder_params(threshold_edge_sampling_counter=3), out=out)
    four = decode(None, 45, 50, decoder_params(threshold_edge_sampling_counter=4), out=out)
    assert edge in three[0].edge_ids and edge not in four[0].edge_ids


def test_edge_length_penalty():
    """Edges longer than half the map height lose min(0.5 H / length - 1, 0)."""
    gt = skeleton(30.5, 9.5, 14.0)  # whole body 2 cells off the bottom
    gt[4] = gt[3] + (-14.0, 0.3)  # a 14-cell forearm on a 20-cell high map
    length = math.hypot(14.0, 0.3)
    out = render_mobilenet_thin([gt], 20, 60)
    edge = COCO18_EDGES.index((3, 4))
    (p,) = decode(None, 20, 60, out=out)
    assert edge in p.edge_ids
    # The same limb on a map twice as high: no penalty, the person scores higher.
    (tall,) = decode(None, 40, 60, out=np.pad(out, ((0, 20), (0, 0), (0, 0))))
    penalty = 0.5 * 20 / length - 1
    assert tall.score - p.score == pytest.approx(-penalty / 18, abs=1e-3)


def test_threshold_part_counter():
    gt = skeleton(25.5, 20.5, 30.0, missing=range(5, 18))  # 5 parts left
    assert len(decode([gt], 45, 50, decoder_params(threshold_part_counter=5))) == 1
    assert decode([gt], 45, 50, decoder_params(threshold_part_counter=6)) == []


def test_threshold_object_score():
    gt = skeleton(25.5, 20.5, 30.0)
    out = render_mobilenet_thin([gt], 45, 50)
    out[:, :, :NUM_PARTS] *= 0.5
    out[:, :, 19:] *= 0.5
    score = decode(None, 45, 50, out=out)[0].score
    assert len(decode(None, 45, 50, decoder_params(threshold_object_score=score - 0.01),
                      out=out)) == 1
    assert decode(None, 45, 50, decoder_params(threshold_object_score=score + 0.01),
                  out=out) == []


def test_nms_kernel_size():
    # Two right wrists 2 cells apart: separate peaks for a 3x3 window, one for 5x5.
    heat = render_heatmaps([skeleton(20.5, 20.5, 30.0)], 45, 50)
    heat[:, :, 4] = render_heatmaps([np.array([[np.nan] * 2] * 4 + [[10.5, 10.5]])], 45, 50,
                                    num_parts=5)[:, :, 4]
    heat[:, :, 4] = np.maximum(heat[:, :, 4], 0.9 * render_heatmaps(
        [np.array([[np.nan] * 2] * 4 + [[12.5, 10.5]])], 45, 50, num_parts=5)[:, :, 4])
    for kernel, count in ((3, 2), (5, 1)):
        part, _, _, _ = OpenPoseDecoder(decoder_params(nms_kernel_size=kernel)).find_peaks(heat)
        assert np.count_nonzero(part == 4) == count


def test_maxpool_tensor_is_used_when_given():
    people, h, w = grid_of_people(3, seed=3)
    heat, pafs, pool = (to_hwc(v, 'NCHW') for v in render_trt_pose(people, h, w))
    dec = OpenPoseDecoder(decoder_params(edges_paf=trt_pose_edges_paf()))
    with_pool = dec.find_peaks(np.ascontiguousarray(heat), pool)
    # A max-pool that equals the heatmap everywhere makes every cell above threshold a peak.
    every = dec.find_peaks(np.ascontiguousarray(heat), heat)
    assert len(every[0]) > 10 * len(with_pool[0]) and len(with_pool[0]) == 3 * NUM_PARTS


def test_max_pool_matches_scipy():
    rng = np.random.default_rng(1)
    heat = rng.random((9, 11, 4)).astype(np.float32)
    for k in (3, 5, 7):
        expected = maximum_filter(heat, size=(k, k, 1), mode='constant', cval=-np.inf)
        assert np.array_equal(max_pool(heat, k), expected)


# ---------------------------------------------------------------- refinement

def test_refinement_gives_sub_cell_accuracy():
    rng = np.random.default_rng(7)
    people = [skeleton(x, 22.0 + rng.uniform(-0.5, 0.5), 28.0, jitter=0.5, rng=rng)
              for x in (15.0 + rng.uniform(0, 1), 45.0 + rng.uniform(0, 1))]
    fine = decode(people, 45, 60)
    coarse = decode(people, 45, 60, decoder_params(refine_parts_coordinates=False))
    match(fine, people, tol=0.02)
    match(coarse, people, tol=0.51)  # cell centres only
    err = np.concatenate([np.abs(p.xy - min(people, key=lambda g: np.nanmax(
        np.abs(g[p.part_ids] - p.xy)))[p.part_ids]).ravel() for p in coarse])
    assert err.max() > 0.3  # so the refined case above did something


@pytest.mark.parametrize('sigma', [0.8, 1.3])
def test_refinement_with_known_or_estimated_peak_width(sigma):
    """A Gaussian peak of width sigma at a sub-cell position: the known-width fit
    (refine_peak_sigma = sigma) and the per-peak estimate (0) find it exactly; a wrong
    width scales the offset from the cell centre by (assumed / true)**2."""
    x0, y0 = 10.5 + 0.3, 7.5 - 0.2  # cell (row 7, col 10) centre + offset
    cy, cx = np.mgrid[0:15, 0:21] + 0.5
    heat = np.exp(-((cx - x0) ** 2 + (cy - y0) ** 2) / (2 * sigma ** 2))[:, :, None]
    heat = np.repeat(heat, 18, axis=2).astype(np.float32)
    row, col, part = np.array([7]), np.array([10]), np.array([0])

    def refined(width):
        decoder = OpenPoseDecoder(DecoderParams(refine_peak_sigma=width))
        return decoder.refine_peaks(heat, part, row, col)[0]

    assert refined(sigma) == pytest.approx([x0, y0], abs=1e-4)
    assert refined(0.0) == pytest.approx([x0, y0], abs=1e-4)
    wrong = 1.1 * sigma
    assert refined(wrong) - [10.5, 7.5] == pytest.approx(
        np.array([0.3, -0.2]) * 1.1 ** 2, abs=1e-4)


def test_cell_centre_convention_and_output_scale():
    gt = skeleton(25.5, 20.5, 30.0)  # every part on a cell centre
    gt = np.floor(gt) + 0.5
    (p,) = decode([gt], 45, 50, decoder_params(output_scale=(8.0, 4.0)))
    assert np.allclose(p.xy, gt[p.part_ids] * (8.0, 4.0), atol=1e-6)
    (q,) = decode([gt], 45, 50, decoder_params(refine_parts_coordinates=False))
    assert np.allclose(q.xy, gt[q.part_ids], atol=1e-9)


# ---------------------------------------------------------------- geometry and layouts

@pytest.mark.parametrize('keep_aspect_ratio', [True, False])
def test_source_coordinates_through_image_geometry(keep_aspect_ratio):
    geometry = ImageGeometry.fit(640, 480, 432, 368, keep_aspect_ratio)
    map_w, map_h = 54, 46
    stride = np.array([432 / map_w, 368 / map_h])
    rng = np.random.default_rng(3)
    truth_src = []
    for x, y in ((180.0, 230.0), (450.0, 250.0)):
        pts = skeleton(x, y, 300.0, jitter=6.0, rng=rng)
        truth_src.append(pts)
    truth_map = [np.stack(geometry.to_input(g[:, 0], g[:, 1]), 1) / stride for g in truth_src]
    found = decode(truth_map, map_h, map_w, geometry=geometry)
    # 0.05 map cells in source pixels
    tol = 0.05 * max(stride) / min(geometry.scale_x, geometry.scale_y)
    match(found, truth_src, tol=tol)
    # Output scale overrides the geometry.
    scaled = decode(truth_map, map_h, map_w, decoder_params(output_scale=(2.0, 3.0)),
                    geometry=geometry)
    match(scaled, [g * (2.0, 3.0) for g in truth_map], tol=0.2)


def test_nchw_trt_pose_layout_equals_nhwc_mobilenet_layout():
    people, h, w = grid_of_people(5, jitter=1.0, seed=11)
    nhwc = decode(people, h, w)
    heat, pafs, pool = split_network_outputs(*render_trt_pose(people, h, w), layout='NCHW')
    assert heat.shape == (h, w, NUM_PARTS) and pafs.shape == (h, w, 38)
    nchw = OpenPoseDecoder(decoder_params(edges_paf=trt_pose_edges_paf())).decode(
        heat, pafs, pool)
    match(nchw, people, tol=0.05)
    assert [p.score for p in nchw] == pytest.approx([p.score for p in nhwc], abs=1e-4)


def test_split_network_outputs_views_and_errors():
    out = np.zeros((1, 46, 54, 57), np.float32)
    heat, pafs, pool = split_network_outputs(out, heatmap_channels=(0, 18))
    assert heat.shape == (46, 54, 18) and pafs.shape == (46, 54, 57) and pool is None
    assert np.shares_memory(heat, out) and np.shares_memory(pafs, out)
    with pytest.raises(ValueError, match='layout'):
        split_network_outputs(out, layout='HWCN')
    with pytest.raises(ValueError, match='batch of 1'):
        split_network_outputs(np.zeros((2, 46, 54, 57), np.float32))
    with pytest.raises(ValueError, match='heatmap_channels'):
        split_network_outputs(out, heatmap_channels=(0, 60))
    with pytest.raises(ValueError, match='pafs must be'):
        OpenPoseDecoder().decode(heat, np.zeros((46, 54, 40), np.float32))
    with pytest.raises(ValueError, match='heatmaps must be'):
        OpenPoseDecoder().decode(heat[:, :, :5], pafs)


# ---------------------------------------------------------------- matching

def sequential_greedy(ea, eb, score, etype):
    taken, used = [], set()
    for i in sorted(range(len(score)), key=lambda i: -score[i]):
        if (etype[i], 'a', ea[i]) in used or (etype[i], 'b', eb[i]) in used:
            continue
        used.update({(etype[i], 'a', ea[i]), (etype[i], 'b', eb[i])})
        taken.append(i)
    return taken


def test_part_confidence_weight_prefers_the_joint_to_a_faint_peak_on_the_limb():
    """A faint left-knee peak halfway along the thigh, whose PAF fades a little towards
    the knee (as the network's do along long limbs): by PAF score alone the hip joins
    that peak (its segment lies on the limb too) and the real knee and ankle are lost;
    the part confidences pick the real knee."""
    h, w = 45, 50
    gt = skeleton(25.3, 18.4, 30.0)
    out = render_mobilenet_thin([gt], h, w)
    faint = np.full((NUM_PARTS, 2), np.nan)
    faint[12] = 0.5 * (gt[11] + gt[12])
    out[:, :, 12] = np.maximum(out[:, :, 12], 0.1 * render_heatmaps([faint], h, w)[:, :, 12])
    below = (np.arange(h) + 0.5 > faint[12, 1])[:, None, None]
    out[:, :, 27:29] *= np.where(below, 0.95, 1.0)  # left hip -> left knee field
    (paf_only,) = decode(None, h, w, decoder_params(part_confidence_weight=0.0), out=out)
    assert np.abs(paf_only.dense(NUM_PARTS)[12, :2] - faint[12]).max() < 0.05
    assert 13 not in paf_only.part_ids
    (p,) = decode(None, h, w, out=out)
    assert DecoderParams().part_confidence_weight > 0
    match([p], [gt], tol=0.02)


def test_part_confidence_weight_ranks_the_matching():
    # Same PAF score, one candidate b a faint peak: the confident one is matched.
    ea, eb = np.array([0, 0]), np.array([1, 2])
    score, etype = np.array([0.80, 0.81]), np.zeros(2, dtype=np.int64)
    conf = np.array([0.9, 0.9, 0.1])
    for matching in MATCHING_METHODS:
        dec = OpenPoseDecoder(decoder_params(matching=matching))
        assert dec.match_edges(ea, eb, score, etype)[1].tolist() == [2]
        got = dec.match_edges(ea, eb, score, etype, conf)
        assert got[1].tolist() == [1] and got[2].tolist() == [0.80]  # score unchanged
        dec = OpenPoseDecoder(decoder_params(matching=matching, part_confidence_weight=0.0))
        assert dec.match_edges(ea, eb, score, etype, conf)[1].tolist() == [2]


def test_vectorized_greedy_equals_sequential_greedy():
    dec = OpenPoseDecoder()
    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(1, 80))
        ea, eb = rng.integers(0, 12, n), rng.integers(12, 24, n)
        etype = rng.integers(0, 3, n)
        score = rng.random(n)
        got = dec.match_edges(ea, eb, score, etype)
        want = sequential_greedy(ea, eb, score, etype)
        assert sorted(zip(got[0], got[1], got[3])) == sorted(
            zip(ea[want], eb[want], etype[want]))


def test_greedy_and_hungarian_differ():
    # a0-b0 0.9 is the best edge, but a0-b1 0.8 + a1-b0 0.7 is the best total.
    ea, eb = np.array([0, 0, 1]), np.array([2, 3, 2])
    score, etype = np.array([0.9, 0.8, 0.7]), np.zeros(3, dtype=np.int64)
    greedy = OpenPoseDecoder(decoder_params(matching='greedy')).match_edges(ea, eb, score,
                                                                          etype)
    hungarian = OpenPoseDecoder(decoder_params(matching='hungarian')).match_edges(
        ea, eb, score, etype)
    assert list(zip(greedy[0], greedy[1])) == [(0, 2)]
    assert sorted(zip(hungarian[0], hungarian[1])) == [(0, 3), (1, 2)]
    assert hungarian[2].tolist() == [0.8, 0.7]  # best first


def test_hungarian_on_maps_recovers_people():
    people, h, w = grid_of_people(6, jitter=1.0, seed=2)
    match(decode(people, h, w, decoder_params(matching='hungarian')), people, tol=0.05)


# ---------------------------------------------------------------- parameters

@pytest.mark.parametrize('field, value', [
    ('threshold_heatmap', -0.1), ('threshold_heatmap', 1.5), ('threshold_heatmap', 'x'),
    ('threshold_edge_size', -1.0), ('threshold_edge_score', 2.0),
    ('threshold_edge_sampling_counter', 8), ('threshold_edge_sampling_counter', 1.5),
    ('edge_sampling_steps', 0), ('threshold_part_counter', 0),
    ('threshold_part_counter', 19), ('threshold_object_score', -0.5),
    ('threshold_object_score', math.nan), ('threshold_split_score', -1.0),
    ('matching', 'auction'), ('nms_kernel_size', 4), ('nms_kernel_size', 1),
    ('part_confidence_weight', -0.1), ('part_confidence_weight', 'x'),
    ('part_confidence_weight', math.inf),
    ('refine_peak_sigma', -1.0), ('refine_peak_sigma', math.nan),
    ('refine_parts_coordinates', 'yes'), ('output_scale', (1.0, -2.0)),
    ('output_scale', (1.0, 2.0, 3.0)), ('edges', ((0, 18),)), ('edges', ((3, 3),)),
    ('edges_paf', ((19, 20),)), ('edges_paf', [(-1, 2)] * 19), ('labels', ('a', 'a')),
    ('edges', [1, 2, 3]),
])
def test_bad_parameters_are_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        replace(DecoderParams(), **{field: value}).validate()


def test_parameters_from_ros_style_mapping():
    flat = [v for pair in COCO18_EDGES for v in pair]
    params = DecoderParams.from_mapping({'edges': flat, 'output_scale': [0.0, 0.0],
                                         'threshold_part_counter': 3})
    assert params.edges == COCO18_EDGES and params.output_scale is None
    assert params.threshold_part_counter == 3
    assert DecoderParams(output_scale=[]).output_scale is None
    with pytest.raises(ValueError, match='unknown decoder parameters'):
        DecoderParams.from_mapping({'threshold_heatmp': 0.1})
    assert hash(params) == hash(DecoderParams.from_mapping({'edges': flat,
                                                            'threshold_part_counter': 3}))
