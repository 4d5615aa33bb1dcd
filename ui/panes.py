"""Image panes: one pyqtgraph view + histogram/LUT per image, linked in LR pixel units.

Both panes use the *LR pixel grid* as their scene coordinates: the SR image
(``scale``× more pixels) is drawn into the same rectangle as the LR frame, so
linking the two view boxes links pan and zoom exactly, and a region chosen in
one pane is the same specimen region in the other.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from qtpy import QtCore, QtWidgets

import ui._qtfix  # noqa: F401  (before any Qt call: see its docstring)

# (x0, y0, x1, y1) in LR pixels, half-open, clipped to the frame
Region = tuple[int, int, int, int]


class ImagePane(QtWidgets.QWidget):
    """A titled image view with its own contrast (HistogramLUTItem) and overlays."""

    clicked = QtCore.Signal(float, float)  # LR pixel coordinates of a double-click

    def __init__(self, title: str, *, computed: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.computed = computed
        self._title = title
        self._shape_lr: tuple[int, int] | None = None
        self._first = True
        self.auto_contrast = False

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("k")
        self.label = pg.LabelItem(self._label_html(title), justify="left")
        self.graphics.addItem(self.label, row=0, col=0, colspan=2)
        self.view: pg.ViewBox = self.graphics.addViewBox(row=1, col=0, lockAspect=True)
        self.view.invertY(True)
        self.view.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        # region SR (viewport) drawn on top of the full-frame SR, same LUT
        self.region_image = pg.ImageItem(axisOrder="row-major")
        self.region_image.setZValue(5)
        self.view.addItem(self.region_image)
        # optional colour overlay (consistency map), semi-transparent
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(10)
        self.overlay.setOpacity(0.45)
        self.overlay.setVisible(False)
        self.view.addItem(self.overlay)
        self.hist = pg.HistogramLUTItem(image=self.image)
        self.hist.sigLevelsChanged.connect(self._sync_region_levels)
        self.hist.sigLookupTableChanged.connect(self._sync_region_levels)
        self.graphics.addItem(self.hist, row=1, col=1)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.view.scene().sigMouseClicked.connect(self._on_click)

    # -- labels -----------------------------------------------------------
    def _label_html(self, text: str) -> str:
        colour = "#ffb000" if self.computed else "#e0e0e0"
        return f"<span style='color:{colour};font-weight:bold'>{text}</span>"

    def set_title(self, text: str) -> None:
        self._title = text
        self.label.setText(self._label_html(text))

    @property
    def title(self) -> str:
        return self._title

    # -- images -----------------------------------------------------------
    def set_frame(self, frame: np.ndarray, lr_shape: tuple[int, int] | None = None) -> None:
        """Show ``frame`` stretched over the LR rectangle ``lr_shape`` (its own shape if None)."""
        shape = lr_shape or frame.shape[:2]
        new_geometry = shape != self._shape_lr
        auto = self._first or self.auto_contrast
        self.image.setImage(frame, autoLevels=auto)
        if new_geometry or frame.shape[:2] != shape:
            self.image.setRect(QtCore.QRectF(0, 0, shape[1], shape[0]))
        if new_geometry:
            self._shape_lr = shape
            self.region_image.clear()
            self.view.autoRange(padding=0)
        if auto:
            self._first = False

    def set_region(self, image: np.ndarray | None, region: Region | None) -> None:
        """Draw a high-quality SR of ``region`` (LR px) over the full-frame SR."""
        if image is None or region is None:
            self.region_image.clear()
            return
        x0, y0, x1, y1 = region
        self.region_image.setImage(image, autoLevels=False, levels=self.hist.getLevels())
        self.region_image.setLookupTable(self.image.lut)
        self.region_image.setRect(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        if rgba is None or self._shape_lr is None:
            self.overlay.setVisible(False)
            return
        self.overlay.setImage(rgba, autoLevels=False)
        h, w = self._shape_lr
        self.overlay.setRect(QtCore.QRectF(0, 0, w, h))
        self.overlay.setVisible(True)

    def _sync_region_levels(self, *_: object) -> None:
        if self.region_image.image is not None:
            self.region_image.setLevels(self.hist.getLevels())
            self.region_image.setLookupTable(self.image.lut)

    def reset_contrast(self) -> None:
        self._first = True

    # -- geometry ---------------------------------------------------------
    def visible_region(self) -> Region | None:
        """The part of the LR frame on screen, in LR pixels (None before a frame)."""
        if self._shape_lr is None:
            return None
        h, w = self._shape_lr
        (x0, x1), (y0, y1) = self.view.viewRange()
        rx0, ry0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        rx1, ry1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
        if rx1 <= rx0 or ry1 <= ry0:
            return None
        return rx0, ry0, rx1, ry1

    def zoom_to(self, region: Region) -> None:
        x0, y0, x1, y1 = region
        self.view.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def _on_click(self, event) -> None:  # pyqtgraph MouseClickEvent
        if not event.double():
            return
        point = self.view.mapSceneToView(event.scenePos())
        self.clicked.emit(float(point.x()), float(point.y()))

    def pixel_std(self) -> float:
        """Std of the pixels shown (for checks that the pane is not blank)."""
        img = self.image.image
        return 0.0 if img is None else float(np.std(img))


def link(a: ImagePane, b: ImagePane) -> None:
    """Link pan and zoom of two panes (same LR pixel scene coordinates)."""
    b.view.setXLink(a.view)
    b.view.setYLink(a.view)
