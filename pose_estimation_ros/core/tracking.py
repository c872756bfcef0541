"""Person tracking: a ``tracking_id`` that stays with the same person across frames.

Tracking by detection, after SORT (Bewley et al. 2016) with a pose similarity in place of
the box-only one (as PoseTrack trackers do):

- **Prediction**: each track keeps the last seen position of every part it ever had and a
  constant image velocity (px/s, smoothed); at a new frame its parts are moved by
  velocity x elapsed time, so a person walking behind an obstacle is looked for where
  they should be; the further the extrapolation, the wider the tolerance, and where the
  person was last seen counts too (people stop).
- **Similarity** of a track and a detection: ``w * OKS + (1 - w) * IoU``, with OKS the
  COCO object keypoint similarity over the parts both have (``exp(-d^2 / (2 s^2 k^2))``
  averaged, ``s^2`` the larger box area, ``k`` = ``tracking_keypoint_sigma``) and IoU
  that of the boxes of the predicted parts and of the detection.
- **Assignment**: optimal (Hungarian, ``scipy.optimize.linear_sum_assignment``) on
  ``1 - similarity``; pairs below ``tracking_min_similarity`` stay unmatched.
- **Life cycle**: an unmatched detection starts a tentative track; a track is confirmed
  (gets the next id, 1, 2, ...; ids are never reused in a run) after
  ``tracking_confirm_hits`` consecutive matches, a tentative track that misses a frame
  is dropped, a confirmed one is retired after ``tracking_max_misses`` frames missed
  in a row.
- **Time** comes from the frames' stamps (header stamps in the nodes), never the clock:
  bag replay, sim time and dropped frames predict correctly. A stamp earlier than the
  previous one (a bag restarted, a loop) clears the tracks; ids go on counting.
- **Smoothing** (optional, ``smoothing_enabled``): a One Euro filter (Casiez et al.,
  CHI 2012) per track and part, on the stamps' time; the raw detections are returned
  alongside.

Pure numpy/scipy, no ROS.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from .openpose import Person

# Velocity is extrapolated for at most this long (s): beyond it, a constant-velocity guess
# is worse than none (a person stops, turns).
MAX_EXTRAPOLATION_S = 0.5
# Image speed (box diagonals per second) a person seen only once may have: how far the
# next frame may find them.
UNKNOWN_SPEED = 0.5
# Smallest person scale (box area, px^2) in OKS, so that a detection of two parts still
# has a usable tolerance.
MIN_AREA = 32.0 ** 2
# One Euro filter: cutoff (Hz) of the speed estimate that drives the adaptive cutoff.
DERIVATIVE_CUTOFF_HZ = 1.0


@dataclass(frozen=True)
class TrackerParams:
    """The tracker's parameters; the names are the decoder node's parameter names."""

    tracking_enabled: bool = True
    tracking_min_similarity: float = 0.2
    tracking_keypoint_weight: float = 0.7
    tracking_keypoint_sigma: float = 0.15
    tracking_confirm_hits: int = 2
    tracking_max_misses: int = 10
    tracking_velocity_smoothing: float = 0.5
    smoothing_enabled: bool = False
    smoothing_min_cutoff: float = 1.0
    smoothing_beta: float = 0.05

    @classmethod
    def from_values(cls, values) -> TrackerParams:
        """From a mapping of parameter values (other keys ignored); validated."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names}).validate()

    def validate(self) -> TrackerParams:
        """Raise ValueError naming the first bad field and its allowed range; return self."""
        def number(name, low, high, integer=False):
            value = getattr(self, name)
            ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.number))
                  and math.isfinite(value) and low <= value <= high
                  and (not integer or int(value) == value))
            if not ok:
                kind = 'an integer' if integer else 'a number'
                raise ValueError(f'tracker parameter {name}={value!r} is out of range: must '
                                 f'be {kind} in [{low}, {high}]')

        for name in ('tracking_enabled', 'smoothing_enabled'):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f'tracker parameter {name}={getattr(self, name)!r}: must be '
                                 f'true or false')
        number('tracking_min_similarity', 0.0, 1.0)
        number('tracking_keypoint_weight', 0.0, 1.0)
        number('tracking_keypoint_sigma', 0.001, 10.0)
        number('tracking_confirm_hits', 1, 100, integer=True)
        number('tracking_max_misses', 0, 1000, integer=True)
        number('tracking_velocity_smoothing', 0.0, 1.0)
        number('smoothing_min_cutoff', 0.001, 1000.0)
        number('smoothing_beta', 0.0, 10.0)
        return self


class Tracked(NamedTuple):
    """One frame's output: ``people`` are the detections in their order, each with its
    ``tracking_id`` (0 while its track is tentative or tracking is off); ``smoothed`` the
    same people with filtered keypoints when smoothing is on, else ``people`` itself."""

    people: list[Person]
    smoothed: list[Person]


class _Track:
    """State of one person: dense part positions at ``seen`` (NaN: part never seen)."""

    __slots__ = ('id', 'xy', 'seen', 'velocity', 'hits', 'misses', 'filtered', 'speed',
                 'filtered_at')

    def __init__(self, xy: np.ndarray, stamp: float):
        self.id = 0
        self.xy = xy
        self.seen = stamp
        self.velocity = np.zeros(2)
        self.hits, self.misses = 1, 0
        # One Euro filter state: filtered positions, filtered speeds (px/s), their time.
        self.filtered = xy.copy()
        self.speed = np.zeros_like(xy)
        self.filtered_at = stamp

    def predict(self, stamp: float) -> np.ndarray:
        """Part positions at ``stamp`` (constant velocity, extrapolated at most
        :data:`MAX_EXTRAPOLATION_S`)."""
        return self.xy + self.velocity * min(max(stamp - self.seen, 0.0), MAX_EXTRAPOLATION_S)


def _boxes(xy: np.ndarray) -> np.ndarray:
    """(N, P, 2) part positions with NaN -> (N, 4) boxes (x_min, y_min, x_max, y_max);
    a person without parts gets an empty box (zero size at the origin)."""
    missing = np.isnan(xy)
    lo = np.where(missing, np.inf, xy).min(axis=1)
    hi = np.where(missing, -np.inf, xy).max(axis=1)
    empty = ~np.isfinite(lo[:, :1])
    return np.where(empty, 0.0, np.concatenate([lo, hi], axis=1))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 4) x (D, 4) boxes -> (T, D) intersection over union (0 for empty boxes)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.maximum(hi - lo, 0.0), axis=2)
    area_a = np.prod(np.maximum(a[:, 2:] - a[:, :2], 0.0), axis=1)
    area_b = np.prod(np.maximum(b[:, 2:] - b[:, :2], 0.0), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def similarity(tracks_xy: np.ndarray, dets_xy: np.ndarray, *, keypoint_weight: float,
               keypoint_sigma: float, spread: np.ndarray | None = None) -> np.ndarray:
    """(T, P, 2) and (D, P, 2) part positions (NaN: missing) -> (T, D) similarity in
    [0, 1]: ``keypoint_weight`` x OKS over the shared parts + the rest x box IoU.
    ``spread``: (T,) extra position tolerance (px) of each track, added in quadrature to
    the OKS one (the uncertainty of a long extrapolation)."""
    boxes_t, boxes_d = _boxes(tracks_xy), _boxes(dets_xy)
    area_t = np.prod(boxes_t[:, 2:] - boxes_t[:, :2], axis=1)
    area_d = np.prod(boxes_d[:, 2:] - boxes_d[:, :2], axis=1)
    area = np.maximum(np.maximum(area_t[:, None], area_d[None, :]), MIN_AREA)
    d2 = np.sum((tracks_xy[:, None] - dets_xy[None]) ** 2, axis=3)  # (T, D, P), NaN: unshared
    shared = ~np.isnan(d2)
    count = shared.sum(axis=2)
    variance = area * keypoint_sigma ** 2
    if spread is not None:
        variance = variance + (spread ** 2)[:, None]
    e = np.exp(-np.nan_to_num(d2, nan=np.inf) / (2.0 * variance[:, :, None]))
    oks = np.where(count > 0, e.sum(axis=2) / np.maximum(count, 1), 0.0)
    iou = _iou(boxes_t, boxes_d)
    return keypoint_weight * oks + (1.0 - keypoint_weight) * iou


def _alpha(cutoff_hz, dt: float):
    """Exponential smoothing factor of a first-order low-pass at ``cutoff_hz``."""
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class Tracker:
    """Gives detections ``tracking_id``s; one instance per image stream.

    ``num_parts``: parts of the topology (``len(labels)``). Call :meth:`update` once per
    frame, in stamp order, with that frame's people (also when nobody is seen).
    """

    def __init__(self, params: TrackerParams, num_parts: int):
        self.params = params.validate()
        self.num_parts = int(num_parts)
        self.tracks: list[_Track] = []
        self.last_stamp: float | None = None
        self.next_id = 1
        self.resets = 0

    def configure(self, params: TrackerParams) -> None:
        """New parameters (live change); the tracks are kept unless tracking is off."""
        self.params = params.validate()
        if not params.tracking_enabled:
            self.tracks = []

    def reset(self) -> None:
        """Forget every track (ids are not reused: numbering goes on)."""
        self.tracks = []
        self.last_stamp = None

    def _dense(self, people: Sequence[Person]) -> np.ndarray:
        out = np.full((len(people), self.num_parts, 2), np.nan)
        for i, person in enumerate(people):
            parts = person.part_ids
            keep = parts < self.num_parts
            out[i, parts[keep]] = person.xy[keep]
        return out

    def update(self, people: Sequence[Person], stamp: float) -> Tracked:
        """Associate this frame's ``people`` (stamp in seconds) with the tracks."""
        people = list(people)
        p = self.params
        if not p.tracking_enabled:
            return Tracked(people, people)
        if self.last_stamp is not None and stamp < self.last_stamp:
            self.reset()
            self.resets += 1
        self.last_stamp = stamp
        dets = self._dense(people)
        tracks = self.tracks
        matches: list[tuple[int, int]] = []
        if tracks and people:
            score = self._similarity(dets, stamp)
            # Confirmed tracks first among equals: a tentative one (maybe a false
            # detection) must not take a known person's detection on a tie.
            bonus = np.array([1e-3 if t.id else 0.0 for t in tracks])[:, None]
            rows, cols = linear_sum_assignment(-(score + bonus))
            matches = [(r, c) for r, c in zip(rows.tolist(), cols.tolist())
                       if score[r, c] >= p.tracking_min_similarity and score[r, c] > 0]
        owner: list[_Track | None] = [None] * len(people)  # the track of each detection
        for r, c in matches:
            track = tracks[r]
            self._observe(track, dets[c], stamp)
            if not track.id and track.hits >= p.tracking_confirm_hits:
                track.id, self.next_id = self.next_id, self.next_id + 1
            owner[c] = track
        matched = {r for r, _ in matches}
        survivors = []
        for r, track in enumerate(tracks):
            if r not in matched:
                track.misses += 1
                if not track.id or track.misses > p.tracking_max_misses:
                    continue
            survivors.append(track)
        for c, track in enumerate(owner):
            if track is None:
                track = owner[c] = _Track(dets[c].copy(), stamp)
                if p.tracking_confirm_hits <= 1:
                    track.id, self.next_id = self.next_id, self.next_id + 1
                survivors.append(track)
        self.tracks = survivors
        tracked = [dataclasses.replace(person, tracking_id=track.id)
                   for person, track in zip(people, owner)]
        if not p.smoothing_enabled:
            return Tracked(tracked, tracked)
        return Tracked(tracked, [self._smooth(track, person, det, stamp)
                                 for track, person, det in zip(owner, tracked, dets)])

    def _similarity(self, dets: np.ndarray, stamp: float) -> np.ndarray:
        """(T, D) similarity of the tracks, predicted to ``stamp``, and the detections.

        Each track is compared twice, moved by its velocity and where last seen (a
        person may have stopped), and the better counts. The moved one is trusted less
        the further it was extrapolated: the distance gets added to the OKS tolerance;
        for a track seen once (no velocity yet) the distance a person at
        :data:`UNKNOWN_SPEED` could have covered.
        """
        p, tracks = self.params, self.tracks
        xy = np.stack([t.xy for t in tracks])
        velocity = np.stack([t.velocity for t in tracks])
        dt = np.clip(stamp - np.array([t.seen for t in tracks]), 0.0, MAX_EXTRAPOLATION_S)
        speed = np.hypot(velocity[:, 0], velocity[:, 1])
        new = np.array([t.hits == 1 for t in tracks])
        if new.any():
            box = _boxes(xy[new])
            speed[new] = UNKNOWN_SPEED * np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
        moved = xy + velocity[:, None, :] * dt[:, None, None]
        both = similarity(np.concatenate([moved, xy]), dets,
                          keypoint_weight=p.tracking_keypoint_weight,
                          keypoint_sigma=p.tracking_keypoint_sigma,
                          spread=np.concatenate([speed * dt, np.zeros_like(dt)]))
        return np.maximum(both[:len(tracks)], both[len(tracks):])

    def _observe(self, track: _Track, det: np.ndarray, stamp: float) -> None:
        """Matched: measure the velocity on the shared parts, take the detection's parts,
        move the others with the velocity."""
        dt = stamp - track.seen
        found = ~np.isnan(det[:, 0])
        if dt > 0:
            shared = found & ~np.isnan(track.xy[:, 0])
            if shared.any():
                measured = (det[shared] - track.xy[shared]).mean(axis=0) / dt
                a = self.params.tracking_velocity_smoothing
                # The first measurement replaces the initial zero guess.
                track.velocity = measured if track.hits == 1 else (
                    a * track.velocity + (1.0 - a) * measured)
            track.xy = track.predict(stamp)
        track.xy[found] = det[found]
        track.seen = stamp
        track.hits += 1
        track.misses = 0

    def _smooth(self, track: _Track, person: Person, det: np.ndarray, stamp: float) -> Person:
        """One Euro filter of the detection's parts; a copy of ``person`` with them."""
        p = self.params
        dt = stamp - track.filtered_at
        found = ~np.isnan(det[:, 0])
        if dt > 0:
            fresh = found & np.isnan(track.filtered[:, 0])
            old = found & ~fresh
            speed = (det[old] - track.filtered[old]) / dt
            a_d = _alpha(DERIVATIVE_CUTOFF_HZ, dt)
            track.speed[old] = a_d * speed + (1.0 - a_d) * track.speed[old]
            cutoff = p.smoothing_min_cutoff + p.smoothing_beta * np.linalg.norm(
                track.speed[old], axis=1, keepdims=True)
            a = _alpha(cutoff, dt)
            track.filtered[old] = a * det[old] + (1.0 - a) * track.filtered[old]
            track.filtered[fresh] = det[fresh]
            track.speed[fresh] = 0.0
        else:
            track.filtered[found] = det[found]
        track.filtered_at = stamp
        keypoints = person.keypoints.copy()
        parts = person.part_ids
        inside = parts < self.num_parts
        keypoints[inside, 1:3] = track.filtered[parts[inside]]
        xy = keypoints[:, 1:3]
        bbox = (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()),
                float(xy[:, 1].max())) if len(xy) else person.bbox
        return dataclasses.replace(person, keypoints=keypoints, bbox=bbox)
