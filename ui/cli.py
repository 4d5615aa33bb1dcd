"""``srscope live``.

``live`` opens this part's window (:func:`ui.app.run_viewer`); with ``--headless``
it runs the acquisition part's headless stream
(:func:`acquisition.cli.live_headless`). Heavy imports (Qt, onnxruntime) stay
inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from acquisition.cli import (
    CONFIG_PARAM,
    RIG_PARAM,
    ROI_PARAM,
    SIM_PARAM,
    live_headless,
)
from sr_engine.cli import ALLOW_MISMATCH_PARAM
from srscope.errors import SrscopeError


def live(
    headless: bool = typer.Option(False, "--headless", help="No window: stream, print fps"),
    frames: int = typer.Option(100, min=1, help="Frames to stream with --headless"),
    objective: str | None = typer.Option(None, help="Objective preset to start with"),
    channel: str | None = typer.Option(None, help="Channel preset to start with"),
    exposure: float | None = typer.Option(None, help="Exposure in ms"),
    roi: int | None = ROI_PARAM,
    realtime: bool = typer.Option(
        True, "--realtime/--no-realtime", help="Sim only: frames take their exposure time"
    ),
    model: str | None = typer.Option(None, "--model", help="SR model (.onnx or bundled name)"),
    allow_mismatch: bool = ALLOW_MISMATCH_PARAM,
    zoom_model: str | None = typer.Option(None, help="Window only: full-quality model when zoomed"),
    out: Path = typer.Option(Path("srscope_out"), "--out", help="Window only: output folder"),
    screenshot: Path | None = typer.Option(None, help="Window only: PNG of the window"),
    exit_after: float | None = typer.Option(None, min=0.0, help="Window only: close after SECONDS"),
    threads: int | None = typer.Option(None, min=1, help="ONNX Runtime threads"),
    sim: bool = SIM_PARAM,
    config: Path | None = CONFIG_PARAM,
    rig: Path | None = RIG_PARAM,
) -> None:
    """Live view (window), or --headless: stream N frames and print fps and drops."""
    if headless:
        live_headless(
            frames, objective, channel, exposure, roi, realtime, model, allow_mismatch,
            threads, sim, config, rig,
        )  # fmt: skip
        return
    from acquisition.models import RigSettings
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
        rig_settings=RigSettings.from_file(rig) if rig is not None else None,
    )


def register(app: typer.Typer) -> None:
    """Add ``live`` (``demo`` joins every part: the composition root's, ``srscope_cli.demo``)."""
    app.command("live")(live)
