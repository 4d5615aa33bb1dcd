"""A finished scan's mosaics, streamed to OME-Zarr 0.5: raw tiles per well, processor outputs.

``mosaic[_<well>].ome.zarr``: the raw tiles, placed by stage position refined by phase
correlation (:func:`acquisition.mosaic.place`, which holds the LR tiles of one well),
then blended on disk (:mod:`acquisition.mosaic_stream`) with the scan's provenance.
``mosaic_processed[_<well>].ome.zarr``: an in-process processor's outputs, streamed as
they arrive (:class:`ProcessedMosaics`). On-the-fly SR in a worker process writes its
own ``sr_mosaic.ome.zarr`` (:mod:`acquisition.sr_worker`). ``ome_tiff``: each mosaic
is also exported as a pyramidal ``.ome.tif``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from acquisition.models import FrameMeta
from acquisition.mosaic import mosaic_origin_um, place, stage_offsets_px, top_left_px
from acquisition.mosaic_stream import StreamedMosaic, canvas_of, export_ome_tiff, write_mosaic
from acquisition.processor import FrameProcessor
from acquisition.processor_relay import ProcessorRelay
from acquisition.scan_journal import Journal, ScanState, TileKey, read_tile
from srscope import logger


def mosaic_name(well: str, kind: str = "mosaic", suffix: str = ".ome.zarr") -> str:
    """``mosaic.ome.zarr``, ``mosaic_A1.ome.zarr``, ``mosaic_processed_B2.ome.zarr``..."""
    return f"{kind}_{well}{suffix}" if well else f"{kind}{suffix}"


def scan_provenance(state: ScanState, kind: str, tiles: int, **more: Any) -> dict[str, Any]:
    """What a scan mosaic records beside its OME metadata (``scan.json`` has the rest)."""
    return {
        "kind": kind,
        "objective": state.objective,
        "lr_pixel_size_um": state.pixel_size_um,
        "channels": list(state.channels),
        "exposure_ms": state.plan.exposure_ms,
        "z_um": state.plan.z_um,
        "tiles": tiles,
        "scan": "scan.json",
        **more,
    }


def write_mosaics(
    out: Path, state: ScanState, journal: Journal, ome_tiff: bool = False
) -> dict[str, str]:
    """Stitch the captured tiles (all channels) into ``mosaic[_<well>].ome.zarr``."""
    latest = journal.latest()
    n_ch = len(state.channels)
    px = state.pixel_size_um
    written: dict[str, str] = {}

    def read(i: int) -> np.ndarray:
        return np.stack([read_tile(out, latest[(i, c)]) for c in range(n_ch)])

    for well, idx in state.groups().items():
        pos = [(latest[(i, 0)].x, latest[(i, 0)].y) for i in idx]
        tiles = [read(i) for i in idx]  # LR tiles: refinement compares their overlaps
        placement = place(tiles, pos, px)
        dtype, tile_shape = tiles[0].dtype, tiles[0].shape[-2:]
        del tiles
        fname = mosaic_name(well)
        prov = scan_provenance(
            state, "mosaic", len(idx), placement="stage, refined by phase correlation",
            pair_links=placement.links,
        )  # fmt: skip
        write_mosaic(
            out / fname, lambda k, idx=idx: read(idx[k]), placement.offsets_px, tile_shape,
            n_channels=n_ch, dtype=dtype, pixel_size_um=px, channels=state.channels,
            origin_um=mosaic_origin_um(pos, tile_shape, px), name=fname, provenance=prov,
            overwrite=True,
        )  # fmt: skip
        written[well or "all"] = fname
        if ome_tiff:
            export_ome_tiff(out / fname, out / mosaic_name(well, suffix=".ome.tif"))
    return written


class ProcessedMosaics:
    """A processor's outputs (e.g. SR tiles) streamed into ``mosaic_processed*.ome.zarr``.

    Tiles are placed by stage position at the outputs' own pixel size (the first
    output of a well fixes it); each arrives once per (tile, channel), in any order.
    Call :meth:`add` from one thread at a time.
    """

    def __init__(self, out: Path, state: ScanState, ome_tiff: bool = False) -> None:
        self.out, self.state, self.ome_tiff = out, state, ome_tiff
        self.groups = state.groups()
        self.well_of = {i: w for w, idx in self.groups.items() for i in idx}
        self.mosaics: dict[str, StreamedMosaic] = {}
        self.tops: dict[str, np.ndarray] = {}
        self.missing = {(i, c) for i in self.well_of for c in range(len(state.channels))}

    def add(self, key: TileKey, result: np.ndarray) -> None:
        """Blend one output (tile ``key[0]``, channel ``key[1]``) into its well's mosaic."""
        i, c = int(key[0]), int(key[1])
        well = self.well_of[i]
        if well not in self.mosaics:
            self._open(well, np.asarray(result))
        idx = self.groups[well]
        top = self.tops[well][idx.index(i)]
        self.mosaics[well].add(result, (int(top[0]), int(top[1])), channel=c)
        self.missing.discard((i, c))

    def _open(self, well: str, first: np.ndarray) -> None:
        state = self.state
        shape = (int(first.shape[-2]), int(first.shape[-1]))
        px = state.pixel_size_um * state.tile_shape[1] / shape[1]
        pos = [(state.positions[i].x, state.positions[i].y) for i in self.groups[well]]
        tops = top_left_px(stage_offsets_px(pos, shape, px))
        self.tops[well] = tops
        fname = mosaic_name(well, "mosaic_processed")
        self.mosaics[well] = StreamedMosaic(
            self.out / fname, canvas_of(tops, shape), shape,
            n_channels=len(state.channels), dtype=first.dtype, pixel_size_um=px,
            channels=state.channels, origin_um=mosaic_origin_um(pos, shape, px), name=fname,
            provenance=scan_provenance(state, "processed mosaic", len(pos), placement="stage"),
            overwrite=True,
        )  # fmt: skip

    def finish(self) -> dict[str, str]:
        """Write the mosaics (none when an output is missing); ``{well or 'all': file}``."""
        if self.missing:
            if self.mosaics:
                logger.warning("processor output missing for some tiles; no processed mosaic")
            self.abort()
            return {}
        written: dict[str, str] = {}
        for well, mosaic in self.mosaics.items():
            mosaic.finish()
            written[well or "all"] = mosaic.out.name
            if self.ome_tiff:
                tif = mosaic_name(well, "mosaic_processed", ".ome.tif")
                export_ome_tiff(mosaic.out, self.out / tif)
        self.mosaics.clear()
        return written

    def abort(self) -> None:
        for mosaic in self.mosaics.values():
            mosaic.abort()
        self.mosaics.clear()


def process_stored(
    out: Path,
    state: ScanState,
    journal: Journal,
    processor: FrameProcessor,
    mosaics: ProcessedMosaics | None = None,
) -> None:
    """Feed every stored tile, in scan order, to ``processor``, then finish it.

    A resumed scan's processor (e.g. SR) saw only the tiles of the last run; its
    outputs (the SR store and mosaic) must cover all of them, in the same order as
    an uninterrupted scan's. Outputs it returns go to ``mosaics`` as they come.
    """
    latest = journal.latest()
    n_ch = len(state.channels)
    relay = ProcessorRelay(processor, "all").start()
    if mosaics is not None:
        relay.processed.connect(lambda res, meta: mosaics.add(meta.extra["tile"], res))
    logger.info("processing the %d stored tiles of %s", len(latest), out)
    for i in range(len(state.positions)):
        for c in range(n_ch):
            entry = latest[(i, c)]
            meta = FrameMeta(
                pixel_size_um=state.pixel_size_um,
                position_um=(entry.x, entry.y, 0.0),
                objective=state.objective,
                channel=state.channels[c],
                exposure_ms=state.plan.exposure_ms,
                index=i * n_ch + c,
                extra={"tile": (i, c)},
            )
            relay.submit(read_tile(out, entry), meta)
    relay.stop(drain=True)
