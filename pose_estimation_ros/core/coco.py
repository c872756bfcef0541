"""COCO keypoint helpers: decoded people -> COCO results, and keypoint AP.

Pure Python + numpy; pycocotools is imported only by :func:`evaluate_keypoints`.
"""
from __future__ import annotations

import contextlib
import io
from typing import Iterable, Sequence

import numpy as np

from .openpose import COCO18_LABELS, Person

COCO17_LABELS: tuple[str, ...] = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
    'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle')


def coco17_mapping(labels: Sequence[str]) -> tuple[int, ...] | None:
    """Part id of each COCO-17 keypoint in a topology, found by name (any order; extra
    parts such as the neck are ignored); None when a COCO keypoint is missing."""
    if not set(COCO17_LABELS) <= set(labels):
        return None
    return tuple(list(labels).index(name) for name in COCO17_LABELS)


# COCO-17 keypoint k is OpenPose COCO-18 part COCO17_FROM_COCO18[k]:
# (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10).
COCO17_FROM_COCO18: tuple[int, ...] = coco17_mapping(COCO18_LABELS)
# Names of COCOeval's 10 keypoint statistics, in its order.
STAT_NAMES: tuple[str, ...] = ('AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75',
                               'ARm', 'ARl')


def person_to_coco(person: Person, image_id: int, *, category_id: int = 1,
                   mapping: Sequence[int] = COCO17_FROM_COCO18) -> dict:
    """A COCO keypoint result (``keypoints`` ``[x, y, v] * 17``, ``score``) for a person.

    ``person`` must be in source-image pixels (continuous coordinates, pixel ``i`` spans
    ``[i, i + 1)``). COCO keypoints are pixel indices (pixel ``i``'s centre is ``i``), so
    0.5 is subtracted. Missing keypoints are ``0, 0, 0``; found ones have ``v = 1``.
    A tracked person (``tracking_id`` > 0) also gets ``track_id`` (PoseTrack's name).
    """
    num_parts = max(mapping) + 1
    dense = person.dense(max(num_parts, int(person.part_ids.max(initial=-1)) + 1))
    out = np.zeros((len(mapping), 3))
    src = dense[list(mapping)]
    found = ~np.isnan(src[:, 0])
    out[found, :2] = src[found, :2] - 0.5
    out[found, 2] = 1.0
    result = {'image_id': int(image_id), 'category_id': int(category_id),
              'keypoints': [round(float(v), 2) for v in out.ravel()],
              'score': float(person.score)}
    if person.tracking_id:
        result['track_id'] = int(person.tracking_id)
    return result


def people_to_coco(people: Iterable[Person], image_id: int, **kwargs) -> list[dict]:
    return [person_to_coco(p, image_id, **kwargs) for p in people]


def evaluate_keypoints(annotations, results: list[dict], *, image_ids=None,
                       verbose: bool = False) -> dict[str, float]:
    """COCO keypoint AP/AR (pycocotools ``COCOeval(..., 'keypoints')``) of results.

    ``annotations``: a COCO annotation file path or a ``pycocotools.coco.COCO``.
    ``image_ids``: the images evaluated (default: every annotated image). No results
    count as AP 0 (pycocotools cannot load an empty result list).
    Returns ``{name: value}`` for :data:`STAT_NAMES`.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:
        gt = annotations if isinstance(annotations, COCO) else COCO(str(annotations))
        if not results:
            return {name: 0.0 for name in STAT_NAMES}
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, 'keypoints')
        ev.params.imgIds = sorted(gt.getImgIds() if image_ids is None else image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, ev.stats)}
