"""The USAF 1951 resolution target, drawn from its published geometry (MIL-STD-150A).

Element ``e`` of group ``g`` has ``2**(g + (e-1)/6)`` line pairs per mm; each
element is two sets of three bars (one set of vertical bars, one of
horizontal bars), each bar ``w = 1/(2·lp/mm)`` mm wide and ``5·w`` long,
separated by gaps of ``w``. That is the part that matters for resolution and
it is exact here. The placement of the elements is a compact grid (groups in
columns, elements 1–6 down each column, vertical set left of the horizontal
set), not the spiral arrangement of the chrome original; :func:`usaf1951_layout`
gives every bar's rectangle so line profiles can be taken anywhere.

Pixels integrate the pattern exactly (area coverage of each pixel), so the
drawing has no aliasing beyond what the pixel grid itself implies. Bright bars
on a dark background (a negative target, as in fluorescence/transmission
with a negative chrome target) unless ``foreground``/``background`` say
otherwise.

Shared by the simulated rig, which loads it lazily as the built-in specimen
``"usaf1951"``, and by the evaluation (:mod:`training.evaluation.usaf`), which
locates the drawing in an image; neither part needs the other for it.
Groups 6–10 (the default) cover 64–1825 lp/mm (bar widths 7.8–0.27 µm): the
5x/0.15 LR objective (≈1.8 µm resolution, 1.3 µm pixels) resolves about
group 8 and the 20x/0.45 HR objective (≈0.6 µm, 0.325 µm pixels, cutoff
2·NA/λ ≈ 1730 lp/mm at 520 nm) about group 10, so neither is limited by the
target itself. Draw at ≤ 0.1 µm/px to render group 10 faithfully.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

DEFAULT_GROUPS = range(6, 11)


def line_pairs_per_mm(group: int, element: int) -> float:
    """Spatial frequency of an element: ``2**(group + (element - 1)/6)`` lp/mm."""
    if not 1 <= element <= 6:
        raise ValueError(f"USAF element must be 1..6, got {element}")
    return float(2.0 ** (group + (element - 1) / 6.0))


def bar_width_um(group: int, element: int) -> float:
    """Width of one bar (half a line pair) in µm."""
    return 1000.0 / (2.0 * line_pairs_per_mm(group, element))


@dataclass(frozen=True)
class BarSet:
    """Three bars of one element and orientation; rectangles in µm ``(x0, y0, x1, y1)``.

    ``orientation`` is the bars' long axis: ``"vertical"`` bars are resolved by a
    profile along x, ``"horizontal"`` bars by a profile along y.
    """

    group: int
    element: int
    orientation: Literal["vertical", "horizontal"]
    bars: tuple[tuple[float, float, float, float], ...]

    @property
    def lp_per_mm(self) -> float:
        return line_pairs_per_mm(self.group, self.element)

    @property
    def width_um(self) -> float:
        return bar_width_um(self.group, self.element)

    @property
    def period_um(self) -> float:
        return 2.0 * self.width_um

    @property
    def bbox_um(self) -> tuple[float, float, float, float]:
        xs0, ys0, xs1, ys1 = zip(*self.bars, strict=True)
        return min(xs0), min(ys0), max(xs1), max(ys1)

    @property
    def label(self) -> str:
        return f"G{self.group}E{self.element}{self.orientation[0].upper()}"


def usaf1951_layout(
    groups: Iterable[int] = DEFAULT_GROUPS,
) -> tuple[list[BarSet], tuple[float, float]]:
    """All bar sets of ``groups`` in µm, and the target's size ``(width_um, height_um)``.

    Coarse groups are left; each group column is 14 widths of its element 1 wide;
    elements are 2 of their widths apart; a margin of 2 widths of the coarsest
    element surrounds everything (groups 6–10: about 245 × 280 µm, inside one
    20x field of the simulated rig).
    """
    groups = sorted({int(g) for g in groups})
    if not groups:
        raise ValueError("no USAF groups given")
    margin = 2 * bar_width_um(groups[0], 1)
    sets: list[BarSet] = []
    x = margin
    height = 0.0
    for g in groups:
        w1 = bar_width_um(g, 1)
        y = margin
        for e in range(1, 7):
            w = bar_width_um(g, e)
            length = 5 * w
            vbars = tuple((x + 2 * i * w, y, x + (2 * i + 1) * w, y + length) for i in range(3))
            hx = x + 7 * w
            hbars = tuple((hx, y + 2 * i * w, hx + length, y + (2 * i + 1) * w) for i in range(3))
            sets.append(BarSet(g, e, "vertical", vbars))
            sets.append(BarSet(g, e, "horizontal", hbars))
            y += length + 2 * w
        height = max(height, y)
        x += 14 * w1
    return sets, (x + margin, height + margin)


def _coverage(edges0: np.ndarray, edges1: np.ndarray, a: float, b: float) -> np.ndarray:
    """Fraction of each pixel interval ``[edges0, edges1)`` covered by ``[a, b)``."""
    return np.clip(np.minimum(edges1, b) - np.maximum(edges0, a), 0, None) / (edges1 - edges0)


def usaf1951_target(
    pixel_size_um: float,
    groups: Iterable[int] = DEFAULT_GROUPS,
    *,
    foreground: float = 1.0,
    background: float = 0.0,
) -> np.ndarray:
    """Draw the target at ``pixel_size_um`` µm/px (float32, ``(Y, X)``, area-integrated).

    Pixel ``(i, j)`` covers ``[j·p, (j+1)·p) × [i·p, (i+1)·p)`` µm of the layout of
    :func:`usaf1951_layout`, so bar positions in pixels are µm / ``pixel_size_um``.
    """
    if not pixel_size_um > 0:
        raise ValueError(f"pixel_size_um must be > 0, got {pixel_size_um}")
    sets, (width, height) = usaf1951_layout(groups)
    nx, ny = int(np.ceil(width / pixel_size_um)), int(np.ceil(height / pixel_size_um))
    img = np.zeros((ny, nx), dtype=np.float32)
    ex = np.arange(nx + 1) * pixel_size_um
    ey = np.arange(ny + 1) * pixel_size_um
    for bs in sets:
        for x0, y0, x1, y1 in bs.bars:
            j0, j1 = int(x0 // pixel_size_um), min(nx, int(np.ceil(x1 / pixel_size_um)))
            i0, i1 = int(y0 // pixel_size_um), min(ny, int(np.ceil(y1 / pixel_size_um)))
            cx = _coverage(ex[j0:j1], ex[j0 + 1 : j1 + 1], x0, x1)
            cy = _coverage(ey[i0:i1], ey[i0 + 1 : i1 + 1], y0, y1)
            img[i0:i1, j0:j1] += np.outer(cy, cx).astype(np.float32)
    np.clip(img, 0, 1, out=img)
    return (background + (foreground - background) * img).astype(np.float32)
