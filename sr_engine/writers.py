"""Pyramidal OME-TIFF export of an OME-Zarr pyramid, written tile by tile.

OME-Zarr 0.5 is srscope's output convention (:mod:`srscope.ome_zarr`); OME-TIFF stays
as an export for tools that read only TIFF.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

TIFF_TILE = 256


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
