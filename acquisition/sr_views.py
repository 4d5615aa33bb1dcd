"""Views of a finished SR store: the Z maximum-intensity projection and the colour composite.

Written by the SR worker when an acquisition's SR image is closed
(:meth:`acquisition.sr_worker.SRWriter.finish`), beside ``<base>.ome.zarr``:

- ``<base>_mip.ome.zarr``: when the sequence has a Z axis, the maximum over Z of
  every SR (position, time, channel) stack; the same layout, pixel size and
  channel colours as the SR store, less the Z axis. Written into a hidden
  folder beside it and renamed into place, so it is there whole or not at all.
- ``<base>_composite.png`` (one position) or ``<base>_composite_p<name>.png``
  (several): when the sequence has two or more channels, the pseudo-colour RGB
  composite of the channels (of the MIP when there is a Z axis; of the first
  time point), each channel in its colour (:mod:`srscope.composite`).

A tile scan's multi-channel SR mosaic also gets ``<mosaic base>_composite.png``, a
preview from the finest pyramid level of at most :data:`PREVIEW_SIDE` pixels a side
(:func:`write_mosaic_composite`): a slide's full-resolution composite would not fit
in memory, nor open in a PNG viewer.

Channel colours are the ones :func:`srscope.composite.channel_colors` gives,
and :func:`with_channel_colors` puts them into the stores' ``omero`` metadata.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from srscope import logger
from srscope.composite import channel_colors, composite, to_uint8, write_png

SPATIAL = ("y", "x")
PREVIEW_SIDE = 4096  # a mosaic composite's longest side at most


def with_channel_colors(dims: Sequence[Any]) -> list[Any]:
    """``dims`` (ome-writers Dimensions) with each channel's colour set."""
    out = []
    for dim in dims:
        coords = getattr(dim, "coords", None)
        if dim.name == "c" and coords and all(hasattr(c, "color") for c in coords):
            colors = channel_colors([c.name for c in coords])
            coords = [
                type(c).model_validate({**c.model_dump(), "color": col})
                for c, col in zip(coords, colors, strict=True)
            ]
            dim = dim.model_copy(update={"coords": coords})
        out.append(dim)
    return out


def base_of(sr_path: str | Path) -> Path:
    """``run_sr.ome.zarr`` -> ``run_sr`` (same folder)."""
    path = Path(sr_path)
    name = path.name
    for suffix in (".ome.zarr", ".zarr", ".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)])
    return path.with_name(path.stem)


def mip_path(sr_path: str | Path) -> Path:
    return Path(f"{base_of(sr_path)}_mip.ome.zarr")


def composite_paths(sr_path: str | Path, positions: Sequence[str]) -> list[Path]:
    base = base_of(sr_path)
    if len(positions) <= 1:
        return [Path(f"{base}_composite.png")]
    return [Path(f"{base}_composite_p{p}.png") for p in positions]


class _Store:
    """The SR store's arrays by position, addressed by dimension name."""

    def __init__(self, path: Path, dims: Sequence[Any]) -> None:
        self.dims = list(dims)
        self.names = [d.name for d in self.dims]
        pos = next((d for d in self.dims if d.name == "p"), None)
        root = zarr.open_group(str(path), mode="r")
        if pos is None:
            self.positions = ["0"]
            self.arrays = [root["0"]]
        else:
            self.positions = [str(c.name) for c in pos.coords]
            # a position's group is named after it, or (a grid plan's) after its index and
            # grid cell ("0000_0_1"): ome-writers' sorted group names are position order
            groups = sorted(k for k in root.group_keys() if k != "OME")
            names = self.positions if all(p in groups for p in self.positions) else groups
            self.arrays = [root[f"{p}/0"] for p in names]

    def count(self, name: str) -> int:
        dim = next((d for d in self.dims if d.name == name), None)
        return 1 if dim is None else int(dim.count or 0)

    def plane(self, index: dict[str, int]) -> np.ndarray:
        """The (Y, X) plane at ``index`` (``p``, ``t``, ``c`` ...); over ``z``, its maximum."""
        arr = self.arrays[index.get("p", 0)]
        names = list(arr.metadata.dimension_names or ())
        nz = arr.shape[names.index("z")] if "z" in names else 1
        out: np.ndarray | None = None
        for z in range(nz):
            key = tuple(
                z if n == "z" else slice(None) if n in SPATIAL else index.get(n, 0) for n in names
            )
            plane = np.asarray(arr[key])
            out = plane if out is None else np.maximum(out, plane)
        assert out is not None
        return out


def _indices(dims: Sequence[Any]) -> Iterator[dict[str, int]]:
    """Every non-spatial index of ``dims`` in row-major (acquisition) order."""
    outer = [d for d in dims if d.name not in SPATIAL]
    for idx in product(*(range(int(d.count or 0)) for d in outer)):
        yield {d.name: i for d, i in zip(outer, idx, strict=True)}


def write_views(sr_path: str | Path, dims: Sequence[Any], dtype: Any) -> list[Path]:
    """The MIP (if ``dims`` has ``z``) and composite(s) (if two or more channels) of a
    closed SR store written with ``dims``; returns the paths written."""
    names = [d.name for d in dims]
    if "z" not in names and "c" not in names:
        return []
    store = _Store(Path(sr_path), dims)
    written: list[Path] = []
    if "z" in names and store.count("z") > 1:
        written.append(_write_mip(store, mip_path(sr_path), dtype))
    if store.count("c") >= 2:
        written += _write_composites(store, sr_path)
    return written


def _write_mip(store: _Store, path: Path, dtype: Any) -> Path:
    from ome_writers import AcquisitionSettings, create_stream

    dims = [d for d in store.dims if d.name != "z"]
    tmp = path.with_name(f".{os.getpid()}.tmp.{path.name}")  # the suffix picks the format
    shutil.rmtree(tmp, ignore_errors=True)
    settings = AcquisitionSettings(
        root_path=str(tmp),
        dimensions=dims,
        dtype=str(np.dtype(dtype)),
        overwrite=True,
        compression="blosc-zstd",  # ome-writers' default is none
    )
    try:
        with create_stream(settings) as stream:
            for index in _indices(dims):
                stream.append(store.plane(index))
        root = zarr.open_group(str(tmp), mode="r+")
        root.attrs["srscope"] = {"computed": True, "kind": "maximum-intensity projection over z"}
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("SR maximum-intensity projection: %s", path)
    return path


def _write_composites(store: _Store, sr_path: str | Path) -> list[Path]:
    cdim = next(d for d in store.dims if d.name == "c")
    names = [str(c.name) for c in (cdim.coords or [])] or [str(i) for i in range(cdim.count)]
    colors = channel_colors(names)
    paths = composite_paths(sr_path, store.positions)
    for p, path in enumerate(paths):
        planes = [store.plane({"p": p, "c": c}) for c in range(store.count("c"))]
        write_png(path, to_uint8(composite(planes, colors)))
    logger.info("SR colour composite: %s", ", ".join(map(str, paths)))
    return paths


def mosaic_composite_path(mosaic: str | Path) -> Path:
    """``sr_mosaic.ome.zarr`` (or ``.ome.tif``) -> ``sr_mosaic_composite.png``."""
    return Path(f"{base_of(mosaic)}_composite.png")


def write_mosaic_composite(
    mosaic: str | Path, png: str | Path, max_side: int = PREVIEW_SIDE
) -> Path | None:
    """The pseudo-colour PNG preview of a multi-channel OME-Zarr mosaic, or None (one channel).

    Read from the finest pyramid level with no side over ``max_side`` (the coarsest
    if none is that small), each channel in its ``omero`` colour.
    """
    root = zarr.open_group(str(mosaic), mode="r")
    ome = dict(root.attrs).get("ome", {})
    scales = ome["multiscales"][0]
    axes = [a["name"] for a in scales["axes"]]
    levels = [root[d["path"]] for d in scales["datasets"]]
    level = next((a for a in levels if max(a.shape[-2:]) <= max_side), levels[-1])
    if "c" not in axes or level.shape[axes.index("c")] < 2:
        return None
    n = level.shape[axes.index("c")]
    meta = (ome.get("omero") or {}).get("channels") or []
    names = [str(m.get("label", i)) for i, m in enumerate(meta)] if len(meta) == n else []
    names = names or [str(i) for i in range(n)]
    colors = [m.get("color") for m in meta] if len(meta) == n else []
    colors = colors if all(colors) else channel_colors(names)
    planes = []
    for c in range(n):
        key = tuple(c if a == "c" else slice(None) if a in SPATIAL else 0 for a in axes)
        planes.append(np.asarray(level[key]))
    path = write_png(png, to_uint8(composite(planes, colors)))
    logger.info("SR mosaic colour composite: %s", path)
    return path
