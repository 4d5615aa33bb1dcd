"""``srscope live`` and ``srscope demo`` end to end (in process, offscreen)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qtpy import QtGui

from srscope_cli import main


def _no_display(monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "")


def test_live_without_display_suggests_headless(monkeypatch, capsys):
    _no_display(monkeypatch)
    assert main(["live"]) == 2
    err = capsys.readouterr().err
    assert "no display" in err and "--headless" in err and "demo" in err


def test_demo_gui_without_display_refuses_before_working(monkeypatch, capsys, tmp_path):
    _no_display(monkeypatch)
    assert main(["demo", "--gui", "--out", str(tmp_path / "d")]) == 2
    assert "--gui" in capsys.readouterr().err
    assert not (tmp_path / "d" / "report.html").exists()


def test_live_refuses_model_of_other_channel(capsys, dapi_model):
    code = main(["live", "--model", str(dapi_model), "--channel", "FITC", "--exit-after", "0"])
    assert code == 2
    err = capsys.readouterr().err
    assert "DAPI" in err and "FITC" in err


def test_live_screenshot_and_exit(qapp, tmp_path, fitc_model):
    shot = tmp_path / "viewer.png"
    code = main(
        [
            "live",
            "--model",
            str(fitc_model),
            "--screenshot",
            str(shot),
            "--exit-after",
            "3",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    img = QtGui.QImage(str(shot)).convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    assert img.width() > 600 and img.height() > 400
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)[:, :w]
    lr_pane = arr[h // 4 : 3 * h // 4, : w // 3]
    sr_pane = arr[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3]
    assert lr_pane.std() > 5 and sr_pane.std() > 5  # real images, not a blank window


@pytest.mark.slow
def test_demo_small_end_to_end(tmp_path, fitc_model, capsys):
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--out",
            str(out),
            "--model",
            str(fitc_model),
            "--fields",
            "1",
            "--scan",
            "2x2",
            "--roi",
            "128",
        ]
    )
    assert code == 0, capsys.readouterr().err
    report = (out / "report.html").read_text()
    for text in ("PSNR", "SSIM", "bicubic+RL", "bicubic", "nearest-fitc", "Timings", "computed"):
        assert text in report
    demo = json.loads((out / "demo.json").read_text())
    assert {r["method"] for r in demo["table"]} >= {"bicubic", "bicubic+RL", "nearest-fitc"}
    assert all(np.isfinite(r["psnr_mean"]) for r in demo["table"])
    assert demo["scan_sr"]["frames_done"] == 4
    for key in ("snap_lr", "snap_sr", "scan_raw", "scan_sr", "scan_sr_mosaic", "fields"):
        assert (out / demo["files"][key]).exists(), key
    for fig in ("figures/snap.png", "figures/mosaic.png", "evaluation/figures/panel_0.png"):
        assert (out / fig).stat().st_size > 10_000
    assert "PSNR" in capsys.readouterr().out
