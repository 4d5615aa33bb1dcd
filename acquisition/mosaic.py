"""Seam-free mosaics of tiles placed by stage position, refined by phase correlation.

Works on any tiles, positions and pixel size (raw LR scans, or SR tiles at the
HR pixel size). Conventions: ``positions_um[i]`` is the stage (x, y) at the
centre of tile ``i``; stage +x runs along image columns and +y along rows (the
simulated rig's convention; other rigs may need their pixel-size affine applied
first).

Steps: place tiles from stage positions; measure the residual shift of every
overlapping pair with ``skimage.registration.phase_cross_correlation`` on the
overlap; solve all shifts together by least squares (with a weak pull towards
the stage positions, so badly matched pairs cannot drag tiles away); blend with
feathered weights (linear ramps to the tile edges), so seams do not show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from skimage.registration import phase_cross_correlation

from srscope import logger
from srscope.errors import SrscopeError


@dataclass(frozen=True)
class Placement:
    """Where each tile went: top-left (row, col) in mosaic pixels, and the pair links used."""

    offsets_px: np.ndarray  # (N, 2) float, refined
    stage_offsets_px: np.ndarray  # (N, 2) float, from stage positions only
    links: int


def stitch(
    tiles: Sequence[np.ndarray],
    positions_um: Sequence[Sequence[float]],
    pixel_size_um: float,
    *,
    refine: bool = True,
    max_shift_px: float | None = None,
    min_overlap_px: int = 16,
    return_placement: bool = False,
) -> np.ndarray | tuple[np.ndarray, Placement]:
    """Stitch ``tiles`` (each ``(Y, X)`` or ``(C, Y, X)``) into one float32 mosaic.

    Pixels no tile covers are 0. The mosaic's top-left pixel centre lies at the
    smallest tile's top-left centre; see :func:`mosaic_origin_um` for its stage position.
    """
    if not tiles:
        raise SrscopeError("no tiles to stitch")
    if len(tiles) != len(positions_um):
        raise SrscopeError(f"{len(tiles)} tiles but {len(positions_um)} positions")
    if not pixel_size_um > 0:
        raise SrscopeError(f"pixel size must be > 0 to stitch, got {pixel_size_um}")
    arrs = [np.asarray(t) for t in tiles]
    placement = place(arrs, positions_um, pixel_size_um, refine, max_shift_px, min_overlap_px)
    h, w = arrs[0].shape[-2:]
    mosaic = _blend(arrs, placement.offsets_px, arrs[0].shape[:-2], h, w)
    return (mosaic, placement) if return_placement else mosaic


def place(
    tiles: Sequence[np.ndarray],
    positions_um: Sequence[Sequence[float]],
    pixel_size_um: float,
    refine: bool = True,
    max_shift_px: float | None = None,
    min_overlap_px: int = 16,
) -> Placement:
    """Where :func:`stitch` puts each tile, without blending (a streamed mosaic blends on disk)."""
    arrs = [np.asarray(t) for t in tiles]
    shapes = {a.shape for a in arrs}
    if len(shapes) != 1:
        raise SrscopeError(f"tiles differ in shape: {sorted(shapes)}")
    h, w = arrs[0].shape[-2:]
    stage = stage_offsets_px(positions_um, (h, w), pixel_size_um)
    offsets, links = stage.copy(), 0
    if refine and len(arrs) > 1:
        limit = max_shift_px if max_shift_px is not None else 0.1 * min(h, w)
        offsets, links = _refine(arrs, stage, limit, min_overlap_px)
    offsets -= offsets.min(axis=0)
    return Placement(offsets, stage, links)


def stage_offsets_px(
    positions_um: Sequence[Sequence[float]], tile_shape: tuple[int, int], pixel_size_um: float
) -> np.ndarray:
    """Each tile's top-left (row, col) in mosaic pixels from stage positions alone, (N, 2)."""
    h, w = tile_shape
    pos = np.asarray(positions_um, dtype=np.float64)[:, :2]
    # top-left of each tile in pixels: centre (x, y) -> (row, col)
    stage = np.stack([pos[:, 1] / pixel_size_um - h / 2.0, pos[:, 0] / pixel_size_um - w / 2.0], 1)
    return stage - stage.min(axis=0)


def top_left_px(offsets_px: np.ndarray) -> np.ndarray:
    """Integer top-left of each tile, as blending uses it (rounded offsets), (N, 2)."""
    return np.round(np.asarray(offsets_px)).astype(int)


def mosaic_origin_um(
    positions_um: Sequence[Sequence[float]], tile_shape: tuple[int, int], pixel_size_um: float
) -> tuple[float, float]:
    """Stage (x, y) of the centre of the mosaic's top-left pixel (stage placement)."""
    pos = np.asarray(positions_um, dtype=np.float64)[:, :2]
    h, w = tile_shape
    x0 = (pos[:, 0] - w / 2.0 * pixel_size_um).min() + pixel_size_um / 2
    y0 = (pos[:, 1] - h / 2.0 * pixel_size_um).min() + pixel_size_um / 2
    return float(x0), float(y0)


def _plane(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float32, copy=False)
    return a.reshape(-1, *a.shape[-2:]).mean(axis=0) if a.ndim > 2 else a


def _refine(
    arrs: list[np.ndarray], stage: np.ndarray, limit: float, min_overlap: int
) -> tuple[np.ndarray, int]:
    n = len(arrs)
    h, w = arrs[0].shape[-2:]
    planes = [_plane(a) for a in arrs]
    rows: list[np.ndarray] = []
    rhs: list[np.ndarray] = []
    weights: list[float] = []
    links = 0
    for i in range(n):
        for j in range(i + 1, n):
            d = stage[j] - stage[i]  # j's top-left relative to i's
            oh, ow = h - abs(d[0]), w - abs(d[1])
            if oh < min_overlap or ow < min_overlap:
                continue
            di = np.round(d).astype(int)
            # overlap in i's and in j's coordinates
            ri = slice(max(0, di[0]), min(h, h + di[0]))
            ci = slice(max(0, di[1]), min(w, w + di[1]))
            rj = slice(max(0, -di[0]), min(h, h - di[0]))
            cj = slice(max(0, -di[1]), min(w, w - di[1]))
            a, b = planes[i][ri, ci], planes[j][rj, cj]
            if a.shape != b.shape or min(a.shape) < min_overlap or a.std() == 0 or b.std() == 0:
                continue
            shift, _, _ = phase_cross_correlation(a, b, upsample_factor=10, normalization=None)
            if np.any(np.abs(shift) > limit):
                continue
            # quality: correlation of the overlap after the shift
            q = _overlap_corr(a, b, shift)
            if q < 0.3:
                continue
            # b[r] == a[r + shift]: j's true offset from i is di + shift
            meas = di + shift
            row = np.zeros((2, 2 * n))
            row[0, 2 * j], row[0, 2 * i] = 1, -1
            row[1, 2 * j + 1], row[1, 2 * i + 1] = 1, -1
            rows.append(row)
            rhs.append(meas)
            weights.extend([q, q])
            links += 1
    if not links:
        return stage.copy(), 0
    prior = 0.01  # weak pull to the stage positions
    a_mat = np.vstack([*rows, np.eye(2 * n) * prior])
    b_vec = np.concatenate([*rhs, stage.ravel() * prior])
    wts = np.sqrt(np.concatenate([weights, np.ones(2 * n)]))
    sol, *_ = np.linalg.lstsq(a_mat * wts[:, None], b_vec * wts, rcond=None)
    refined = sol.reshape(n, 2)
    logger.debug(
        "mosaic: %d pair links, max correction %.2f px", links, np.abs(refined - stage).max()
    )
    return refined, links


def _overlap_corr(a: np.ndarray, b: np.ndarray, shift: np.ndarray) -> float:
    sy, sx = np.round(shift).astype(int)
    h, w = a.shape
    a2 = a[max(0, sy) : h + min(0, sy), max(0, sx) : w + min(0, sx)]
    b2 = b[max(0, -sy) : h + min(0, -sy), max(0, -sx) : w + min(0, -sx)]
    if a2.size < 64:
        return 0.0
    return float(np.corrcoef(a2.ravel(), b2.ravel())[0, 1])


def feather_weights(h: int, w: int) -> np.ndarray:
    """Weights falling linearly to the tile edges (never 0 inside the tile)."""
    wy = np.minimum(np.arange(h) + 1, np.arange(h)[::-1] + 1).astype(np.float32)
    wx = np.minimum(np.arange(w) + 1, np.arange(w)[::-1] + 1).astype(np.float32)
    return np.outer(wy, wx)


def _blend(arrs: list[np.ndarray], offsets: np.ndarray, lead: tuple, h: int, w: int) -> np.ndarray:
    top = top_left_px(offsets)
    out_h, out_w = int(top[:, 0].max()) + h, int(top[:, 1].max()) + w
    acc = np.zeros((*lead, out_h, out_w), dtype=np.float32)
    wsum = np.zeros((out_h, out_w), dtype=np.float32)
    weight = feather_weights(h, w)
    for a, (r, c) in zip(arrs, top, strict=True):
        acc[..., r : r + h, c : c + w] += a.astype(np.float32) * weight
        wsum[r : r + h, c : c + w] += weight
    np.divide(acc, wsum, out=acc, where=wsum > 0)
    return acc


def stitch_tiles(
    tiles: list[tuple[np.ndarray, tuple[float, float]]],
    pixel_size_um: float,
    *,
    refine: bool = True,
) -> np.ndarray:
    """Mosaic of tiles placed by stage position (µm), blended without seams.

    The acquisition part's stitcher; ``refine`` adds its phase-correlation
    refinement (worth it on LR tiles, costly on SR tiles, which are placed by
    stage position only).
    """
    images = [t for t, _ in tiles]
    positions = [p for _, p in tiles]
    mosaic = np.asarray(stitch(images, positions, pixel_size_um, refine=refine))
    dtype = images[0].dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.round(mosaic), info.min, info.max).astype(dtype)
    return mosaic


def place_tiles(
    tiles: list[tuple[np.ndarray, tuple[float, float]]], pixel_size_um: float
) -> np.ndarray:
    """Placement by stage position with linear feathering (no seams from hard edges)."""
    if not tiles:
        raise SrscopeError("no tiles to stitch")
    h, w = tiles[0][0].shape[-2:]
    xs = np.array([p[0] for _, p in tiles]) / pixel_size_um
    ys = np.array([p[1] for _, p in tiles]) / pixel_size_um
    # tile centre at its stage position; image x grows with stage x, y with stage y
    x0s = np.round(xs - xs.min()).astype(int)
    y0s = np.round(ys - ys.min()).astype(int)
    H, W = int(y0s.max()) + h, int(x0s.max()) + w
    acc = np.zeros((H, W), np.float32)
    wsum = np.zeros((H, W), np.float32)
    ramp_y = np.minimum(np.arange(h) + 1, np.arange(h)[::-1] + 1).astype(np.float32)
    ramp_x = np.minimum(np.arange(w) + 1, np.arange(w)[::-1] + 1).astype(np.float32)
    weight = np.outer(ramp_y, ramp_x)
    for (img, _), x0, y0 in zip(tiles, x0s, y0s, strict=True):
        acc[y0 : y0 + h, x0 : x0 + w] += img.astype(np.float32) * weight
        wsum[y0 : y0 + h, x0 : x0 + w] += weight
    out = acc / np.maximum(wsum, 1e-6)
    dtype = tiles[0][0].dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.round(out), info.min, info.max).astype(dtype)
    return out
