"""The viewer's rig controls: objective, channel, exposure, stage, snap and save.

A mixin of :class:`ui.viewer.ViewerWindow`; every camera or stage call holds the
rig's lock (a job or a snap may be using it) and a failure becomes a status message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy import QtCore, QtGui

from sr_engine.compatibility import model_for_channel
from ui.save import save_snapshot
from ui.sr import ChannelMismatchError, check_channel
from ui.tasks import Task, TaskContext


class RigMixin:
    """Handlers of the acquisition and stage boxes, keys and double-click, snap & save."""

    # ------------------------------------------------------------------ rig controls
    def _guarded(self, what: str, fn: Callable[[], None]) -> bool:
        try:
            fn()
        except Exception as exc:  # shown in the status bar, never raised into Qt's loop
            self.show_message(f"{what} failed: {exc}")
            return False
        return True

    def _locked(self, fn: Callable[..., None], *args: Any) -> None:
        with self.scope.lock:
            fn(*args)

    def _on_objective(self, name: str) -> None:
        if self._guarded("objective change", lambda: self._locked(self.scope.set_objective, name)):
            self.lr_pane.reset_contrast()
            px = self.scope.pixel_size_um
            text = f"objective {name} ({px:.3g} µm/px)"
            if self.model is not None:
                want = self.model.meta.lr_pixel_size_um
                if px > 0 and abs(px - want) > 0.1 * want:
                    text += (
                        f" — {self.model.name} was trained on {want:.3g} µm LR pixels: "
                        "its SR of this objective is not meaningful"
                    )
            self.show_message(text, 0 if "trained on" in text else 3000)

    def _on_channel(self, name: str) -> None:
        if not self._guarded("channel change", lambda: self._locked(self.scope.set_channel, name)):
            return
        self.lr_pane.reset_contrast()
        if self.model is not None:
            try:
                check_channel(self.model.meta, name, self.model.path.name)
            except ChannelMismatchError as exc:
                match = model_for_channel(self.models, name)
                if match is not None and self.set_model(self.models[match]):
                    self.model_combo.blockSignals(True)
                    self.model_combo.setCurrentText(match)
                    self.model_combo.blockSignals(False)
                    self.show_message(f"model switched to {match} for channel {name}")
                    return
                self._stop_sr()
                self.model = None
                self._show_no_model()
                self.show_message(f"SR off: {exc}")

    def _on_exposure(self, ms: float) -> None:
        self._guarded("exposure change", lambda: self._locked(self.scope.set_exposure, ms))

    def step_stage(self, dx: int, dy: int) -> None:
        step = self.step_spin.value()
        move = self.scope.move_by
        if self._guarded("stage move", lambda: self._locked(move, dx * step, dy * step)):
            self._update_position()

    def centre_on(self, x_px: float, y_px: float) -> None:
        """Move the stage so LR pixel (x, y) comes to the centre of the frame."""
        if self.last_frame is None or not self.scope.has_stage:
            return
        h, w = self.last_frame.shape[:2]
        px = self.scope.pixel_size_um
        dx, dy = (x_px - w / 2) * px, (y_px - h / 2) * px
        if self._guarded("stage move", lambda: self._locked(self.scope.move_by, dx, dy)):
            self._update_position()
            self.show_message(f"centred: moved {dx:+.1f}, {dy:+.1f} µm", 3000)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        keys = {
            QtCore.Qt.Key.Key_Left: (-1, 0),
            QtCore.Qt.Key.Key_Right: (1, 0),
            QtCore.Qt.Key.Key_Up: (0, -1),
            QtCore.Qt.Key.Key_Down: (0, 1),
        }
        move = keys.get(QtCore.Qt.Key(event.key()))
        if move is not None and self.scope.has_stage:
            self.step_stage(*move)
            event.accept()
            return
        super().keyPressEvent(event)

    # ------------------------------------------------------------------ snap & save
    def snap_and_save(self, out_dir: Path | None = None) -> Task:
        """Snap an LR frame, SR it with the full model, write both (off the GUI thread)."""
        out = Path(out_dir or self.settings.out_dir / "snaps")
        model = self.zoom_model or self.model if self.sr_check.isChecked() else None
        was_live = self.live.running

        def job(ctx: TaskContext) -> dict[str, Path]:
            ctx.progress(0, 2, "snapping")
            if was_live:
                self.live.stop()
            try:
                with self.scope.lock:
                    frame = self.scope.snap()
            finally:
                if was_live:
                    self.live.start()
            ctx.progress(1, 2, "super-resolving" if model else "saving")
            lr = frame.image
            sr = model.predict(lr) if model is not None else None
            files = save_snapshot(
                out,
                lr,
                frame.meta,
                sr=sr,
                scale=model.scale if model else None,
                model=str(model.path) if model else "",
            )
            ctx.progress(2, 2, "saved")
            return files

        task = Task(job, name="srscope-snap", parent=self)
        task.done.connect(lambda files: self.show_message(f"saved {_names(files)} in {out}"))
        task.failed.connect(lambda msg: self.show_message(f"snap failed: {msg}"))
        self._save_task = task
        task.start()
        return task


def _names(files: dict[str, Path]) -> str:
    return ", ".join(p.name for p in files.values())
