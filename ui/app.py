"""Starting the viewer: display check, rig, model check, jobs, screenshot-and-exit.

``run_viewer`` is what ``srscope live`` (GUI) and ``srscope demo --gui`` call.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from srscope import logger
from srscope.errors import SrscopeError

HEADLESS_PLATFORMS = {"offscreen", "minimal", "vnc", "eglfs", "linuxfb"}


class NoDisplayError(SrscopeError):
    """A window was asked for where none can be shown."""


def ensure_display() -> None:
    """Refuse early, with what to do instead, when no window can be shown."""
    platform_env = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0].lower()
    if platform_env in HEADLESS_PLATFORMS:
        return
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise NoDisplayError(
            "no display available for the viewer (DISPLAY and WAYLAND_DISPLAY are unset): "
            "use `srscope live --headless`, or `srscope demo` without --gui; "
            "QT_QPA_PLATFORM=offscreen renders without a screen (e.g. with --screenshot)"
        )
    try:
        import qtpy  # noqa: F401
    except Exception as exc:
        raise NoDisplayError(f"the viewer needs Qt ({exc}): pip install 'srscope[ui]'") from None


def pick_objective(rig: Any, model_meta: Any | None) -> str | None:
    """For SR, start on the LR objective: the lowest magnification preset."""
    from ui.panels import _magnification

    objectives = rig.objectives()
    if model_meta is None or not objectives:
        return None
    return min(objectives, key=lambda o: _magnification(o) or 1e9)


def prepare_rig(
    config: Path | None,
    model: Path | None,
    channel: str | None = None,
    objective: str | None = None,
) -> tuple[Any, Any]:
    """Open the rig, choose objective and channel, refuse a model/channel mismatch.

    Returns ``(microscope, rig)``. With a model and no ``channel``, the rig switches
    to the model's channel when it has it; an explicit ``channel`` the model
    was not trained for is refused, naming both.
    """
    from acquisition import Microscope
    from sr_engine.metadata import read_metadata
    from ui.rig import RigControl
    from ui.sr import check_channel

    meta = read_metadata(model) if model is not None else None
    with _psygnal_core_events():
        scope = Microscope.open(config)
    try:
        rig = RigControl(scope.core, scope)
        objective = objective or pick_objective(rig, meta)
        if objective:
            rig.set_objective(objective)
        if channel:
            rig.set_channel(channel)
        elif meta is not None:
            matches = [c for c in rig.channels() if c.lower() in {m.lower() for m in meta.channels}]
            if matches and rig.channel() not in matches:
                rig.set_channel(matches[0])
        if meta is not None:
            check_channel(meta, rig.channel(), Path(model).name)
    except Exception:
        scope.close()
        raise
    return scope, rig


def default_model(rig: Any, objective_given: bool) -> Path | None:
    """The bundled model that fits the rig's channel, for a viewer opened without one.

    Unless the objective was chosen, the rig goes to its LR objective first (what
    SR is for); then the best-fitting bundled model for the channel and pixel size,
    live tier first, a generalist of the channel's modality otherwise.
    """
    from sr_engine.bundled import bundled_models
    from ui.sr import model_for_channel

    models = bundled_models()
    if not objective_given:
        lr_objective = pick_objective(rig, True)
        if lr_objective:
            rig.set_objective(lr_objective)
    name = model_for_channel(models, rig.channel(), rig.pixel_size_um() or None)
    if name is None:
        logger.info("no bundled model fits channel %s: live view without SR", rig.channel())
        return None
    logger.info("SR with %s for channel %s", name, rig.channel())
    return models[name]


@contextmanager
def _psygnal_core_events() -> Iterator[None]:
    """Open the core with psygnal events even under a running QApplication.

    With Qt events (pymmcore-plus's choice when an app runs) MDA callbacks would
    be queued to the GUI thread; the viewer's relays expect them on the emitting
    thread (and Qt emits leak references under PySide6 6.12.0, see ``_qtfix``).
    """
    key = "PYMM_SIGNALS_BACKEND"
    old = os.environ.get(key)
    os.environ[key] = "psygnal"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def make_jobs(core: Any, rig: Any, window_ref: list[Any]) -> Any:
    """The panels' job functions (run on the panel's worker thread)."""
    from ui.jobs import capture_references, grid_positions, montage, run_scan
    from ui.viewer import Jobs

    def scan(req: Any, ctx: Any) -> Any:
        window = window_ref[0]
        model = window.model.model if (req.super_resolve and window.model is not None) else None
        px = rig.pixel_size_um()
        from acquisition.mosaic import place_tiles

        def on_tile(done: int, total: int, tiles: list) -> None:
            ctx.progress(done, total, f"tile {done}/{total}")
            ctx.preview(place_tiles(tiles, px))

        with rig.lock:
            result = run_scan(
                core,
                req.out_dir,
                req.rows,
                req.columns,
                req.overlap,
                model=model,
                on_tile=on_tile,
                stop=lambda: ctx.cancelled,
            )
        ctx.check()
        ctx.preview(result["sr_mosaic"] if result["sr_mosaic"] is not None else result["lr_mosaic"])
        return _Summary(result["summary"], result)

    def references(req: Any, ctx: Any) -> Any:
        positions = grid_positions(req.positions, rig.position()[:2], req.area_um, req.layout)
        captured: list = []

        def on_capture(done: int, total: int, img: Any) -> None:
            captured.append(img)
            ctx.progress(done, total, f"position {done}/{total}")
            ctx.preview(montage(captured))

        start = rig.position()
        objective = rig.objective()
        with rig.lock:
            try:
                folder = capture_references(
                    core,
                    positions,
                    req.out_dir,
                    channel=rig.channel(),
                    lr_objective=req.lr_objective,
                    hr_objective=req.hr_objective,
                    on_capture=on_capture,
                    stop=lambda: ctx.cancelled,
                )
            finally:
                core.setXYPosition(start[0], start[1])
                if objective:
                    rig.set_objective(objective)
        ctx.check()
        return _Summary(f"{len(captured)} reference pairs → {folder}", folder)

    return Jobs(scan=scan, references=references)


class _Summary:
    def __init__(self, summary: str, value: Any) -> None:
        self.summary = summary
        self.value = value


def run_viewer(
    config: Path | None = None,
    model: Path | None = None,
    *,
    zoom_model: Path | None = None,
    channel: str | None = None,
    objective: str | None = None,
    out_dir: Path = Path("srscope_out"),
    screenshot: Path | None = None,
    exit_after: float | None = None,
    threads: int | None = None,
    auto_model: bool = True,
) -> int:
    """Open the viewer window on a rig; returns the exit code.

    Without a ``model`` (and with ``auto_model``) the bundled model that fits the
    rig's channel is used, on the LR objective.

    ``exit_after`` seconds: take the ``screenshot`` (if any) and quit (for
    documentation and checks).
    """
    ensure_display()
    from qtpy import QtCore, QtWidgets

    from sr_engine.bundled import bundled_models
    from ui.live import MicroscopeStream
    from ui.viewer import ViewerSettings, ViewerWindow

    _app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])  # keep alive
    scope, rig = prepare_rig(config, model, channel, objective)
    core = scope.core
    window_ref: list[Any] = []
    try:
        if model is None and auto_model:
            model = default_model(rig, objective_given=objective is not None)
        settings = ViewerSettings(
            model=model, zoom_model=zoom_model, out_dir=out_dir, threads=threads
        )
        window = ViewerWindow(
            rig,
            MicroscopeStream(scope, rig.lock),
            settings,
            jobs=make_jobs(core, rig, window_ref),
            models=bundled_models(),
        )
        window_ref.append(window)
        window.show()
        # a local loop, not app.exec()/quit(): the app may be shared (scripts, tests)
        loop = QtCore.QEventLoop()
        window.closed.connect(loop.quit)
        if exit_after is not None:

            def finish() -> None:
                if screenshot is not None:
                    path = window.screenshot(screenshot)
                    logger.info("screenshot written to %s", path)
                window.close()

            QtCore.QTimer.singleShot(int(exit_after * 1000), finish)
        loop.exec()
        window.shutdown()
        window.deleteLater()
    finally:
        scope.close()
    return 0
