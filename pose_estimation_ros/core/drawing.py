"""Drawing skeletons on images (overlay topic, annotated video) and their colours.

Pure numpy + OpenCV. Colours are BGR tuples (OpenCV's order); the RViz markers use the
same palettes so that the overlay and RViz agree.
"""
from __future__ import annotations

from typing import Sequence

import colorsys

import cv2
import numpy as np

from pose_estimation_ros.core.encoder import ENCODINGS


def _palette(count: int, saturation: int, value: int) -> list[tuple[int, int, int]]:
    """``count`` evenly spaced hues (OpenCV HSV: hue in [0, 180))."""
    hues = (np.arange(max(count, 1)) * 180 // max(count, 1)).astype(np.uint8)
    hsv = np.stack([hues, np.full_like(hues, saturation), np.full_like(hues, value)], -1)
    bgr = cv2.cvtColor(hsv[None], cv2.COLOR_HSV2BGR)[0]
    return [tuple(int(c) for c in color) for color in bgr[:count]]


def part_colors(num_parts: int) -> list[tuple[int, int, int]]:
    """One colour per part type (joints)."""
    return _palette(num_parts, 200, 255)


def limb_colors(num_edges: int) -> list[tuple[int, int, int]]:
    """One colour per edge type (limbs), a little darker than the joints."""
    return _palette(num_edges, 255, 200)


def id_color(tracking_id: int) -> tuple[int, int, int]:
    """The colour of a tracking id (BGR): hues a golden-ratio turn apart, so that ids
    that are close in number (people seen at about the same time) differ clearly."""
    hue = (tracking_id * 0.6180339887498949) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def to_bgr8(image: np.ndarray, encoding: str) -> np.ndarray:
    """An image of any supported sensor_msgs encoding as 8-bit BGR (or grey), for
    drawing and video (a view where possible)."""
    info = ENCODINGS.get(encoding)
    if info is None:
        raise ValueError(f'unsupported image encoding "{encoding}"')
    _, channels, order = info
    if image.dtype != np.uint8:
        image = (image >> 8).astype(np.uint8)
    if order == 'rgb':
        return image[:, :, 2::-1]
    return image[:, :, :3] if channels == 4 else image


def draw_skeletons(image: np.ndarray, people: Sequence, edges: Sequence[tuple[int, int]],
                   num_parts: int, *, thickness: int = 0) -> np.ndarray:
    """A BGR copy of ``image`` with each person's limbs, joints and score drawn.

    ``people``: :class:`~pose_estimation_ros.core.openpose.Person` objects with
    coordinates in this image's pixels. ``thickness`` 0 scales with the image size.
    """
    canvas = np.ascontiguousarray(image)
    if canvas.ndim == 2:
        canvas = cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)
    else:
        canvas = canvas.copy()
    if thickness <= 0:
        thickness = max(1, round(max(canvas.shape[:2]) / 300))
    joints, limbs = part_colors(num_parts), limb_colors(len(edges))
    for person in people:
        # Pixel centres: coordinates give pixel (i, j) the centre (j + 0.5, i + 0.5).
        points = {int(p): (int(x), int(y))
                  for p, x, y in zip(person.part_ids, person.xy[:, 0], person.xy[:, 1])}
        # A tracked person in its id's colour (as the RViz markers), else per part/limb.
        tracking_id = int(getattr(person, 'tracking_id', 0))
        color = id_color(tracking_id) if tracking_id else None
        for edge in person.edge_ids:
            a, b = edges[int(edge)]
            cv2.line(canvas, points[a], points[b], color or limbs[int(edge)], thickness,
                     cv2.LINE_AA)
        for part, point in points.items():
            cv2.circle(canvas, point, thickness + 2, color or joints[part], -1, cv2.LINE_AA)
        x_min, y_min = int(person.bbox[0]), int(person.bbox[1])
        label = f'#{tracking_id} {person.score:.2f}' if tracking_id else f'{person.score:.2f}'
        cv2.putText(canvas, label, (x_min, max(12, y_min - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thickness, color or (255, 255, 255), max(1, thickness // 2),
                    cv2.LINE_AA)
    return canvas
