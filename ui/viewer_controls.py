"""The viewer's control dock: acquisition, super-resolution and stage boxes.

A mixin of :class:`ui.viewer.ViewerWindow`: it builds the widgets (kept as window
attributes) and wires them to the window's handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy import QtCore, QtWidgets

from srscope.errors import SrscopeError
from ui.viewer_sr import NO_MODEL, NO_TWIN


class ControlsMixin:
    """Builds the control dock's group boxes and fills them from the rig."""

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
        self.hifi_check = QtWidgets.QCheckBox("Higher fidelity when zoomed")
        self.hifi_check.setChecked(self.settings.hifi_when_zoomed)
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
        form.addRow(self.hifi_check)
        form.addRow(self.viewport_check)
        form.addRow(self.auto_contrast)
        form.addRow(self.consistency_check)
        self.sr_check.toggled.connect(self._on_sr_toggled)
        self.consistency_check.toggled.connect(self._on_consistency_toggled)
        self.hifi_check.toggled.connect(self._on_hifi_toggled)
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
            (self.objective_combo, or_default(lambda: scope.objectives, []), scope.objective),
            (self.channel_combo, or_default(lambda: scope.channels, []), scope.channel),
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


def or_default(read: Callable[[], Any], default: Any) -> Any:
    """``read()``, or ``default`` when the rig lacks it (e.g. no objective group)."""
    try:
        return read()
    except SrscopeError:
        return default
