"""``srscope demo``: the whole loop on the simulated rig, headless, in a few minutes.

Opens the simulated rig, snaps a 5x frame and super-resolves it, scans a small
slide area with SR on the fly (raw tiles, SR tiles and both mosaics written),
captures 20x images of a few fields beside their 5x captures (a reference set,
DESIGN.md's format), scores SR, bicubic and bicubic + Richardson–Lucy against
20x with the evaluation part, and writes ``report.html``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from srscope import logger
from srscope.errors import SrscopeError
from ui.jobs import (
    capture_references,
    centred_roi,
    frame_info,
    run_scan,
    set_preset,
    snap,
)
from ui.save import save_snapshot

LR_OBJECTIVE_MAG = 5
HR_OBJECTIVE_MAG = 20
DEFAULT_MODEL = "live_fluo"
QUALITY_MODEL = "balanced_fluo"

Progress = Callable[[str], None]


class DemoSettings(BaseModel):
    """What the demo does (all small by default: minutes on two CPU cores)."""

    model_config = ConfigDict(extra="forbid")

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
    # scored fields: a row centred here, relative to the start position. On the
    # simulated rig's tissue specimen y ≈ 200 µm is the bundled models' held-out
    # region (experiments/README.md): they were trained on fields at y ≤ 16 µm.
    field_centre_um: tuple[float, float] = (0.0, 200.0)
    field_spacing_um: float = Field(300.0, gt=0)
    rl_iterations: int = Field(10, ge=1)
    threads: int | None = None
    config: Path | None = None  # a rig config (default: the simulated rig)

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


class DemoResult(BaseModel):
    """What the demo produced (also written as ``demo.json``)."""

    out: Path
    report: Path
    timings_s: dict[str, float]
    files: dict[str, str]
    model: dict[str, Any]
    quality_model: dict[str, Any]
    table: list[dict[str, Any]]
    scan_sr: dict[str, Any]
    notes: list[str]


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


def _objective(core: Any, magnification: int) -> str:
    from ui.panels import _magnification

    for preset in core.getAvailableConfigs("Objective"):
        if _magnification(preset) == magnification:
            return preset
    raise SrscopeError(
        f"the rig has no {magnification}x objective preset "
        f"(Objective presets: {', '.join(core.getAvailableConfigs('Objective'))})"
    )


def _open_model(spec: str, threads: int | None) -> Any:
    from sr_engine.bundled import resolve_model
    from sr_engine.model import SRModel

    path = resolve_model(spec)
    kwargs = {} if threads is None else {"threads": threads}
    return SRModel(path, **kwargs)


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
    from srscope.degradation import DegradationRecord

    sigma_um = 0.21 * wavelength_um / na
    return DegradationRecord.model_validate(
        {"scale": scale, "psf": {"sigma_hr_px": sigma_um / (lr_px / scale)}}
    )


def _pick_channel(core: Any, model: Any, wanted: str | None) -> str:
    channels = list(core.getAvailableConfigs("Channel")) if core.isGroupDefined("Channel") else []
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
    from ui.sr import check_channel

    check_channel(model.meta, choice, model.meta.name or str(model.source))
    return choice


def _field_positions(
    n: int, spacing: float, centre: tuple[float, float] = (0.0, 0.0)
) -> list[tuple[float, float]]:
    """``n`` fields on a row through ``centre``: 0, -1, +1, -2, +2, … × spacing in x."""
    steps = [0] + [s * k for k in range(1, n) for s in (-1, 1)]
    return [(centre[0] + k * spacing, centre[1]) for k in steps[:n]]


def run_demo(settings: DemoSettings, progress: Progress | None = None) -> DemoResult:
    """Run every step; returns where everything went and how long it took."""
    from acquisition.core import open_core
    from srscope.atomic import check_output

    out = Path(settings.out)
    check_output(out, overwrite=True)  # created once the models and the rig are checked
    clock = _Clock(progress)
    notes: list[str] = []
    files: dict[str, str] = {}
    t_start = time.perf_counter()

    with clock.step("load models"):
        model = _open_model(settings.model, settings.threads)
        qspec = settings.quality_model
        if qspec is None:
            from sr_engine.bundled import bundled_models

            qspec = QUALITY_MODEL if QUALITY_MODEL in bundled_models() else settings.model
        quality = model if qspec == settings.model else _open_model(qspec, settings.threads)
        if settings.quality_model is None and quality.meta.channels != model.meta.channels:
            quality = model  # the bundled quality model is for another channel: score this one

    with clock.step("open rig"):
        core = open_core(settings.config)
    try:
        channel = _pick_channel(core, model, settings.channel)
        if quality is not model:
            _pick_channel(core, quality, channel)
        set_preset(core, "Channel", channel)
        lr_obj = _objective(core, LR_OBJECTIVE_MAG)
        hr_obj = _objective(core, HR_OBJECTIVE_MAG)
        x0, y0 = core.getXYPosition()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SrscopeError(f"cannot create output folder {out}: {exc.strerror}") from None

        # 1. snap a 5x frame and super-resolve it
        with clock.step("snap 5x"):
            set_preset(core, "Objective", lr_obj)
            centred_roi(core, settings.roi)
            lr = snap(core)
            info = frame_info(core, channel)
        _check_pixel_size(info.pixel_size_um, model, notes)
        with clock.step("SR of the snap"):
            sr = model.predict(lr)
        snap_files = save_snapshot(
            out / "snap", lr, info, sr=sr, scale=model.scale, model=str(model.source), stem="snap"
        )
        files.update({f"snap_{k}": str(v.relative_to(out)) for k, v in snap_files.items()})

        # 2. tile scan with SR on the fly, raw and SR mosaics
        with clock.step("scan with on-the-fly SR"):
            rows, cols = settings.scan
            scan = run_scan(core, out / "scan", rows, cols, settings.overlap, model=model)
        files.update({k: str(Path(v).relative_to(out)) for k, v in scan["files"].items()})

        # 3. 20x and 5x captures of a few fields: a reference set
        with clock.step("capture fields (20x + 5x)"):
            positions = [
                (x0 + dx, y0 + dy)
                for dx, dy in _field_positions(
                    settings.fields, settings.field_spacing_um, settings.field_centre_um
                )
            ]
            refs_dir = capture_references(
                core,
                positions,
                out / "fields",
                channel=channel,
                lr_objective=lr_obj,
                hr_objective=hr_obj,
                lr_roi=settings.lr_field,
                hr_roi=settings.hr_field,
            )
        files["fields"] = str(refs_dir.relative_to(out))
        where = ", ".join(f"({x:.0f}, {y:.0f})" for x, y in positions)
        notes.append(
            f"scored fields at stage positions {where} µm; on the simulated tissue specimen "
            "this is the region the bundled models were not trained on (experiments/README.md)"
        )
        core.setXYPosition(x0, y0)
    finally:
        from acquisition.core import close_core

        try:
            close_core(core)  # no MMCore callback may reach Python at interpreter exit
        except Exception:  # pragma: no cover - best effort
            logger.debug("closing the rig failed", exc_info=True)

    # 4. score SR and the baselines against 20x
    with clock.step("evaluate against 20x"):
        from training.evaluation.evaluate import evaluate
        from training.evaluation.report import write_report

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
        scan_sr=scan["stats"],
        notes=notes,
    )
    from ui.report import write_demo_report

    with clock.step("write report"):
        write_demo_report(demo, lr=lr, sr=sr, scan=scan, panels=panels, result=result)
    demo.timings_s["write report"] = clock.timings["write report"]
    demo.timings_s["total"] = time.perf_counter() - t_start
    (out / "demo.json").write_text(demo.model_dump_json(indent=2))
    return demo


def _check_pixel_size(lr_px: float, model: Any, notes: list[str]) -> None:
    want = model.meta.lr_pixel_size_um
    if lr_px <= 0:
        raise SrscopeError("the rig reports no pixel size at 5x: cannot place SR in µm")
    if abs(lr_px - want) > 0.05 * want:
        notes.append(
            f"rig LR pixel {lr_px:.3g} µm differs from the model's {want:.3g} µm by more than 5%"
        )


def environment() -> dict[str, str]:
    """Machine facts for the report."""
    import os

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": str(os.cpu_count()),
        "platform": platform.platform(terse=True),
    }


def summary_line(demo: DemoResult) -> str:
    rows = {r["method"]: r for r in demo.table}
    parts = [
        f"{m}: PSNR {r['psnr_mean']:.2f} dB, SSIM {r['ssim_mean']:.3f}" for m, r in rows.items()
    ]
    return "; ".join(parts)


def to_json(demo: DemoResult) -> str:
    return json.dumps(json.loads(demo.model_dump_json()), indent=2)
