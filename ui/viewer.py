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
from pydantic import Field
from qtpy import QtCore, QtGui, QtWidgets

from acquisition.microscope import Microscope
from srscope import logger
from srscope.errors import SrscopeError
from srscope.model_base import SrscopeModel
from ui._qtfix import keep_none_alive
from ui.live import LivePipeline
from ui.panel_jobs import Jobs, make_jobs
from ui.panels import ReferencesPanel, ScanPanel
from ui.panes import ImagePane, link
from ui.slots import RateMeter
from ui.sr import (
    BlendedModel,
    ConsistencyOverlay,
    FrameSR,
    LoadedModel,
    ViewportSR,
)
from ui.sr_budget import BudgetPlan
from ui.tasks import Task, TaskContext
from ui.viewer_controls import ControlsMixin, or_default
from ui.viewer_rig import RigMixin
from ui.viewer_sr import SRMixin


class ViewerSettings(SrscopeModel):
    """What the viewer starts with (from the command line)."""

    model: Path | None = None  # live model (whole frames)
    zoom_model: Path | None = None  # full-quality model (visible region); default: model
    out_dir: Path = Path("srscope_out")
    viewport_sr: bool = True
    # zoomed in: the channel's higher-fidelity model on the view when it fits the frame budget
    hifi_when_zoomed: bool = True
    # zoomed in = the visible region is at most this many LR pixels on its long side
    viewport_max_px: int = Field(256, ge=16)
    display_interval_ms: int = Field(30, ge=5)
    start_live: bool = True
    threads: int | None = None


class ViewerWindow(ControlsMixin, SRMixin, RigMixin, QtWidgets.QMainWindow):
    """Live LR | SR viewer for one rig.

    This module lays the window out and runs the display loop; its other jobs are
    mixins, one module each: the control dock (:mod:`ui.viewer_controls`), models and
    SR (:mod:`ui.viewer_sr`), rig controls and snapshots (:mod:`ui.viewer_rig`).
    """

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
        self.hifi_model: LoadedModel | None = None  # higher fidelity on the zoomed view
        self._live_flops_px: float | None = None
        self._hifi_flops_px: float | None = None
        self.budget_plan: BudgetPlan | None = None
        self.hifi_regions_shown = 0
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
            or_default(lambda: self.scope.objectives, []),
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
            region_result = self.frame_sr.region_results.take()
            if region_result is not None and self._region_current is not None:
                region, sr_region = region_result
                if region == self._region_current and self.frame_sr.region == region:
                    self.sr_pane.set_region(sr_region, region)
                    self.region_shown += 1
                    self.hifi_regions_shown += 1
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
