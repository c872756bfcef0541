"""Geometry between a source image and the network input made from it.

Pure Python + numpy (no ROS imports). Field names match msg/ImageGeometry.msg so the
nodes copy them one to one.
"""
from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np


@dataclass(frozen=True)
class ImageGeometry:
    """Maps network-input pixels to source pixels: ``x_src = (x_in - offset_x) / scale_x``.

    Coordinates are continuous pixel coordinates with the origin at the top-left corner
    of the top-left pixel (pixel ``i`` spans ``[i, i + 1)``), the convention OpenCV's
    ``resize`` uses with ``INTER_LINEAR``/``INTER_AREA``.
    """

    source_width: int
    source_height: int
    input_width: int
    input_height: int
    scale_x: float
    scale_y: float
    offset_x: float = 0.0
    offset_y: float = 0.0

    @classmethod
    def fit(cls, source_width: int, source_height: int, input_width: int,
            input_height: int, keep_aspect_ratio: bool) -> ImageGeometry:
        """Geometry of resizing a source image into the input.

        ``keep_aspect_ratio`` letterboxes: one scale for both axes, the image centred
        and the rest padded; otherwise the image is stretched to fill the input.
        Offsets are whole pixels so that the resized image lands on the pixel grid.
        """
        if min(source_width, source_height, input_width, input_height) <= 0:
            raise ValueError(
                f'image sizes must be positive, got source {source_width}x{source_height}'
                f' and input {input_width}x{input_height}')
        if not keep_aspect_ratio:
            return cls(source_width, source_height, input_width, input_height,
                       input_width / source_width, input_height / source_height)
        scale = min(input_width / source_width, input_height / source_height)
        width = min(input_width, max(1, round(source_width * scale)))
        height = min(input_height, max(1, round(source_height * scale)))
        return cls(source_width, source_height, input_width, input_height,
                   width / source_width, height / source_height,
                   float((input_width - width) // 2), float((input_height - height) // 2))

    def validate(self) -> ImageGeometry:
        """Raise ValueError unless the sizes are positive, the scales positive and finite
        and the offsets inside the input (what :meth:`fit` makes); return self."""
        sizes = (self.source_width, self.source_height, self.input_width, self.input_height)
        problem = None
        if min(sizes) <= 0:
            problem = (f'sizes must be positive, got source {self.source_width}x'
                       f'{self.source_height}, input {self.input_width}x{self.input_height}')
        elif not all(math.isfinite(v) and v > 0 for v in (self.scale_x, self.scale_y)):
            problem = f'scales must be positive, got {self.scale_x}, {self.scale_y}'
        elif not (0 <= self.offset_x < self.input_width and
                  0 <= self.offset_y < self.input_height):
            problem = (f'offsets ({self.offset_x}, {self.offset_y}) must lie inside the '
                       f'{self.input_width}x{self.input_height} input')
        if problem:
            raise ValueError(f'inconsistent image geometry: {problem}; the image encoder '
                             f'fills it (all zero: no geometry, map coordinates)')
        return self

    @property
    def resized_size(self) -> tuple[int, int]:
        """(width, height) of the source image once resized into the input."""
        return (round(self.source_width * self.scale_x),
                round(self.source_height * self.scale_y))

    def to_source(self, x, y):
        """Input-pixel coordinates -> source-pixel coordinates (scalars or arrays)."""
        return ((np.asarray(x, dtype=np.float64) - self.offset_x) / self.scale_x,
                (np.asarray(y, dtype=np.float64) - self.offset_y) / self.scale_y)

    def to_input(self, x, y):
        """Source-pixel coordinates -> input-pixel coordinates (scalars or arrays)."""
        return (np.asarray(x, dtype=np.float64) * self.scale_x + self.offset_x,
                np.asarray(y, dtype=np.float64) * self.scale_y + self.offset_y)
