"""Multi-colour SR (issue 15, seed §2.5): each channel super-resolved by its own model.

``acquire``/``scan --model DAPI=live_fluo --model TRITC=live_fluo_tritc`` (or
``--model auto``) run as real subprocesses on the simulated rig: each channel's SR
frame equals its model's ``predict`` of the stored raw frame (and differs from the
other model's), the SR store names the model of each channel, and the composite
PNG shows both colours. Refusals of bad ``--model`` values are in
``tests/core/test_bad_inputs.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr
from PIL import Image

from acquisition.model_fit import models_on_rig, parse_model_specs
from acquisition.scan_journal import load_tiles
from acquisition.sr_models import ChannelModels, model_files
from sr_engine.bundled import open_model
from sr_engine.testing import default_metadata, nearest_model, save_model
from srscope.errors import SrscopeError

EXAMPLE = Path(__file__).parents[2] / "examples" / "two_colour.yaml"  # the README's Fig. 6
MODELS = {"DAPI": "live_fluo", "TRITC": "live_fluo_tritc"}


def _srscope(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "srscope_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def _provenance(path: Path) -> dict:
    return dict(zarr.open_group(str(path), mode="r").attrs)["srscope"]


def test_acquire_two_channels_each_by_its_own_model(tmp_path: Path) -> None:
    pairs = [a for c, m in MODELS.items() for a in ("--model", f"{c}={m}")]
    run = _srscope("acquire", str(EXAMPLE), "-o", "a.ome.zarr", "--roi", "32", "--objective", "5x",
                   "--specimen", "tissue", *pairs, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    raw = np.asarray(zarr.open_group(str(tmp_path / "a.ome.zarr"), mode="r")["0"])
    sr = np.asarray(zarr.open_group(str(tmp_path / "a_sr.ome.zarr"), mode="r")["0"])
    assert raw.shape == (2, 32, 32) and sr.shape == (2, 128, 128)
    for c, (own, other) in enumerate([MODELS.values(), reversed(MODELS.values())]):
        np.testing.assert_array_equal(sr[c], open_model(own).predict(raw[c], dtype="input"))
        assert not np.array_equal(sr[c], open_model(other).predict(raw[c], dtype="input"))
    prov = _provenance(tmp_path / "a_sr.ome.zarr")
    assert {c: m["model_name"] for c, m in prov["models"].items()} == MODELS
    assert prov["fit_by_channel"] == {"DAPI": "exact", "TRITC": "exact"} and prov["scale"] == 4
    omero = dict(zarr.open_group(str(tmp_path / "a_sr.ome.zarr"), mode="r").attrs)["ome"]
    assert [ch["color"] for ch in omero["omero"]["channels"]] == ["0000FF", "FF0000"]
    rgb = np.asarray(Image.open(tmp_path / "a_sr_composite.png"))  # DAPI blue + TRITC red
    assert rgb.shape == (128, 128, 3)
    assert rgb[..., 0].max() > 0 and rgb[..., 2].max() > 0 and rgb[..., 1].max() == 0


@pytest.mark.soak  # per-channel SR is checked by the acquire test of the default run
def test_scan_with_auto_picks_each_channels_bundled_model_and_previews_the_mosaic(
    tmp_path: Path,
) -> None:
    run = _srscope("scan", "-o", "s", "--rows", "1", "--cols", "1", "--roi", "32",
                   "-c", "DAPI", "-c", "TRITC", "--model", "auto", cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    prov = _provenance(tmp_path / "s" / "sr.ome.zarr")
    assert {c: m["model_name"] for c, m in prov["models"].items()} == MODELS
    _, raw, _ = load_tiles(tmp_path / "s")  # {(position, channel): the stored raw tile}
    sr = np.asarray(zarr.open_group(str(tmp_path / "s" / "sr.ome.zarr"), mode="r")["0"])
    for c, name in enumerate(MODELS.values()):  # frames in acquisition order: DAPI, TRITC
        want = open_model(name).predict(raw[(0, c)], dtype="input")
        np.testing.assert_array_equal(sr[c], want)
    mosaic = dict(zarr.open_group(str(tmp_path / "s" / "sr_mosaic.ome.zarr"), mode="r").attrs)
    assert [ch["color"] for ch in mosaic["ome"]["omero"]["channels"]] == ["0000FF", "FF0000"]
    assert "sr_mosaic_composite.png" in run.stdout  # scan names it
    rgb = np.asarray(Image.open(tmp_path / "s" / "sr_mosaic_composite.png"))  # its preview
    assert rgb.shape == (128, 128, 3)  # one tile: the SR mosaic is the SR tile
    assert rgb[..., 0].max() > 0 and rgb[..., 2].max() > 0 and rgb[..., 1].max() == 0


def test_model_specs_parse_to_channels() -> None:
    channels = ["DAPI", "TRITC"]
    assert parse_model_specs(["live_fluo"], channels) == {"": "live_fluo"}
    assert parse_model_specs(["auto"], channels) == {"": "auto"}
    got = parse_model_specs(["dapi=live_fluo", "TRITC = live_fluo_tritc"], channels)
    assert got == {"DAPI": "live_fluo", "TRITC": "live_fluo_tritc"}  # case aside
    assert parse_model_specs(["auto", "DAPI=balanced_fluo"], channels) == {
        "": "auto",
        "DAPI": "balanced_fluo",
    }
    for bad, why in [
        (["FITC=live_fluo"], "no channel FITC"),
        (["DAPI=a", "DAPI=b"], "channel DAPI twice"),
        (["a", "b"], "two models"),
        (["DAPI="], "CHANNEL=MODEL"),
        (["=a"], "CHANNEL=MODEL"),
    ]:
        with pytest.raises(SrscopeError, match=why):
            parse_model_specs(bad, channels)


def test_worker_models_load_once_fall_back_and_refuse_mixed_scales(tmp_path: Path) -> None:
    x4 = save_model(nearest_model(4, meta=default_metadata(4, ["DAPI"])), tmp_path / "x4.onnx")
    x2 = save_model(nearest_model(2, meta=default_metadata(2, ["TRITC"])), tmp_path / "x2.onnx")
    models = ChannelModels(model_files({"DAPI": x4, "": x4}))
    assert len(models.distinct) == 1  # one file, loaded once
    assert models.for_channel("FITC") is models.for_channel("DAPI")  # "": the other channels
    with pytest.raises(SrscopeError, match="different scales"):
        ChannelModels(model_files({"DAPI": x4, "TRITC": x2}))
    with pytest.raises(SrscopeError, match="no SR model for channel 'FITC'"):
        ChannelModels(model_files({"DAPI": x4})).for_channel("FITC")


class _Rig:
    """The two facts models_on_rig asks of a rig: 5x pixels (1.3 µm), one colour."""

    class core:
        getPixelSizeUm = staticmethod(lambda: 1.3)
        getNumberOfComponents = staticmethod(lambda: 1)

    def set_objective(self, name: str) -> None:
        pass


@pytest.mark.parametrize(
    ("specs", "channels", "models"),
    [
        (["live_fluo"], ["DAPI"], {"": "live_fluo"}),  # one model for all, as before
        (["live_fluo"], [], {"": "live_fluo"}),  # a sequence without channels
        (["auto"], ["DAPI", "TRITC"], MODELS),
        (
            ["generalist_fluo", "TRITC=live_fluo_tritc"],
            ["DAPI", "TRITC"],
            {"TRITC": "live_fluo_tritc", "": "generalist_fluo"},
        ),  # a bare model: the channels no pair names
        (["live_fluo", *[f"{c}={m}" for c, m in MODELS.items()]], ["DAPI", "TRITC"], MODELS),
    ],
)
def test_models_on_rig_maps_each_channel(specs, channels, models) -> None:
    choice = models_on_rig(_Rig(), specs, channels)
    assert choice.models() == models
    assert set(choice.provenance()["fit_by_channel"]) == set(channels or ["*"])
