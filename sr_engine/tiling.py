"""Pure tile geometry: which LR window to read, which part of its output to keep.

Like CSBDeep's tile iterators: cores partition the image; each window adds
``overlap`` (>= the model's receptive field) of context on each side, read with
reflection beyond the image border. Keeping only the core of each window's
output ("crop blending") makes the tiled result equal the untiled one: every
kept output pixel saw all of the context it depends on. All windows have the
same size, so tiles can be batched.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from srscope.errors import SrscopeError


class TilingError(SrscopeError):
    """Impossible tile geometry (e.g. a tile no larger than twice its overlap)."""


@dataclass(frozen=True)
class Span:
    """One axis of a tile: read ``[read0, read0 + size)``, keep ``[core0, core1)``."""

    read0: int
    size: int
    core0: int
    core1: int

    @property
    def crop0(self) -> int:
        """Offset of the core inside the window."""
        return self.core0 - self.read0


@dataclass(frozen=True)
class Tile:
    """A 2D tile: its position in the grid and its Y and X spans (LR pixels)."""

    index: tuple[int, int]
    y: Span
    x: Span

    def out_slices(self, scale: int) -> tuple[slice, slice]:
        """Where the kept output goes in the full HR image."""
        return (
            slice(scale * self.y.core0, scale * self.y.core1),
            slice(scale * self.x.core0, scale * self.x.core1),
        )

    def crop_slices(self, scale: int) -> tuple[slice, slice]:
        """Which part of the window's HR output to keep."""
        cy, cx = self.y.crop0, self.x.crop0
        return (
            slice(scale * cy, scale * (cy + self.y.core1 - self.y.core0)),
            slice(scale * cx, scale * (cx + self.x.core1 - self.x.core0)),
        )


def axis_spans(length: int, tile: int, overlap: int, *, aligned: bool = False) -> list[Span]:
    """Spans along one axis of ``length`` LR pixels.

    ``tile`` is the window size including ``2 * overlap`` of context. With
    ``aligned`` the cores start at multiples of ``tile - 2 * overlap`` (so output
    chunks line up, for streaming); otherwise cores are spread evenly.
    """
    if length <= 0:
        raise TilingError(f"cannot tile an empty axis (length {length})")
    if overlap < 0:
        raise TilingError(f"overlap must be >= 0, got {overlap}")
    core = tile - 2 * overlap
    if core <= 0:
        raise TilingError(
            f"tile size {tile} must be larger than twice the overlap ({overlap} px per side)"
        )
    n = math.ceil(length / core)
    if not aligned:
        core = math.ceil(length / n)
    size = min(core, length) + 2 * overlap
    spans = []
    for i in range(n):
        c0 = i * core
        c1 = min(length, c0 + core)
        # the last window is shifted back so every window has the same size
        read0 = min(c0 - overlap, c1 + overlap - size)
        spans.append(Span(read0, size, c0, c1))
    return spans


def iter_tiles(
    shape: tuple[int, int],
    tile: int | tuple[int, int],
    overlap: int,
    *,
    aligned: bool = False,
    region: tuple[int, int, int, int] | None = None,
) -> Iterator[Tile]:
    """Row-major tiles of an image of ``shape`` ``(Y, X)`` in LR pixels.

    With ``region`` ``(y0, y1, x0, x1)`` only that part is covered (viewport SR);
    windows still read their context from the whole image.
    """
    ty, tx = (tile, tile) if isinstance(tile, int) else tile
    y0, y1, x0, x1 = region if region is not None else (0, shape[0], 0, shape[1])
    if not (0 <= y0 < y1 <= shape[0] and 0 <= x0 < x1 <= shape[1]):
        raise TilingError(f"region {(y0, y1, x0, x1)} is empty or outside the image {shape}")
    ys = [_shift(s, y0) for s in axis_spans(y1 - y0, ty, overlap, aligned=aligned)]
    xs = [_shift(s, x0) for s in axis_spans(x1 - x0, tx, overlap, aligned=aligned)]
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            yield Tile((i, j), y, x)


def _shift(span: Span, by: int) -> Span:
    return Span(span.read0 + by, span.size, span.core0 + by, span.core1 + by)


def reflect_index(index: np.ndarray, length: int) -> np.ndarray:
    """Map indices outside ``[0, length)`` by reflection (``np.pad`` 'reflect' rule)."""
    if length == 1:
        return np.zeros_like(index)
    period = 2 * (length - 1)
    i = np.mod(index, period)
    return np.where(i >= length, period - i, i)


def read_window(image, y: Span, x: Span) -> np.ndarray:
    """Read ``(..., Y, X)`` window of ``image`` (array, memmap or zarr), reflected at borders.

    Only the bounding box of the needed in-image pixels is read.
    """
    h, w = image.shape[-2:]
    iy = reflect_index(np.arange(y.read0, y.read0 + y.size), h)
    ix = reflect_index(np.arange(x.read0, x.read0 + x.size), w)
    y0, y1, x0, x1 = int(iy.min()), int(iy.max()) + 1, int(ix.min()), int(ix.max()) + 1
    box = np.asarray(image[..., y0:y1, x0:x1])
    if y0 == y.read0 and y1 == y.read0 + y.size and x0 == x.read0 and x1 == x.read0 + x.size:
        return box
    return box[..., iy - y0, :][..., ix - x0]
