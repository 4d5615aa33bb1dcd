"""``srscope demo`` and the viewer of ``srscope live``.

``live`` is registered here only when the acquisition part has not registered
its own (headless) ``live``; the GUI itself is :func:`ui.app.run_viewer` either
way. Heavy imports (Qt, onnxruntime) stay inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from srscope.errors import SrscopeError


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


def live(
    sim: bool = typer.Option(True, "--sim/--no-sim", help="Use the simulated rig (default)"),
    config: Path = typer.Option(None, "--config", help="A Micro-Manager config file"),
    model: str = typer.Option(None, "--model", help="Live SR model: .onnx file or bundled name"),
    zoom_model: str = typer.Option(
        None, help="Full-quality model for the visible region when zoomed in (default: --model)"
    ),
    channel: str = typer.Option(None, help="Channel preset to start with"),
    objective: str = typer.Option(None, help="Objective preset to start with"),
    out: Path = typer.Option(Path("srscope_out"), "--out", help="Folder for snaps, scans, refs"),
    screenshot: Path = typer.Option(None, help="Write a PNG of the window (with --exit-after)"),
    exit_after: float = typer.Option(None, min=0.0, help="Close the window after SECONDS"),
    headless: bool = typer.Option(False, "--headless", help="No window: stream and print fps"),
    frames: int = typer.Option(100, min=1, help="Frames to stream with --headless"),
    threads: int = typer.Option(None, min=1, help="ONNX Runtime threads"),
) -> None:
    """Live LR beside its SR in a window (or --headless: stream frames and print fps)."""
    from sr_engine.bundled import resolve_model

    if headless:
        from ui.headless import run_headless

        run_headless(config, frames, resolve_model(model) if model else None)
        return
    if screenshot is not None and exit_after is None:
        raise SrscopeError("--screenshot needs --exit-after SECONDS (when to take it)")
    from ui.app import run_viewer

    run_viewer(
        config if not sim or config is not None else None,
        resolve_model(model) if model else None,
        zoom_model=resolve_model(zoom_model) if zoom_model else None,
        channel=channel,
        objective=objective,
        out_dir=out,
        screenshot=screenshot,
        exit_after=exit_after,
        threads=threads,
    )


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        err = errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)


def register(app: typer.Typer) -> None:
    """Add ``demo`` (and ``live`` unless the acquisition part registered one)."""
    app.command("demo")(demo)
    taken = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    if "live" not in taken:
        app.command("live")(live)
