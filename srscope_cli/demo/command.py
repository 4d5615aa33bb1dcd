"""``srscope demo``: a command of the composition root, since it joins every part.

The rig steps use the acquisition part, SR the engine, scoring the evaluation of
the training part, and ``--gui`` opens the viewer afterwards.
"""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("srscope_demo"), "--out", help="Folder for images and report"),
    gui: bool = typer.Option(False, "--gui", help="Open the viewer on the same rig afterwards"),
    model: str = typer.Option("live_fluo", help="Live model: bundled name or .onnx file"),
    quality_model: str | None = typer.Option(
        None, help="Model scored against 20x (default: paper_fluo if bundled, else --model)"
    ),
    fields: int = typer.Option(3, min=1, max=50, help="Fields captured at 20x and 5x"),
    scan: str = typer.Option("3x3", help="Tile scan size, rows x columns"),
    roi: int = typer.Option(512, min=64, help="Camera ROI side (LR px) for the snap and scan"),
    channel: str | None = typer.Option(None, help="Rig channel (default: the model's)"),
    threads: int | None = typer.Option(None, min=1, help="ONNX Runtime threads"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the demo in a used --out"),
) -> None:
    """Run the whole loop on the simulated rig and write report.html (headless by default)."""
    from rich.console import Console

    from srscope_cli.demo.run import DemoSettings, run_demo, summary_line  # heavy: not at --help

    if gui:
        from ui.app import ensure_display

        ensure_display()  # refuse before minutes of work, not after
    options = {
        "out": out,
        "model": model,
        "quality_model": quality_model,
        "fields": fields,
        "scan": scan,
        "roi": roi,
        "channel": channel,
        "threads": threads,
        "overwrite": overwrite,
    }
    settings = DemoSettings.validated(options, "bad demo option")
    console = Console(stderr=True)
    with console.status("demo") as status:
        result = run_demo(settings, progress=lambda step: status.update(f"demo: {step}…"))
    typer.echo(f"demo done in {result.timings_s['total']:.1f} s: {result.report}")
    typer.echo(summary_line(result))
    if gui:
        from sr_engine.bundled import resolve_model
        from ui.app import run_viewer

        path = Path(resolve_model(model))
        run_viewer(None, path, out_dir=out / "viewer", threads=threads)
