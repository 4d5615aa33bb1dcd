"""`acquire --model` of a two-colour Z-stack: the SR stack, its MIP and the colour composite.

One real subprocess on the simulated rig (tiny ROI, 2 channels x 3 planes 20 µm
apart, about 10-20 s on two cores).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from srscope.composite import composite, to_uint8

SEQUENCE = """\
axis_order: cz
channels:
  - {config: DAPI, exposure: 20}
  - {config: TRITC, exposure: 20}
z_plan: {range: 40.0, step: 20.0}
"""


@pytest.mark.slow
def test_acquire_writes_the_sr_mip_and_a_two_colour_composite(tmp_path: Path) -> None:
    seq = tmp_path / "seq.yaml"
    seq.write_text(SEQUENCE)
    out = tmp_path / "run.ome.zarr"
    run = subprocess.run(
        [sys.executable, "-m", "srscope", "acquire", str(seq), "--objective", "5x",
         "--model", "generalist_fluo", "--roi", "32", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    sr_path, mip_path = tmp_path / "run_sr.ome.zarr", tmp_path / "run_sr_mip.ome.zarr"
    png = tmp_path / "run_sr_composite.png"
    assert str(mip_path) in run.stdout and str(png) in run.stdout

    sr = np.asarray(zarr.open_array(str(sr_path / "0"), mode="r"))
    assert sr.shape == (2, 3, 128, 128)  # c, z, 4x the 32-pixel ROI
    mip = np.asarray(zarr.open_array(str(mip_path / "0"), mode="r"))
    np.testing.assert_array_equal(mip, sr.max(axis=1))
    # the rig has a focus axis: the middle plane (in focus) is the sharpest
    sharp = [float(np.abs(np.diff(sr[0, z].astype(np.float32), axis=1)).mean()) for z in range(3)]
    assert sharp[1] > 1.1 * max(sharp[0], sharp[2]), sharp

    for store in (sr_path, mip_path):
        ome = json.loads((store / "zarr.json").read_text())["attributes"]["ome"]
        colors = [(c["label"], c["color"]) for c in ome["omero"]["channels"]]
        assert colors == [("DAPI", "0000FF"), ("TRITC", "FF0000")]
        assert [a["name"] for a in ome["multiscales"][0]["axes"]][-2:] == ["y", "x"]

    pil = pytest.importorskip("PIL.Image")
    rgb = np.asarray(pil.open(png))
    assert rgb.shape == (128, 128, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, to_uint8(composite(mip, ["0000FF", "FF0000"])))
    assert not rgb[..., 1].any()  # no green: DAPI is blue, TRITC red
    assert rgb[..., 2].max() == 255 and rgb[..., 0].max() == 255
    blue = rgb[..., 2].astype(float).ravel()
    assert np.corrcoef(blue, mip[0].astype(float).ravel())[0, 1] > 0.95  # blue is DAPI
    red = rgb[..., 0].astype(float).ravel()
    assert np.corrcoef(red, mip[1].astype(float).ravel())[0, 1] > 0.95  # red is TRITC
