"""`srscope predict` refuses an image the model was not made for, unless told (and then says so)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr


def _snap(path: Path, pixel_size_um: float, channel: str) -> Path:
    img = np.random.default_rng(0).integers(100, 3000, (48, 48), dtype=np.uint16)
    tifffile.imwrite(
        path,
        img,
        ome=True,
        metadata={"axes": "YX", "PhysicalSizeX": pixel_size_um, "Channel": {"Name": [channel]}},
    )
    return path


def _predict(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "srscope_cli", "predict", *args, "--backend", "onnxruntime"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("pixel_size_um", "channel", "named"),
    [(0.325, "DAPI", "0.325 µm"), (1.3, "FITC", "the data is FITC")],
)
def test_a_snap_of_another_objective_or_channel_is_refused(
    tmp_path: Path, pixel_size_um: float, channel: str, named: str
) -> None:
    src = _snap(tmp_path / "snap.ome.tif", pixel_size_um, channel)
    out = tmp_path / "sr.ome.zarr"
    run = _predict("live_fluo", str(src), str(out))
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and named in lines[0] and "--allow-mismatch" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.ome.tif"]  # nothing written


def test_an_override_runs_and_the_output_says_so(tmp_path: Path) -> None:
    src = _snap(tmp_path / "snap.ome.tif", 1.3, "FITC")
    out = tmp_path / "sr.ome.zarr"
    run = _predict("live_fluo", str(src), str(out), "--allow-mismatch")
    assert run.returncode == 0, run.stderr
    prov = dict(zarr.open_group(str(out), mode="r").attrs)["srscope"]
    assert prov["fit"] == "override" and any("FITC" in n for n in prov["fit_notes"])


def test_a_generalist_takes_any_fluorescence_channel(tmp_path: Path) -> None:
    src = _snap(tmp_path / "snap.ome.tif", 1.3, "FITC")
    out = tmp_path / "sr.ome.tif"
    run = _predict("generalist_fluo", str(src), str(out))
    assert run.returncode == 0, run.stderr
    with tifffile.TiffFile(out) as tf:
        assert '"fit": "modality"' in tf.ome_metadata.replace("&quot;", '"')
