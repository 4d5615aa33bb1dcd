"""``srscope demo``: the whole loop on the simulated rig, headless, in a few minutes.

It joins every part (acquisition, engine, evaluation, the viewer's snapshot
writer), so it lives in the composition root.

Opens the simulated rig, snaps a 5x frame and super-resolves it, scans a small
slide area with SR on the fly (raw tiles, SR tiles and both mosaics written; on the
simulated rig the scan is of a whole virtual slide, ``scan_specimen``),
captures 20x images of a few fields beside their 5x captures (a reference set,
DESIGN.md's format), scores SR, bicubic and bicubic + Richardson–Lucy against
20x with the evaluation part, and writes ``report.html``.

A little over 400 lines because the demo's steps share one rig and one output folder,
in the order a user reads them in the report; the report and the scan specimen are
modules of their own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from acquisition.microscope import Microscope
from acquisition.references import capture_references
from acquisition.rig import Rig, magnification
from acquisition.scan import GridPlan, ScanResult, run_scan
from acquisition.sr_hook import SRFrameProcessor, sr_processor
from sr_engine.bundled import bundled_models, open_model
from sr_engine.compatibility import check_fit
from srscope import logger
from srscope.atomic import check_output_folder, clear_owned
from srscope.degradation import DegradationRecord
from srscope.errors import SrscopeError
from srscope.images import read_image
from srscope.model_base import SrscopeModel
from srscope_cli.demo.report import write_demo_report
from srscope_cli.demo.result import DemoResult
from srscope_cli.demo.specimen import SCAN_SPECIMEN, scan_specimen
from training.evaluation.evaluate import evaluate
from training.evaluation.report import write_report
from ui.save import save_snapshot

LR_OBJECTIVE_MAG = 5
HR_OBJECTIVE_MAG = 20
DEFAULT_MODEL = "live_fluo"
QUALITY_MODEL = "balanced_fluo"
# What the demo writes into --out (cleared first with --overwrite: a report of this run only).
DEMO_FILES = ("snap", "scan", "fields", "evaluation", "figures", "report.html", "demo.json")

Progress = Callable[[str], None]


class DemoSettings(SrscopeModel):
    """What the demo does (all small by default: minutes on two CPU cores)."""

    out: Path = Path("srscope_demo")
    model: str = DEFAULT_MODEL  # live model: snap and scan (bundled name or .onnx path)
    quality_model: str | None = None  # fields/evaluation; default paper_fluo if bundled
    channel: str | None = None  # default: the model's channel
    fields: int = Field(3, ge=1, le=50)
    scan: tuple[int, int] = (3, 3)
    roi: int = Field(512, ge=64, le=4096)  # LR camera ROI side (px) for snap and scan
    lr_field: int = Field(384, ge=64)  # LR ROI side for the 5x capture of a field
    hr_field: int | None = Field(None, ge=64)  # 20x ROI side (None: full sensor)
    overlap: float = Field(0.1, ge=0.0, lt=0.5)
    # simulated rig: what the tile scan sees (None: the rig's specimen, as the fields do)
    scan_specimen: str | None = SCAN_SPECIMEN
    # scored fields: a row centred here, relative to the start position. On the
    # simulated rig's tissue specimen y ≈ 200 µm is the bundled models' held-out
    # region (experiments/README.md): they were trained on fields at y ≤ 16 µm.
    field_centre_um: tuple[float, float] = (0.0, 200.0)
    field_spacing_um: float = Field(300.0, gt=0)
    rl_iterations: int = Field(10, ge=1)
    threads: int | None = None
    config: Path | None = None  # a rig config (default: the simulated rig)
    overwrite: bool = False  # replace the demo's files in an existing, non-empty out

    @field_validator("scan", mode="before")
    @classmethod
    def _parse_scan(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                rows, cols = (int(v) for v in value.lower().split("x"))
            except ValueError:
                raise ValueError(f"scan must look like 3x3, got {value!r}") from None
            if not (1 <= rows <= 50 and 1 <= cols <= 50):
                raise ValueError(f"scan must have 1 to 50 rows and columns, got {value!r}")
            return rows, cols
        return value


class _Clock:
    def __init__(self, progress: Progress | None) -> None:
        self.timings: dict[str, float] = {}
        self._progress = progress

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self._progress:
            self._progress(name)
        logger.info("demo: %s", name)
        t0 = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - t0


def _objective(scope: Rig, mag: int) -> str:
    for preset in scope.objectives:
        if magnification(preset) == mag:
            return preset
    raise SrscopeError(
        f"the rig has no {mag}x objective preset "
        f"({scope.settings.objective_group} presets: {', '.join(scope.objectives)})"
    )


def _model_info(model: Any) -> dict[str, Any]:
    meta = model.meta
    return {
        "file": str(model.source),
        "name": meta.name or Path(str(model.source)).stem,
        "description": meta.description,
        "scale": meta.scale,
        "channels": list(meta.channels),
        "lr_pixel_size_um": meta.lr_pixel_size_um,
        "hr_pixel_size_um": meta.hr_pixel_size_um,
        "degradation": meta.degradation.model_dump(mode="json") if meta.degradation else None,
        "metrics": meta.metrics,
        "training": meta.training,
    }


def _fallback_record(scale: int, lr_px: float, wavelength_um: float = 0.52, na: float = 0.15):
    """A Gaussian record from the LR objective's optics when the model carries none."""
    sigma_um = 0.21 * wavelength_um / na
    return DegradationRecord.model_validate(
        {"scale": scale, "psf": {"sigma_hr_px": sigma_um / (lr_px / scale)}}
    )


def _pick_channel(scope: Rig, model: Any, wanted: str | None) -> str:
    channels = scope.channels
    if wanted:
        if wanted not in channels:
            raise SrscopeError(f"unknown channel {wanted!r} (rig channels: {', '.join(channels)})")
        choice = wanted
    else:
        match = [c for c in model.meta.channels if c in channels]
        if not match:
            raise SrscopeError(
                f"model {model.meta.name or model.source} was trained for channel(s) "
                f"{', '.join(model.meta.channels)}, which the rig does not have "
                f"(rig channels: {', '.join(channels)})"
            )
        choice = match[0]
    check_fit(model.meta, channel=choice, model_name=model.meta.name or str(model.source))
    return choice


def _field_positions(
    n: int, spacing: float, centre: tuple[float, float] = (0.0, 0.0)
) -> list[tuple[float, float]]:
    """``n`` fields on a row through ``centre``: 0, -1, +1, -2, +2, … × spacing in x."""
    steps = [0] + [s * k for k in range(1, n) for s in (-1, 1)]
    return [(centre[0] + k * spacing, centre[1]) for k in steps[:n]]


def run_demo(settings: DemoSettings, progress: Progress | None = None) -> DemoResult:
    """Run every step; returns where everything went and how long it took."""
    out = Path(settings.out)
    check_output_folder(out, settings.overwrite)  # made once the models and the rig are checked
    clock = _Clock(progress)
    notes: list[str] = []
    files: dict[str, str] = {}
    t_start = time.perf_counter()

    with clock.step("load models"):
        model = open_model(settings.model, threads=settings.threads)
        qspec = settings.quality_model
        if qspec is None:
            qspec = QUALITY_MODEL if QUALITY_MODEL in bundled_models() else settings.model
        quality = model if qspec == settings.model else open_model(qspec, threads=settings.threads)
        if settings.quality_model is None and quality.meta.channels != model.meta.channels:
            quality = model  # the bundled quality model is for another channel: score this one

    with clock.step("open rig"):
        scope = Microscope.open(settings.config)
    try:
        lr, sr, scan = _acquire(scope, settings, model, quality, clock, out, files, notes)
    finally:
        scope.close()  # no MMCore callback may reach Python at interpreter exit
    refs_dir = out / files["fields"]

    # 4. score SR and the baselines against 20x
    with clock.step("evaluate against 20x"):
        record = quality.meta.degradation
        if record is None:
            record = _fallback_record(quality.scale, quality.meta.lr_pixel_size_um)
            notes.append(
                f"model {quality.meta.name or quality.source} has no degradation record: "
                f"bicubic+RL uses a Gaussian PSF from the 5x optics (σ = "
                f"{record.psf.sigma_hr_px:.2f} HR px)"
            )
        result, panels = evaluate(
            quality,
            refs_dir,
            record=record,
            rl_iterations=settings.rl_iterations,
            n_panels=settings.fields,
            field_size=min(384, settings.hr_field or 384),
        )
        eval_paths = write_report(result, panels, out / "evaluation")
    files["evaluation_report"] = str(eval_paths["html"].relative_to(out))
    notes.extend(result.notes)

    timings = dict(clock.timings)
    timings["total"] = time.perf_counter() - t_start
    table = [row.model_dump(mode="json") for row in result.table]
    demo = DemoResult(
        out=out,
        report=out / "report.html",
        timings_s=timings,
        files=files,
        model=_model_info(model),
        quality_model=_model_info(quality),
        table=table,
        scan_sr=scan.stats,
        notes=notes,
    )
    with clock.step("write report"):
        write_demo_report(
            demo,
            lr=lr,
            sr=sr,
            lr_mosaic=scan.lr_mosaic,
            sr_mosaic=scan.sr_mosaic,
            panels=panels,
            result=result,
        )
    demo.timings_s["write report"] = clock.timings["write report"]
    demo.timings_s["total"] = time.perf_counter() - t_start
    (out / "demo.json").write_text(demo.model_dump_json(indent=2))
    return demo


class _DemoScan(SrscopeModel, arbitrary_types_allowed=True):
    """The demo's tile scan: its mosaics (for the report) and how SR kept up."""

    lr_mosaic: Any
    sr_mosaic: Any
    stats: dict[str, Any]


def _acquire(
    scope: Microscope,
    settings: DemoSettings,
    model: Any,
    quality: Any,
    clock: _Clock,
    out: Path,
    files: dict[str, str],
    notes: list[str],
) -> tuple[Any, Any, _DemoScan]:
    """Steps 1-3 on the rig: snap and its SR, scan with SR on the fly, fields at 20x + 5x."""
    channel = _pick_channel(scope, model, settings.channel)
    if quality is not model:
        _pick_channel(scope, quality, channel)
    scope.set_channel(channel)
    lr_obj = _objective(scope, LR_OBJECTIVE_MAG)
    hr_obj = _objective(scope, HR_OBJECTIVE_MAG)
    x0, y0, _ = scope.position_um
    try:
        clear_owned(out, DEMO_FILES)  # a report of this run only
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SrscopeError(f"cannot create output folder {out}: {exc.strerror}") from None

    # 1. snap a 5x frame and super-resolve it
    with clock.step("snap 5x"):
        scope.set_objective(lr_obj)
        _square_roi(scope, settings.roi)
        frame = scope.snap()
    _check_pixel_size(frame.meta.pixel_size_um, model, notes)
    with clock.step("SR of the snap"):
        sr = model.predict(frame.image)
    snap_files = save_snapshot(
        out / "snap",
        frame.image,
        frame.meta,
        sr=sr,
        scale=model.scale,
        model=str(model.source),
        stem="snap",
    )
    files.update({f"snap_{k}": str(v.relative_to(out)) for k, v in snap_files.items()})

    # 2. tile scan with SR on the fly: the files `srscope scan --model` writes
    with clock.step("scan with on-the-fly SR"), scan_specimen(scope, settings.scan_specimen):
        rows, cols = settings.scan
        plan = GridPlan(
            center_um=(x0, y0),
            rows=rows,
            columns=cols,
            channels=[channel],
            objective=lr_obj,
            exposure_ms=scope.exposure_ms,
            overlap=settings.overlap,
        )
        processor = sr_processor(model, out / "scan" / "sr")
        try:
            result = run_scan(scope, plan, out / "scan", processor=processor)
            scan = _scan_outputs(result, processor)
        finally:
            processor.close()
    files.update(
        {
            "scan_state": "scan/scan.json",
            "scan_raw": "scan/tiles",
            "scan_lr_mosaic": f"scan/{result.mosaics['all']}",
            "scan_sr": "scan/sr.ome.zarr",
            "scan_sr_mosaic": f"scan/{result.sr_mosaic or 'sr_mosaic.ome.zarr'}",
        }
    )

    # 3. 20x (full sensor) and 5x captures of a few fields: a reference set
    with clock.step("capture fields (20x + 5x)"):
        positions = [
            (x0 + dx, y0 + dy)
            for dx, dy in _field_positions(
                settings.fields, settings.field_spacing_um, settings.field_centre_um
            )
        ]
        scope.core.clearROI()
        exposure = scope.exposure_ms
        capture_references(
            scope,
            out / "fields",
            positions,
            channels=[channel],
            hr_objective=hr_obj,
            lr_objective=lr_obj,
            hr_exposure_ms=exposure,
            lr_exposure_ms=exposure,
            hr_roi=settings.hr_field,
            lr_roi=settings.lr_field,
        )
    files["fields"] = "fields"
    where = ", ".join(f"({x:.0f}, {y:.0f})" for x, y in positions)
    notes.append(
        f"scored fields at stage positions {where} µm; on the simulated tissue specimen "
        "this is the region the bundled models were not trained on (experiments/README.md)"
    )
    scope.move_to(x0, y0)
    return frame.image, sr, scan


def _square_roi(scope: Rig, side: int) -> None:
    """A centred square ROI of ``side`` px (at most the sensor)."""
    scope.core.clearROI()
    w, h = scope.core.getImageWidth(), scope.core.getImageHeight()
    scope.set_centered_roi(min(side, w, h))


def _scan_outputs(result: ScanResult, processor: SRFrameProcessor) -> _DemoScan:
    if processor.error:
        raise SrscopeError(f"on-the-fly SR failed: {processor.error}")
    stats: dict[str, Any] = {"acquisition_s": result.acquisition_s, "tiles": result.tiles_captured}
    stats.update(processor.stats.summary())
    return _DemoScan(
        lr_mosaic=_one_channel(read_image(result.folder / result.mosaics["all"])),
        sr_mosaic=processor.mosaic,
        stats=stats,
    )


def _one_channel(image: np.ndarray) -> np.ndarray:
    """A one-channel OME-Zarr mosaic's (1, Y, X) level 0 as (Y, X)."""
    return image[0] if image.ndim == 3 and image.shape[0] == 1 else image


def _check_pixel_size(lr_px: float, model: Any, notes: list[str]) -> None:
    want = model.meta.lr_pixel_size_um
    if lr_px <= 0:
        raise SrscopeError("the rig reports no pixel size at 5x: cannot place SR in µm")
    if abs(lr_px - want) > 0.05 * want:
        notes.append(
            f"rig LR pixel {lr_px:.3g} µm differs from the model's {want:.3g} µm by more than 5%"
        )


def summary_line(demo: DemoResult) -> str:
    rows = {r["method"]: r for r in demo.table}
    parts = [
        f"{m}: PSNR {r['psnr_mean']:.2f} dB, SSIM {r['ssim_mean']:.3f}" for m, r in rows.items()
    ]
    return "; ".join(parts)


def to_json(demo: DemoResult) -> str:
    return json.dumps(json.loads(demo.model_dump_json()), indent=2)
