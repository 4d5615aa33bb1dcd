"""``srscope degrade`` and bad degradation records, as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from srscope.degradation import DegradationRecord
from training.synthetic import specimen


def srscope(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "srscope_cli", *args], capture_output=True, text=True, timeout=120
    )


V2 = {
    "format": "srscope-degradation/2",
    "scale": 4,
    "psf": {"kind": "airy", "na": 0.15, "wavelength_nm": 460, "hr_pixel_size_um": 0.325,
            "hr_na": 0.45},
    "intensity": {"gain": 0.5, "offset": 100.0},
    "noise": {"kind": "poisson-gaussian", "std": 3.0, "poisson_gain": 2.0},
}  # fmt: skip


@pytest.fixture
def hr_image(tmp_path: Path) -> Path:
    path = tmp_path / "hr.ome.tif"
    img = specimen((128, 96), seed=1).astype(np.uint16)
    tifffile.imwrite(path, img, ome=True, metadata={"axes": "YX", "PhysicalSizeX": 0.325,
                                                    "PhysicalSizeY": 0.325})  # fmt: skip
    return path


def test_degrade_writes_what_the_record_says(hr_image: Path, tmp_path: Path) -> None:
    rec = tmp_path / "d.json"
    rec.write_text(json.dumps(V2))
    out = tmp_path / "lr.ome.tif"

    run = srscope("degrade", str(hr_image), "-d", str(rec), "--out", str(out), "--no-noise")

    assert run.returncode == 0, run.stderr
    lr = tifffile.imread(out)
    assert lr.shape == (32, 24)
    expected = DegradationRecord.model_validate(V2).apply(tifffile.imread(hr_image), noise=False)
    np.testing.assert_allclose(lr, expected, rtol=1e-5)  # one implementation of the maths
    with tifffile.TiffFile(out) as tf:
        assert 'PhysicalSizeX="1.3"' in tf.ome_metadata

    noisy = tmp_path / "noisy.ome.tif"
    for seed_out in (noisy, tmp_path / "again.ome.tif"):
        assert srscope("degrade", str(hr_image), "-d", str(rec), "-o", str(seed_out),
                       "--seed", "3").returncode == 0  # fmt: skip
    a, b = tifffile.imread(noisy), tifffile.imread(tmp_path / "again.ome.tif")
    np.testing.assert_array_equal(a, b)  # same seed, same noise
    resid = (a - expected)[2:-2, 2:-2]
    var = 2.0 * (expected[2:-2, 2:-2] - 100.0) + 9.0
    assert (resid**2 / var).mean() == pytest.approx(1.0, abs=0.25)  # Poisson-Gaussian noise


def test_degrade_refuses_to_overwrite(hr_image: Path, tmp_path: Path) -> None:
    rec = tmp_path / "d.json"
    rec.write_text(json.dumps(V2))
    out = tmp_path / "lr.ome.tif"
    out.write_bytes(b"precious")
    run = srscope("degrade", str(hr_image), "-d", str(rec), "--out", str(out))
    assert run.returncode == 2
    assert "exists" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"precious"
    assert srscope("degrade", str(hr_image), "-d", str(rec), "-o", str(out),
                   "--overwrite").returncode == 0  # fmt: skip


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"psf": {"kind": "zernike"}}, "zernike"),
        ({"psf": {**V2["psf"], "na": -0.15}}, "psf.na = -0.15"),
        ({"psf": {**V2["psf"], "wavelength_nm": "NaN"}}, "psf.wavelength_nm"),
        ({"noise": {"kind": "poisson-gaussian", "std": 1.0, "poisson_gain": -2}},
         "noise.poisson_gain = -2"),
        ({"format": "srscope-degradation/1"}, "needs format"),
        ({"scale": 9}, "scale = 9"),
    ],
)  # fmt: skip
def test_bad_records_are_one_line_naming_the_field(
    hr_image: Path, tmp_path: Path, change: dict, named: str
) -> None:
    rec = tmp_path / "d.json"
    rec.write_text(json.dumps({**V2, **change}))
    out = tmp_path / "lr.ome.tif"
    run = srscope("degrade", str(hr_image), "-d", str(rec), "--out", str(out))
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], run.stderr
    assert not out.exists()


def test_pixel_size_the_record_was_not_made_for_is_refused(hr_image: Path, tmp_path: Path) -> None:
    rec = tmp_path / "d.json"
    rec.write_text(json.dumps(V2))
    run = srscope("degrade", str(hr_image), "-d", str(rec), "-o", str(tmp_path / "lr.tif"),
                  "--hr-pixel-size-um", "0.65")  # fmt: skip
    assert run.returncode == 2 and "psf.hr_pixel_size_um" in run.stderr
    assert not (tmp_path / "lr.tif").exists()


def test_v1_records_keep_their_meaning(tmp_path: Path) -> None:
    v1 = {
        "format": "srscope-degradation/1",
        "scale": 4,
        "psf": {"sigma_hr_px": 2.0},
        "intensity": {"gain": 0.5, "offset": 100.0},
        "noise": {"kind": "gaussian", "std": 3.0},
    }
    rec = DegradationRecord.model_validate(v1)
    assert rec.format == "srscope-degradation/1" and rec.psf.kind == "gaussian"
    from scipy import ndimage

    hr = specimen((64, 64), seed=2)
    expected = ndimage.gaussian_filter(hr, 2.0, mode="reflect").reshape(16, 4, 16, 4).mean((1, 3))
    np.testing.assert_allclose(rec.apply(hr, noise=False), 0.5 * expected + 100, rtol=1e-5)
    path = rec.save(tmp_path / "v1.json")
    assert DegradationRecord.load(path) == rec


@pytest.mark.parametrize(
    ("content", "named"),
    [("{not json", "is not a TrainConfig JSON"),
     ("# Micro-Manager config\nDevice,Camera,DemoCamera,DCam\n", "is not a TrainConfig JSON"),
     ('{"preset": "live", "batch": -3}', "batch")],
)  # fmt: skip
def test_train_config_files_that_are_not_train_configs(tmp_path: Path, content, named) -> None:
    cfg = tmp_path / "bad.json"
    cfg.write_text(content)
    rec = tmp_path / "d.json"
    rec.write_text(json.dumps(V2))
    out = tmp_path / "m.onnx"
    run = srscope("train", str(tmp_path), "-d", str(rec), "--config", str(cfg), "-o", str(out))
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0]
    assert not out.exists()


def test_train_on_a_missing_cuda_device_is_one_line(tmp_path: Path) -> None:
    from training.synthetic import specimen as scene

    (tmp_path / "imgs").mkdir()
    tifffile.imwrite(tmp_path / "imgs" / "a.tif", scene((96, 96)).astype(np.uint16))
    rec = tmp_path / "d.json"
    rec.write_text(json.dumps(V2))
    args = ["--device", "cuda", "--hr-pixel-size-um", "0.325", "--patch", "12"]
    run = srscope("train", str(tmp_path / "imgs"), "-d", str(rec), *args, "-o", str(tmp_path / "m"))
    assert run.returncode == 2
    assert "CUDA" in run.stderr and len(run.stderr.strip().splitlines()) == 1
