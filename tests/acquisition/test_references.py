"""Reference sets written exactly per DESIGN.md (ReferenceSet + OME-TIFF)."""

import json

import numpy as np
import pytest

from acquisition.ome_io import read_ome_tiff
from acquisition.references import ReferencePlan, grid_positions, random_positions
from srscope.errors import SrscopeError
from srscope.references import ReferenceSet


def test_references_hr_and_lr_of_each_channel(microscope, tmp_path):
    microscope.set_centered_roi(128)
    where = [(100.0, -50.0), (-400.0, 300.0)]
    refs = microscope.references(tmp_path, where, channels=["DAPI", "TRITC"])
    loaded = ReferenceSet.load(tmp_path)
    assert loaded == refs
    assert loaded.scale == 4 and loaded.channels == ["DAPI", "TRITC"]
    assert len(loaded.entries) == 4
    raw = json.loads((tmp_path / "references.json").read_text())
    assert raw["format"] == "srscope-references/1"
    for entry in loaded.entries:
        assert entry.hr.objective == "20x/0.45" and entry.hr.pixel_size_um == 0.325
        assert entry.lr is not None and entry.lr.objective == "5x/0.15"
        assert entry.lr.pixel_size_um == 1.3 and entry.lr.exposure_ms == 10.0
        for cap in (entry.hr, entry.lr):
            img, info = read_ome_tiff(tmp_path / cap.file)
            assert img.shape == (128, 128) and img.dtype == np.uint16
            assert info["pixel_size_um"] == pytest.approx(cap.pixel_size_um)
            assert info["position_um"][:2] == pytest.approx(entry.position_um[:2])
            assert info["srscope"]["channel"] == entry.channel
    assert loaded.entries[0].position_um[:2] == pytest.approx(where[0])
    assert not list(tmp_path.glob("*.tmp"))


def test_hr_only_reference_set(microscope, tmp_path):
    microscope.set_centered_roi(64)
    refs = microscope.references(tmp_path, [(0.0, 0.0)], channels=["FITC"], lr_objective=None)
    assert refs.entries[0].lr is None
    assert sorted(p.name for p in tmp_path.glob("*.ome.tif")) == ["p000_FITC_hr.ome.tif"]


def test_unknown_channel_refused_before_any_capture(microscope, tmp_path):
    with pytest.raises(SrscopeError, match="unknown channel 'Cy9'"):
        microscope.references(tmp_path, [(0.0, 0.0)], channels=["Cy9"])
    assert not list(tmp_path.iterdir())


def test_position_layouts_stay_inside_the_area():
    area = (-100.0, 0.0, 300.0, 200.0)
    for pts in (random_positions(area, 20, seed=3), grid_positions(area, 6)):
        xs, ys = np.array(pts).T
        assert xs.min() >= -100 and xs.max() <= 300 and ys.min() >= 0 and ys.max() <= 200
    assert random_positions(area, 5, seed=1) == random_positions(area, 5, seed=1)
    assert len(grid_positions(area, 6)) == 6
    plan = ReferencePlan.model_validate_json(
        ReferencePlan(area_um=area, n=4, layout="grid").model_dump_json()
    )
    assert len(plan.stage_positions()) == 4


def test_a_set_is_replaced_whole_and_an_error_changes_nothing(microscope, tmp_path):
    microscope.set_centered_roi(32)
    out = tmp_path / "refs"
    microscope.references(out, [(0.0, 0.0), (100.0, 0.0), (200.0, 0.0)], channels=["FITC"])
    assert len(list(out.glob("*.ome.tif"))) == 6
    microscope.references(out, [(50.0, 0.0)], channels=["FITC"])  # a set there: swapped
    assert sorted(p.name for p in out.iterdir()) == [
        "p000_FITC_hr.ome.tif", "p000_FITC_lr.ome.tif", "references.json"]  # fmt: skip
    assert ReferenceSet.load(out).entries[0].position_um[0] == pytest.approx(50.0)
    (out / "notes.txt").write_text("mine")  # a user's file beside the set stays
    microscope.references(out, [(0.0, 0.0), (10.0, 0.0)], channels=["FITC"])
    names = sorted(p.name for p in out.iterdir())
    assert names == ["notes.txt", "p000_FITC_hr.ome.tif", "p000_FITC_lr.ome.tif",
                     "p001_FITC_hr.ome.tif", "p001_FITC_lr.ome.tif", "references.json"]  # fmt: skip
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(SrscopeError):
        microscope.references(out, [(0.0, 0.0)], channels=["FITC"], hr_exposure_ms=-1)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refs"]  # no capture folder left
