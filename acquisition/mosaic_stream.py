"""Mosaics blended on disk: memory bounded by a few tiles, whatever the slide's size.

:class:`StreamedMosaic` takes tiles with their top-left on a known canvas and adds
``tile × feather`` and ``feather`` into two chunked Zarr arrays on disk
(read-modify-write of the tile's region only). :meth:`StreamedMosaic.finish` divides
them block by block into level 0 of an OME-Zarr 0.5 image (:mod:`srscope.ome_zarr`),
builds the pyramid and renames the image into place; the accumulators are deleted.
The feather is :func:`acquisition.mosaic.feather_weights` and the top-lefts are
rounded as :func:`acquisition.mosaic.stitch` rounds them, so a streamed mosaic
equals the in-memory ``stitch`` with the same placement (to float32 rounding).

:class:`TileSpool` is for tiles whose canvas is not known until the last one (an
acquisition's SR frames): each tile is kept on disk (Blosc-lz4) with its stage
position, and streamed into a mosaic at the end.

Placement of SR tiles: by stage position (:func:`acquisition.mosaic.stage_offsets_px`),
not by phase correlation of the SR tiles, which would need every SR tile's overlaps in
memory or read twice; a scan's LR mosaic is refined (its tiles are 1/scale² the
size). On the simulated rig, and on any rig whose stage repeats to well under one LR
pixel, stage placement is what refinement would find.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.mosaic import feather_weights, mosaic_origin_um, stage_offsets_px, top_left_px
from srscope import logger
from srscope.errors import SrscopeError
from srscope.ome_zarr import compressors, create_image, finish_image

CHUNK = 1024  # mosaic pixels per chunk side (accumulators and output)


class StreamedMosaic:
    """Feather-blended mosaic of ``canvas`` pixels accumulated on disk; see the module.

    ``out``: the ``.ome.zarr`` to write; work files go to ``<out>.partial`` (a crash
    leaves only that, never ``out``). ``origin_um``: stage (x, y) of the centre of the
    canvas's top-left pixel (the OME-Zarr translation).
    """

    def __init__(
        self,
        out: str | Path,
        canvas: tuple[int, int],
        tile_shape: tuple[int, int],
        *,
        n_channels: int = 1,
        dtype: Any = np.float32,
        pixel_size_um: float,
        channels: Sequence[str] | None = None,
        origin_um: tuple[float, float] | None = None,
        name: str = "mosaic",
        provenance: dict[str, Any] | None = None,
        chunk: int = CHUNK,
        levels: int | None = None,
        overwrite: bool = False,
    ) -> None:
        import zarr

        self.out = Path(out)
        if self.out.exists() and not overwrite:
            raise SrscopeError(f"output {self.out} already exists (use --overwrite to replace it)")
        self.work = Path(str(self.out) + ".partial")
        self.canvas = (int(canvas[0]), int(canvas[1]))
        self.tile_shape = (int(tile_shape[0]), int(tile_shape[1]))
        self.n_channels = n_channels
        self.dtype = np.dtype(dtype)
        self.pixel_size_um = pixel_size_um
        self.channels = list(channels or [f"c{i}" for i in range(n_channels)])
        self.origin_um = origin_um
        self.name = name
        self.provenance = provenance
        self.chunk = chunk
        self.levels = levels
        self.overwrite = overwrite
        self.tiles_added = 0
        for stale in ("acc", "image"):  # a crashed run's; a spool beside them is kept
            shutil.rmtree(self.work / stale, ignore_errors=True)
        self.work.mkdir(parents=True, exist_ok=True)
        acc = zarr.open_group(str(self.work / "acc"), mode="w", zarr_format=3)
        shape = (n_channels, *self.canvas)
        opts = {
            "shape": shape,
            "chunks": (1, min(chunk, shape[1]), min(chunk, shape[2])),
            "dtype": np.float32,
            "fill_value": 0.0,
            "compressors": compressors(fast=True),
        }
        self._sum = acc.create_array("sum", **opts)
        self._weight = acc.create_array("weight", **opts)
        self._feather = feather_weights(*self.tile_shape)

    def add(self, tile: np.ndarray, top_left: tuple[int, int], channel: int | None = None) -> None:
        """Blend ``tile`` (``(Y, X)`` or ``(C, Y, X)``; one channel's with ``channel``) at
        integer ``top_left`` (row, col): only its region of the accumulators is touched."""
        tile = np.asarray(tile)
        if tile.shape[-2:] != self.tile_shape:
            raise SrscopeError(f"tile of shape {tile.shape} in a mosaic of {self.tile_shape} tiles")
        r, c = int(top_left[0]), int(top_left[1])
        h, w = self.tile_shape
        if r < 0 or c < 0 or r + h > self.canvas[0] or c + w > self.canvas[1]:
            raise SrscopeError(f"tile at {(r, c)} lies outside the {self.canvas} mosaic")
        cs = slice(channel, channel + 1) if channel is not None else slice(None)
        planes = tile.reshape(-1, h, w)
        region = (cs, slice(r, r + h), slice(c, c + w))
        acc = self._sum[region]
        acc += planes.astype(np.float32) * self._feather
        self._sum[region] = acc
        del acc
        wsum = self._weight[region]
        wsum += self._feather
        self._weight[region] = wsum
        self.tiles_added += 1

    def finish(self) -> Path:
        """Normalise block by block into the OME-Zarr image, pyramid, rename to ``out``."""
        image = self.work / "image"
        chunks = (1, self.chunk, self.chunk)
        group = create_image(image, (self.n_channels, *self.canvas), self.dtype, chunks, "CYX")
        level0 = group["0"]
        h, w = self.canvas
        integer = self.dtype.kind in "ui"
        info = np.iinfo(self.dtype) if integer else None
        for ch in range(self.n_channels):
            for y0 in range(0, h, self.chunk):
                for x0 in range(0, w, self.chunk):
                    region = (
                        ch,
                        slice(y0, min(h, y0 + self.chunk)),
                        slice(x0, min(w, x0 + self.chunk)),
                    )
                    wsum = self._weight[region]
                    if not wsum.any():  # no tile here (a sparse canvas): the fill value, 0
                        continue
                    acc = self._sum[region]
                    np.divide(acc, wsum, out=acc, where=wsum > 0)
                    if info is not None:
                        acc = np.clip(np.rint(acc), info.min, info.max)
                    level0[region] = acc.astype(self.dtype)
        shutil.rmtree(self.work / "acc")
        finish_image(
            image, self.out, "CYX", self.pixel_size_um, self.channels, self.name,
            chunks=chunks, levels=self.levels, origin_um=self.origin_um,
            provenance=self.provenance, overwrite=self.overwrite,
        )  # fmt: skip
        shutil.rmtree(self.work, ignore_errors=True)
        logger.debug("mosaic %s: %d tiles, %s", self.out, self.tiles_added, self.canvas)
        return self.out

    def abort(self) -> None:
        """Drop the work files (``out`` is left as it was)."""
        shutil.rmtree(self.work, ignore_errors=True)


def canvas_of(tops: np.ndarray, tile_shape: tuple[int, int]) -> tuple[int, int]:
    """The mosaic's (rows, cols) holding every tile at its integer top-left."""
    return int(tops[:, 0].max()) + tile_shape[0], int(tops[:, 1].max()) + tile_shape[1]


def write_mosaic(
    out: str | Path,
    read: Callable[[int], np.ndarray],
    offsets_px: np.ndarray,
    tile_shape: tuple[int, int],
    **options: Any,
) -> Path:
    """Stream tiles ``read(0)``, ``read(1)``... placed at ``offsets_px`` into ``out``.

    ``options``: :class:`StreamedMosaic`'s keywords. One tile is in memory at a time.
    """
    tops = top_left_px(offsets_px)
    mosaic = StreamedMosaic(out, canvas_of(tops, tile_shape), tile_shape, **options)
    try:
        for i, top in enumerate(tops):
            mosaic.add(read(i), (int(top[0]), int(top[1])))
        return mosaic.finish()
    except BaseException:
        mosaic.abort()
        raise


class TileSpool:
    """Tiles with stage positions kept on disk until the mosaic's canvas is known.

    Made for an acquisition's SR frames, whose positions arrive one frame at a time;
    frames of different channels at one position become that tile's channels. Lives
    in ``<out>.partial/spool``; :meth:`write` streams the tiles into ``out``.
    """

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.work = Path(str(self.out) + ".partial")
        self.positions: list[tuple[float, float]] = []
        self.channel_of: list[int] = []
        self.channels: list[str] = []
        self._group: Any = None

    def add(
        self, tile: np.ndarray, position_um: tuple[float, float], channel: str | None = None
    ) -> None:
        """Keep 2-D ``tile`` (its centre at stage ``position_um``) until :meth:`write`."""
        import zarr

        if self._group is None:
            shutil.rmtree(self.work, ignore_errors=True)  # an interrupted run's: redone
            self.work.mkdir(parents=True)
            self._group = zarr.open_group(str(self.work / "spool"), mode="w", zarr_format=3)
        tile = np.asarray(tile)
        if tile.ndim != 2:
            raise SrscopeError(f"spooled mosaic tiles are 2-D, got {tile.shape}")
        name = channel or ""
        if name not in self.channels:
            self.channels.append(name)
        self._group.create_array(
            str(len(self.positions)), data=tile, chunks=tile.shape,
            compressors=compressors(fast=True),
        )  # fmt: skip
        self.positions.append((float(position_um[0]), float(position_um[1])))
        self.channel_of.append(self.channels.index(name))

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def is_tiling(self) -> bool:
        """Each (position, channel) once: a tile scan. A Z-stack or time series at a
        position is not a mosaic (blending its frames would average them)."""
        pairs = set(zip(self.positions, self.channel_of, strict=True))
        return bool(self.positions) and len(pairs) == len(self.positions)

    def write(self, pixel_size_um: float, **options: Any) -> Path:
        """Blend the spooled tiles at their stage positions into ``out``, then drop the spool.

        ``options``: :class:`StreamedMosaic`'s keywords (channel names default to the
        frames' own).
        """
        if not self.positions:
            raise SrscopeError("no tiles to stitch")
        group = self._group
        first = group["0"]
        tile_shape = (int(first.shape[0]), int(first.shape[1]))
        tops = top_left_px(stage_offsets_px(self.positions, tile_shape, pixel_size_um))
        options.setdefault("origin_um", mosaic_origin_um(self.positions, tile_shape, pixel_size_um))
        options.setdefault("dtype", first.dtype)
        if all(self.channels):
            options.setdefault("channels", self.channels)
        mosaic = StreamedMosaic(
            self.out, canvas_of(tops, tile_shape), tile_shape,
            n_channels=len(self.channels), pixel_size_um=pixel_size_um, **options,
        )  # fmt: skip
        try:
            for i, (top, ch) in enumerate(zip(tops, self.channel_of, strict=True)):
                mosaic.add(np.asarray(group[str(i)]), (int(top[0]), int(top[1])), channel=ch)
            path = mosaic.finish()
        finally:
            self.discard()
        return path

    def discard(self) -> None:
        """Drop the spool (and any work files beside it)."""
        self._group = None
        shutil.rmtree(self.work, ignore_errors=True)


def export_ome_tiff(image: str | Path, tif: str | Path) -> Path:
    """The OME-Zarr image at ``image`` as one pyramidal OME-TIFF (tiles streamed), atomically.

    OME-Zarr 0.5 is the output; this is the export for tools that read only TIFF.
    """
    import json

    from sr_engine.writers import pyramid_to_ome_tiff
    from srscope.atomic import atomic_path
    from srscope.ome_zarr import open_image

    group = open_image(image)
    ome = group.attrs["ome"]
    ms = ome["multiscales"][0]
    axes = "".join(a["name"].upper() for a in ms["axes"])
    px = float(ms["datasets"][0]["coordinateTransformations"][0]["scale"][-1])
    channels = [c["label"] for c in ome.get("omero", {}).get("channels", [])]
    notes = {"srscope": json.dumps(group.attrs["srscope"])} if "srscope" in group.attrs else None
    with atomic_path(tif) as tmp:
        pyramid_to_ome_tiff(group, len(ms["datasets"]), tmp, axes, px, channels, notes)
    return Path(tif)
