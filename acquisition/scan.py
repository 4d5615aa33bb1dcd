"""Resumable tile scans: useq grid / well-plate plans -> OME-Zarr (ome-writers) + mosaic.

A scan folder holds::

    scan.json           the plan, the tile list, pixel size and tile shape (written first)
    tiles/part000.ome.zarr, part001.ome.zarr ...
                        raw tiles, one OME-Zarr image per tile, written frame by frame
                        by ome-writers through ``core.mda.run``; each run (first or
                        resumed) writes its own part
    journal.jsonl       one line per captured tile: which part holds it, stage position
    mosaic.ome.zarr     (per well: mosaic_<well>.ome.zarr) when every tile is captured:
                        OME-Zarr 0.5, multiscale, streamed (:mod:`acquisition.scan_mosaic`)
    sr.ome.zarr, sr_mosaic.ome.zarr
                        with on-the-fly SR (the CLI's ``--model``): every SR tile, and
                        their mosaic streamed to disk by the SR worker
    *.ome.tif           with ``ome_tiff``: each mosaic exported as pyramidal OME-TIFF

Each tile's pixels reach the disk (zarr-python: one chunk file per tile, written
atomically, synchronously) before its journal line, so a journaled tile always has
pixels. Stopping half-way (Ctrl-C, a Stop button, a camera error, even SIGKILL) keeps
every captured tile; ``resume=True`` first journals tiles stored but not yet journaled
(killed in between), then captures exactly the missing ones (skipped through the MDA
runner's ``SkipEvent``), so the stored data holds every tile once, and then stitches.

The plan is :mod:`acquisition.scan_plan`, the records :mod:`acquisition.scan_journal`,
the mosaics :mod:`acquisition.scan_mosaic`; this module runs the scan.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import useq
from ome_writers import AcquisitionSettings
from pydantic import Field
from pymmcore_plus.mda import MDAEngine, SkipEvent

from acquisition.mda_thread import run_mda_on_thread
from acquisition.models import FrameMeta
from acquisition.mosaic_stream import export_ome_tiff
from acquisition.ome_io import annotate_zarr
from acquisition.processor import AbortableProcessor, FrameProcessor
from acquisition.processor_relay import ProcessorRelay
from acquisition.rig import Rig
from acquisition.scan_journal import (
    SCAN_FORMAT,
    Journal,
    JournalEntry,
    ScanState,
    TileKey,
    TilePosition,
    load_tiles,
    read_tile,
)
from acquisition.scan_mosaic import ProcessedMosaics, process_stored, write_mosaics
from acquisition.scan_plan import MAX_TILES, AreaPlan, GridPlan, PlatePlan, ScanPlan, scan_plan
from srscope import logger
from srscope.errors import SrscopeError
from srscope.model_base import SrscopeModel, one_line

__all__ = [
    "MAX_TILES",
    "SCAN_FORMAT",
    "AreaPlan",
    "GridPlan",
    "Journal",
    "JournalEntry",
    "PlatePlan",
    "ScanIncomplete",
    "ScanInterrupted",
    "ScanPlan",
    "ScanResult",
    "ScanState",
    "ScanStopped",
    "load_tiles",
    "read_tile",
    "run_scan",
    "scan_plan",
]

OnTile = Callable[[np.ndarray, FrameMeta], None]


class ScanIncomplete(SrscopeError):
    """The scan stopped before every tile was captured (resume it)."""


class ScanStopped(ScanIncomplete):
    """The caller's ``stop`` callback ended the scan; every captured tile is kept."""


class ScanInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the scan; every tile captured so far is stored and journaled."""

    def __init__(self, captured: int, total: int, stage: str = "") -> None:
        where = f" ({stage})" if stage else ""
        super().__init__(f"interrupted after {captured}/{total} tiles{where}")
        self.captured = captured
        self.total = total


class ScanResult(SrscopeModel):
    """What a scan produced."""

    folder: Path
    tiles_total: int
    tiles_captured: int
    parts: list[str]
    mosaics: dict[str, str] = Field(default_factory=dict)
    processed_mosaics: dict[str, str] = Field(default_factory=dict)
    sr_mosaic: str | None = None  # written by the processor itself (on-the-fly SR's worker)
    seconds: float = 0.0
    acquisition_s: float = 0.0  # of ``seconds``: capturing this run's tiles
    complete: bool = False


class _ScanEngine(MDAEngine):
    """The stock engine, except: tiles already on disk are skipped, and a failing
    camera stops the scan (the stock engine logs and carries on without the frame)."""

    def __init__(self, core: Any, done: set[TileKey]) -> None:
        super().__init__(core, use_hardware_sequencing=False)
        self._done = done

    def setup_event(self, event: useq.MDAEvent) -> None:
        if _key(event) in self._done:
            raise SkipEvent(num_frames=1, reason=f"tile {_key(event)} already captured")
        super().setup_event(event)

    def exec_single_event(self, event: useq.MDAEvent) -> Iterator[Any]:
        core = self.mmcore
        t0 = event.metadata.get("runner_t0") or time.perf_counter()
        core.snapImage()  # errors propagate: the runner stops and closes the writer
        meta = self.get_frame_metadata(
            event,
            runner_time_ms=(time.perf_counter() - t0) * 1000,
            camera_device=core.getCameraDevice(),
        )
        yield core.getImage(), event, meta  # the protocol's (image, event, metadata)


def _key(event: useq.MDAEvent) -> TileKey:
    return int(event.index.get("p", 0)), int(event.index.get("c", 0))


def run_scan(
    rig: Rig,
    plan: ScanPlan | None,
    out_dir: str | Path,
    *,
    resume: bool = False,
    processor: FrameProcessor | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_tile: OnTile | None = None,
    stop: Callable[[], bool] | None = None,
    stitch_mosaic: bool = True,
    ome_tiff: bool = False,
) -> ScanResult:
    """Run a scan into ``out_dir`` (or resume the one there) and stitch its mosaic.

    ``processor`` (a :class:`~acquisition.processor.FrameProcessor`, e.g. on-the-fly
    SR) sees every tile on a relay thread; outputs it returns are streamed into
    ``mosaic_processed*.ome.zarr`` at their own pixel size (a processor that writes
    its own mosaic names it in ``mosaic_file``). Acquisition never waits on it.
    ``ome_tiff``: every mosaic is also exported as a pyramidal OME-TIFF.
    ``progress(done, total)`` and ``on_tile(image, meta)`` are called on the
    acquisition thread after each tile is stored (keep them quick); ``stop()`` is
    polled and True ends the scan after the current tile (:class:`ScanStopped`,
    resumable). Raises :class:`ScanIncomplete` when the camera fails mid-scan and
    :class:`ScanInterrupted` on Ctrl-C, after closing the files cleanly.
    """
    t_start = time.perf_counter()
    out = Path(out_dir)
    if resume:
        state: ScanState | None = ScanState.load(out)
        plan = state.plan
    else:
        if plan is None:
            raise SrscopeError("no scan plan given")
        if (out / "scan.json").exists():
            raise SrscopeError(f"{out} already holds a scan; use --resume or another folder")
        state = None
    objective = rig.resolve_objective(plan.objective or rig.settings.lr_objective)
    for ch in plan.channels:
        if ch not in rig.channels:
            raise SrscopeError(f"unknown channel {ch!r}; available: {', '.join(rig.channels)}")
    rig.set_objective(objective)
    px = rig.require_pixel_size()  # pitfall: useq would assume a 1 µm field
    h, w = rig.image_shape
    if state is None:
        positions = [
            TilePosition(x=p.x or 0.0, y=p.y or 0.0, name=p.name or "")
            for p in plan.positions(w * px, h * px)
        ]
    else:
        positions = state.positions
        if state.tile_shape != (h, w) or abs(state.pixel_size_um - px) > 1e-9:
            raise SrscopeError(
                f"cannot resume: the camera now gives {h}x{w} px at {px} µm/px, the scan has "
                f"{state.tile_shape[0]}x{state.tile_shape[1]} px at {state.pixel_size_um} µm/px"
            )
    for p in positions:  # refuse before moving: a target outside the travel range
        rig.check_reachable(p.x, p.y, p.name)
    sequence = useq.MDASequence(
        stage_positions=[useq.Position(x=p.x, y=p.y, z=plan.z_um, name=p.name) for p in positions],
        channels=[
            useq.Channel(config=c, group=rig.settings.channel_group, exposure=plan.exposure_ms)
            for c in plan.channels
        ],
        axis_order="pc",
    )
    n_total = len(positions) * len(plan.channels)
    if state is None:
        out.mkdir(parents=True, exist_ok=True)
        state = ScanState(
            plan=plan,
            objective=rig.objective_label(),
            pixel_size_um=px,
            tile_shape=(h, w),
            channels=plan.channels,
            positions=positions,
            sequence=sequence.model_dump(mode="json", exclude_defaults=True),
        )
        state.save(out)
    journal = Journal(out / "journal.jsonl")
    parts_dir = out / "tiles"
    parts_dir.mkdir(exist_ok=True)
    _remove_torn_writes(parts_dir)
    journal.adopt_stored(out, state)
    done = journal.readable_tiles(out)
    part = f"part{len(list(parts_dir.glob('part*.ome.zarr'))):03d}.ome.zarr"
    # on the fly only when this run captures every tile; else SR from disk at the end
    on_the_fly = processor is not None and not done
    relay = ProcessorRelay(processor, "all").start() if on_the_fly else None
    mosaics = ProcessedMosaics(out, state, ome_tiff) if stitch_mosaic and processor else None
    if relay is not None and mosaics is not None:
        relay.processed.connect(lambda res, meta: mosaics.add(meta.extra["tile"], res))
    error: BaseException | None = None
    stopped = False
    if len(done) < n_total:
        logger.info("scan: %d of %d tiles to capture into %s", n_total - len(done), n_total, part)
        error, stopped = _capture(
            rig, sequence, out, part, done, journal, n_total, relay, progress, on_tile, stop
        )
    acquisition_s = time.perf_counter() - t_start
    captured = journal.readable_tiles(out)
    result = ScanResult(
        folder=out,
        tiles_total=n_total,
        tiles_captured=len(captured),
        parts=sorted(p.name for p in parts_dir.glob("part*.ome.zarr")),
        acquisition_s=acquisition_s,
    )
    if error is not None or len(captured) < n_total:
        _stop_processing(relay, processor)  # an incomplete scan gets no processed mosaic
        if mosaics is not None:
            mosaics.abort()
        _raise_incomplete(error, stopped, len(captured), n_total, out)
    try:
        if relay is not None:
            relay.stop(drain=True)
        elif processor is not None:
            process_stored(out, state, journal, processor, mosaics)
        result.complete = True
        if stitch_mosaic:
            result.mosaics = write_mosaics(out, state, journal, ome_tiff)
        if mosaics is not None:
            result.processed_mosaics = mosaics.finish()
        sr_mosaic = getattr(processor, "mosaic_file", None)
        if sr_mosaic is not None:
            result.sr_mosaic = Path(sr_mosaic).name
            if ome_tiff and Path(sr_mosaic).suffix == ".zarr":
                export_ome_tiff(sr_mosaic, str(sr_mosaic)[: -len(".zarr")] + ".tif")
    except KeyboardInterrupt:
        _stop_processing(relay, processor)
        if mosaics is not None:
            mosaics.abort()
        raise ScanInterrupted(n_total, n_total, "before the mosaics were written") from None
    result.seconds = time.perf_counter() - t_start
    return result


def _capture(
    rig: Rig,
    sequence: useq.MDASequence,
    out: Path,
    part: str,
    done: set[TileKey],
    journal: Journal,
    n_total: int,
    relay: ProcessorRelay | None,
    progress: Callable[[int, int], None] | None,
    on_tile: OnTile | None,
    stop: Callable[[], bool] | None,
) -> tuple[BaseException | None, bool]:
    """Capture the missing tiles into ``tiles/<part>``; (error, stopped by ``stop``)."""
    core = rig.core
    zarr_path = out / "tiles" / part
    count = [len(done)]
    objective = rig.objective_label()

    def on_frame(img: np.ndarray, event: useq.MDAEvent, meta: Any) -> None:
        # emitted after the runner appended (wrote) the frame: the journal comes second
        key = _key(event)
        fm = FrameMeta.from_mda(
            event, meta, objective=objective, index=count[0], extra={"tile": key}
        )
        journal.add(key, part, fm.position_um[0], fm.position_um[1], event.pos_name or "")
        count[0] += 1
        if relay is not None:
            relay.submit(img if relay.inline else np.array(img, copy=True), fm)
        if on_tile is not None:
            on_tile(img, fm)
        if progress:
            progress(count[0], n_total)

    h, w = rig.image_shape
    old_engine = core.mda.engine
    core.mda.set_engine(_ScanEngine(core, done))
    outcome = None
    try:
        outcome = run_mda_on_thread(
            core,
            sequence,
            on_frame=on_frame,
            stop=stop,
            name="srscope-scan",
            output=tile_store_settings(zarr_path),
            dimension_overrides={"c": {"chunk_size": 1}, "y": {"chunk_size": h},
                                 "x": {"chunk_size": w}},
        )  # fmt: skip
    finally:
        if old_engine is not None and not core.mda.is_running():
            core.mda.set_engine(old_engine)
        journal.forget_unreadable(out, part)
        if outcome is not None and outcome.finished and zarr_path.is_dir():
            annotate_zarr(
                zarr_path,
                {
                    "objective": objective,
                    "pixel_size_um": rig.pixel_size_um,
                    "channels": [c.config for c in sequence.channels],
                    "kind": "tile scan part",
                },
            )
    return outcome.error, outcome.stopped


def tile_store_settings(zarr_path: Path) -> AcquisitionSettings:
    """Where and how tiles are written: zarr-python, whose writes are synchronous and
    atomic (tensorstore, the default, writes in the background: a journaled tile
    could have no pixels on disk yet)."""
    return AcquisitionSettings(
        root_path=str(zarr_path), format="zarr-python", compression="blosc-zstd"
    )


def _raise_incomplete(
    error: BaseException | None, stopped: bool, captured: int, total: int, out: Path
) -> None:
    if isinstance(error, KeyboardInterrupt):
        raise ScanInterrupted(captured, total) from None
    if error is not None:
        msg = one_line(error, None)
        raise ScanIncomplete(
            f"scan stopped after {captured} of {total} tiles ({msg}); "
            f"the captured tiles are kept in {out}: run it again with --resume"
        )
    if stopped:
        raise ScanStopped(
            f"scan stopped after {captured} of {total} tiles; the captured tiles are kept "
            f"in {out}: resume it to capture the rest"
        )
    raise ScanIncomplete(f"scan has {captured} of {total} tiles; run it again with --resume")


def _stop_processing(relay: ProcessorRelay | None, processor: FrameProcessor | None) -> None:
    """End a processor without finishing it: an incomplete scan gets no SR mosaic."""
    if relay is not None:
        relay.stop()
    if isinstance(processor, AbortableProcessor):
        processor.abort()


def _remove_torn_writes(parts_dir: Path) -> None:
    """Chunk files a kill interrupted (zarr writes ``*.partial`` then renames)."""
    for torn in parts_dir.glob("part*.ome.zarr/**/*.partial"):
        torn.unlink(missing_ok=True)
