"""``srscope predict`` / ``srscope bench`` through the real entry point."""

import json

import numpy as np
import pytest
import tifffile
import zarr

from sr_engine.testing import nearest_model, save_model
from srscope_cli import main

from .conftest import structured


@pytest.fixture
def tif(tmp_path):
    path = tmp_path / "lr.tif"
    tifffile.imwrite(path, structured(60, 80))
    return path


def one_line_error(capsys, match):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert match in lines[0], err


def test_predict_writes_ome_zarr(model_file, tif, tmp_path, capsys):
    out = tmp_path / "sr.ome.zarr"
    assert main(["predict", str(model_file), str(tif), str(out), "--tile", "32"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert zarr.open_group(str(out), mode="r")["0"].shape == (1, 120, 160)


def test_predict_resumes_and_refuses_existing_output(model_file, tif, tmp_path, capsys):
    out = tmp_path / "sr.ome.tif"
    args = ["predict", str(model_file), str(tif), str(out), "--dtype", "input"]
    assert main(args) == 0
    assert tifffile.imread(out).dtype == np.uint16
    assert main(args) == 2
    one_line_error(capsys, "already exists")
    assert main([*args, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("missing_input", "input not found"),
        ("garbage_input", "cannot read"),
        ("wrong_channels", "expects 1"),
        ("nan_input", "NaN"),
        ("tile_vs_overlap", "larger than twice the overlap"),
        ("unwritable", "cannot write output"),
        ("bare_model", "not an srscope model"),
        ("bad_suffix", "must end in"),
        ("bad_provider", "not available"),
    ],
)
def test_bad_input_is_one_line_exit_2(case, match, model_file, tif, tmp_path, capsys):
    model, src, out = str(model_file), str(tif), str(tmp_path / "o.ome.zarr")
    extra: list[str] = []
    if case == "missing_input":
        src = str(tmp_path / "nope.tif")
    elif case == "garbage_input":
        (tmp_path / "bad.tif").write_bytes(b"II*\x00garbage" * 20)
        src = str(tmp_path / "bad.tif")
    elif case == "wrong_channels":
        tifffile.imwrite(
            tmp_path / "c.tif",
            np.zeros((3, 20, 20), np.uint16),
            metadata={"axes": "CYX"},
            photometric="minisblack",
        )
        src = str(tmp_path / "c.tif")
    elif case == "nan_input":
        tifffile.imwrite(tmp_path / "n.tif", np.full((20, 20), np.nan, np.float32))
        src = str(tmp_path / "n.tif")
    elif case == "tile_vs_overlap":
        extra = ["--tile", "8", "--overlap", "4"]
    elif case == "unwritable":
        (tmp_path / "file").write_text("x")
        out = str(tmp_path / "file" / "o.ome.zarr")
    elif case == "bare_model":
        bare = nearest_model(2, 1)
        del bare.metadata_props[:]
        model = str(save_model(bare, tmp_path / "bare.onnx"))
    elif case == "bad_suffix":
        out = str(tmp_path / "o.png")
    elif case == "bad_provider":
        extra = ["--provider", "NoSuchExecutionProvider"]
    assert main(["predict", model, src, out, *extra]) == 2
    one_line_error(capsys, match)
    assert not (tmp_path / "o.ome.zarr").exists()


def test_bench_quick_json(tmp_path, model_file, capsys):
    out = tmp_path / "bench.json"
    args = ["bench", "--model", str(model_file), "--size", "64", "--repeats", "1"]
    assert main([*args, "--no-torch-compare", "--quick", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["matmul_peak_gflops"] > 0
    (entry,) = data["models"]
    for key in ("lr_mpix_per_s", "gflops", "ratio_of_peak", "tile_overhead", "live_fps"):
        assert key in entry
    text = capsys.readouterr().out
    assert "MatMul peak" in text and "GFLOP/s" in text


def test_models_lists_every_bundled_model_with_its_card():
    import subprocess
    import sys

    from sr_engine.bundled import bundled_models

    run = subprocess.run(
        [sys.executable, "-m", "srscope_cli", "models", "--json", "--no-speed"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [r["name"] for r in rows] == list(bundled_models())
    for r in rows:
        assert r["tier"] in ("live", "balanced", "paper")
        assert r["modality"] in ("fluorescence", "brightfield")
        assert r["kflop_per_lr_px"] > 0 and r["size_kb"] < 10 * 1024
        assert r["trained_on"]


def test_modality_of_channel_names():
    from sr_engine.catalog import modality

    assert modality(["DAPI|TRITC"]) == "fluorescence"
    assert modality(["BF-G"]) == "brightfield"
    assert modality(["R", "G", "B"]) == "brightfield"
