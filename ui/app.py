"""Starting the viewer: display check, rig, model check, jobs, screenshot-and-exit.

``run_viewer`` is what ``srscope live`` (GUI) and ``srscope demo --gui`` call. The
window drives the acquisition part's :class:`~acquisition.microscope.Microscope`
(live stream, scans, references) through its public API.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from acquisition.microscope import Microscope
from acquisition.model_fit import lr_objective, start_for_model
from acquisition.models import RigSettings
from acquisition.rig import Rig
from sr_engine.bundled import bundled_models
from sr_engine.metadata import read_metadata
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
    except (ImportError, RuntimeError) as exc:  # qtpy: no binding, or an unusable one
        raise NoDisplayError(f"the viewer needs Qt ({exc}): pip install 'srscope[ui]'") from None


def pick_objective(scope: Rig, model_meta: Any | None) -> str | None:
    """For SR, start on the LR objective: the lowest magnification preset."""
    return None if model_meta is None else lr_objective(scope)


def prepare_rig(
    config: Path | None,
    model: Path | None,
    channel: str | None = None,
    objective: str | None = None,
    settings: RigSettings | None = None,
) -> Microscope:
    """Open the rig, choose objective and channel, refuse a model/channel mismatch.

    With a model and no ``channel``, the rig switches to the model's channel when
    it has it; an explicit ``channel`` the model was not trained for is refused,
    naming both. ``settings``: the rig's group names and objectives (a user's own
    config); the defaults fit the simulated rig.
    """
    from ui.sr import check_channel  # Qt: imported once ensure_display() said it can be

    meta = read_metadata(model) if model is not None else None
    scope = Microscope.open(config, settings)
    try:
        if meta is not None:
            start_for_model(scope, meta, objective, channel)
            check_channel(meta, scope.channel, Path(model).name)
        else:
            if objective:
                scope.set_objective(objective)
            if channel:
                scope.set_channel(channel)
    except Exception:  # close the rig whatever went wrong, and re-raise
        scope.close()
        raise
    return scope


def default_model(scope: Rig, objective_given: bool) -> Path | None:
    """The bundled model that fits the rig's channel, for a viewer opened without one.

    Unless the objective was chosen, the rig goes to its LR objective first (what
    SR is for); then the best-fitting bundled model for the channel and pixel size,
    live tier first, a generalist of the channel's modality otherwise.
    """
    from sr_engine.compatibility import model_for_channel

    models = bundled_models()
    if not objective_given:
        lr_objective = pick_objective(scope, True)
        if lr_objective:
            scope.set_objective(lr_objective)
    name = model_for_channel(models, scope.channel, scope.pixel_size_um or None)
    if name is None:
        logger.info("no bundled model fits channel %s: live view without SR", scope.channel)
        return None
    logger.info("SR with %s for channel %s", name, scope.channel)
    return models[name]


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
    rig_settings: RigSettings | None = None,
) -> int:
    """Open the viewer window on a rig; returns the exit code.

    Without a ``model`` (and with ``auto_model``) the bundled model that fits the
    rig's channel is used, on the LR objective.

    ``exit_after`` seconds: take the ``screenshot`` (if any) and quit (for
    documentation and checks).
    """
    ensure_display()
    from qtpy import QtCore, QtWidgets

    from ui.viewer import ViewerSettings, ViewerWindow

    _app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])  # keep alive
    scope = prepare_rig(config, model, channel, objective, rig_settings)
    try:
        if model is None and auto_model:
            model = default_model(scope, objective_given=objective is not None)
        settings = ViewerSettings(
            model=model, zoom_model=zoom_model, out_dir=out_dir, threads=threads
        )
        window = ViewerWindow(scope, settings, models=bundled_models())
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
