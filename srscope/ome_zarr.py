"""srscope's one image output convention: OME-Zarr 0.5 (Zarr v3), compressed, multiscale.

Every command that writes an image (``predict``, ``scan``, ``acquire``, the demo)
writes it here so that any OME-Zarr 0.5 reader (napari, ``yaozarrs``, ngff-zarr)
opens it at every level with the same metadata:

* ``attributes["ome"] = {"version": "0.5", "multiscales": [...], "omero": {...}}``;
* axes with types and units (``micrometer`` for Y, X, Z);
* per level a ``scale`` (pixel size × 2**k) and a ``translation``: the physical
  (stage) position of the centre of the level's top-left pixel, so a mosaic sits
  where it was on the slide;
* channel names and colours (:func:`srscope.composite.channel_colors`);
* chunks compressed with Blosc-zstd (bit-shuffled: fast, and good on 16-bit data);
* levels 1.. made from level 0 by 2×2 means, one block at a time (bounded memory).

Provenance (``srscope``) sits beside ``ome`` in the group's attributes.
Reading is :mod:`sr_engine.sources` (0.4/v2 stores too).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from srscope import logger
from srscope.composite import CHANNEL_COLORS, channel_colors

NGFF_VERSION = "0.5"
MIN_LEVEL_SIDE = 256
PYRAMID_BLOCK = 1024  # level-k pixels per block side while building the pyramid
AXIS_TYPES = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}


def compressors(fast: bool = False) -> Any:
    """Blosc-zstd for outputs; Blosc-lz4 for scratch arrays written many times (``fast``)."""
    from zarr.codecs import BloscCodec

    return BloscCodec(
        cname="lz4" if fast else "zstd", clevel=1 if fast else 3, shuffle="bitshuffle"
    )


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


def colors_for(channels: Sequence[str]) -> list[str]:
    """Each channel's hex colour; one channel of no known dye is shown white (grey)."""
    colors = channel_colors(list(channels))
    if len(channels) == 1 and not any(d in channels[0].strip().lower() for d in CHANNEL_COLORS):
        return ["FFFFFF"]
    return colors


def ome_attrs(
    axes: str,
    n_levels: int,
    pixel_size_um: float,
    channels: Sequence[str],
    name: str,
    *,
    windows: Sequence[tuple[float, float]] | None = None,
    dtype: Any = np.float32,
    origin_um: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The ``ome`` attribute of an OME-Zarr 0.5 multiscale image.

    ``axes``: e.g. ``"CYX"``; ``origin_um``: stage (x, y) of the centre of level 0's
    top-left pixel (None: 0, 0). Each level's translation moves that centre by half
    its (bigger) pixel, as a 2×2 mean's pixel centre lies between its four sources.
    """
    ax = []
    for a in axes:
        entry: dict[str, Any] = {"name": a.lower(), "type": AXIS_TYPES[a]}
        if a in "ZYX":
            entry["unit"] = "micrometer"
        ax.append(entry)
    x0, y0 = origin_um or (0.0, 0.0)
    datasets = []
    for k in range(n_levels):
        px = pixel_size_um * 2**k
        scale = [1.0] * len(axes)
        scale[-1] = scale[-2] = px
        shift = (px - pixel_size_um) / 2
        trans = [0.0] * len(axes)
        trans[-2], trans[-1] = y0 + shift, x0 + shift
        datasets.append(
            {
                "path": str(k),
                "coordinateTransformations": [
                    {"type": "scale", "scale": scale},
                    {"type": "translation", "translation": trans},
                ],
            }
        )
    colors = colors_for(channels)
    omero = {
        "channels": [
            _omero_channel(c, colors[i], windows[i] if windows else None, dtype)
            for i, c in enumerate(channels)
        ],
        "rdefs": {"model": "color" if len(channels) > 1 else "greyscale"},
    }
    multiscale = {"name": name, "axes": ax, "datasets": datasets}
    return {"version": NGFF_VERSION, "multiscales": [multiscale], "omero": omero}


def _omero_channel(
    label: str, color: str, window: tuple[float, float] | None, dtype: Any
) -> dict[str, Any]:
    dt = np.dtype(dtype)
    if window is None:
        window = (0.0, float(np.iinfo(dt).max)) if dt.kind in "ui" else (0.0, 1.0)
    lo, hi = float(window[0]), float(window[1])
    lim = (float(np.iinfo(dt).min), float(np.iinfo(dt).max)) if dt.kind in "ui" else (lo, hi)
    return {
        "label": label,
        "active": True,
        "color": color,
        "window": {"start": lo, "end": hi, "min": min(lim[0], lo), "max": max(lim[1], hi)},
    }


def create_image(
    path: str | os.PathLike,
    shape: tuple[int, ...],
    dtype: Any,
    chunks: tuple[int, ...],
    axes: str,
    *,
    overwrite: bool = False,
) -> Any:
    """A new Zarr v3 group at ``path`` with an empty, compressed level ``0``; the group.

    ``axes`` (e.g. ``"CYX"``) name the array's dimensions, as OME-Zarr 0.5 asks.
    """
    import zarr

    group = zarr.open_group(str(path), mode="w" if overwrite else "w-", zarr_format=3)
    group.create_array(
        "0",
        shape=shape,
        chunks=_fit_chunks(chunks, shape),
        dtype=dtype,
        fill_value=0,
        compressors=compressors(),
        dimension_names=[a.lower() for a in axes],
    )
    return group


def open_image(path: str | os.PathLike, mode: str = "r") -> Any:
    """The Zarr group of an image this module (or an older srscope: v2) wrote."""
    import zarr

    return zarr.open_group(str(path), mode=mode)


def read_level(path: str | os.PathLike, max_side: int = 4096) -> np.ndarray:
    """The finest level of an OME-Zarr image whose Y and X fit in ``max_side`` (a
    preview of a slide without reading its level 0), one channel as ``(Y, X)``."""
    group = open_image(path)
    k = 0
    while str(k + 1) in group and max(group[str(k)].shape[-2:]) > max_side:
        k += 1
    image = np.asarray(group[str(k)])
    return image[0] if image.ndim == 3 and image.shape[0] == 1 else image


def _fit_chunks(chunks: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(max(1, min(c, s)) for c, s in zip(chunks, shape, strict=True))


def downsample2(block: np.ndarray, dtype: Any) -> np.ndarray:
    """2×2 mean of the last two axes (odd edges replicated), rounded for integer ``dtype``."""
    h, w = block.shape[-2:]
    if h % 2 or w % 2:
        pad = [(0, 0)] * (block.ndim - 2) + [(0, h % 2), (0, w % 2)]
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
    """Write levels 1.. of ``group`` from level 0, one block at a time (bounded memory)."""
    for k in range(1, len(shapes)):
        src = group[str(k - 1)]
        dst = group.create_array(
            str(k),
            shape=shapes[k],
            chunks=_fit_chunks(chunks, shapes[k]),
            dtype=src.dtype,
            fill_value=0,
            overwrite=True,
            **_v3_options(src),
        )
        by, bx = min(chunks[-2], PYRAMID_BLOCK), min(chunks[-1], PYRAMID_BLOCK)
        h, w = shapes[k][-2:]
        for idx in np.ndindex(*shapes[k][:-2]):
            for y0 in range(0, h, by):
                for x0 in range(0, w, bx):
                    y1, x1 = min(h, y0 + by), min(w, x0 + bx)
                    block = np.asarray(src[(*idx, slice(2 * y0, 2 * y1), slice(2 * x0, 2 * x1))])
                    small = downsample2(block, src.dtype)[..., : y1 - y0, : x1 - x0]
                    dst[(*idx, slice(y0, y1), slice(x0, x1))] = small
        logger.debug("pyramid level %d %s written", k, shapes[k])


def _v3_options(src: Any) -> dict[str, Any]:
    """A v3 level gets the same compression and dimension names as the one above it."""
    if src.metadata.zarr_format != 3:
        return {}
    return {"compressors": compressors(), "dimension_names": src.metadata.dimension_names}


def write_metadata(
    group: Any,
    axes: str,
    pixel_size_um: float,
    channels: Sequence[str],
    name: str,
    *,
    windows: Sequence[tuple[float, float]] | None = None,
    origin_um: tuple[float, float] | None = None,
    provenance: dict[str, Any] | None = None,
) -> None:
    """Put the ``ome`` attributes (levels counted in ``group``) and provenance on ``group``."""
    n_levels = sum(1 for _ in _levels(group))
    dtype = group["0"].dtype
    attrs: dict[str, Any] = {
        "ome": ome_attrs(
            axes,
            n_levels,
            pixel_size_um,
            channels,
            name,
            windows=windows,
            dtype=dtype,
            origin_um=origin_um,
        )
    }
    if provenance is not None:
        attrs["srscope"] = provenance
    group.attrs.update(attrs)


def _levels(group: Any):
    k = 0
    while str(k) in group:
        yield k
        k += 1


def finish_image(
    work: Path,
    out: Path,
    axes: str,
    pixel_size_um: float,
    channels: Sequence[str],
    name: str,
    *,
    chunks: tuple[int, ...],
    levels: int | None = None,
    windows: Sequence[tuple[float, float]] | None = None,
    origin_um: tuple[float, float] | None = None,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Pyramid and metadata for the image at ``work`` (level 0 written), then rename it to ``out``.

    The rename is the only step a reader can see: ``out`` is whole or absent.
    """
    group = open_image(work, "r+")
    shapes = pyramid_shapes(tuple(group["0"].shape), levels)
    build_pyramid(group, shapes, chunks)
    write_metadata(
        group, axes, pixel_size_um, channels, name,
        windows=windows, origin_um=origin_um, provenance=provenance,
    )  # fmt: skip
    if out.exists():
        if not overwrite:
            from srscope.errors import SrscopeError

            raise SrscopeError(f"output {out} already exists (use --overwrite to replace it)")
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    os.replace(work, out)
    return out


__all__ = [
    "NGFF_VERSION",
    "build_pyramid",
    "colors_for",
    "compressors",
    "create_image",
    "downsample2",
    "finish_image",
    "ome_attrs",
    "open_image",
    "pyramid_shapes",
    "read_level",
    "write_metadata",
]
