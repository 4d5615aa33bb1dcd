"""The viewer on the simulated rig, offscreen: frames, SR, stats, screenshot, controls, faults."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from qtpy import QtCore, QtGui

from tests.ui.conftest import ROI

TIMEOUT_MS = 20_000


def _png_array(path) -> np.ndarray:
    img = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    h, w = img.height(), img.width()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h)
    return buf.reshape(h, img.bytesPerLine())[:, :w].copy()


def test_live_frames_sr_frames_and_status(viewer, qtbot, tmp_path):
    # Arrange: the fixture opened the window with live on and the FITC model
    # Act: let frames flow
    qtbot.waitUntil(lambda: viewer.frames_shown >= 5, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: viewer.sr_shown >= 3, timeout=TIMEOUT_MS)
    qtbot.wait(600)
    viewer.update_status()
    # Assert: raw and SR panes show images of the right geometry, numbers updated
    assert viewer.last_frame.shape == (ROI, ROI)
    assert viewer.last_sr.shape == (4 * ROI, 4 * ROI)
    stats = viewer.stats()
    assert stats["camera_fps"] > 1
    assert stats["sr_fps"] > 0
    assert stats["latency_p95_ms"] >= stats["latency_p50_ms"] > 0
    text = viewer.stats_label.text()
    assert "camera" in text and "SR" in text and "p95" in text and "dropped" in text
    assert "computed" in viewer.sr_pane.title
    # the nearest model is np.repeat: the SR shown is a frame repeated 4×4 (each 4×4 block
    # one LR pixel), and neither pane is blank
    sr = viewer.last_sr
    np.testing.assert_array_equal(sr, np.repeat(np.repeat(sr[::4, ::4], 4, axis=0), 4, axis=1))
    assert viewer.lr_pane.pixel_std() > 1 and viewer.sr_pane.pixel_std() > 1

    # screenshot: written, and its image panes are not blank
    path = viewer.screenshot(tmp_path / "shot.png")
    arr = _png_array(path)
    h, w = arr.shape
    left = arr[h // 5 : 4 * h // 5, : w // 3]
    assert arr.shape[0] > 200 and left.std() > 5


def test_viewport_sr_when_zoomed_in(viewer, qtbot):
    qtbot.waitUntil(lambda: viewer.sr_shown >= 1, timeout=TIMEOUT_MS)
    viewer.lr_pane.zoom_to((20, 30, 60, 70))
    qtbot.waitUntil(lambda: viewer.region_shown >= 1, timeout=TIMEOUT_MS)
    region = viewer.zoomed_in()
    assert region is not None
    x0, y0, x1, y1 = region
    shown = viewer.sr_pane.region_image.image
    assert shown.shape == (4 * (y1 - y0), 4 * (x1 - x0))
    # zoomed out again: the region overlay goes away
    viewer.lr_pane.view.autoRange(padding=0)
    qtbot.waitUntil(lambda: viewer.sr_pane.region_image.image is None, timeout=TIMEOUT_MS)


def test_consistency_overlay(viewer, qtbot, fitc_model_with_record):
    # a model without a degradation record cannot make the map: refused, box unticked
    viewer.consistency_check.setChecked(True)
    assert not viewer.consistency_check.isChecked()
    assert "degradation record" in viewer.statusBar().currentMessage()
    viewer.add_model(fitc_model_with_record, select=True)
    viewer.consistency_check.setChecked(True)
    qtbot.waitUntil(lambda: viewer.overlays_shown >= 1, timeout=TIMEOUT_MS)
    overlay = viewer.sr_pane.overlay
    assert overlay.isVisible() and overlay.image.shape == (ROI, ROI, 4)
    assert 0.0 <= viewer.consistency.flagged_fraction <= 1.0
    viewer.consistency_check.setChecked(False)
    assert not overlay.isVisible()


def test_fidelity_dial_blends_a_gan_twin(viewer, qtbot, tmp_path):
    from tests.ui.conftest import make_model

    gan = make_model(tmp_path / "gan.onnx", "FITC", n_conv=2)
    viewer.add_model(gan)
    assert not viewer.fidelity_slider.isEnabled()
    viewer.fidelity_slider.setValue(0)
    viewer.gan_combo.setCurrentText("gan.onnx")
    assert viewer.fidelity_slider.isEnabled() and "⊕" in viewer.sr_pane.title
    shown = viewer.sr_shown
    qtbot.waitUntil(lambda: viewer.sr_shown > shown, timeout=TIMEOUT_MS)
    # α = 0 is the MSE (nearest) model alone: SR is the frame repeated 4×4
    lr = viewer.last_frame.astype(np.float32)
    frame = viewer.blended.predict(viewer.last_frame)
    np.testing.assert_allclose(frame[::4, ::4], lr, atol=1.0)
    viewer.fidelity_slider.setValue(100)
    assert viewer.blended.alpha == 1.0
    viewer.gan_combo.setCurrentIndex(0)
    assert viewer.blended is None and not viewer.fidelity_slider.isEnabled()


def test_objective_change_warns_about_model_pixel_size(viewer):
    viewer.objective_combo.setCurrentText("20x")
    assert "1.3 µm LR pixels" in viewer.statusBar().currentMessage()
    viewer.objective_combo.setCurrentText("5x")
    assert "trained on" not in viewer.statusBar().currentMessage()


def test_model_of_other_channel_is_refused(viewer, qtbot, dapi_model):
    ok = viewer.set_model(dapi_model)
    assert not ok
    message = viewer.statusBar().currentMessage()
    assert "DAPI" in message and "FITC" in message
    assert viewer.frame_sr is None
    # switching the rig to a channel no offered model knows turns SR off
    viewer.model_combo.setCurrentText("fitc.onnx")
    assert viewer.frame_sr is not None
    viewer.channel_combo.setCurrentText("DAPI")
    assert viewer.frame_sr is None
    assert "FITC" in viewer.statusBar().currentMessage()
    # with a DAPI model on offer, a channel change follows with that model
    viewer.channel_combo.setCurrentText("FITC")
    viewer.model_combo.setCurrentText("fitc.onnx")
    viewer.add_model(dapi_model)
    viewer.channel_combo.setCurrentText("DAPI")
    assert viewer.frame_sr is not None
    assert viewer.model.meta.channels == ["DAPI"]
    assert viewer.model_combo.currentText() == "dapi.onnx"
    assert "switched" in viewer.statusBar().currentMessage()


# the simulated camera raises inside pymmcore-plus's sequence thread (by design, to fail)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_camera_error_stops_live_and_window_stays_usable(viewer, rig, qtbot):
    scope = rig
    qtbot.waitUntil(lambda: viewer.frames_shown >= 2, timeout=TIMEOUT_MS)
    viewer.set_live(False)
    scope.core.setProperty("Camera", "FailAfterFrames", "3")
    viewer.set_live(True)
    qtbot.waitUntil(lambda: "camera" in viewer.statusBar().currentMessage(), timeout=TIMEOUT_MS)
    assert not viewer.live_button.isChecked()
    assert "live stopped" in viewer.statusBar().currentMessage()
    # still usable: change exposure, clear the fault, live again
    viewer.exposure_spin.setValue(5.0)
    assert scope.core.getExposure() == pytest.approx(5.0)
    scope.core.setProperty("Camera", "FailAfterFrames", "-1")
    shown = viewer.frames_shown
    viewer.live_button.setChecked(True)
    qtbot.waitUntil(lambda: viewer.frames_shown > shown + 2, timeout=TIMEOUT_MS)


def test_snap_and_save_writes_lr_and_sr_ome_tiff(viewer, qtbot, tmp_path):
    qtbot.waitUntil(lambda: viewer.frames_shown >= 1, timeout=TIMEOUT_MS)
    task = viewer.snap_and_save(tmp_path / "snaps")
    with qtbot.waitSignal(task.done, timeout=TIMEOUT_MS):
        pass
    files = task.result
    lr, sr = tifffile.imread(files["lr"]), tifffile.imread(files["sr"])
    assert lr.shape == (ROI, ROI) and sr.shape == (4 * ROI, 4 * ROI)
    np.testing.assert_allclose(sr[::4, ::4], lr, rtol=0, atol=1.0)  # nearest model
    with tifffile.TiffFile(files["sr"]) as tif:
        assert 'PhysicalSizeX="0.325"' in tif.ome_metadata
    assert "computed" in files["json"].read_text()


def test_stage_buttons_keys_and_click_to_centre(viewer, rig, qtbot):
    x0, y0, _ = rig.position_um
    viewer.step_spin.setValue(50.0)
    viewer.stage_buttons["right"].click()
    qtbot.keyClick(viewer, QtCore.Qt.Key.Key_Down)
    x1, y1, _ = rig.position_um
    assert (x1 - x0, y1 - y0) == pytest.approx((50.0, 50.0), abs=0.5)
    qtbot.waitUntil(lambda: viewer.last_frame is not None, timeout=TIMEOUT_MS)
    px = rig.pixel_size_um
    viewer.centre_on(ROI / 2 + 10, ROI / 2 - 20)
    x2, y2, _ = rig.position_um
    assert (x2 - x1, y2 - y1) == pytest.approx((10 * px, -20 * px), abs=0.5)


def test_scan_panel_runs_off_the_gui_thread(viewer, qtbot, tmp_path):
    panel = viewer.scan_panel
    panel.rows.setValue(2)
    panel.columns.setValue(2)
    panel.out.setText(str(tmp_path / "scan"))
    qtbot.waitUntil(lambda: viewer.sr_shown >= 1, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(panel.finished, timeout=60_000) as blocker:
        panel.start_button.click()
        assert not viewer.live_button.isEnabled()  # the rig is busy, GUI is not
    assert blocker.args[0], blocker.args
    assert panel.preview.has_image()
    # the files `srscope scan --model` writes
    assert (tmp_path / "scan" / "sr_mosaic.ome.zarr" / "zarr.json").is_file()
    assert (tmp_path / "scan" / "tiles" / "part000.ome.zarr").is_dir()
    assert (tmp_path / "scan" / "mosaic.ome.zarr" / "zarr.json").is_file()
    assert panel.progress.value() == 4
    assert viewer.live_button.isEnabled()


def test_references_panel_writes_a_reference_set(viewer, qtbot, tmp_path):
    from srscope.references import ReferenceSet

    panel = viewer.references_panel
    panel.positions.setValue(2)
    panel.area.setValue(400)
    panel.out.setText(str(tmp_path / "refs"))
    with qtbot.waitSignal(panel.finished, timeout=60_000) as blocker:
        panel.start_button.click()
    assert blocker.args[0], blocker.args
    refs = ReferenceSet.load(tmp_path / "refs")
    assert len(refs.entries) == 2 and refs.scale == 4
    assert panel.preview.has_image()


def test_a_stopped_scan_resumes_like_the_cli(viewer, rig, qtbot, tmp_path):
    from acquisition.scan import Journal, ScanState

    # Arrange: a slow camera, so Stop lands mid-scan
    rig.core.setProperty("Camera", "RealTime", "On")
    viewer.exposure_spin.setValue(250.0)
    panel = viewer.scan_panel
    panel.rows.setValue(2)
    panel.columns.setValue(2)
    panel.sr.setChecked(False)
    out = tmp_path / "scan"
    panel.out.setText(str(out))
    # Act: start, stop after the first tile
    with qtbot.waitSignal(panel.finished, timeout=60_000) as stopped:
        panel.start_button.click()
        qtbot.waitUntil(lambda: panel.progress.value() >= 1, timeout=TIMEOUT_MS)
        panel.stop_button.click()
    # Assert: the CLI's scan folder, with part of the tiles and no mosaic
    assert not stopped.args[0] and "resume" in stopped.args[1]
    assert ScanState.load(out).plan.rows == 2
    captured = Journal(out / "journal.jsonl").latest()
    assert 1 <= len(captured) < 4
    assert not (out / "mosaic.ome.zarr").exists()
    # Act: resume from the panel
    rig.core.setProperty("Camera", "RealTime", "Off")
    qtbot.waitUntil(lambda: not panel.busy(), timeout=TIMEOUT_MS)
    panel.resume.setChecked(True)
    with qtbot.waitSignal(panel.finished, timeout=60_000) as resumed:
        panel.start_button.click()
    # Assert: every tile once, the first run's tiles kept where they were, stitched
    assert resumed.args[0], resumed.args
    entries = Journal(out / "journal.jsonl").entries()
    assert sorted(e.key for e in entries if not e.lost) == [(i, 0) for i in range(4)]
    latest = Journal(out / "journal.jsonl").latest()
    assert all(latest[k].part == "part000.ome.zarr" for k in captured)
    assert (out / "tiles" / "part001.ome.zarr").is_dir()
    assert (out / "mosaic.ome.zarr" / "zarr.json").is_file()


def test_rig_settings_from_a_file_name_the_groups_of_a_users_config(qtbot, tmp_path, fitc_model):
    import re

    from acquisition import SIM_CONFIG
    from acquisition.models import RigSettings
    from ui.app import prepare_rig
    from ui.viewer import ViewerSettings, ViewerWindow

    # Arrange: the sim rig's config with its groups renamed, and settings naming them
    text = SIM_CONFIG.read_text()
    text = re.sub(r"ConfigGroup,Objective\b", "ConfigGroup,Lens", text)
    text = re.sub(r"ConfigGroup,Channel\b", "ConfigGroup,Filters", text)
    text = text.replace("ChannelGroup,Channel", "ChannelGroup,Filters")
    config = tmp_path / "mine.cfg"
    config.write_text(text)
    rig_file = tmp_path / "rig.yaml"
    rig_file.write_text("objective_group: Lens\nchannel_group: Filters\n")
    # Act
    scope = prepare_rig(config, fitc_model, settings=RigSettings.from_file(rig_file))
    try:
        window = ViewerWindow(
            scope, ViewerSettings(model=fitc_model, out_dir=tmp_path / "out", start_live=False)
        )
        try:
            # Assert: the viewer lists and switches the user's groups
            combo = window.objective_combo
            objectives = {combo.itemText(i) for i in range(combo.count())}
            assert objectives == {"5x", "10x", "20x"} and combo.currentText() == "5x"
            window.channel_combo.setCurrentText("DAPI")
            assert scope.core.getCurrentConfig("Filters") == "DAPI"
        finally:
            window.close()
            window.deleteLater()
    finally:
        scope.close()
