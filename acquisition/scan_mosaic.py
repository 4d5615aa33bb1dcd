"""A finished scan's mosaics: raw tiles stitched per well, and processor outputs (SR) too."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acquisition.models import FrameMeta
from acquisition.mosaic import mosaic_origin_um, stitch
from acquisition.ome_io import write_ome_tiff
from acquisition.processor import FrameProcessor
from acquisition.processor_relay import ProcessorRelay
from acquisition.scan_journal import Journal, ScanState, TileKey, read_tile
from srscope import logger


def write_mosaics(out: Path, state: ScanState, journal: Journal) -> dict[str, str]:
    """Stitch the captured tiles (all channels) into ``mosaic[_<well>].ome.tif``."""
    latest = journal.latest()
    n_ch = len(state.channels)
    px = state.pixel_size_um
    written: dict[str, str] = {}
    for well, idx in state.groups().items():
        tiles, pos = [], []
        for i in idx:
            planes = [read_tile(out, latest[(i, c)]) for c in range(n_ch)]
            tiles.append(np.stack(planes) if n_ch > 1 else planes[0])
            e = latest[(i, 0)]
            pos.append((e.x, e.y))
        mosaic = stitch(tiles, pos, px)
        dtype = tiles[0].dtype
        if np.issubdtype(dtype, np.integer):
            mosaic = np.clip(np.rint(mosaic), 0, np.iinfo(dtype).max).astype(dtype)
        fname = f"mosaic_{well}.ome.tif" if well else "mosaic.ome.tif"
        write_ome_tiff(
            out / fname,
            mosaic,
            _mosaic_meta(state, pos, tiles[0].shape[-2:], mosaic.shape[-2:], px),
            channel_names=state.channels,
            name=fname,
        )
        written[well or "all"] = fname
    return written


def _mosaic_meta(
    state: ScanState,
    positions: list[tuple[float, float]],
    tile_shape: tuple[int, ...],
    mosaic_shape: tuple[int, ...],
    px: float,
) -> FrameMeta:
    """Metadata of a mosaic: the stage position of its centre, like a frame's."""
    x0, y0 = mosaic_origin_um(positions, (int(tile_shape[0]), int(tile_shape[1])), px)
    h, w = int(mosaic_shape[0]), int(mosaic_shape[1])
    return FrameMeta(
        pixel_size_um=px,
        position_um=(x0 + (w - 1) / 2 * px, y0 + (h - 1) / 2 * px, state.plan.z_um or 0.0),
        objective=state.objective,
        channel=",".join(state.channels),
        exposure_ms=state.plan.exposure_ms,
        extra={"kind": "mosaic", "tiles": len(positions)},
    )


def write_processed_mosaics(
    out: Path, state: ScanState, processed: dict[TileKey, np.ndarray]
) -> dict[str, str]:
    """Stitch processor outputs (e.g. SR tiles) at their own pixel size."""
    w = state.tile_shape[1]
    n_ch = len(state.channels)
    written: dict[str, str] = {}
    for well, idx in state.groups().items():
        if not all((i, c) in processed for i in idx for c in range(n_ch)):
            logger.warning("processor output missing for some tiles; no processed mosaic")
            return written
        first = processed[(idx[0], 0)]
        px = state.pixel_size_um * w / first.shape[-1]
        tiles = [
            np.stack([processed[(i, c)] for c in range(n_ch)]) if n_ch > 1 else processed[(i, 0)]
            for i in idx
        ]
        pos = [(state.positions[i].x, state.positions[i].y) for i in idx]
        mosaic = stitch(tiles, pos, px)
        fname = f"mosaic_processed_{well}.ome.tif" if well else "mosaic_processed.ome.tif"
        write_ome_tiff(
            out / fname, mosaic, pixel_size_um=px, channel_names=state.channels, name=fname
        )
        written[well or "all"] = fname
    return written


def process_stored(
    out: Path, state: ScanState, journal: Journal, processor: FrameProcessor
) -> dict[TileKey, np.ndarray]:
    """Feed every stored tile, in scan order, to ``processor``, then finish it.

    A resumed scan's processor (e.g. SR) saw only the tiles of the last run; its
    outputs (the SR store and mosaic) must cover all of them, in the same order as
    an uninterrupted scan's.
    """
    latest = journal.latest()
    n_ch = len(state.channels)
    relay = ProcessorRelay(processor, "all").start()
    results: dict[TileKey, np.ndarray] = {}
    relay.processed.connect(lambda res, meta: results.__setitem__(meta.extra["tile"], res))
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
    return results
