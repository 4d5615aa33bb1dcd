"""The main window: live LR beside its SR, controls, status bar and job panels.

All model runs and camera work happen on worker threads; the GUI thread only
pulls the newest LR frame / SR result from their slots on a timer and draws.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from qtpy import QtCore, QtGui, QtWidgets

from acquisition.microscope import Microscope
from acquisition.models import Frame
from srscope import logger
from srscope.errors import SrscopeError
from ui._qtfix import keep_none_alive
from ui.live import LivePipeline
from ui.panel_jobs import Jobs, make_jobs
from ui.panels import ReferencesPanel, ScanPanel
from ui.panes import ImagePane, link
from ui.save import save_snapshot
from ui.slots import RateMeter
from ui.sr import (
    BlendedModel,
    ChannelMismatchError,
    ConsistencyOverlay,
    FrameSR,
    LoadedModel,
    ViewportSR,
    check_channel,
    model_for_channel,
)
from ui.tasks import Task, TaskContext

NO_MODEL = "(none: upsampled frame)"
NO_TWIN = "(none)"


class ViewerSettings(BaseModel):
    """What the viewer starts with (from the command line)."""

    model: Path | None = None  # live model (whole frames)
    zoom_model: Path | None = None  # full-quality model (visible region); default: model
    out_dir: Path = Path("srscope_out")
    viewport_sr: bool = True
    # zoomed in = the visible region is at most this many LR pixels on its long side
    viewport_max_px: int = Field(256, ge=16)
    display_interval_ms: int = Field(30, ge=5)
    start_live: bool = True
    threads: int | None = None


class ViewerWindow(QtWidgets.QMainWindow):
    """Live LR | SR viewer for one rig."""

    status_changed = QtCore.Signal(str)
    closed = QtCore.Signal()

    def __init__(
        self,
        scope: Microscope,
        settings: ViewerSettings | None = None,
        jobs: Jobs | None = None,
        models: dict[str, Path] | None = None,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.scope = scope
        self.settings = settings or ViewerSettings()
        self.jobs = jobs or make_jobs(scope, lambda: self.model.path if self.model else None)
        self.live = LivePipeline(scope)
        self.models: dict[str, Path] = dict(models or {})
        self.model: LoadedModel | None = None
        self.zoom_model: LoadedModel | None = None
        self.frame_sr: FrameSR | None = None
        self.consistency: ConsistencyOverlay | None = None
        self.blended: BlendedModel | None = None
        self.overlays_shown = 0
        self.viewport_sr: ViewportSR | None = None
        self.display_rate = RateMeter()
        self.sr_display_rate = RateMeter()
        self.last_frame: np.ndarray | None = None
        self.last_meta: Any = None  # the FrameMeta of last_frame
        self.last_sr: np.ndarray | None = None
        self.frames_shown = 0
        self.sr_shown = 0
        self.region_shown = 0
        self._region_pending: tuple[int, int, int, int] | None = None
        self._region_current: tuple[int, int, int, int] | None = None
        self._save_task: Task | None = None
        self.setWindowTitle("srscope — live super-resolution")
        self.resize(1400, 820)
        self._build()
        self._fill_controls()
        self._label_sr()
        if self.settings.model is not None:
            self.add_model(self.settings.model, select=True)
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self._pull)
        self._timer.start(self.settings.display_interval_ms)
        self._stats_timer = QtCore.QTimer(self)
        self._stats_timer.timeout.connect(self.update_status)
        self._stats_timer.start(500)
        if self.settings.start_live:
            self.live_button.setChecked(True)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.lr_pane = ImagePane("Camera (LR)")
        self.sr_pane = ImagePane("SR — computed", computed=True)
        link(self.lr_pane, self.sr_pane)
        splitter = QtWidgets.QSplitter()
        splitter.addWidget(self.lr_pane)
        splitter.addWidget(self.sr_pane)
        self.setCentralWidget(splitter)
        self.lr_pane.clicked.connect(self.centre_on)
        self.sr_pane.clicked.connect(self.centre_on)
        self.lr_pane.view.sigRangeChanged.connect(self._on_view_changed)

        controls = QtWidgets.QWidget()
        form = QtWidgets.QVBoxLayout(controls)
        form.addWidget(self._acquisition_box())
        form.addWidget(self._sr_box())
        form.addWidget(self._stage_box())
        form.addStretch(1)
        dock = QtWidgets.QDockWidget("Controls", self)
        dock.setObjectName("controls")
        dock.setWidget(controls)
        dock.setMaximumWidth(400)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)

        self.tabs = QtWidgets.QTabWidget()
        out = self.settings.out_dir
        self.references_panel = ReferencesPanel(
            self.jobs.references or _missing_job("references"),
            _or_none(lambda: self.scope.objectives, []),
            out / "references",
        )
        self.scan_panel = ScanPanel(self.jobs.scan or _missing_job("scan"), out / "scan")
        self.tabs.addTab(self.references_panel, "References")
        self.tabs.addTab(self.scan_panel, "Tile scan")
        for panel in (self.references_panel, self.scan_panel):
            panel.started.connect(self._job_started)
            panel.finished.connect(self._job_finished)
        jobs_dock = QtWidgets.QDockWidget("Jobs", self)
        jobs_dock.setObjectName("jobs")
        jobs_dock.setWidget(self.tabs)
        jobs_dock.setMaximumWidth(400)
        jobs_dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, jobs_dock)

        self.stats_label = QtWidgets.QLabel("")
        self.statusBar().addPermanentWidget(self.stats_label)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

    def _acquisition_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Acquisition")
        form = QtWidgets.QFormLayout(box)
        self.objective_combo = QtWidgets.QComboBox()
        self.channel_combo = QtWidgets.QComboBox()
        self.exposure_spin = QtWidgets.QDoubleSpinBox()
        self.exposure_spin.setRange(0.01, 10_000)
        self.exposure_spin.setDecimals(2)
        self.exposure_spin.setSuffix(" ms")
        self.live_button = QtWidgets.QPushButton("Live")
        self.live_button.setCheckable(True)
        self.snap_button = QtWidgets.QPushButton("Snap && save")
        form.addRow("Objective", self.objective_combo)
        form.addRow("Channel", self.channel_combo)
        form.addRow("Exposure", self.exposure_spin)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.live_button)
        row.addWidget(self.snap_button)
        form.addRow(row)
        self.objective_combo.currentTextChanged.connect(self._on_objective)
        self.channel_combo.currentTextChanged.connect(self._on_channel)
        self.exposure_spin.valueChanged.connect(self._on_exposure)
        self.live_button.toggled.connect(self.set_live)
        self.snap_button.clicked.connect(self.snap_and_save)
        return box

    def _sr_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Super-resolution")
        form = QtWidgets.QFormLayout(box)
        self.sr_check = QtWidgets.QCheckBox("SR on")
        self.sr_check.setChecked(True)
        self.model_combo = QtWidgets.QComboBox()
        self.open_model_button = QtWidgets.QPushButton("Open…")
        self.viewport_check = QtWidgets.QCheckBox("Full model on the visible region when zoomed in")
        self.viewport_check.setChecked(self.settings.viewport_sr)
        self.auto_contrast = QtWidgets.QCheckBox("Auto contrast every frame")
        self.consistency_check = QtWidgets.QCheckBox("Consistency overlay: red where |z| > 3")
        self.consistency_check.setToolTip(
            "SR degraded with the model's calibrated record vs the real LR frame: "
            "red marks structure the LR measurement contradicts"
        )
        form.addRow(self.sr_check)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.open_model_button)
        form.addRow("Model", row)
        self.gan_combo = QtWidgets.QComboBox()
        self.gan_combo.setToolTip("A GAN-trained twin of the model: blend it in with the dial")
        self.fidelity_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.fidelity_slider.setRange(0, 100)
        self.fidelity_slider.setValue(50)
        self.fidelity_slider.setEnabled(False)
        self.fidelity_slider.setToolTip("0: MSE model (faithful), 100: GAN model (texture)")
        form.addRow("GAN twin", self.gan_combo)
        form.addRow("Fidelity ↔ texture", self.fidelity_slider)
        form.addRow(self.viewport_check)
        form.addRow(self.auto_contrast)
        form.addRow(self.consistency_check)
        self.sr_check.toggled.connect(self._on_sr_toggled)
        self.consistency_check.toggled.connect(self._on_consistency_toggled)
        self.gan_combo.currentTextChanged.connect(lambda _name: self._restart_sr())
        self.fidelity_slider.valueChanged.connect(self._on_fidelity)
        self.model_combo.currentTextChanged.connect(self._on_model_choice)
        self.open_model_button.clicked.connect(self._open_model_dialog)
        self.auto_contrast.toggled.connect(self._on_auto_contrast)
        return box

    def _stage_box(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Stage (arrow keys, double-click to centre)")
        grid = QtWidgets.QGridLayout(box)
        self.step_spin = QtWidgets.QDoubleSpinBox()
        self.step_spin.setRange(0.1, 100_000)
        self.step_spin.setValue(100.0)
        self.step_spin.setSuffix(" µm")
        buttons = {
            "up": (0, 1, "▲", (0, -1)),
            "left": (1, 0, "◀", (-1, 0)),
            "right": (1, 2, "▶", (1, 0)),
            "down": (2, 1, "▼", (0, 1)),
        }
        self.stage_buttons: dict[str, QtWidgets.QPushButton] = {}
        for name, (r, c, text, (dx, dy)) in buttons.items():
            button = QtWidgets.QPushButton(text)
            button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, dx=dx, dy=dy: self.step_stage(dx, dy))
            grid.addWidget(button, r, c)
            self.stage_buttons[name] = button
        grid.addWidget(self.step_spin, 1, 1)
        self.position_label = QtWidgets.QLabel("")
        grid.addWidget(self.position_label, 3, 0, 1, 3)
        enabled = self.scope.has_stage
        for button in self.stage_buttons.values():
            button.setEnabled(enabled)
        return box

    def _fill_controls(self) -> None:
        scope = self.scope
        for combo, items, current in (
            (self.objective_combo, _or_none(lambda: scope.objectives, []), scope.objective),
            (self.channel_combo, _or_none(lambda: scope.channels, []), scope.channel),
        ):
            combo.blockSignals(True)
            combo.addItems(items)
            if current:
                combo.setCurrentText(current)
            combo.setEnabled(bool(items))
            combo.blockSignals(False)
        self.exposure_spin.blockSignals(True)
        self.exposure_spin.setValue(self.scope.exposure_ms)
        self.exposure_spin.blockSignals(False)
        self.model_combo.blockSignals(True)
        self.model_combo.addItem(NO_MODEL)
        self.model_combo.addItems(list(self.models))
        self.model_combo.blockSignals(False)
        self.gan_combo.blockSignals(True)
        self.gan_combo.addItem(NO_TWIN)
        self.gan_combo.addItems(list(self.models))
        self.gan_combo.blockSignals(False)
        self._update_position()

    # ------------------------------------------------------------------ status
    def show_message(self, text: str, timeout_ms: int = 0) -> None:
        logger.info("viewer: %s", text)
        self.statusBar().showMessage(text, timeout_ms)
        self.status_changed.emit(text)

    def stats(self) -> dict[str, float]:
        """The numbers shown in the status bar."""
        stats = {
            "camera_fps": self.live.camera_rate.rate(),
            "display_fps": self.display_rate.rate(),
            "sr_fps": 0.0,
            "latency_p50_ms": 0.0,
            "latency_p95_ms": 0.0,
            "dropped": float(self.live.frames.dropped),
            "sr_dropped": 0.0,
        }
        if self.frame_sr is not None:
            stats.update(self.frame_sr.stats())
        return stats

    def update_status(self) -> None:
        s = self.stats()
        self.stats_label.setText(
            f"camera {s['camera_fps']:.1f} fps | SR {s['sr_fps']:.1f} fps | "
            f"latency p50 {s['latency_p50_ms']:.0f} ms p95 {s['latency_p95_ms']:.0f} ms | "
            f"dropped {int(s['dropped'])} display, {int(s['sr_dropped'])} SR"
        )
        self._update_position()

    def _update_position(self) -> None:
        if self.scope.has_stage:
            x, y, z = self.scope.position_um
            self.position_label.setText(f"X {x:.1f}  Y {y:.1f}  Z {z:.1f} µm")

    # ------------------------------------------------------------------ live
    def set_live(self, on: bool) -> None:
        if on and self._busy():
            self.live_button.setChecked(False)
            self.show_message("a job is running: live resumes when it ends")
            return
        if on:
            self.live.start()
            self.show_message("live")
        else:
            self.live.stop()
            self.show_message("live stopped", 3000)
        if self.live_button.isChecked() != on:
            self.live_button.blockSignals(True)
            self.live_button.setChecked(on)
            self.live_button.blockSignals(False)

    def _pull(self) -> None:
        """GUI timer: draw the newest frame / SR / region SR, handle camera errors."""
        keep_none_alive()
        error = self.live.errors.take()
        if error is not None:
            self.set_live(False)
            self.show_message(f"{error} — live stopped; check the camera and press Live")
        live = self.live.frames.take()
        if live is not None:
            frame = live.image
            self.last_frame, self.last_meta = frame, live.meta
            self.lr_pane.set_frame(frame)
            self.frames_shown += 1
            self.display_rate.tick()
            if self.frame_sr is None:
                self.sr_pane.set_frame(frame, lr_shape=frame.shape[:2])
            self._maybe_request_region()
        if self.frame_sr is not None:
            result = self.frame_sr.results.take()
            if result is not None:
                lr, sr = result  # the LR Frame (image + metadata) and its SR
                self.last_sr = sr
                self.sr_pane.set_frame(sr, lr_shape=lr.image.shape[:2])
                if self.consistency is not None:
                    self.consistency.submit(lr.image, sr)
                self.sr_shown += 1
                self.sr_display_rate.tick()
            err = self.frame_sr.errors.take()
            if err is not None:
                self.show_message(f"SR failed: {err}")
        if self.consistency is not None:
            overlay = self.consistency.worker.results.take()
            if overlay is not None:
                self.sr_pane.set_overlay(overlay[1])
                self.overlays_shown += 1
        if self.viewport_sr is not None:
            result = self.viewport_sr.worker.results.take()
            if result is not None and self._region_current is not None:
                (_, region), sr_region = result
                if region == self._region_current:
                    self.sr_pane.set_region(sr_region, region)
                    self.region_shown += 1

    # ------------------------------------------------------------------ viewport SR
    def zoomed_in(self) -> tuple[int, int, int, int] | None:
        """The visible LR region when it is small enough for the full model, else None."""
        region = self.lr_pane.visible_region()
        if region is None or self.last_frame is None:
            return None
        x0, y0, x1, y1 = region
        h, w = self.last_frame.shape[:2]
        if (x1 - x0) >= w and (y1 - y0) >= h:
            return None
        if max(x1 - x0, y1 - y0) > self.settings.viewport_max_px:
            return None
        return region

    def _on_view_changed(self, *_: object) -> None:
        self._maybe_request_region()

    def _maybe_request_region(self) -> None:
        if (
            self.viewport_sr is None
            or not self.viewport_check.isChecked()
            or self.last_frame is None
        ):
            self._clear_region()
            return
        region = self.zoomed_in()
        if region is None:
            self._clear_region()
            return
        self._region_current = region
        if not self.viewport_sr.worker.busy:
            self.viewport_sr.submit(self.last_frame, region)

    def _clear_region(self) -> None:
        if self._region_current is not None:
            self._region_current = None
            self.sr_pane.set_region(None, None)

    # ------------------------------------------------------------------ SR / models
    def _stop_sr(self) -> None:
        self.live.sr_sink = None
        for worker in (self.frame_sr, self.viewport_sr, self.consistency):
            if worker is not None:
                worker.stop()
        self.frame_sr = None
        self.viewport_sr = None
        self.consistency = None
        self.sr_pane.set_overlay(None)
        self._clear_region()

    def _start_consistency(self) -> None:
        if self.consistency is not None:
            self.consistency.stop()
            self.consistency = None
        self.sr_pane.set_overlay(None)
        if not self.consistency_check.isChecked() or self.frame_sr is None:
            return
        try:
            self.consistency = ConsistencyOverlay(self.frame_sr.model)
        except SrscopeError as exc:
            self.show_message(str(exc))
            self.consistency_check.blockSignals(True)
            self.consistency_check.setChecked(False)
            self.consistency_check.blockSignals(False)

    def _on_consistency_toggled(self, _on: bool) -> None:
        self._start_consistency()

    def _label_sr(self) -> None:
        if self.frame_sr is None:
            self.sr_pane.set_title("Upsampled LR — no SR")
        else:
            model = self.frame_sr.model
            name = model.name
            if self.blended is not None:
                name = f"{self.blended.mse.name} ⊕ GAN {self.blended.gan.name}"
            self.sr_pane.set_title(f"SR — computed by {name} (×{model.scale})")

    def set_model(self, path: Path | None) -> bool:
        """Load ``path`` as the live (and zoom) model; refuse a channel mismatch."""
        self._stop_sr()
        self.model = self.zoom_model = None
        if path is None:
            self._label_sr()
            return True
        try:
            model = LoadedModel.open(path, self.settings.threads)
            check_channel(model.meta, self.scope.channel, model.path.name)
        except (ChannelMismatchError, SrscopeError) as exc:
            self.show_message(f"model refused: {exc}")
            self._show_no_model()
            return False
        self.model = model
        zoom_path = self.settings.zoom_model
        self.zoom_model = model
        if zoom_path is not None and zoom_path != path:
            try:
                zoom = LoadedModel.open(zoom_path, self.settings.threads)
                check_channel(zoom.meta, self.scope.channel, zoom.path.name)
                self.zoom_model = zoom
            except SrscopeError as exc:
                self.show_message(f"zoom model refused, using {model.name}: {exc}")
        self._start_sr()
        return True

    def _blended(self) -> LoadedModel | None:
        """The model blended with its chosen GAN twin, or None (no twin / refused)."""
        name = self.gan_combo.currentText()
        self.fidelity_slider.setEnabled(False)
        if self.model is None or name == NO_TWIN or name not in self.models:
            return None
        try:
            gan = LoadedModel.open(self.models[name], self.settings.threads)
            blended = BlendedModel(self.model, gan, self.fidelity_slider.value() / 100)
        except SrscopeError as exc:
            self.show_message(f"GAN twin refused: {exc}")
            return None
        self.fidelity_slider.setEnabled(True)
        self.blended = blended
        return blended.loaded()

    def _on_fidelity(self, value: int) -> None:
        if self.blended is not None:
            self.blended.alpha = value / 100

    def _restart_sr(self) -> None:
        self._stop_sr()
        self._start_sr()

    def _start_sr(self) -> None:
        self.blended = None
        if self.model is None or not self.sr_check.isChecked():
            self._label_sr()
            return
        blended = self._blended()
        self.frame_sr = FrameSR(blended or self.model)
        self.viewport_sr = ViewportSR(blended or self.zoom_model or self.model)
        self.live.sr_sink = self.frame_sr.submit
        self._start_consistency()
        self.sr_pane.reset_contrast()
        self._label_sr()
        if self.last_frame is not None:
            self.frame_sr.submit(Frame(self.last_frame, self.last_meta))

    def _show_no_model(self) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.setCurrentText(NO_MODEL)
        self.model_combo.blockSignals(False)
        self._label_sr()

    def _on_model_choice(self, name: str) -> None:
        path = None if name == NO_MODEL else self.models.get(name)
        self.set_model(path)

    def add_model(self, path: Path, select: bool = False) -> str:
        """Offer ``path`` in the model list (named by its file or bundled name)."""
        path = Path(path)
        name = next((k for k, v in self.models.items() if Path(v) == path), path.name)
        self.models[name] = path
        if self.model_combo.findText(name) < 0:
            self.model_combo.addItem(name)
            self.gan_combo.addItem(name)
        if select:
            if self.model_combo.currentText() == name:
                self._on_model_choice(name)
            else:
                self.model_combo.setCurrentText(name)
        return name

    def _open_model_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open model", "", "ONNX (*.onnx)")
        if path:
            self.add_model(Path(path), select=True)

    def _on_sr_toggled(self, on: bool) -> None:
        self._stop_sr()
        if on:
            self._start_sr()
        else:
            self._label_sr()

    def _on_auto_contrast(self, on: bool) -> None:
        self.lr_pane.auto_contrast = on
        self.sr_pane.auto_contrast = on

    # ------------------------------------------------------------------ rig controls
    def _guarded(self, what: str, fn: Callable[[], None]) -> bool:
        try:
            fn()
        except Exception as exc:
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

    # ------------------------------------------------------------------ jobs
    def _busy(self) -> bool:
        return self.references_panel.busy() or self.scan_panel.busy()

    def _rig_widgets(self) -> tuple[QtWidgets.QWidget, ...]:
        return (self.live_button, self.objective_combo, self.channel_combo, self.snap_button)

    def _job_started(self) -> None:
        self._resume_live = self.live.running
        self.set_live(False)
        for widget in (
            self.live_button,
            self.objective_combo,
            self.channel_combo,
            self.snap_button,
        ):
            widget.setEnabled(False)

    def _job_finished(self, ok: bool, message: str) -> None:
        for widget in (
            self.live_button,
            self.objective_combo,
            self.channel_combo,
            self.snap_button,
        ):
            widget.setEnabled(True)
        self.show_message(message if ok else f"job failed: {message}")
        if getattr(self, "_resume_live", False):
            self.set_live(True)

    # ------------------------------------------------------------------ screenshots, close
    def screenshot(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.grab().save(str(path)):
            raise SrscopeError(f"cannot write screenshot {path}")
        return path

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
        self.closed.emit()

    def shutdown(self) -> None:
        keep_none_alive()
        self._timer.stop()
        self._stats_timer.stop()
        self.live.stop()
        self._stop_sr()
        for panel in (self.references_panel, self.scan_panel):
            if panel.task is not None:
                panel.task.ctx.cancel()
                panel.task.wait(10_000)
        if self._save_task is not None:
            self._save_task.wait(10_000)


def _or_none(read: Callable[[], Any], default: Any) -> Any:
    """``read()``, or ``default`` when the rig lacks it (e.g. no objective group)."""
    try:
        return read()
    except SrscopeError:
        return default


def _names(files: dict[str, Path]) -> str:
    return ", ".join(p.name for p in files.values())


def _missing_job(name: str) -> Callable[[Any, TaskContext], Any]:
    def job(_req: Any, _ctx: TaskContext) -> Any:
        raise SrscopeError(f"this rig offers no {name} job")

    return job


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Process Qt events until ``condition()`` or timeout (for scripts and checks)."""
    app = QtWidgets.QApplication.instance()
    end = time.perf_counter() + timeout_s
    while time.perf_counter() < end:
        if app is not None:
            app.processEvents()
        if condition():
            return True
        time.sleep(0.01)
    return condition()
