"""``srscope live`` and ``srscope demo``.

``live`` opens this part's window (:func:`ui.app.run_viewer`); with ``--headless``
it runs the acquisition part's headless stream
(:func:`acquisition.cli.live_headless`). Heavy imports (Qt, onnxruntime) stay
inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from acquisition.cli import (
    ALLOW_MISMATCH_HELP,
    CONFIG_HELP,
    ROI_HELP,
    SIM_HELP,
    live_headless,
)
from srscope.errors import SrscopeError


def live(
    headless: bool = typer.Option(False, "--headless", help="No window: stream, print fps"),
    frames: int = typer.Option(100, min=1, help="Frames to stream with --headless"),
    objective: str = typer.Option(None, help="Objective preset to start with"),
    channel: str = typer.Option(None, help="Channel preset to start with"),
    exposure: float = typer.Option(None, help="Exposure in ms"),
    roi: int = typer.Option(None, min=16, help=ROI_HELP),
    realtime: bool = typer.Option(
        True, "--realtime/--no-realtime", help="Sim only: frames take their exposure time"
    ),
    model: str = typer.Option(None, "--model", help="SR model (.onnx or bundled name)"),
    allow_mismatch: bool = typer.Option(False, "--allow-mismatch", help=ALLOW_MISMATCH_HELP),
    zoom_model: str = typer.Option(None, help="Window only: full-quality model when zoomed"),
    out: Path = typer.Option(Path("srscope_out"), "--out", help="Window only: output folder"),
    screenshot: Path = typer.Option(None, help="Window only: PNG of the window"),
    exit_after: float = typer.Option(None, min=0.0, help="Window only: close after SECONDS"),
    threads: int = typer.Option(None, min=1, help="ONNX Runtime threads"),
    sim: bool = typer.Option(True, "--sim/--no-sim", help=SIM_HELP),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Live view (window), or --headless: stream N frames and print fps and drops."""
    if headless:
        live_headless(
            frames, objective, channel, exposure, roi, realtime, model, allow_mismatch,
            threads, sim, config,
        )  # fmt: skip
        return
    from sr_engine.bundled import resolve_model
    from ui.app import run_viewer

    if screenshot is not None and exit_after is None:
        raise SrscopeError("--screenshot needs --exit-after SECONDS (when to take it)")
    run_viewer(
        config,
        resolve_model(model) if model else None,
        zoom_model=resolve_model(zoom_model) if zoom_model else None,
        channel=channel,
        objective=objective,
        out_dir=out,
        screenshot=screenshot,
        exit_after=exit_after,
        threads=threads,
    )


def demo(
    out: Path = typer.Option(Path("srscope_demo"), "--out", help="Folder for images and report"),
    gui: bool = typer.Option(False, "--gui", help="Open the viewer on the same rig afterwards"),
    model: str = typer.Option("live_fluo", help="Live model: bundled name or .onnx file"),
    quality_model: str = typer.Option(
        None, help="Model scored against 20x (default: paper_fluo if bundled, else --model)"
    ),
    fields: int = typer.Option(3, min=1, max=50, help="Fields captured at 20x and 5x"),
    scan: str = typer.Option("3x3", help="Tile scan size, rows x columns"),
    roi: int = typer.Option(512, min=64, help="Camera ROI side (LR px) for the snap and scan"),
    channel: str = typer.Option(None, help="Rig channel (default: the model's)"),
    threads: int = typer.Option(None, min=1, help="ONNX Runtime threads"),
) -> None:
    """Run the whole loop on the simulated rig and write report.html (headless by default)."""
    from rich.console import Console

    from ui.demo import DemoSettings, run_demo, summary_line

    if gui:
        from ui.app import ensure_display

        ensure_display()  # refuse before minutes of work, not after
    try:
        settings = DemoSettings(
            out=out,
            model=model,
            quality_model=quality_model,
            fields=fields,
            scan=scan,
            roi=roi,
            channel=channel,
            threads=threads,
        )
    except ValueError as exc:
        raise SrscopeError(f"bad demo option: {_first_error(exc)}") from None
    console = Console(stderr=True)
    with console.status("demo") as status:
        result = run_demo(settings, progress=lambda step: status.update(f"demo: {step}…"))
    typer.echo(f"demo done in {result.timings_s['total']:.1f} s: {result.report}")
    typer.echo(summary_line(result))
    if gui:
        from ui.app import run_viewer
        from ui.demo import _open_model

        path = Path(_open_model(model, None).source)
        run_viewer(None, path, out_dir=out / "viewer", threads=threads)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        err = errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)


def register(app: typer.Typer) -> None:
    """Add ``live`` and ``demo``."""
    app.command("live")(live)
    app.command("demo")(demo)
