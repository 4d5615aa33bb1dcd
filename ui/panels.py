"""Side panels for long jobs: capture references, run a tile scan.

Each panel collects a typed request, runs the job as a :class:`ui.tasks.Task`
(off the GUI thread) and shows a progress bar and a mosaic preview. The job
functions themselves are injected (see :mod:`ui.panel_jobs`), so the panels know
nothing about how the rig does the work.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from pydantic import Field
from qtpy import QtCore, QtWidgets

from acquisition.rig import magnification
from srscope.model_base import SrscopeModel
from ui.tasks import Task, TaskContext


class ReferencesRequest(SrscopeModel):
    """Reference capture: N positions in a square area around the current position."""

    positions: int = Field(4, ge=1, le=500)
    layout: str = Field("grid", pattern="^(grid|random)$")
    area_um: float = Field(2000.0, gt=0)
    hr_objective: str = ""
    lr_objective: str = ""
    channels: list[str] = Field(default_factory=list)
    out_dir: Path = Path("references")


class ScanRequest(SrscopeModel):
    """Tile scan at the current objective: rows × columns around the current position."""

    rows: int = Field(3, ge=1, le=100)
    columns: int = Field(3, ge=1, le=100)
    overlap: float = Field(0.1, ge=0.0, lt=0.9)
    out_dir: Path = Path("scan")
    super_resolve: bool = True
    resume: bool = False  # complete the scan already in out_dir (as ``srscope scan --resume``)


class MosaicPreview(pg.GraphicsLayoutWidget):
    """A small image view for previews (mosaics, thumbnails)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("k")
        self.setMinimumHeight(160)
        self.view = self.addViewBox(lockAspect=True)
        self.view.invertY(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)

    def show_image(self, image: np.ndarray) -> None:
        img = np.asarray(image, dtype=np.float32)
        finite = img[np.isfinite(img)]
        lo, hi = np.percentile(finite, [0.5, 99.7]) if finite.size else (0.0, 1.0)
        self.image.setImage(img, levels=(float(lo), float(hi) if hi > lo else float(lo) + 1))
        self.view.autoRange(padding=0)

    def has_image(self) -> bool:
        return self.image.image is not None


class JobPanel(QtWidgets.QWidget):
    """Form + Start/Stop + progress bar + preview; runs one job at a time."""

    started = QtCore.Signal()
    finished = QtCore.Signal(bool, str)  # ok, message

    def __init__(self, title: str, parent=None) -> None:
        super().__init__(parent)
        self._title = title
        self.task: Task | None = None
        self.result: Any = None
        self.form = QtWidgets.QFormLayout()
        self.start_button = QtWidgets.QPushButton(f"Start {title.lower()}")
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v / %m")
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.preview = MosaicPreview()
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.preview, 1)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)

    def make_job(self) -> Callable[[TaskContext], Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self) -> None:
        if self.task is not None and self.task.isRunning():
            return
        try:
            job = self.make_job()
        except Exception as exc:  # shown in the panel, never raised into Qt's loop
            self.message.setText(f"cannot start: {exc}")
            return
        self.result = None
        self.progress.setRange(0, 0)
        self.message.setText(f"{self._title} running…")
        self.task = Task(job, name=f"srscope-{self._title.lower()}", parent=self)
        self.task.progress.connect(self._on_progress)
        self.task.preview.connect(self._on_preview)
        self.task.done.connect(self._on_done)
        self.task.failed.connect(self._on_failed)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.started.emit()
        self.task.start()

    def stop(self) -> None:
        if self.task is not None:
            self.task.ctx.cancel()

    def busy(self) -> bool:
        return self.task is not None and self.task.isRunning()

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if text:
            self.message.setText(text)

    def _on_preview(self, image: object) -> None:
        if isinstance(image, np.ndarray) and image.ndim == 2:
            self.preview.show_image(image)

    def _end(self) -> None:
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def _on_done(self, result: object) -> None:
        self.result = result
        self._end()
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
        text = getattr(result, "summary", None) or f"{self._title} done"
        self.message.setText(str(text))
        self.finished.emit(True, str(text))

    def _on_failed(self, message: str) -> None:
        self._end()
        self.progress.setRange(0, 1)
        self.message.setText(f"{self._title} failed: {message}")
        self.finished.emit(False, message)


class ReferencesPanel(JobPanel):
    """Capture HR + LR reference pairs at N positions."""

    def __init__(
        self,
        run: Callable[[ReferencesRequest, TaskContext], Any],
        objectives: list[str],
        default_out: Path,
        parent=None,
    ) -> None:
        super().__init__("References", parent)
        self._run = run
        self.positions = QtWidgets.QSpinBox()
        self.positions.setRange(1, 500)
        self.positions.setValue(4)
        self.layout_combo = QtWidgets.QComboBox()
        self.layout_combo.addItems(["grid", "random"])
        self.area = QtWidgets.QDoubleSpinBox()
        self.area.setRange(10, 100_000)
        self.area.setValue(2000)
        self.area.setSuffix(" µm")
        self.hr = QtWidgets.QComboBox()
        self.lr = QtWidgets.QComboBox()
        for combo in (self.hr, self.lr):
            combo.addItems(objectives)
        if len(objectives) > 1:
            # convention: highest magnification is the HR objective, lowest the LR one
            ranked = sorted(objectives, key=magnification)
            self.hr.setCurrentText(ranked[-1])
            self.lr.setCurrentText(ranked[0])
        self.out = QtWidgets.QLineEdit(str(default_out))
        self.form.addRow("Positions", self.positions)
        self.form.addRow("Layout", self.layout_combo)
        self.form.addRow("Area side", self.area)
        self.form.addRow("HR objective", self.hr)
        self.form.addRow("LR objective", self.lr)
        self.form.addRow("Folder", self.out)

    def request(self) -> ReferencesRequest:
        return ReferencesRequest(
            positions=self.positions.value(),
            layout=self.layout_combo.currentText(),
            area_um=self.area.value(),
            hr_objective=self.hr.currentText(),
            lr_objective=self.lr.currentText(),
            out_dir=Path(self.out.text()),
        )

    def make_job(self) -> Callable[[TaskContext], Any]:
        req = self.request()
        return lambda ctx: self._run(req, ctx)


class ScanPanel(JobPanel):
    """Tile scan with a live mosaic preview (SR mosaic when a model is on)."""

    def __init__(
        self, run: Callable[[ScanRequest, TaskContext], Any], default_out: Path, parent=None
    ) -> None:
        super().__init__("Scan", parent)
        self._run = run
        self.rows = QtWidgets.QSpinBox()
        self.rows.setRange(1, 100)
        self.rows.setValue(3)
        self.columns = QtWidgets.QSpinBox()
        self.columns.setRange(1, 100)
        self.columns.setValue(3)
        self.overlap = QtWidgets.QDoubleSpinBox()
        self.overlap.setRange(0.0, 0.5)
        self.overlap.setSingleStep(0.05)
        self.overlap.setValue(0.1)
        self.sr = QtWidgets.QCheckBox("Super-resolve tiles on the fly")
        self.sr.setChecked(True)
        self.out = QtWidgets.QLineEdit(str(default_out))
        self.resume = QtWidgets.QCheckBox("Resume the scan in this folder")
        self.resume.setToolTip(
            "Capture only the tiles a stopped scan is missing, then stitch (its plan is kept)"
        )
        self.form.addRow("Rows", self.rows)
        self.form.addRow("Columns", self.columns)
        self.form.addRow("Overlap", self.overlap)
        self.form.addRow(self.sr)
        self.form.addRow("Folder", self.out)
        self.form.addRow(self.resume)

    def request(self) -> ScanRequest:
        return ScanRequest(
            rows=self.rows.value(),
            columns=self.columns.value(),
            overlap=self.overlap.value(),
            out_dir=Path(self.out.text()),
            super_resolve=self.sr.isChecked(),
            resume=self.resume.isChecked(),
        )

    def make_job(self) -> Callable[[TaskContext], Any]:
        req = self.request()
        return lambda ctx: self._run(req, ctx)
