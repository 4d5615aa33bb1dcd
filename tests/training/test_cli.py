"""``srscope calibrate`` and ``srscope train`` end to end on a tiny reference set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sr_engine.metadata import read_metadata
from srscope.cli import main


@pytest.mark.slow
def test_calibrate_then_train(
    reference_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    deg = tmp_path / "degradation.json"
    assert main(["calibrate", str(reference_set), "--out", str(deg)]) == 0
    assert json.loads(deg.read_text())["psf"]["kind"] in ("gaussian", "kernel")
    assert deg.with_suffix(".png").is_file()

    model = tmp_path / "live.onnx"
    args = ["train", str(reference_set), "--degradation", str(deg), "--preset", "live",
            "--out", str(model), "--iterations", "3", "--patch", "12", "--batch", "2",
            "--epoch-iterations", "3", "--threads", "1"]  # fmt: skip
    assert main(args) == 0
    meta = read_metadata(model)
    assert meta.channels == ["FITC"] and meta.hr_pixel_size_um == 0.325
    assert meta.degradation is not None and meta.degradation.fit is not None
    assert "val PSNR" in capsys.readouterr().out


def test_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    deg = tmp_path / "d.json"
    deg.write_text(json.dumps({"scale": 4, "psf": {"sigma_hr_px": 1.0}}))
    assert (
        main(["train", str(tmp_path / "empty"), "-d", str(deg), "--out", str(tmp_path / "m.onnx")])
        == 2
    )
    assert "no TIFF/PNG images" in capsys.readouterr().err
    assert main(["calibrate", str(tmp_path / "empty")]) == 2
    assert "no references.json" in capsys.readouterr().err


def test_invalid_options_are_one_line_errors(
    reference_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["calibrate", str(reference_set), "--noise", "pink"]) == 2
    assert "invalid option noise" in capsys.readouterr().err
    deg = tmp_path / "d.json"
    deg.write_text(json.dumps({"scale": 4, "psf": {"sigma_hr_px": 1.0}}))
    args = [
        "train",
        str(reference_set),
        "-d",
        str(deg),
        "--patch",
        "2",
        "--out",
        str(tmp_path / "m.onnx"),
    ]
    assert main(args) == 2
    assert "invalid option patch_lr" in capsys.readouterr().err


def test_train_without_torch_is_one_line_error(monkeypatch, tmp_path, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    rc = main(["train", str(tmp_path), "-d", str(tmp_path / "d.json"), "--out", "m.onnx"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "needs PyTorch" in err and "Traceback" not in err


def test_v1_record_still_trains_and_its_model_predicts(reference_set: Path, tmp_path: Path) -> None:
    import numpy as np

    from sr_engine.model import SRModel

    deg = tmp_path / "v1.json"
    deg.write_text(
        json.dumps(
            {"format": "srscope-degradation/1", "scale": 4, "psf": {"sigma_hr_px": 2.0},
             "intensity": {"gain": 0.5, "offset": 100.0}, "noise": {"std": 3.0}}
        )
    )  # fmt: skip
    model = tmp_path / "live.onnx"
    args = ["train", str(reference_set), "-d", str(deg), "--preset", "live", "--out", str(model),
            "--iterations", "2", "--patch", "12", "--batch", "2", "--threads", "1"]  # fmt: skip
    assert main(args) == 0
    sr = SRModel(model)
    assert sr.meta.degradation is not None
    assert sr.meta.degradation.format == "srscope-degradation/1"
    out = sr.predict(np.random.default_rng(0).uniform(100, 500, (24, 20)).astype(np.float32))
    assert out.shape == (96, 80) and np.isfinite(out).all()
