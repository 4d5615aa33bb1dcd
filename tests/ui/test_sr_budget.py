"""The live view's frame budget: the rule (pure), the model it picks, and the viewer zooming."""

from __future__ import annotations

import pytest

from sr_engine.bundled import bundled_models
from sr_engine.graph_builder import default_metadata
from sr_engine.metadata import read_metadata
from sr_engine.testing import nearest_model, save_model
from tests.ui.conftest import ROI
from ui.sr import higher_fidelity_model
from ui.sr_budget import (
    max_region_side,
    model_flops_per_px,
    pick_higher_fidelity,
    plan_frame,
    tier_of,
)

TIMEOUT_MS = 20_000
FRAME = (1024, 1024)


def test_hifi_runs_on_a_region_whose_cost_fits_the_full_frame_budget():
    # live 5 kFLOP/px on 1024² = 5.2 GFLOP; balanced 232 kFLOP/px fits 150² (5.2 GFLOP) not 160²
    plan = plan_frame(5e3, 232e3, FRAME, (0, 0, 150, 150))
    assert plan.hifi and plan.region == (0, 0, 150, 150)
    assert plan.budget_flops == 5e3 * 1024 * 1024
    assert plan.cost_flops == 232e3 * 150 * 150 <= plan.budget_flops
    assert "GFLOP" in plan.describe()
    big = plan_frame(5e3, 232e3, FRAME, (0, 0, 160, 160))
    assert not big.hifi and big.region == (0, 0, 160, 160) and "exceeds" in big.reason
    assert big.cost_flops == big.budget_flops  # the live model on the whole frame runs
    assert big.hifi_cost_flops == 232e3 * 160 * 160 > big.budget_flops
    assert "5.94 GFLOP on the view vs budget 5.24" in big.describe()


def test_full_frames_when_not_zoomed_disabled_or_no_hifi_model():
    assert not plan_frame(5e3, 232e3, FRAME, None).hifi
    assert not plan_frame(5e3, 232e3, FRAME, (0, 0, 1024, 1024)).hifi
    assert not plan_frame(5e3, 232e3, FRAME, (5, 5, 5, 9)).hifi  # empty region
    off = plan_frame(5e3, 232e3, FRAME, (0, 0, 10, 10), enabled=False)
    assert not off.hifi and "off" in off.reason
    none = plan_frame(5e3, None, FRAME, (0, 0, 10, 10))
    assert not none.hifi and "no higher-fidelity" in none.reason


def test_max_region_side_is_the_square_at_the_budget():
    side = max_region_side(5e3, 232e3, 1024 * 1024)
    assert plan_frame(5e3, 232e3, FRAME, (0, 0, side, side)).hifi
    assert not plan_frame(5e3, 232e3, FRAME, (0, 0, side + 1, side + 1)).hifi
    assert max_region_side(5e3, 0.0, 100) == 10


def _meta(tier: str, channel: str = "DAPI", scale: int = 4, lr_px: float = 1.3):
    return default_metadata(
        scale,
        [channel],
        lr_pixel_size_um=lr_px,
        hr_pixel_size_um=lr_px / scale,
        training={"config": {"preset": tier}},
    )


def test_pick_higher_fidelity_prefers_the_next_tier_then_the_exact_channel():
    live = _meta("live")
    assert tier_of(live) == "live"
    candidates = {
        "paper": (_meta("paper"), "exact"),
        "generalist": (_meta("balanced", "DAPI|TRITC"), "modality"),
        "balanced": (_meta("balanced"), "exact"),
        "live2": (_meta("live"), "exact"),
        "other_scale": (_meta("balanced", scale=2), "exact"),
        "other_px": (_meta("balanced", lr_px=0.325), "exact"),
    }
    assert pick_higher_fidelity(candidates, live) == "balanced"
    del candidates["balanced"]
    assert pick_higher_fidelity(candidates, live) == "generalist"
    # a balanced model live: only a paper model is higher
    assert pick_higher_fidelity(candidates, _meta("balanced")) == "paper"
    assert pick_higher_fidelity({}, live) is None


@pytest.mark.skipif(not bundled_models(), reason="no bundled models installed")
def test_bundled_models_higher_fidelity_per_channel():
    models = bundled_models()
    live_fluo = read_metadata(models["live_fluo"])
    assert higher_fidelity_model(models, "DAPI", live_fluo) == "balanced_fluo"
    tritc = read_metadata(models["live_fluo_tritc"])
    assert higher_fidelity_model(models, "TRITC", tritc) == "generalist_fluo"
    # brightfield: the colour generalist is the balanced model above live_bf
    assert higher_fidelity_model(models, "BF-G", read_metadata(models["live_bf"])) == (
        "generalist_bf"
    )
    # FITC runs the generalist (balanced) live already: nothing higher is bundled
    generalist = read_metadata(models["generalist_fluo"])
    assert higher_fidelity_model(models, "FITC", generalist) is None
    live_px = model_flops_per_px(models["live_fluo"])
    hifi_px = model_flops_per_px(models["balanced_fluo"])
    assert hifi_px > 10 * live_px > 0


def _tier_model(path, tier: str, n_conv: int):
    meta = default_metadata(
        4,
        ["FITC"],
        name=f"{tier}-fitc",
        lr_pixel_size_um=1.3,
        hr_pixel_size_um=1.3 / 4,
        training={"config": {"preset": tier}},
    )
    return save_model(nearest_model(4, 1, n_conv=n_conv, meta=meta), path)


def test_viewer_runs_the_balanced_model_on_the_zoomed_view_and_live_when_zoomed_out(
    qtbot, rig, tmp_path
):
    from ui.viewer import ViewerSettings, ViewerWindow

    # Arrange: a live and a balanced FITC model (5× the FLOPs per LR pixel) on offer
    live = _tier_model(tmp_path / "live.onnx", "live", n_conv=2)
    balanced = _tier_model(tmp_path / "balanced.onnx", "balanced", n_conv=3)
    window = ViewerWindow(
        rig,
        ViewerSettings(model=live, out_dir=tmp_path / "out", viewport_max_px=16),
        models={"live.onnx": live, "balanced.onnx": balanced},
    )
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.hifi_check.isChecked()
        assert window.frame_sr.hifi.name == "balanced-fitc"
        qtbot.waitUntil(lambda: window.sr_shown >= 1, timeout=TIMEOUT_MS)
        assert "live-fitc" in window.sr_pane.title
        ratio = window._hifi_flops_px / window._live_flops_px
        assert ratio > 4
        # Act: zoom in to a view well inside the budget (≤ ROI² / ratio LR px)
        window.lr_pane.zoom_to((20, 30, 50, 60))
        qtbot.waitUntil(lambda: window.hifi_regions_shown >= 1, timeout=TIMEOUT_MS)
        # Assert: the balanced model runs on the region, the live one no longer
        plan = window.budget_plan
        assert plan.hifi and plan.cost_flops <= plan.budget_flops
        region = window.frame_sr.region
        assert region == plan.region == window.lr_pane.visible_region()
        x0, y0, x1, y1 = region
        assert window.sr_pane.region_image.image.shape == (4 * (y1 - y0), 4 * (x1 - x0))
        assert "balanced-fitc" in window.sr_pane.title and "visible region" in window.sr_pane.title
        assert "balanced-fitc" in window.hifi_check.toolTip()
        # unticked: the live model on whole frames again
        window.hifi_check.setChecked(False)
        assert window.frame_sr.region is None and "live-fitc" in window.sr_pane.title
        window.hifi_check.setChecked(True)
        assert window.frame_sr.region is not None
        # Act: zoom out to the whole frame
        window.lr_pane.view.autoRange(padding=0)
        qtbot.waitUntil(lambda: window.frame_sr.region is None, timeout=TIMEOUT_MS)
        shown = window.sr_shown
        qtbot.waitUntil(lambda: window.sr_shown > shown, timeout=TIMEOUT_MS)
        # Assert: the live model on whole frames, no region drawn
        assert not window.budget_plan.hifi
        assert window.last_sr.shape == (4 * ROI, 4 * ROI)
        assert "live-fitc" in window.sr_pane.title
        assert window.sr_pane.region_image.image is None
    finally:
        window.shutdown()
