"""Resumable tile scans: useq grid / well-plate plans -> OME-Zarr (ome-writers) + mosaic.

A scan folder holds::

    scan.json           the plan, the tile list, pixel size and tile shape (written first)
    tiles/part000.ome.zarr, part001.ome.zarr ...
                        raw tiles, one OME-Zarr image per tile, written frame by frame
                        by ome-writers through ``core.mda.run``; each run (first or
                        resumed) writes its own part
    journal.jsonl       one line per captured tile: which part holds it, stage position
    mosaic.ome.tif      (per well: mosaic_<well>.ome.tif) when every tile is captured

Each tile's pixels reach the disk (zarr-python: one chunk file per tile, written
atomically, synchronously) before its journal line, so a journaled tile always has
pixels. Stopping half-way (Ctrl-C, a camera error, even SIGKILL) keeps every captured
tile; ``resume=True`` first journals tiles stored but not yet journaled (killed in
between), then captures exactly the missing ones (skipped through the MDA runner's
``SkipEvent``), so the stored data holds every tile once, and then stitches.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import useq
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymmcore_plus.mda import MDAEngine
from pymmcore_plus.mda._engine import ImagePayload
from pymmcore_plus.mda._runner import SkipEvent

from acquisition.live import FrameProcessor, ProcessorRelay
from acquisition.models import FrameMeta
from acquisition.mosaic import stitch
from acquisition.ome_io import annotate_zarr, write_ome_tiff
from srscope import logger
from srscope.atomic import write_text_atomic
from srscope.errors import SrscopeError

SCAN_FORMAT = "srscope-scan/1"


class ScanIncomplete(SrscopeError):
    """The scan stopped before every tile was captured (resume it)."""


class ScanInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the scan; every tile captured so far is stored and journaled."""

    def __init__(self, captured: int, total: int, stage: str = "") -> None:
        where = f" ({stage})" if stage else ""
        super().__init__(f"interrupted after {captured}/{total} tiles{where}")
        self.captured = captured
        self.total = total


MAX_TILES = 100_000  # a whole slide at 5x is a few thousand


class ScanPlan(BaseModel):
    """What to scan: a slide area, a grid around a centre, or wells of a plate."""

    model_config = ConfigDict(extra="forbid")

    area_um: tuple[float, float, float, float] | None = Field(
        None, description="slide area to cover, (x0, y0, x1, y1) µm"
    )
    center_um: tuple[float, float] | None = Field(None, description="grid centre (x, y) µm")
    rows: int = Field(3, ge=1)
    columns: int = Field(3, ge=1)
    plate: str | None = Field(None, description="useq plate name, e.g. '96-well'")
    wells: list[str] = Field(default_factory=list, description="e.g. ['A1', 'B3']")
    a1_center_um: tuple[float, float] = (0.0, 0.0)
    channels: list[str] = Field(default_factory=lambda: ["DAPI"])
    objective: str | None = Field(None, description="default: the rig's LR objective")
    exposure_ms: float = Field(10.0, gt=0)
    overlap: float = Field(0.1, ge=0.0, lt=0.9, description="tile overlap fraction")
    z_um: float | None = None

    @model_validator(mode="after")
    def _one_layout(self) -> ScanPlan:
        given = [self.area_um is not None, self.center_um is not None, self.plate is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of area_um, center_um or plate (+ wells)")
        if self.plate is not None and not self.wells:
            raise ValueError("a plate scan needs wells, e.g. ['A1', 'A2']")
        if not self.channels:
            raise ValueError("give at least one channel")
        return self

    def positions(self, fov_w_um: float, fov_h_um: float) -> list[useq.Position]:
        """Tile centres (named; wells prefix their tiles) for this field of view."""
        fov = {"fov_width": fov_w_um, "fov_height": fov_h_um, "overlap": self.overlap * 100.0}
        if self.area_um is not None:
            x0, y0, x1, y1 = self.area_um
            step_w, step_h = fov_w_um * (1 - self.overlap), fov_h_um * (1 - self.overlap)
            tiles = (abs(x1 - x0) / step_w + 1) * (abs(y1 - y0) / step_h + 1)
            if not tiles <= MAX_TILES:  # refuse before useq lays out (and allocates) the grid
                raise SrscopeError(
                    f"--area {x0:g},{y0:g},{x1:g},{y1:g} µm needs about {tiles:.3g} tiles of "
                    f"{fov_w_um:.4g}x{fov_h_um:.4g} µm; at most {MAX_TILES} per scan"
                )
            edges = useq.GridFromEdges(
                top=max(y0, y1), bottom=min(y0, y1), left=min(x0, x1), right=max(x0, x1), **fov
            )
            return [useq.Position(x=p.x, y=p.y, name=f"tile{i:04d}") for i, p in enumerate(edges)]
        grid = useq.GridRowsColumns(rows=self.rows, columns=self.columns, **fov)
        if self.center_um is not None:
            cx, cy = self.center_um
            return [
                useq.Position(x=cx + p.x, y=cy + p.y, name=f"tile{i:04d}")
                for i, p in enumerate(grid)
            ]
        try:
            plate = useq.WellPlatePlan(
                plate=self.plate,
                a1_center_xy=self.a1_center_um,
                selected_wells=_well_indices(self.wells),
                well_points_plan=grid,
            )
        except (ValueError, KeyError) as exc:
            raise SrscopeError(f"bad plate plan: {' '.join(str(exc).split())[:200]}") from None
        return [useq.Position(x=p.x, y=p.y, name=p.name) for p in plate]


def _well_indices(wells: list[str]) -> tuple[list[int], list[int]]:
    rows, cols = [], []
    for w in wells:
        w = w.strip().upper()
        if len(w) < 2 or not w[0].isalpha() or not w[1:].isdigit():
            raise SrscopeError(f"bad well name {w!r}; use e.g. 'A1'")
        rows.append(ord(w[0]) - ord("A"))
        cols.append(int(w[1:]) - 1)
    return rows, cols


class _ScanEngine(MDAEngine):
    """The stock engine, except: tiles already on disk are skipped, and a failing
    camera stops the scan (the stock engine logs and carries on without the frame)."""

    def __init__(self, core: Any, done: set[tuple[int, int]]) -> None:
        super().__init__(core, use_hardware_sequencing=False)
        self._done = done

    def setup_event(self, event: useq.MDAEvent) -> None:
        if _key(event) in self._done:
            raise SkipEvent(num_frames=1, reason=f"tile {_key(event)} already captured")
        super().setup_event(event)

    def exec_single_event(self, event: useq.MDAEvent):
        core = self.mmcore
        t0 = event.metadata.get("runner_t0") or time.perf_counter()
        core.snapImage()  # errors propagate: the runner stops and closes the writer
        meta = self.get_frame_metadata(
            event,
            runner_time_ms=(time.perf_counter() - t0) * 1000,
            camera_device=core.getCameraDevice(),
        )
        yield ImagePayload(core.getImage(), event, meta)


def _key(event: useq.MDAEvent) -> tuple[int, int]:
    return int(event.index.get("p", 0)), int(event.index.get("c", 0))


class ScanResult(BaseModel):
    """What a scan produced."""

    folder: Path
    tiles_total: int
    tiles_captured: int
    parts: list[str]
    mosaics: dict[str, str] = Field(default_factory=dict)
    processed_mosaics: dict[str, str] = Field(default_factory=dict)
    seconds: float = 0.0
    complete: bool = False


def run_scan(
    microscope,
    plan: ScanPlan | None,
    out_dir: str | Path,
    *,
    resume: bool = False,
    processor: FrameProcessor | None = None,
    progress: Callable[[int, int], None] | None = None,
    stitch_mosaic: bool = True,
) -> ScanResult:
    """Run a scan into ``out_dir`` (or resume the one there) and stitch its mosaic.

    ``processor`` (a :class:`~acquisition.live.FrameProcessor`, e.g. on-the-fly SR)
    sees every tile on a relay thread; its outputs are stitched into
    ``mosaic_processed*.ome.tif`` at their own pixel size. Acquisition never waits
    on it. Raises :class:`ScanIncomplete` when the camera fails mid-scan and
    re-raises ``KeyboardInterrupt`` after closing the files cleanly.
    """
    t_start = time.perf_counter()
    out = Path(out_dir)
    state_file = out / "scan.json"
    if resume:
        if not state_file.is_file():
            raise SrscopeError(f"nothing to resume: no scan.json in {out}")
        try:
            state = json.loads(state_file.read_text())
            plan = ScanPlan.model_validate(state["plan"])
        except (ValueError, KeyError, TypeError) as exc:
            msg = " ".join(str(exc).split())[:200]
            raise SrscopeError(f"cannot resume: {state_file} is damaged ({msg})") from None
    else:
        if plan is None:
            raise SrscopeError("no scan plan given")
        if state_file.exists():
            raise SrscopeError(f"{out} already holds a scan; use --resume or another folder")
        state = None
    objective = microscope.resolve_objective(plan.objective or microscope.settings.lr_objective)
    for ch in plan.channels:
        if ch not in microscope.channels:
            raise SrscopeError(
                f"unknown channel {ch!r}; available: {', '.join(microscope.channels)}"
            )
    microscope.set_objective(objective)
    px = microscope.require_pixel_size()  # pitfall: useq would assume a 1 µm field
    h, w = microscope.image_shape
    positions = (
        plan.positions(w * px, h * px)
        if state is None
        else [useq.Position(**p) for p in state["positions"]]
    )
    if state is not None and (
        state["tile_shape"] != [h, w] or abs(state["pixel_size_um"] - px) > 1e-9
    ):
        raise SrscopeError(
            f"cannot resume: the camera now gives {h}x{w} px at {px} µm/px, the scan has "
            f"{state['tile_shape'][0]}x{state['tile_shape'][1]} px "
            f"at {state['pixel_size_um']} µm/px"
        )
    for p in positions:  # refuse before moving: a target outside the travel range
        _check_reachable(microscope, p)
    sequence = useq.MDASequence(
        stage_positions=[useq.Position(x=p.x, y=p.y, z=plan.z_um, name=p.name) for p in positions],
        channels=[
            useq.Channel(
                config=c, group=microscope.settings.channel_group, exposure=plan.exposure_ms
            )
            for c in plan.channels
        ],
        axis_order="pc",
    )
    n_total = len(positions) * len(plan.channels)
    if state is None:
        out.mkdir(parents=True, exist_ok=True)
        state = {
            "format": SCAN_FORMAT,
            "plan": plan.model_dump(mode="json"),
            "objective": microscope.objective_label(),
            "pixel_size_um": px,
            "tile_shape": [h, w],
            "channels": plan.channels,
            "positions": [{"x": p.x, "y": p.y, "name": p.name} for p in positions],
            "sequence": json.loads(sequence.model_dump_json(exclude_defaults=True)),
        }
        write_text_atomic(state_file, json.dumps(state, indent=2))
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
    processed: dict[tuple[int, int], np.ndarray] = {}
    if relay is not None:
        relay.processed.connect(lambda res, meta: processed.__setitem__(meta.extra["tile"], res))
    error: list[BaseException] = []
    if len(done) < n_total:
        logger.info("scan: %d of %d tiles to capture into %s", n_total - len(done), n_total, part)
        _run_mda(
            microscope,
            sequence,
            parts_dir / part,
            done,
            journal,
            part,
            n_total,
            relay,
            progress,
            error,
        )
    captured = journal.readable_tiles(out)
    result = ScanResult(
        folder=out,
        tiles_total=n_total,
        tiles_captured=len(captured),
        parts=sorted(p.name for p in parts_dir.glob("part*.ome.zarr")),
    )
    if error or len(captured) < n_total:
        _stop_processing(relay, processor)  # an incomplete scan gets no processed mosaic
        _raise_incomplete(error, len(captured), n_total, out)
    try:
        if relay is not None:
            relay.stop(drain=True)
        elif processor is not None:
            processed = process_stored(out, state, journal, processor)
        result.complete = True
        if stitch_mosaic:
            result.mosaics = write_mosaics(out, state, journal)
            if processed:
                result.processed_mosaics = _write_processed(out, state, processed)
    except KeyboardInterrupt:
        _stop_processing(relay, processor)
        raise ScanInterrupted(n_total, n_total, "before the mosaics were written") from None
    result.seconds = time.perf_counter() - t_start
    return result


def _raise_incomplete(error: list[BaseException], captured: int, total: int, out: Path) -> None:
    if error and isinstance(error[0], KeyboardInterrupt):
        raise ScanInterrupted(captured, total) from None
    if error:
        msg = " ".join(str(error[0]).split())
        raise ScanIncomplete(
            f"scan stopped after {captured} of {total} tiles ({msg}); "
            f"the captured tiles are kept in {out}: run it again with --resume"
        )
    raise ScanIncomplete(f"scan has {captured} of {total} tiles; run it again with --resume")


def _stop_processing(relay: ProcessorRelay | None, processor: FrameProcessor | None) -> None:
    if relay is not None:
        relay.stop()
    if processor is not None:
        _abort(processor)


def _abort(processor: FrameProcessor) -> None:
    """End a processor without finishing it: an incomplete scan gets no SR mosaic."""
    abort = getattr(processor, "abort", None)
    if callable(abort):
        abort()


def process_stored(
    out: Path, state: dict[str, Any], journal: Journal, processor: FrameProcessor
) -> dict[tuple[int, int], np.ndarray]:
    """Feed every stored tile, in scan order, to ``processor``, then finish it.

    A resumed scan's processor (e.g. SR) saw only the tiles of the last run; its
    outputs (the SR store and mosaic) must cover all of them, in the same order as
    an uninterrupted scan's.
    """
    latest = journal.latest()
    n_ch = len(state["channels"])
    px = float(state["pixel_size_um"])
    relay = ProcessorRelay(processor, "all").start()
    results: dict[tuple[int, int], np.ndarray] = {}
    relay.processed.connect(lambda res, meta: results.__setitem__(meta.extra["tile"], res))
    logger.info("processing the %d stored tiles of %s", len(latest), out)
    for i in range(len(state["positions"])):
        for c in range(n_ch):
            entry = latest[(i, c)]
            meta = FrameMeta(
                pixel_size_um=px,
                position_um=(float(entry["x"]), float(entry["y"]), 0.0),
                objective=state.get("objective", ""),
                channel=state["channels"][c],
                exposure_ms=float(state["plan"].get("exposure_ms", 0.0)),
                index=i * n_ch + c,
                extra={"tile": (i, c)},
            )
            relay.submit(read_tile(out, entry), meta)
    relay.stop(drain=True)
    return results


def _remove_torn_writes(parts_dir: Path) -> None:
    """Chunk files a kill interrupted (zarr writes ``*.partial`` then renames)."""
    for torn in parts_dir.glob("part*.ome.zarr/**/*.partial"):
        torn.unlink(missing_ok=True)


def _check_reachable(microscope, p: useq.Position) -> None:
    xy = microscope.core.getXYStageDevice()
    if not xy or not microscope.is_simulated:
        return
    dev = microscope.core
    lo_x, hi_x = float(dev.getProperty(xy, "XMin_um")), float(dev.getProperty(xy, "XMax_um"))
    lo_y, hi_y = float(dev.getProperty(xy, "YMin_um")), float(dev.getProperty(xy, "YMax_um"))
    if not (lo_x <= p.x <= hi_x and lo_y <= p.y <= hi_y):  # type: ignore[operator]
        raise SrscopeError(
            f"stage position {p.name or ''} ({p.x:.0f}, {p.y:.0f}) µm is outside the stage travel "
            f"x [{lo_x:.0f}, {hi_x:.0f}], y [{lo_y:.0f}, {hi_y:.0f}] µm"
        )


def _run_mda(
    microscope,
    sequence: useq.MDASequence,
    zarr_path: Path,
    done: set[tuple[int, int]],
    journal: Journal,
    part: str,
    n_total: int,
    relay: ProcessorRelay | None,
    progress: Callable[[int, int], None] | None,
    error: list[BaseException],
) -> None:
    """Run the MDA on a worker thread so Ctrl-C here can cancel it cleanly.

    The main thread waits on an event the worker sets as its very last step, never
    on ``Thread.join``: a Ctrl-C inside ``join`` (Python < 3.13) can mark a running
    thread as finished, and the in-flight tile would then be stored unjournaled.
    """
    core = microscope.core
    count = [len(done)]

    def on_frame(img: np.ndarray, event: useq.MDAEvent, meta: dict) -> None:
        # emitted after the runner appended (wrote) the frame: the journal comes second
        key = _key(event)
        pos = meta.get("position") or {}
        x = float(pos.get("x", event.x_pos or 0.0))
        y = float(pos.get("y", event.y_pos or 0.0))
        journal.add(key, part, x, y, event.pos_name or "")
        count[0] += 1
        if relay is not None:
            fm = FrameMeta(
                pixel_size_um=float(meta.get("pixel_size_um", 0.0)),
                position_um=(x, y, float(pos.get("z", 0.0))),
                objective=microscope.objective_label(),
                channel=event.channel.config if event.channel else "",
                exposure_ms=float(meta.get("exposure_ms", 0.0)),
                index=count[0] - 1,
                extra={"tile": key},
            )
            relay.submit(img if relay.inline else np.array(img, copy=True), fm)
        if progress:
            progress(count[0], n_total)

    finished = threading.Event()
    h, w = microscope.image_shape

    def work() -> None:
        _block_sigint()  # Ctrl-C is for the main thread; writer threads inherit the mask
        try:
            core.mda.run(
                sequence,
                output=tile_store_settings(zarr_path),
                dimension_overrides={"c": {"chunk_size": 1}, "y": {"chunk_size": h},
                                     "x": {"chunk_size": w}},
            )  # fmt: skip
        except BaseException as exc:  # reported to the caller's thread
            error.append(exc)
        finally:
            finished.set()

    old_engine = core.mda.engine
    core.mda.set_engine(_ScanEngine(core, done))
    core.mda.events.frameReady.connect(on_frame)
    worker = threading.Thread(target=work, name="srscope-scan", daemon=True)
    try:
        with _quiet_cancel():
            worker.start()
            try:
                while not finished.wait(0.05):
                    pass
            except KeyboardInterrupt as exc:
                logger.info("scan interrupted: stopping after the current tile")
                _stop_worker(core, finished)
                error.insert(0, exc)
    finally:
        core.mda.events.frameReady.disconnect(on_frame)
        if old_engine is not None and not core.mda.is_running():
            core.mda.set_engine(old_engine)
        journal.forget_unreadable(zarr_path.parent.parent, part)
        if finished.is_set() and zarr_path.is_dir():
            annotate_zarr(
                zarr_path,
                {
                    "objective": microscope.objective_label(),
                    "pixel_size_um": microscope.pixel_size_um,
                    "channels": [c.config for c in sequence.channels],
                    "kind": "tile scan part",
                },
            )


def tile_store_settings(zarr_path: Path) -> Any:
    """Where and how tiles are written: zarr-python, whose writes are synchronous and
    atomic (tensorstore, the default, writes in the background: a journaled tile
    could have no pixels on disk yet)."""
    from ome_writers import AcquisitionSettings

    return AcquisitionSettings(root_path=str(zarr_path), format="zarr-python")


class _quiet_cancel:
    """Drop pymmcore-plus's "MDA Canceled: <the whole sequence>" warning (KBs long):
    srscope says itself what was interrupted and how to resume."""

    def __enter__(self) -> None:
        self._log = logging.getLogger("pymmcore-plus")
        self._log.addFilter(self._filter)

    def __exit__(self, *exc: Any) -> None:
        self._log.removeFilter(self._filter)

    @staticmethod
    def _filter(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("MDA Canceled")


def _block_sigint() -> None:
    """Keep SIGINT off this thread (and the threads it starts).

    Otherwise a Ctrl-C can land in a writer thread's system call and make
    a chunk write fail, losing a tile that the journal already lists.
    """
    import signal

    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _stop_worker(core: Any, finished: threading.Event, timeout: float = 60.0) -> None:
    """Cancel the MDA and wait for it to close its files, even through more Ctrl-C."""
    core.mda.cancel()
    deadline = time.monotonic() + timeout
    while not finished.is_set() and time.monotonic() < deadline:
        try:
            finished.wait(0.1)
        except KeyboardInterrupt:
            logger.warning("still closing the files of the interrupted scan")
            core.mda.cancel()


class Journal:
    """Append-only record of captured tiles (fsync'd per line), robust to a torn last line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def add(self, key: tuple[int, int], part: str, x: float, y: float, name: str) -> None:
        line = json.dumps({"p": key[0], "c": key[1], "part": part, "x": x, "y": y, "name": name})
        with self._lock, open(self.path, "a") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def forget_unreadable(self, scan_dir: Path, part: str, wait_s: float = 1.0) -> list:
        """Mark tiles of ``part`` whose pixels never reached the disk as lost.

        A tile in flight when a scan is interrupted can be listed but not written;
        marking it lost keeps "listed" == "readable", and a resume captures it again.
        """
        deadline = time.monotonic() + wait_s
        while True:
            missing = [
                k
                for k, e in self.latest().items()
                if e["part"] == part and not _readable(scan_dir, e)
            ]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for key in missing:
            logger.warning("tile %s was not written completely; a resume captures it again", key)
            line = json.dumps({"p": key[0], "c": key[1], "part": part, "lost": True})
            with self._lock, open(self.path, "a") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        return missing

    def adopt_stored(self, scan_dir: Path, state: dict[str, Any]) -> list[tuple[int, int]]:
        """Journal the tiles whose pixels are stored but which have no journal line.

        A kill between a tile's write and its journal line leaves such a tile; it is
        kept (not captured again), so the stored data holds every tile once.
        """
        known = self.latest()
        adopted = []
        for part in sorted((scan_dir / "tiles").glob("part*.ome.zarr")):
            for key, entry in _stored_tiles(scan_dir, part.name, state):
                if key not in known:
                    self.add(key, part.name, entry["x"], entry["y"], entry["name"])
                    known[key] = entry
                    adopted.append(key)
        if adopted:
            logger.info("journaled %d stored tiles a kill left unjournaled", len(adopted))
        return adopted

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:  # a line torn by a crash: that tile counts as missing
                continue
        return out

    def latest(self) -> dict[tuple[int, int], dict[str, Any]]:
        """The last journal entry per captured tile (tiles marked lost are left out)."""
        last = {(e["p"], e["c"]): e for e in self.entries()}
        return {k: e for k, e in last.items() if not e.get("lost")}

    def readable_tiles(self, scan_dir: Path) -> set[tuple[int, int]]:
        """Tiles in the journal whose pixels are really on disk."""
        return {key for key, e in self.latest().items() if _readable(scan_dir, e)}


def _stored_tiles(
    scan_dir: Path, part: str, state: dict[str, Any]
) -> list[tuple[tuple[int, int], dict[str, Any]]]:
    """(key, entry) of every tile with pixels in one part (an unreadable part: none)."""
    found = []
    for i, pos in enumerate(state["positions"]):
        for c in range(len(state["channels"])):
            entry = {"p": i, "c": c, "part": part, "x": pos["x"], "y": pos["y"]}
            entry["name"] = pos.get("name") or ""
            if _readable(scan_dir, entry):
                found.append(((i, c), entry))
    return found


def _readable(scan_dir: Path, entry: dict[str, Any]) -> bool:
    try:
        return bool(np.any(read_tile(scan_dir, entry)))
    except Exception:
        return False


def read_tile(scan_dir: str | Path, entry: dict[str, Any]) -> np.ndarray:
    """One captured tile (``(Y, X)``) from its part's OME-Zarr."""
    import zarr

    group = zarr.open_group(Path(scan_dir) / "tiles" / entry["part"], mode="r")
    name = entry.get("name") or str(entry["p"])
    # one image per position; a single-position sequence is one image at the root
    arr = group[f"{name}/0"] if name in group else group["0"]
    data = arr[...] if arr.ndim == 2 else arr[(entry["c"],) + (0,) * (arr.ndim - 3)]
    return np.asarray(data)


def load_tiles(
    scan_dir: str | Path,
) -> tuple[dict[str, Any], dict[tuple[int, int], np.ndarray], Journal]:
    """The scan state, every captured tile by (position, channel), and the journal."""
    scan_dir = Path(scan_dir)
    state = json.loads((scan_dir / "scan.json").read_text())
    journal = Journal(scan_dir / "journal.jsonl")
    tiles = {key: read_tile(scan_dir, e) for key, e in journal.latest().items()}
    return state, tiles, journal


def _groups(state: dict[str, Any]) -> dict[str, list[int]]:
    """Tile indices per mosaic: one mosaic per well (names 'A1_0003'), else one."""
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(state["positions"]):
        name = p.get("name") or ""
        well = name.split("_")[0] if state["plan"].get("plate") and "_" in name else ""
        groups.setdefault(well, []).append(i)
    return groups


def write_mosaics(out: Path, state: dict[str, Any], journal: Journal) -> dict[str, str]:
    """Stitch the captured tiles (all channels) into ``mosaic[_<well>].ome.tif``."""
    latest = journal.latest()
    n_ch = len(state["channels"])
    px = float(state["pixel_size_um"])
    written: dict[str, str] = {}
    for well, idx in _groups(state).items():
        tiles, pos = [], []
        for i in idx:
            planes = [read_tile(out, latest[(i, c)]) for c in range(n_ch)]
            tiles.append(np.stack(planes) if n_ch > 1 else planes[0])
            e = latest[(i, 0)]
            pos.append((e["x"], e["y"]))
        mosaic = stitch(tiles, pos, px)
        dtype = tiles[0].dtype
        if np.issubdtype(dtype, np.integer):
            mosaic = np.clip(np.rint(mosaic), 0, np.iinfo(dtype).max).astype(dtype)
        fname = f"mosaic_{well}.ome.tif" if well else "mosaic.ome.tif"
        write_ome_tiff(
            out / fname,
            mosaic,
            _mosaic_meta(state, pos, tiles[0].shape[-2:], mosaic.shape[-2:], px),
            channel_names=state["channels"],
            name=fname,
        )
        written[well or "all"] = fname
    return written


def _mosaic_meta(
    state: dict[str, Any],
    positions: list[tuple[float, float]],
    tile_shape: tuple[int, ...],
    mosaic_shape: tuple[int, ...],
    px: float,
) -> FrameMeta:
    """Metadata of a mosaic: the stage position of its centre, like a frame's."""
    from acquisition.mosaic import mosaic_origin_um

    x0, y0 = mosaic_origin_um(positions, (int(tile_shape[0]), int(tile_shape[1])), px)
    h, w = int(mosaic_shape[0]), int(mosaic_shape[1])
    return FrameMeta(
        pixel_size_um=px,
        position_um=(
            x0 + (w - 1) / 2 * px,
            y0 + (h - 1) / 2 * px,
            state["plan"].get("z_um") or 0.0,
        ),
        objective=state.get("objective", ""),
        channel=",".join(state["channels"]),
        exposure_ms=float(state["plan"].get("exposure_ms", 0.0)),
        extra={"kind": "mosaic", "tiles": len(positions)},
    )


def _write_processed(
    out: Path, state: dict[str, Any], processed: dict[tuple[int, int], np.ndarray]
) -> dict[str, str]:
    """Stitch processor outputs (e.g. SR tiles) at their own pixel size."""
    w = state["tile_shape"][1]
    n_ch = len(state["channels"])
    written: dict[str, str] = {}
    for well, idx in _groups(state).items():
        if not all((i, c) in processed for i in idx for c in range(n_ch)):
            logger.warning("processor output missing for some tiles; no processed mosaic")
            return written
        first = processed[(idx[0], 0)]
        px = float(state["pixel_size_um"]) * w / first.shape[-1]
        tiles = [
            np.stack([processed[(i, c)] for c in range(n_ch)]) if n_ch > 1 else processed[(i, 0)]
            for i in idx
        ]
        pos = [(state["positions"][i]["x"], state["positions"][i]["y"]) for i in idx]
        mosaic = stitch(tiles, pos, px)
        fname = f"mosaic_processed_{well}.ome.tif" if well else "mosaic_processed.ome.tif"
        write_ome_tiff(
            out / fname, mosaic, pixel_size_um=px, channel_names=state["channels"], name=fname
        )
        written[well or "all"] = fname
    return written
