"""``srscope snap | references | scan | acquire``, ``live --headless``: the acquisition commands.

Each opens the simulated rig (``--sim``, the default) or a Micro-Manager config
(``--config FILE``). Heavy imports stay inside the commands so ``--help`` is fast.
The file is a little over 400 lines because five commands' option lists are most
of it; each body is a few lines over the part's public API.

Extension point for on-the-fly processing (super-resolution): ``scan`` and
``acquire`` take ``--model``; :func:`processor_for` turns it into a
:class:`acquisition.processor.FrameProcessor` (for SR: a worker process at idle
priority, :mod:`acquisition.sr_hook`), which never blocks acquisition. Change
only that function to plug in another processor.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sr_engine.cli import ALLOW_MISMATCH_PARAM
from srscope.errors import DeviceError, OutputError, SettingsError, SrscopeError
from srscope.model_base import one_line
from srscope.progress import ProgressBar

if TYPE_CHECKING:
    from acquisition.microscope import Microscope
    from acquisition.processor import FrameProcessor

SIM_HELP = "Use the simulated rig (default; ignored with --config)"
CONFIG_HELP = "A Micro-Manager config file (real hardware, or a config with #py devices)"
ROI_HELP = "Centred square camera ROI in pixels (default: full sensor)"

# options shared by the rig commands, defined once (as pymmcore-plus's CONFIG_PARAM)
CONFIG_PARAM = typer.Option(None, "--config", help=CONFIG_HELP)
SIM_PARAM = typer.Option(True, "--sim/--no-sim", help=SIM_HELP)
ROI_PARAM = typer.Option(None, min=16, help=ROI_HELP)
SPECIMEN_PARAM = typer.Option(
    None,
    help="Sim only: tissue, he, usaf1951, brain (a volume: Z steps through its planes), "
    "slide_fluo, slide_he (virtual slides) or an image",
)
RIG_PARAM = typer.Option(
    None,
    "--rig",
    help="Rig settings (YAML/JSON): config group names, LR/HR objectives, ROI of your config",
)
ONTHEFLY_MODEL_PARAM = typer.Option(
    None,
    "--model",
    help="On-the-fly SR model (.onnx or bundled) for every channel, CHANNEL=MODEL "
    "(repeat: each channel its own), or auto (each channel's bundled model)",
)


def _open(
    sim: bool,
    config: Path | None,
    roi: int | None = None,
    specimen: str | None = None,
    realtime: bool = True,
    rig: Path | None = None,
) -> Microscope:
    from acquisition.microscope import Microscope
    from acquisition.models import RigSettings

    if config is None and not sim:
        raise SettingsError("give --config FILE, or use the simulated rig (--sim)")
    settings = RigSettings.from_file(rig) if rig is not None else None
    scope = Microscope.open(config, settings)
    try:
        if scope.is_simulated:
            scope.core.setProperty("Camera", "RealTime", "On" if realtime else "Off")
            if specimen:
                try:
                    scope.core.setProperty("Camera", "Specimen", specimen)
                except SrscopeError:
                    raise
                except Exception as exc:  # whatever the simulated device refuses with
                    raise DeviceError(f"bad specimen {specimen!r}: {exc}") from None
        elif specimen:
            raise SettingsError("--specimen applies to the simulated rig only")
        if roi:
            scope.set_centered_roi(roi)
    except BaseException:
        scope.close()
        raise
    return scope


def _floats(text: str | None, n: int, what: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        vals = tuple(float(v) for v in text.replace(";", ",").split(","))
    except ValueError:
        raise SettingsError(
            f"{what} must be {n} numbers separated by commas, got {text!r}"
        ) from None
    if len(vals) != n:
        raise SettingsError(f"{what} must be {n} numbers separated by commas, got {text!r}")
    return vals


def processor_for(
    model: str | dict[str, str] | None, base: Path, provenance: dict | None = None, sequence=None
) -> FrameProcessor | None:
    """The frame processor for ``--model`` (on-the-fly SR), or None without one.

    ``model``: one model, or ``{channel: model}`` (:func:`acquisition.model_fit.models_on_rig`).

    Its outputs go to ``<base>.ome.zarr`` (every SR frame) and ``<base>_mosaic.ome.zarr``;
    with the useq ``sequence``, also ``<base>_mip.ome.zarr`` (a Z-stack) and
    ``<base>_composite.png`` (several channels) (:func:`acquisition.sr_hook.sr_processor`).
    """
    if not model:
        return None
    from acquisition.sr_hook import sr_processor

    return sr_processor(model, base, provenance, sequence)


class _ModelProcessor:
    """Live SR of the newest frame with an sr_engine model (a FrameProcessor)."""

    def __init__(self, model: str, threads: int | None) -> None:
        from sr_engine.bundled import open_model

        self.model = open_model(model, threads=threads)

    def process(self, image, metadata):
        return self.model.predict(image, dtype="input")


# ----------------------------------------------------------------------------- snap


def snap(
    out: Path = typer.Option(Path("snap.ome.tif"), "--out", "-o", help="OME-TIFF to write"),
    objective: str | None = typer.Option(
        None, help="Objective preset or label, e.g. 5x or 20x/0.45"
    ),
    channel: str | None = typer.Option(None, help="Channel preset, e.g. DAPI"),
    exposure: float | None = typer.Option(None, help="Exposure in ms"),
    x: float | None = typer.Option(None, help="Stage x (µm)"),
    y: float | None = typer.Option(None, help="Stage y (µm)"),
    z: float | None = typer.Option(None, help="Focus z (µm)"),
    roi: int | None = ROI_PARAM,
    specimen: str | None = SPECIMEN_PARAM,
    sim: bool = SIM_PARAM,
    config: Path | None = CONFIG_PARAM,
    rig: Path | None = RIG_PARAM,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out"),
) -> None:
    """Take one image and write it as OME-TIFF with pixel size and stage position."""
    from acquisition.ome_io import write_ome_tiff
    from srscope.atomic import check_output

    if not out.name.lower().endswith((".tif", ".tiff")):
        raise OutputError(f"--out {out}: snap writes OME-TIFF; name it .ome.tif")
    check_output(out, overwrite)
    with _open(sim, config, roi, specimen, rig=rig) as scope:
        if x is not None or y is not None or z is not None:
            scope.move_to(x, y, z)
        frame = scope.snap(objective, channel, exposure)
        write_ome_tiff(out, frame.image, frame.meta, name=out.name)
    m = frame.meta
    typer.echo(
        f"{out}: {frame.image.shape[1]}x{frame.image.shape[0]} {frame.image.dtype}, "
        f"{m.objective} {m.channel} {m.exposure_ms:g} ms, {m.pixel_size_um:g} µm/px, "
        f"stage ({m.position_um[0]:.1f}, {m.position_um[1]:.1f}, {m.position_um[2]:.1f}) µm"
    )


# ----------------------------------------------------------------------------- live


def live_headless(
    frames: int,
    objective: str | None,
    channel: str | None,
    exposure: float | None,
    roi: int | None,
    realtime: bool,
    model: str | None,
    allow_mismatch: bool,
    threads: int | None,
    sim: bool,
    config: Path | None,
    rig: Path | None = None,
) -> None:
    """``srscope live --headless``: stream ``frames`` frames, print fps and drops.

    The ``live`` command itself is the viewer part's (``ui.cli``): without
    ``--headless`` it opens a window, which this part does not know about.
    """
    with _open(sim, config, roi, realtime=realtime, rig=rig) as scope:
        if model:  # as the viewer starts: the LR objective and the model's channel
            from acquisition.model_fit import start_for_model
            from sr_engine.bundled import resolve_model
            from sr_engine.metadata import read_metadata

            start_for_model(scope, read_metadata(resolve_model(model)), objective, channel)
        else:
            if objective:
                scope.set_objective(objective)
            if channel:
                scope.set_channel(channel)
        if exposure is not None:
            scope.set_exposure(exposure)
        if model:  # the frames it will see: this objective's pixels, this channel
            from acquisition.model_fit import model_fit_on_rig

            current = scope.core.getCurrentConfig(scope.settings.channel_group) or ""
            model_fit_on_rig(scope, model, [current], None, allow_mismatch)
        processor = _ModelProcessor(model, threads) if model else None
        stream = scope.live(processor)
        with stream:
            got = stream.wait_frames(frames, timeout=max(30.0, frames * 2.0))
            stats = stream.stats
    line = (
        f"frames={got} fps={stats.fps:.1f} display_drops={stats.display_dropped} "
        f"camera_overflow={'yes' if stats.camera_overflowed else 'no'}"
    )
    if processor is not None:
        line += f" processed={stats.processed} processor_drops={stats.processor_dropped}"
    typer.echo(line)
    if stream.error is not None:
        raise DeviceError(f"the camera failed after {got} frames: {one_line(stream.error, None)}")
    if got < frames:
        raise DeviceError(f"the camera delivered only {got} of {frames} frames")


# ----------------------------------------------------------------------------- references


def references(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for references.json + OME-TIFFs"),
    n: int = typer.Option(8, min=1, help="Number of positions (random/grid)"),
    area: str = typer.Option(
        "-2000,-2000,2000,2000", help="Area for random/grid positions: x0,y0,x1,y1 (µm)"
    ),
    positions: str | None = typer.Option(None, help="Explicit positions 'x,y;x,y;...' (µm)"),
    layout: str = typer.Option("random", help="random | grid"),
    seed: int = typer.Option(0, help="Seed of random positions"),
    channel: list[str] = typer.Option(["FITC"], "--channel", "-c", help="Channel (repeat)"),
    hr: str | None = typer.Option(None, help="HR objective (default 20x)"),
    lr: str | None = typer.Option(None, help="LR objective (default 5x)"),
    no_lr: bool = typer.Option(False, "--no-lr", help="Capture HR images only"),
    hr_exposure: float = typer.Option(50.0, help="HR exposure (ms)"),
    lr_exposure: float = typer.Option(10.0, help="LR exposure (ms)"),
    roi: int | None = ROI_PARAM,
    specimen: str | None = SPECIMEN_PARAM,
    sim: bool = SIM_PARAM,
    config: Path | None = CONFIG_PARAM,
    rig: Path | None = RIG_PARAM,
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out"),
) -> None:
    """Capture a reference set: HR and LR images of each channel at N stage positions."""
    from acquisition.references import grid_positions, random_positions
    from srscope.atomic import check_output

    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"{out} exists and is not empty; pass --overwrite or a new folder")
    check_output(out, overwrite=True, folder=True)
    if layout not in ("random", "grid"):
        raise SettingsError(f"--layout must be random or grid, got {layout!r}")
    if positions:
        pts = [_floats(p, 2, "a position") for p in positions.split(";") if p.strip()]
        where = [(p[0], p[1]) for p in pts if p]
    else:
        box = _floats(area, 4, "--area")
        assert box is not None
        make = random_positions if layout == "random" else grid_positions
        where = make((box[0], box[1], box[2], box[3]), n, seed=seed)
    with (
        _open(sim, config, roi, specimen, realtime=False, rig=rig) as scope,
        ProgressBar("positions") as bar,
    ):
        refs = scope.references(
            out,
            where,
            channels=channel,
            hr_objective=hr,
            lr_objective=None if no_lr else (lr or "default"),
            hr_exposure_ms=hr_exposure,
            lr_exposure_ms=lr_exposure,
            progress=bar.update,
        )
    typer.echo(f"{out}: {len(refs.entries)} entries, scale {refs.scale}, channels {refs.channels}")


# ----------------------------------------------------------------------------- scan


def scan(
    out: Path = typer.Option(..., "--out", "-o", help="Scan folder (tiles, journal, mosaic)"),
    area: str | None = typer.Option(None, help="Slide area x0,y0,x1,y1 (µm)"),
    center: str | None = typer.Option(None, help="Grid centre x,y (µm) with --rows/--cols"),
    rows: int = typer.Option(3, min=1, help="Grid rows (centre grid, or per well)"),
    cols: int = typer.Option(3, min=1, help="Grid columns (centre grid, or per well)"),
    plate: str | None = typer.Option(None, help="Plate type, e.g. 96-well (with --wells)"),
    wells: str | None = typer.Option(None, help="Wells, e.g. A1,A2,B1"),
    a1: str = typer.Option("0,0", help="Stage x,y of well A1's centre (µm)"),
    channel: list[str] = typer.Option(["DAPI"], "--channel", "-c", help="Channel (repeat)"),
    objective: str | None = typer.Option(None, help="Objective (default: the LR objective, 5x)"),
    exposure: float = typer.Option(10.0, help="Exposure (ms)"),
    overlap: float = typer.Option(0.1, min=0.0, max=0.8, help="Tile overlap fraction"),
    resume: bool = typer.Option(False, "--resume", help="Complete the scan already in --out"),
    ome_tiff: bool = typer.Option(
        False, "--ome-tiff", help="Also export each mosaic (LR, SR) as a pyramidal OME-TIFF"
    ),
    model: list[str] | None = ONTHEFLY_MODEL_PARAM,
    allow_mismatch: bool = ALLOW_MISMATCH_PARAM,
    roi: int | None = ROI_PARAM,
    specimen: str | None = SPECIMEN_PARAM,
    sim: bool = SIM_PARAM,
    config: Path | None = CONFIG_PARAM,
    rig: Path | None = RIG_PARAM,
) -> None:
    """Tile scan of a slide area or plate wells at the LR objective: OME-Zarr tiles + mosaic.

    Mosaics are OME-Zarr 0.5 pyramids (``mosaic.ome.zarr``; with ``--model``,
    ``sr.ome.zarr`` and ``sr_mosaic.ome.zarr``), streamed to disk.
    """
    from acquisition.scan import scan_plan
    from srscope.atomic import check_output

    plan = None
    if not resume:
        check_output(out, overwrite=True, folder=True)  # an existing scan is refused below
        if area is None and center is None and plate is None:
            center = "0,0"
        plan = scan_plan(
            area_um=_floats(area, 4, "--area"),
            center_um=_floats(center, 2, "--center"),
            rows=rows,
            columns=cols,
            plate=plate,
            wells=[w for w in (wells or "").split(",") if w.strip()],
            a1_center_um=_floats(a1, 2, "--a1"),
            channels=channel,
            objective=objective,
            exposure_ms=exposure,
            overlap=overlap,
        )
    from acquisition.scan import ScanInterrupted

    try:
        with (
            _open(sim, config, roi, specimen, realtime=False, rig=rig) as scope,
            ProgressBar("tiles") as bar,
        ):
            provenance = models = None
            if model:  # before the first tile: each channel's model, fit to its tiles
                from acquisition.model_fit import models_on_rig
                from acquisition.scan_journal import ScanState

                state = ScanState.load(out) if plan is None else None
                channels = state.channels if state is not None else plan.channels
                objective = state.objective if state is not None else scope.resolve_objective(
                    plan.objective or scope.settings.lr_objective)  # fmt: skip
                choice = models_on_rig(scope, model, channels, objective, allow_mismatch)
                provenance, models = choice.provenance(), choice.models()
            processor = processor_for(models, out / "sr", provenance)  # scan/sr.ome.zarr
            result = scope.scan(
                plan, out, resume=resume, processor=processor, progress=bar.update,
                ome_tiff=ome_tiff,
            )  # fmt: skip
    except ScanInterrupted as exc:
        again = _resume_command(out, roi, specimen, config, model)
        typer.echo(f"{exc}: resume with {again}", err=True)
        raise typer.Exit(130) from None
    mosaics = ", ".join([*result.mosaics.values(), *filter(None, [result.sr_mosaic])])
    typer.echo(
        f"{out}: {result.tiles_captured}/{result.tiles_total} tiles in {result.seconds:.1f} s; "
        f"mosaic {mosaics}"
    )
    for view in getattr(processor, "views", None) or ():  # the SR mosaic's colour composite
        typer.echo(f"{view}")


def _resume_command(
    out: Path,
    roi: int | None,
    specimen: str | None,
    config: Path | None,
    model: list[str] | None,
) -> str:
    """The command line that completes an interrupted scan (same camera, rig and models)."""
    import shlex

    args = ["srscope", "scan", "--out", str(out), "--resume"]
    for flag, value in (("--roi", roi), ("--specimen", specimen), ("--config", config)):
        if value is not None:
            args += [flag, str(value)]
    for spec in model or ():
        args += ["--model", spec]
    return shlex.join(args)


# ----------------------------------------------------------------------------- acquire


def acquire(
    sequence: Path = typer.Argument(..., help="useq-schema MDASequence (YAML or JSON)"),
    out: Path = typer.Option(
        Path("acquisition.ome.zarr"), "--out", "-o", help=".ome.zarr or .ome.tif output"
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output"),
    objective: str | None = typer.Option(
        None, help="Objective for the whole sequence, e.g. 5x (default: the rig's current one)"
    ),
    model: list[str] | None = ONTHEFLY_MODEL_PARAM,
    allow_mismatch: bool = ALLOW_MISMATCH_PARAM,
    roi: int | None = ROI_PARAM,
    specimen: str | None = SPECIMEN_PARAM,
    sim: bool = SIM_PARAM,
    config: Path | None = CONFIG_PARAM,
    rig: Path | None = RIG_PARAM,
) -> None:
    """Run any useq-schema sequence headless and write OME-Zarr / OME-TIFF."""
    from acquisition.sequence import count_frames, load_sequence

    seq = load_sequence(sequence)  # bad files fail before the rig is opened
    base = out.parent / (out.name.split(".")[0] + "_sr")  # run.ome.zarr -> run_sr.ome.zarr
    with (
        _open(sim, config, roi, specimen, realtime=False, rig=rig) as scope,
        ProgressBar("frames") as bar,
    ):
        provenance = models = None
        if objective:
            scope.set_objective(objective)
        if model:  # each channel's model, fit to its frames, before the first one is taken
            from acquisition.model_fit import models_on_rig

            channels = [c.config for c in seq.channels]
            choice = models_on_rig(scope, model, channels, None, allow_mismatch)
            provenance, models = choice.provenance(), choice.models()
        processor = processor_for(models, base, provenance, seq)
        path = scope.acquire(
            seq, out, overwrite=overwrite, processor=processor, progress=bar.update
        )
    typer.echo(f"{path}: {count_frames(seq)} frames")
    if processor is not None:  # what on-the-fly SR wrote beside it
        mosaic = getattr(processor, "mosaic_file", None)
        typer.echo(f"SR: {base}.ome.zarr" + (f", SR mosaic {mosaic}" if mosaic else ""))
    for view in getattr(processor, "views", None) or ():  # SR MIP, colour composite
        typer.echo(f"{view}")


def register(app: typer.Typer) -> None:
    """Add this part's subcommands to the ``srscope`` app."""
    for fn in (snap, references, scan, acquire):
        app.command(fn.__name__)(fn)
