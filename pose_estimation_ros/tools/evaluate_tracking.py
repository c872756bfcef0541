"""Multi-object tracking figures of the whole pipeline on an annotated video sequence.

Usage::

    python -m pose_estimation_ros.tools.evaluate_tracking \\
        --data ../shared/data/posetrack_bonn [--params config/mobilenet_thin.yaml] \\
        [--model models/mobilenet_thin.onnx] [--steps 1 2] [--fps 25] \\
        [--param tracking_keypoint_sigma=0.1 ...] [--cache /tmp/maps] [--output r.json]

The sequence is a folder with ``images/`` and ``annotations.json``: COCO-17 keypoint
annotations with ``track_id`` per person and ``frame_id`` per image (PoseTrack style).
Each frame runs through :class:`~pose_estimation_ros.core.pipeline.Pipeline` (the nodes'
encoder, inference, decoder and tracker, configured from the same parameters file), with
stamps ``frame_id / fps``; ``--steps 2`` also runs it on every second frame only (a
camera at half the rate: faster motion between frames). A fresh tracker runs per step.

Detections are matched to annotations by **OKS** (COCO's object keypoint similarity over
the annotated joints, COCO's per-joint sigmas, the annotation's ``area`` as scale) with
threshold 0.5; the figures come from TrackEval (``trackeval`` 1.3, CLEAR MOT and
Identity metrics): MOTA, IDF1, ID switches, fragmentations. Detections whose track is
not confirmed yet (``tracking_id`` 0) are not tracker output (they count as misses).
Missed detections cap IDF1 whatever a tracker does, so the same detections are also
scored as the **oracle**: each detection given the annotated id of the person it
matches (optimal one-to-one assignment per frame), unmatched ones an id of their own.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from pose_estimation_ros.core.coco import coco17_mapping
from pose_estimation_ros.core.openpose import Person
from pose_estimation_ros.core.pipeline import Pipeline
from pose_estimation_ros.tools.evaluate_coco import (infer_cached, make_pipeline,
                                                     parameter_overrides)

# A detection and an annotation are the same person at OKS >= this (TrackEval's default
# similarity threshold, and COCO's AP50 threshold).
MATCH_THRESHOLD = 0.5
METRICS = ('MOTA', 'IDF1', 'IDSW', 'Frag', 'MOTP', 'CLR_TP', 'CLR_FN', 'CLR_FP', 'IDTP',
           'IDFN', 'IDFP', 'MT', 'ML')


@dataclass
class AnnotatedFrame:
    frame_id: int
    path: Path
    track_ids: np.ndarray    # (G,)
    keypoints: np.ndarray    # (G, 17, 3) COCO x, y, v (pixel indices)
    areas: np.ndarray        # (G,)


def load_sequence(data: str | Path) -> list[AnnotatedFrame]:
    """The frames of ``data/annotations.json`` in ``frame_id`` order."""
    data = Path(data)
    document = json.loads((data / 'annotations.json').read_text())
    by_image: dict[int, list[dict]] = {}
    for annotation in document['annotations']:
        by_image.setdefault(annotation['image_id'], []).append(annotation)
    frames = []
    for image in sorted(document['images'], key=lambda i: i['frame_id']):
        people = by_image.get(image['id'], [])
        frames.append(AnnotatedFrame(
            int(image['frame_id']), data / 'images' / image['file_name'],
            np.array([a['track_id'] for a in people], np.int64),
            np.array([a['keypoints'] for a in people], np.float64).reshape(-1, 17, 3),
            np.array([a['area'] for a in people], np.float64)))
    return frames


def coco_sigmas() -> np.ndarray:
    """COCO's 17 per-keypoint OKS sigmas (from pycocotools, the reference)."""
    from pycocotools.cocoeval import Params
    return np.asarray(Params(iouType='keypoints').kpt_oks_sigmas, np.float64)


def oks(annotated: AnnotatedFrame, people: Sequence[Person], mapping: Sequence[int],
        sigmas: np.ndarray) -> np.ndarray:
    """(G, D) COCO OKS of the annotations and the detections; a joint the detection
    lacks scores 0 (as in COCOeval, which places it far away)."""
    num_parts = max(max(mapping) + 1, *(int(p.part_ids.max(initial=-1)) + 1 for p in people)) \
        if people else max(mapping) + 1
    # Detections in COCO pixel indices (COCO results subtract 0.5, see core.coco).
    det = np.stack([p.dense(num_parts)[list(mapping), :2] - 0.5 for p in people]) \
        if people else np.zeros((0, 17, 2))
    gt_xy, visible = annotated.keypoints[:, :, :2], annotated.keypoints[:, :, 2] > 0
    d2 = np.sum((gt_xy[:, None] - det[None]) ** 2, axis=3)                  # (G, D, 17)
    var = (2 * sigmas) ** 2
    e = np.exp(-np.nan_to_num(d2, nan=np.inf) / (2 * var * (annotated.areas[:, None, None]
                                                           + np.spacing(1))))
    counted = visible[:, None, :]
    return (e * counted).sum(axis=2) / np.maximum(counted.sum(axis=2), 1)


def oracle_ids(similarity: np.ndarray, gt_ids: np.ndarray, first_free: int) -> np.ndarray:
    """Each detection's annotated id (one-to-one, optimal), or a new id >= first_free."""
    ids = np.arange(first_free, first_free + similarity.shape[1])
    if similarity.size:
        rows, cols = linear_sum_assignment(-similarity)
        keep = similarity[rows, cols] >= MATCH_THRESHOLD
        ids[cols[keep]] = gt_ids[rows[keep]]
    return ids


def keypoint_errors(annotated: AnnotatedFrame, people: Sequence[Person], ids: np.ndarray,
                    mapping: Sequence[int]) -> list[float]:
    """Distances (px) of the people's joints from the annotated ones, for the people
    ``ids`` assigns to an annotated person (as :func:`oracle_ids` does)."""
    out = []
    row_of = {int(t): r for r, t in enumerate(annotated.track_ids)}
    for person, track_id in zip(people, ids.tolist()):
        row = row_of.get(track_id)
        if row is None:
            continue
        num_parts = max(max(mapping), int(person.part_ids.max(initial=-1))) + 1
        det = person.dense(num_parts)[list(mapping), :2] - 0.5
        gt = annotated.keypoints[row]
        both = (gt[:, 2] > 0) & ~np.isnan(det[:, 0])
        out += np.hypot(*(det[both] - gt[both, :2]).T).tolist()
    return out


def mot_metrics(frames: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict:
    """TrackEval CLEAR + Identity metrics of a sequence.

    ``frames``: per frame (ground-truth ids (G,), tracker ids (H,), similarity (G, H));
    a pair is a match at similarity >= :data:`MATCH_THRESHOLD`.
    """
    from trackeval.metrics import CLEAR, Identity

    gt_index = {v: i for i, v in enumerate(sorted({int(i) for g, _, _ in frames for i in g}))}
    hyp_index = {v: i for i, v in enumerate(sorted({int(i) for _, h, _ in frames for i in h}))}
    data = {
        'num_timesteps': len(frames), 'num_gt_ids': len(gt_index),
        'num_tracker_ids': len(hyp_index),
        'num_gt_dets': sum(len(g) for g, _, _ in frames),
        'num_tracker_dets': sum(len(h) for _, h, _ in frames),
        'gt_ids': [np.array([gt_index[int(i)] for i in g], np.int64) for g, _, _ in frames],
        'tracker_ids': [np.array([hyp_index[int(i)] for i in h], np.int64)
                        for _, h, _ in frames],
        'similarity_scores': [np.asarray(s, np.float64).reshape(len(g), len(h))
                              for g, h, s in frames]}
    config = {'THRESHOLD': MATCH_THRESHOLD, 'PRINT_CONFIG': False}
    result: dict[str, Any] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for metric in (CLEAR(config), Identity(config)):
            result.update(metric.eval_sequence(data))
    out = {k: (int(v) if k in ('IDSW', 'Frag', 'CLR_TP', 'CLR_FN', 'CLR_FP', 'IDTP', 'IDFN',
                               'IDFP', 'MT', 'ML') else float(v))
           for k, v in result.items() if k in METRICS}
    out['num_tracker_ids'] = len(hyp_index)
    out['num_gt_ids'] = len(gt_index)
    return out


def infer_sequence(pipeline: Pipeline, frames: Sequence[AnnotatedFrame], *,
                   cache: str | Path | None = None) -> list:
    """Network outputs and geometry of every frame (read back from ``cache`` if there)."""
    import cv2

    maps = []
    for frame in frames:
        image = cv2.imread(str(frame.path))
        if image is None:
            raise RuntimeError(f'cannot read image {frame.path}')
        maps.append(infer_cached(pipeline, image, cache,
                                 f'{frame.path.parent.parent.name}_{frame.frame_id}'))
    return maps


def evaluate(pipeline: Pipeline, frames: Sequence[AnnotatedFrame], maps: Sequence, *,
             step: int = 1, fps: float = 25.0) -> dict:
    """Tracker and oracle figures on every ``step``-th frame (the pipeline's tracker,
    reset first)."""
    labels = pipeline.decoder.params.labels
    mapping = coco17_mapping(labels)
    if mapping is None:
        raise ValueError(f'the decoder labels do not name all 17 COCO keypoints: {labels}')
    pipeline.tracker.reset()
    pipeline.timings.track.clear()
    sigmas = coco_sigmas()
    tracked_frames, oracle_frames, next_free = [], [], 1 << 40
    errors = {'raw': [], 'output': []}
    jitters = {'raw': [], 'output': []}
    history: dict[tuple[str, int], list[np.ndarray]] = {}  # (kind, id) -> last positions
    num_parts = len(labels)
    for frame, (outputs, geometry) in list(zip(frames, maps))[::step]:
        tracked = pipeline.track(pipeline.decode(outputs, geometry), frame.frame_id / fps)
        people = tracked.people
        similarity = oks(frame, people, mapping, sigmas)
        ids = np.array([p.tracking_id for p in people], np.int64)
        confirmed = ids > 0
        tracked_frames.append((frame.track_ids, ids[confirmed], similarity[:, confirmed]))
        oracle = oracle_ids(similarity, frame.track_ids, next_free)
        next_free += len(people)
        oracle_frames.append((frame.track_ids, oracle, similarity))
        for kind, group in (('raw', people), ('output', tracked.smoothed)):
            errors[kind] += keypoint_errors(frame, group, oracle, mapping)
            # Jitter: |x(t) - 2 x(t-1) + x(t-2)| of each tracked person's parts.
            for person in group:
                if person.tracking_id:
                    last = history.setdefault((kind, person.tracking_id), [])
                    last.append(person.dense(num_parts)[:, :2])
                    if len(last) >= 3:
                        second = last[-1] - 2 * last[-2] + last[-3]
                        jitters[kind] += np.hypot(*second[~np.isnan(second[:, 0])].T).tolist()
                        del last[0]
    tracked, oracle = mot_metrics(tracked_frames), mot_metrics(oracle_frames)
    return {'step': step, 'frames': len(tracked_frames), 'tracker': tracked, 'oracle': oracle,
            'idf1_ratio': tracked['IDF1'] / oracle['IDF1'] if oracle['IDF1'] else 0.0,
            # Keypoints against the annotations (matched people, joints both have):
            # the tracker's output (smoothed, if on) beside the raw detections.
            'keypoint_error_px': {k: float(np.mean(v)) if v else 0.0
                                  for k, v in errors.items()},
            'keypoint_jitter_px': {k: float(np.mean(v)) if v else 0.0
                                   for k, v in jitters.items()},
            'track_ms_median': float(np.median(pipeline.timings.track))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', default='../shared/data/posetrack_bonn',
                        help='sequence folder: images/ and annotations.json')
    parser.add_argument('--model', default='models/mobilenet_thin.onnx')
    parser.add_argument('--params', help='ROS 2 parameters YAML file')
    parser.add_argument('--param', action='append', default=[], metavar='NAME=VALUE',
                        help='decoder/tracker parameter override (repeatable)')
    parser.add_argument('--steps', type=int, nargs='+', default=[1, 2],
                        help='frame steps to evaluate (2: every second frame)')
    parser.add_argument('--fps', type=float, default=25.0,
                        help='frame rate of the sequence, for the stamps (default 25)')
    parser.add_argument('--cache', help='folder to keep network outputs in')
    parser.add_argument('--output', help='JSON file to write the figures to')
    args = parser.parse_args(argv)

    overrides = parameter_overrides(parser, args.param)
    if any(s < 1 for s in args.steps) or not args.fps > 0:
        parser.error('--steps must be >= 1 and --fps positive')
    try:
        pipeline = make_pipeline(args.model, args.params, decoder=overrides)
        frames = load_sequence(args.data)
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as error:
        parser.error(str(error))
    maps = infer_sequence(pipeline, frames, cache=args.cache)
    pipeline.inference.close()
    results = [evaluate(pipeline, frames, maps, step=s, fps=args.fps) for s in args.steps]
    print(f'{Path(args.data).name}: {len(frames)} frames, '
          f'{sum(len(f.track_ids) for f in frames)} annotated people; detections matched '
          f'to annotations by OKS >= {MATCH_THRESHOLD} (TrackEval CLEAR + Identity)')
    print(f'{"step":>4} {"who":<8} {"MOTA":>6} {"IDF1":>6} {"IDSW":>5} {"Frag":>5} '
          f'{"TP":>4} {"FN":>4} {"FP":>4} {"ids":>4}')
    for r in results:
        for who in ('tracker', 'oracle'):
            m = r[who]
            print(f'{r["step"]:>4} {who:<8} {m["MOTA"]:6.3f} {m["IDF1"]:6.3f} {m["IDSW"]:5d} '
                  f'{m["Frag"]:5d} {m["CLR_TP"]:4d} {m["CLR_FN"]:4d} {m["CLR_FP"]:4d} '
                  f'{m["num_tracker_ids"]:4d}')
        error, jitter = r['keypoint_error_px'], r['keypoint_jitter_px']
        print(f'{r["step"]:>4} IDF1 tracker / oracle = {r["idf1_ratio"]:.3f}; tracker '
              f'{r["track_ms_median"]:.3f} ms median per frame; keypoint error '
              f'{error["output"]:.2f} px ({error["raw"]:.2f} raw), jitter '
              f'{jitter["output"]:.2f} px ({jitter["raw"]:.2f} raw)')
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
