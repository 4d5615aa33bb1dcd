"""The viewer's models and SR: live SR of whole frames, full-model SR of the visible
region, the consistency overlay and the fidelity dial.

A mixin of :class:`ui.viewer.ViewerWindow` (its widgets and panes are the window's).
"""

from __future__ import annotations

from pathlib import Path

from qtpy import QtWidgets

from acquisition.models import Frame
from srscope import logger
from srscope.errors import SrscopeError
from ui.sr import (
    BlendedModel,
    ChannelMismatchError,
    ConsistencyOverlay,
    FrameSR,
    LoadedModel,
    ViewportSR,
    check_channel,
    higher_fidelity_model,
)
from ui.sr_budget import BudgetPlan, max_region_side, model_flops_per_px, plan_frame

NO_MODEL = "(none: upsampled frame)"
NO_TWIN = "(none)"


class SRMixin:
    """Which model runs, on what, and the SR workers' life cycle."""

    # ------------------------------------------------------------------ frame budget
    def _budget_plan(self) -> BudgetPlan | None:
        """What the live processor runs now (None: no live SR or no frame yet)."""
        if self.frame_sr is None or self.last_frame is None or self._live_flops_px is None:
            return None
        region = self.lr_pane.visible_region()
        return plan_frame(
            self._live_flops_px,
            self._hifi_flops_px if self.frame_sr.hifi is not None else None,
            self.last_frame.shape[:2],
            region,
            enabled=self.hifi_check.isChecked(),
        )

    def _apply_budget(self) -> bool:
        """Point the live processor at the hifi model on the view, or the live model on
        whole frames; True when the hifi model runs on the region."""
        plan = self._budget_plan()
        if plan is not None and self.budget_plan is None:
            self.hifi_check.setToolTip(self._hifi_tooltip())  # now with the frame's size
        self.budget_plan = plan
        hifi = plan is not None and plan.hifi
        if self.frame_sr is not None:
            was = self.frame_sr.region is not None
            self.frame_sr.set_region(plan.region if hifi else None)
            if hifi != was:
                self._label_sr()
                if plan is not None:
                    self.show_message(plan.describe(), 5000)
                if not hifi:
                    self._clear_region()
        if hifi:
            self._region_current = plan.region
        return hifi

    def _on_hifi_toggled(self, _on: bool) -> None:
        self._maybe_request_region()

    def _hifi_tooltip(self) -> str:
        rule = (
            "When zoomed in, run the channel's higher-fidelity model on the visible "
            "region instead of the live model on the whole frame, if its FLOPs per LR "
            "pixel × the region's pixels are at most the live model's FLOPs per LR pixel "
            "× the frame's pixels"
        )
        if self.frame_sr is None or self.frame_sr.hifi is None or self._live_flops_px is None:
            return rule + " (no higher-fidelity model for this model and channel)."
        hifi, live = self.frame_sr.hifi, self.frame_sr.model
        text = (
            f"{rule}: {hifi.name} ({self._hifi_flops_px / 1e3:.0f} kFLOP/LR px) instead of "
            f"{live.name} ({self._live_flops_px / 1e3:.1f} kFLOP/LR px)"
        )
        if self.last_frame is not None:
            h, w = self.last_frame.shape[:2]
            side = max_region_side(self._live_flops_px, self._hifi_flops_px, h * w)
            text += f": views up to about {side}×{side} LR px of this {w}×{h} frame"
        return text + "."

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
        if self._apply_budget():
            return  # the live processor spends its budget on the region
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
        self.budget_plan = None
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
            if self.frame_sr.region is not None and self.frame_sr.hifi is not None:
                self.sr_pane.set_title(
                    f"SR — computed by {self.frame_sr.hifi.name} on the visible region "
                    f"(higher fidelity when zoomed; ×{model.scale})"
                )
            else:
                self.sr_pane.set_title(f"SR — computed by {name} (×{model.scale})")

    def set_model(self, path: Path | None) -> bool:
        """Load ``path`` as the live (and zoom) model; refuse a channel mismatch."""
        self._stop_sr()
        self.model = self.zoom_model = self.hifi_model = None
        self._live_flops_px = self._hifi_flops_px = None
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
        self._load_hifi(model)
        self._start_sr()
        return True

    def _load_hifi(self, model: LoadedModel) -> None:
        """The higher-fidelity model of the channel for the zoomed view, and both costs."""
        try:
            self._live_flops_px = model_flops_per_px(model.path, model.meta.n_channels)
        except Exception as exc:  # a graph the FLOP counter cannot read: no budget
            logger.info("viewer: no FLOP count for %s: %s", model.name, exc)
            return
        name = higher_fidelity_model(self.models, self.scope.channel, model.meta)
        if name is None:
            return
        try:
            hifi = LoadedModel.open(self.models[name], self.settings.threads)
            self._hifi_flops_px = model_flops_per_px(hifi.path, hifi.meta.n_channels)
        except Exception as exc:  # shown in the status bar; the live model carries on
            self.show_message(f"higher-fidelity model {name} refused: {exc}")
            return
        self.hifi_model = hifi

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
        # a blended GAN twin has no higher-fidelity counterpart: whole frames only
        hifi = None if blended is not None else self.hifi_model
        self.frame_sr = FrameSR(blended or self.model, hifi=hifi)
        self.hifi_check.setToolTip(self._hifi_tooltip())
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
