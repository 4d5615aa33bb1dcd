"""``srscope calibrate`` and ``srscope train`` end to end on a tiny reference set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sr_engine.metadata import read_metadata
from srscope_cli import main


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


def test_init_warm_starts_from_an_exported_model(
    reference_set: Path, tmp_path: Path, record
) -> None:
    import torch

    from training.images import load_sources
    from training.trainer import Trainer
    from training.warmstart import init_model

    from .conftest import tiny_config

    deg = record.save(tmp_path / "d.json")
    base = tmp_path / "base.onnx"
    common = ["--patch", "12", "--batch", "2", "--threads", "1", "--channel", "FITC"]
    assert main(["train", str(reference_set), "-d", str(deg), "--preset", "balanced",
                 "--features", "4", "--blocks", "1", "--iterations", "2", "--out", str(base),
                 *common]) == 0  # fmt: skip
    weights, _ = init_model(base)
    sources, _ = load_sources(reference_set, "FITC")
    cfg = tiny_config("balanced", init=base).model_copy(
        update={"generator": tiny_config("balanced").generator.model_copy(
            update={"features": 4, "blocks": 1})}
    )  # fmt: skip
    t = Trainer(sources, record, cfg, tmp_path / "w", progress=False)
    for k, v in t.g.state_dict().items():
        torch.testing.assert_close(v, weights[k])  # starts exactly where the model ended

    tuned = tmp_path / "tuned.onnx"  # the command line takes the model's own generator
    assert main(["train", str(reference_set), "-d", str(deg), "--init", str(base),
                 "--iterations", "2", "--out", str(tuned), *common]) == 0  # fmt: skip
    assert set(init_model(tuned)[0]) == set(weights)


def test_init_from_a_model_of_another_shape_is_one_line(
    reference_set: Path, tmp_path: Path, record, capsys: pytest.CaptureFixture
) -> None:
    deg = record.save(tmp_path / "d.json")
    base = tmp_path / "live.onnx"
    common = ["--patch", "12", "--batch", "2", "--threads", "1", "--channel", "FITC"]
    assert main(["train", str(reference_set), "-d", str(deg), "--iterations", "1",
                 "--out", str(base), *common]) == 0  # fmt: skip
    cfg = tmp_path / "c.json"
    from training.config import TrainConfig

    cfg.write_text(TrainConfig.preset_defaults("balanced").model_dump_json())
    capsys.readouterr()
    rc = main(["train", str(reference_set), "-d", str(deg), "--train-config", str(cfg),
               "--features", "4", "--init", str(base), "--out", str(tmp_path / "x.onnx"),
               *common])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "cannot warm-start" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()
