"""Camera frames of a virtual slide: the mirror-tiled specimens' physics, region by region.

A mirror-tiled specimen is blurred whole, once (:func:`acquisition.sim.imaging.make_level`);
a virtual slide of a square centimetre at 0.23 µm/px (~2 Gpx) cannot be. Here the
same image formation — Airy OTF × defocus × the camera pixel's box transfer, on a
grid of ``k`` samples per camera pixel (:func:`samples_per_pixel`), camera pixels
taken every ``k``-th sample with linear interpolation between samples — is applied
to *tiles* of a global fine grid anchored at the slide centre. A tile is composed
with a margin for the PSF (:meth:`VirtualSlide.compose`), blurred by FFT and kept
in a byte-bounded LRU, so a camera at rest or panning reuses what it has seen and
memory stays bounded whatever the slide size.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from threading import Lock

import numpy as np
from scipy import fft as sfft

from acquisition.sim.imaging import samples_per_pixel
from acquisition.sim.optics import (
    CameraModel,
    ChannelOptics,
    ObjectiveOptics,
    pixel_box_transfer,
)
from acquisition.sim.virtual_slide import VirtualSlide
from srscope.optics import airy_otf, defocus_otf

TILE = 512  # fine samples per tile side
MAX_BLOCK_TILES = 4  # tiles per side blurred in one FFT (bounds the transient memory)
CACHE_BYTES = 192 * 2**20

_TILES: OrderedDict[tuple, tuple[VirtualSlide, np.ndarray]] = OrderedDict()
_TILE_BYTES = 0
_LOCK = Lock()


def psf_margin_um(objective: ObjectiveOptics, channel: ChannelOptics, defocus_um: float) -> float:
    """Reach of the PSF and pixel box around a point (µm): what a tile's edge needs beyond it."""
    wl = channel.wavelength_nm / 1000.0
    blur = abs(defocus_um) * objective.na / math.sqrt(max(1e-6, 1.0 - min(objective.na, 0.99) ** 2))
    return 6.0 * wl / objective.na + blur


def render_slide(
    slide: VirtualSlide,
    objective: ObjectiveOptics,
    channel: ChannelOptics,
    defocus_um: float,
    camera: CameraModel,
    y_um: float,
    x_um: float,
    h: int,
    w: int,
    scale: float = 1.0,
) -> np.ndarray:
    """Camera pixels (times ``scale``) whose first pixel centre is at slide (y_um, x_um)."""
    pixel_um = camera.pixel_pitch_um / objective.magnification
    k = samples_per_pixel(objective, channel, pixel_um)
    step = pixel_um / k
    key = (id(slide), objective, channel, round(defocus_um, 3), round(pixel_um, 9), k)
    terms = [(iy, ix, wy * wx) for iy, wy in _split(y_um / step) for ix, wx in _split(x_um / step)]
    iy0, ix0 = min(t[0] for t in terms), min(t[1] for t in terms)
    ny = max(t[0] for t in terms) - iy0 + k * (h - 1) + 1
    nx = max(t[1] for t in terms) - ix0 + k * (w - 1) + 1
    optics = (objective, channel, defocus_um, pixel_um, step)
    block = _fine_block(slide, optics, key, iy0, ix0, ny, nx)
    out = np.zeros((h, w), dtype=np.float32)
    for iy, ix, wgt in terms:
        oy, ox = iy - iy0, ix - ix0
        src = block[oy : oy + k * (h - 1) + 1 : k, ox : ox + k * (w - 1) + 1 : k]
        out += np.float32(wgt * scale) * src
    return out


def _split(v: float, tol: float = 0.02) -> list[tuple[int, float]]:
    """Fine-grid index (or two, with linear weights) for a fractional position."""
    base = math.floor(v + tol)
    frac = v - base
    if frac <= tol:
        return [(base, 1.0)]
    if frac >= 1 - tol:
        return [(base + 1, 1.0)]
    return [(base, 1.0 - frac), (base + 1, frac)]


def _fine_block(
    slide: VirtualSlide,
    optics: tuple[ObjectiveOptics, ChannelOptics, float, float, float],
    key: tuple,
    iy0: int,
    ix0: int,
    ny: int,
    nx: int,
) -> np.ndarray:
    """Fine samples ``[iy0, iy0 + ny) × [ix0, ix0 + nx)`` of the blurred slide, from tiles."""
    ty = range(iy0 // TILE, (iy0 + ny - 1) // TILE + 1)
    tx = range(ix0 // TILE, (ix0 + nx - 1) // TILE + 1)
    tiles = {(a, b): _get((*key, a, b)) for a in ty for b in tx}
    missing = [t for t, v in tiles.items() if v is None]
    if missing:
        rows = sorted({a for a, _ in missing})
        cols = sorted({b for _, b in missing})
        for a0 in range(rows[0], rows[-1] + 1, MAX_BLOCK_TILES):
            for b0 in range(cols[0], cols[-1] + 1, MAX_BLOCK_TILES):
                inside = [
                    (a, b)
                    for a, b in missing
                    if a0 <= a < a0 + MAX_BLOCK_TILES and b0 <= b < b0 + MAX_BLOCK_TILES
                ]
                if not inside:
                    continue
                a_lo, a_hi = min(a for a, _ in inside), max(a for a, _ in inside) + 1
                b_lo, b_hi = min(b for _, b in inside), max(b for _, b in inside) + 1
                made = _blur_tiles(slide, optics, a_lo, a_hi, b_lo, b_hi)
                for (a, b), tile in made.items():
                    _put((*key, a, b), tile, slide)
                    if (a, b) in tiles:
                        tiles[(a, b)] = tile
    block = np.empty((ny, nx), dtype=np.float32)
    for (a, b), tile in tiles.items():
        y_lo, y_hi = max(iy0, a * TILE), min(iy0 + ny, (a + 1) * TILE)
        x_lo, x_hi = max(ix0, b * TILE), min(ix0 + nx, (b + 1) * TILE)
        block[y_lo - iy0 : y_hi - iy0, x_lo - ix0 : x_hi - ix0] = tile[
            y_lo - a * TILE : y_hi - a * TILE, x_lo - b * TILE : x_hi - b * TILE
        ]
    return block


def _blur_tiles(
    slide: VirtualSlide,
    optics: tuple[ObjectiveOptics, ChannelOptics, float, float, float],
    a0: int,
    a1: int,
    b0: int,
    b1: int,
) -> dict[tuple[int, int], np.ndarray]:
    """Compose tiles [a0, a1) × [b0, b1) plus the PSF margin, blur by FFT, cut into tiles."""
    objective, channel, defocus_um, pixel_um, step = optics
    m = math.ceil(psf_margin_um(objective, channel, defocus_um) / step) + 2
    core_y, core_x = (a1 - a0) * TILE, (b1 - b0) * TILE
    ny, nx = (
        sfft.next_fast_len(core_y + 2 * m, real=True),
        sfft.next_fast_len(core_x + 2 * m, real=True),
    )
    my, mx = (ny - core_y) // 2, (nx - core_x) // 2
    grid = slide.compose(channel, (a0 * TILE - my) * step, (b0 * TILE - mx) * step, ny, nx, step)
    spec = sfft.rfft2(grid, workers=-1)
    del grid
    fy = sfft.fftfreq(ny, step).astype(np.float32)[:, None]
    fx = sfft.rfftfreq(nx, step).astype(np.float32)[None, :]
    fr = np.sqrt(fy**2 + fx**2)
    wl_um = channel.wavelength_nm / 1000.0
    transfer = airy_otf(fr, objective.na, wl_um) * defocus_otf(fr, objective.na, defocus_um)
    transfer *= pixel_box_transfer(fy, pixel_um) * pixel_box_transfer(fx, pixel_um)
    spec *= transfer
    img = sfft.irfft2(spec, s=(ny, nx), workers=-1).astype(np.float32, copy=False)
    np.clip(img, 0.0, None, out=img)
    out = {}
    for a in range(a0, a1):
        for b in range(b0, b1):
            y, x = my + (a - a0) * TILE, mx + (b - b0) * TILE
            out[(a, b)] = np.ascontiguousarray(img[y : y + TILE, x : x + TILE])
    return out


def _get(key: tuple) -> np.ndarray | None:
    with _LOCK:
        entry = _TILES.get(key)
        if entry is None:
            return None
        _TILES.move_to_end(key)
        return entry[1]


def _put(key: tuple, tile: np.ndarray, slide: VirtualSlide) -> None:
    """Keep a tile (and its slide alive, so ``id(slide)`` in the key is not reused)."""
    global _TILE_BYTES
    with _LOCK:
        if key in _TILES:
            return
        _TILES[key] = (slide, tile)
        _TILE_BYTES += tile.nbytes
        while _TILE_BYTES > CACHE_BYTES and len(_TILES) > 1:
            _, (_, old) = _TILES.popitem(last=False)
            _TILE_BYTES -= old.nbytes


def clear_cache() -> None:
    """Drop every cached tile (tests measure memory from a clean start)."""
    global _TILE_BYTES
    with _LOCK:
        _TILES.clear()
        _TILE_BYTES = 0
