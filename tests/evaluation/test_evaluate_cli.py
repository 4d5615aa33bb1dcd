"""``srscope evaluate`` end to end on a synthetic reference set with tiny ONNX models."""

import csv
import json

import pytest

from srscope_cli import main


@pytest.mark.slow
def test_evaluate_writes_json_csv_html(reference_set, tiny_models, tmp_path):
    mse, gan = tiny_models
    out = tmp_path / "eval"
    rc = main(
        [
            "evaluate",
            str(mse),
            str(reference_set),
            "--out",
            str(out),
            "--field-size",
            "96",
            "--gan-model",
            str(gan),
            "--alpha",
            "0.3",
        ]
    )
    assert rc == 0
    data = json.loads((out / "evaluation.json").read_text())
    assert data["methods"] == ["bicubic", "bicubic+RL", "mse", "gan", "blend α=0.3"]
    assert {"table", "fields", "entries", "record", "notes"} <= data.keys()
    row = data["table"][0]
    assert set(row) == {"method", "psnr_mean", "psnr_sd", "ssim_mean", "ssim_sd", "n_fields"}
    assert all(r["n_fields"] == 8 for r in data["table"])  # 2 entries x 2x2 fields of 96²
    by = {r["method"]: r for r in data["table"]}
    # bicubic beats nearest-neighbour upsampling on smooth specimens
    assert by["bicubic"]["psnr_mean"] > by["mse"]["psnr_mean"]
    assert 15 < by["bicubic"]["psnr_mean"] < 60
    entry = data["entries"][0]
    assert {r["image"] for r in entry["resolution"]} >= {"LR", "mse", "HR"}
    assert 0 <= entry["consistency"]["flagged_fraction"] <= 1
    # the HR field was found where it was cut out of the world (centre 256, offset 3, -2)
    y0, x0 = entry["hr_in_lr_px"]
    assert y0 == pytest.approx((256 - 104 + 3) / 4, abs=0.3)
    assert x0 == pytest.approx((256 - 104 - 2) / 4, abs=0.3)
    with (out / "evaluation.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["method"] for r in rows] == data["methods"]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4
    assert "Table 1" in html
    assert (out / "figures" / "table.png").stat().st_size > 1000


def test_evaluate_bad_inputs_exit_2_with_one_line(tiny_models, tmp_path, capsys):
    mse, _ = tiny_models
    assert main(["evaluate", str(mse), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert main(["evaluate", str(tmp_path / "junk.onnx"), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_evaluate_refuses_alpha_out_of_range(reference_set, tiny_models, capsys):
    mse, gan = tiny_models
    rc = main(["evaluate", str(mse), str(reference_set), "--gan-model", str(gan), "--alpha", "2"])
    assert rc == 2
    assert "alpha" in capsys.readouterr().err


def test_usaf_cli_simulated_with_model(tiny_models, tmp_path):
    mse, _ = tiny_models
    out = tmp_path / "usaf"
    assert (
        main(["usaf", "--simulate", "--model", str(mse), "--groups", "7-9", "--out", str(out)]) == 0
    )
    data = json.loads((out / "usaf.json").read_text())
    assert list(data["summary"]) == ["LR", "bicubic", "mse", "HR"]
    assert data["summary"]["HR"]["finest_resolved"].startswith("G9")
    assert "data:image/png;base64," in (out / "usaf.html").read_text()
    from training.evaluation.usaf_report import UsafReport

    again = UsafReport.from_file(out / "usaf.json")  # the file reads back into its model
    assert again.model_dump(mode="json") == data


def test_usaf_cli_unknown_pixel_size_detects_triplets(tmp_path):
    import numpy as np
    import tifffile

    from srscope.usaf_target import usaf1951_target

    path = tmp_path / "target.tif"
    tifffile.imwrite(path, (100 + 1000 * usaf1951_target(0.5, [6, 7])).astype(np.uint16))
    out = tmp_path / "usaf"
    assert main(["usaf", str(path), "--out", str(out)]) == 0
    data = json.loads((out / "usaf.json").read_text())
    assert data["summary"]["image"]["triplets_detected"] >= 20  # 2 groups x 6 elements x 2
    assert main(["usaf", "--groups", "x-y", "--simulate"]) == 2
