"""OME-Zarr (multiscale, NGFF 0.4) and pyramidal OME-TIFF output, written block by block."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from srscope import logger

NGFF_VERSION = "0.4"
MIN_LEVEL_SIDE = 256
TIFF_TILE = 256
PYRAMID_BLOCK = 1024  # level-k pixels per block side while building the pyramid


def pyramid_shapes(shape: tuple[int, ...], levels: int | None = None) -> list[tuple[int, ...]]:
    """Level shapes halving Y and X: ``levels`` of them, or until a side is <= MIN_LEVEL_SIDE."""
    shapes = [tuple(shape)]

    def more() -> bool:
        side = min(shapes[-1][-2:])
        return side > 1 and (len(shapes) < levels if levels else side > MIN_LEVEL_SIDE)

    while more():
        *lead, h, w = shapes[-1]
        shapes.append((*lead, math.ceil(h / 2), math.ceil(w / 2)))
    return shapes


_COLORS = ["FFFFFF"], ["00FF00", "FF00FF"], ["0000FF", "00FF00", "FF0000"]


def ngff_attrs(
    axes: str,
    n_levels: int,
    pixel_size_um: float,
    channels: list[str],
    name: str,
    windows: list[tuple[float, float]] | None = None,
    dtype: Any = np.float32,
) -> dict[str, Any]:
    types = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}
    ax = []
    for a in axes:
        entry: dict[str, Any] = {"name": a.lower(), "type": types[a]}
        if a in "YX":
            entry["unit"] = "micrometer"
        ax.append(entry)
    datasets = []
    for k in range(n_levels):
        scale = [1.0] * len(axes)
        scale[-1] = scale[-2] = pixel_size_um * 2**k
        datasets.append(
            {"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": scale}]}
        )
    return {
        "multiscales": [{"version": NGFF_VERSION, "name": name, "axes": ax, "datasets": datasets}],
        "omero": {
            "version": NGFF_VERSION,
            "channels": [
                _omero_channel(i, c, len(channels), windows, dtype) for i, c in enumerate(channels)
            ],
        },
    }


def _omero_channel(
    i: int, label: str, n: int, windows: list[tuple[float, float]] | None, dtype: Any
) -> dict[str, Any]:
    colors = _COLORS[n - 1] if n <= len(_COLORS) else ["FFFFFF"] * n
    lo, hi = windows[i] if windows else (0.0, 1.0)
    dt = np.dtype(dtype)
    lim = (float(np.iinfo(dt).min), float(np.iinfo(dt).max)) if dt.kind in "ui" else (lo, hi)
    return {
        "label": label,
        "active": True,
        "color": colors[i],
        "window": {"start": lo, "end": hi, "min": min(lim[0], lo), "max": max(lim[1], hi)},
    }


def _downsample2(block: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """2×2 mean of the last two axes (odd edges replicated)."""
    h, w = block.shape[-2:]
    pad = [(0, 0)] * (block.ndim - 2) + [(0, h % 2), (0, w % 2)]
    if h % 2 or w % 2:
        block = np.pad(block, pad, mode="edge")
    out = block[..., ::2, ::2].astype(np.float32)
    out += block[..., 1::2, ::2]
    out += block[..., ::2, 1::2]
    out += block[..., 1::2, 1::2]
    out *= 0.25
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(dtype)


def build_pyramid(group: Any, shapes: list[tuple[int, ...]], chunks: tuple[int, ...]) -> None:
    """Write levels 1.. of ``group`` from level 0, one chunk-sized block at a time."""
    for k in range(1, len(shapes)):
        src = group[str(k - 1)]
        dst = group.create_array(
            str(k),
            shape=shapes[k],
            chunks=tuple(min(c, s) for c, s in zip(chunks, shapes[k], strict=True)),
            dtype=src.dtype,
            fill_value=0,
            overwrite=True,
        )
        by, bx = min(chunks[-2], PYRAMID_BLOCK), min(chunks[-1], PYRAMID_BLOCK)
        h, w = shapes[k][-2:]
        lead = shapes[k][:-2]
        for idx in np.ndindex(*lead):
            for y0 in range(0, h, by):
                for x0 in range(0, w, bx):
                    y1, x1 = min(h, y0 + by), min(w, x0 + bx)
                    block = np.asarray(src[(*idx, slice(2 * y0, 2 * y1), slice(2 * x0, 2 * x1))])
                    small = _downsample2(block, src.dtype)[..., : y1 - y0, : x1 - x0]
                    dst[(*idx, slice(y0, y1), slice(x0, x1))] = small
        logger.debug("pyramid level %d %s written", k, shapes[k])


def pyramid_to_ome_tiff(
    group: Any,
    n_levels: int,
    path: Path,
    axes: str,
    pixel_size_um: float,
    channels: list[str],
    annotations: dict[str, str] | None = None,
) -> None:
    """Convert the zarr pyramid of ``group`` into one pyramidal OME-TIFF (tiles streamed).

    ``annotations``: key-value provenance, stored as an OME ``MapAnnotation``.
    """
    import tifffile

    level0 = group["0"]
    opts = {
        "photometric": "minisblack",
        "tile": (TIFF_TILE, TIFF_TILE),
        "compression": "zlib",
        "resolutionunit": "CENTIMETER",
    }
    meta = {
        "axes": axes,
        "PhysicalSizeX": pixel_size_um,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": pixel_size_um,
        "PhysicalSizeYUnit": "µm",
        "Channel": {"Name": channels},
    }
    if annotations:
        meta["MapAnnotation"] = dict(annotations)
    with tifffile.TiffWriter(path, bigtiff=True, ome=True) as tw:
        for k in range(n_levels):
            arr = group[str(k)]
            px = pixel_size_um * 2**k
            kw: dict[str, Any] = {"resolution": (1e4 / px, 1e4 / px), **opts}
            if k == 0:
                kw.update(subifds=n_levels - 1, metadata=meta)
            else:
                kw.update(subfiletype=1, metadata=None)
            tw.write(_tiff_tiles(arr), shape=arr.shape, dtype=level0.dtype, **kw)


def _tiff_tiles(arr: Any):
    """Tiles in TIFF order (pages, then rows, then columns), read one strip at a time."""
    t = TIFF_TILE
    h, w = arr.shape[-2:]
    for idx in np.ndindex(*arr.shape[:-2]):
        for y0 in range(0, h, t):
            strip = np.asarray(arr[(*idx, slice(y0, min(h, y0 + t)), slice(None))])
            for x0 in range(0, w, t):
                tile = np.zeros((t, t), arr.dtype)
                part = strip[:, x0 : x0 + t]
                tile[: part.shape[0], : part.shape[1]] = part
                yield tile
