"""The panels' jobs: the acquisition part's scan and reference capture, with progress.

The viewer runs exactly what ``srscope scan`` and ``srscope references`` run
(:func:`acquisition.scan.run_scan`, :func:`acquisition.references.capture_references`),
so its folders are the CLI's (``scan.json``, ``tiles/``, ``journal.jsonl``,
``mosaic.ome.zarr``, ``sr.ome.zarr``, ``sr_mosaic.ome.zarr``; ``references.json``)
and a stopped scan resumes from either. Each job runs on a panel's task thread
and reports through its :class:`~ui.tasks.TaskContext`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.models import Frame, FrameMeta
from acquisition.mosaic import place_tiles
from acquisition.references import capture_references, grid_positions, random_positions, square_area
from acquisition.rig import Rig
from acquisition.scan import GridPlan, ScanResult, run_scan
from acquisition.sr_hook import sr_processor
from srscope.errors import SrscopeError
from srscope.ome_zarr import read_level
from srscope.references import ReferenceSet
from ui.panels import ReferencesRequest, ScanRequest
from ui.tasks import TaskContext

Job = Callable[[Any, TaskContext], Any]


@dataclass(frozen=True)
class JobSummary:
    """What a finished job shows (``summary``) and what it made (``value``)."""

    summary: str
    value: Any


@dataclass(frozen=True)
class Jobs:
    """Job functions for the panels (references, scan)."""

    references: Job | None = None
    scan: Job | None = None


def make_jobs(rig: Rig, model_path: Callable[[], Path | None]) -> Jobs:
    """The panels' jobs on ``rig``; ``model_path()`` is the live model (SR on the fly)."""

    def scan(req: ScanRequest, ctx: TaskContext) -> JobSummary:
        model = model_path() if req.super_resolve else None
        result = scan_job(rig, req, ctx, model)
        return JobSummary(
            f"scan done: {result.tiles_captured} tiles in {result.seconds:.1f} s → {result.folder}",
            result,
        )

    def references(req: ReferencesRequest, ctx: TaskContext) -> JobSummary:
        refs = references_job(rig, req, ctx)
        return JobSummary(f"{len(refs.entries)} reference pairs → {req.out_dir}", refs)

    return Jobs(scan=scan, references=references)


def scan_job(rig: Rig, req: ScanRequest, ctx: TaskContext, model: Path | None) -> ScanResult:
    """A tile scan around the current position at the current objective, channel, exposure.

    With ``req.resume`` the scan in ``req.out_dir`` is completed instead (its own plan).
    Stop ends it after the current tile, resumable.
    """
    out = Path(req.out_dir)
    tiles: list[tuple[np.ndarray, tuple[float, float]]] = []

    def on_tile(image: np.ndarray, meta: FrameMeta) -> None:
        tiles.append((np.array(image, copy=True), meta.position_um[:2]))
        ctx.preview(place_tiles(tiles, meta.pixel_size_um))

    with rig.lock:
        plan = None
        if not req.resume:
            x, y, _ = rig.position_um
            plan = GridPlan(
                center_um=(x, y),
                rows=req.rows,
                columns=req.columns,
                channels=[rig.channel],
                objective=rig.objective or None,
                exposure_ms=rig.exposure_ms,
                overlap=req.overlap,
            )
        processor = sr_processor(model, out / "sr") if model is not None else None
        try:
            result = run_scan(
                rig,
                plan,
                out,
                resume=req.resume,
                processor=processor,
                progress=lambda done, total: ctx.progress(done, total, f"tile {done}/{total}"),
                on_tile=on_tile,
                stop=lambda: ctx.cancelled,
            )
        finally:
            if processor is not None:
                processor.close()
    ctx.preview(read_level(out / (result.sr_mosaic or result.mosaics["all"])))
    return result


def references_job(rig: Rig, req: ReferencesRequest, ctx: TaskContext) -> ReferenceSet:
    """HR + LR pairs at N positions in a square around the current position (then back)."""
    x0, y0, _ = rig.position_um
    objective = rig.objective
    layout = grid_positions if req.layout == "grid" else random_positions
    positions = layout(square_area((x0, y0), req.area_um), req.positions)
    captured: list[np.ndarray] = []

    def on_frame(role: str, frame: Frame) -> None:
        if role == "hr":
            captured.append(frame.image)
            ctx.preview(montage(captured))

    with rig.lock:
        exposure = rig.exposure_ms
        try:
            refs = capture_references(
                rig,
                req.out_dir,
                positions,
                channels=req.channels or [rig.channel],
                hr_objective=req.hr_objective or None,
                lr_objective=req.lr_objective or "default",
                hr_exposure_ms=exposure,
                lr_exposure_ms=exposure,
                progress=lambda done, total: ctx.progress(done, total, f"position {done}/{total}"),
                on_frame=on_frame,
                stop=lambda: ctx.cancelled,
            )
        finally:
            rig.move_to(x0, y0)
            if objective:
                rig.set_objective(objective)
    ctx.check()
    return refs


def montage(images: list[np.ndarray], max_side: int = 256) -> np.ndarray:
    """Thumbnails side by side on a grid (the references panel's preview)."""
    if not images:
        raise SrscopeError("nothing to show")
    thumbs = []
    for img in images:
        step = max(1, int(np.ceil(max(img.shape) / max_side)))
        t = img[::step, ::step].astype(np.float32)
        lo, hi = np.percentile(t, [0.5, 99.8])
        thumbs.append(np.clip((t - lo) / max(hi - lo, 1e-6), 0, 1))
    k = int(np.ceil(np.sqrt(len(thumbs))))
    h = max(t.shape[0] for t in thumbs)
    w = max(t.shape[1] for t in thumbs)
    out = np.zeros((k * h, k * w), np.float32)
    for i, t in enumerate(thumbs):
        r, c = divmod(i, k)
        out[r * h : r * h + t.shape[0], c * w : c * w + t.shape[1]] = t
    return out
