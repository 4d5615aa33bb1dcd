"""Tile scans: OME-Zarr tiles, seam-free mosaic, faults, and resume without gaps or duplicates."""

import json
import os
import signal

import numpy as np
import pytest
import tifffile
import zarr

from acquisition.mosaic import stitch
from acquisition.scan import (
    GridPlan,
    Journal,
    PlatePlan,
    ScanIncomplete,
    load_tiles,
    run_scan,
    scan_plan,
)
from srscope.errors import SrscopeError

yaozarrs = pytest.importorskip("yaozarrs")

PLAN = GridPlan(center_um=(100.0, -200.0), rows=2, columns=3, channels=["DAPI"], exposure_ms=20)


@pytest.fixture
def scope(microscope):
    microscope.set_centered_roi(128)
    return microscope


def _journal_keys(folder):
    return [e.key for e in Journal(folder / "journal.jsonl").entries()]


def test_scan_writes_zarr_tiles_and_a_seam_free_mosaic(scope, tmp_path):
    result = run_scan(scope, PLAN, tmp_path / "s")
    assert result.complete and result.tiles_captured == result.tiles_total == 6
    state, tiles, _ = load_tiles(tmp_path / "s")
    assert state.pixel_size_um == 1.3 and state.objective == "5x/0.15"
    assert len(tiles) == 6 and all(t.shape == (128, 128) and t.mean() > 100 for t in tiles.values())
    group = zarr.open_group(tmp_path / "s" / "tiles" / "part000.ome.zarr", mode="r")
    assert "ome" in group.attrs
    assert group.attrs["srscope"]["objective"] == "5x/0.15"
    assert group.attrs["srscope"]["pixel_size_um"] == 1.3
    assert result.mosaics == {"all": "mosaic.ome.zarr"}
    path = tmp_path / "s" / "mosaic.ome.zarr"
    yaozarrs.validate_zarr_store(str(path))  # OME-Zarr 0.5, every level
    root = zarr.open_group(path, mode="r")
    ms = root.attrs["ome"]["multiscales"][0]
    scale, trans = (t[t["type"]] for t in ms["datasets"][0]["coordinateTransformations"])
    assert scale[-1] == 1.3 and [a["name"] for a in ms["axes"]] == ["c", "y", "x"]
    assert root.attrs["srscope"]["objective"] == "5x/0.15"
    assert root.attrs["ome"]["omero"]["channels"][0]["label"] == "DAPI"
    mosaic = np.asarray(root["0"])[0]
    assert mosaic.dtype == np.uint16 and mosaic.mean() > 100
    # 3 columns x 2 rows of 128 px with 10 % overlap
    assert mosaic.shape[1] == pytest.approx(128 + 2 * 128 * 0.9, abs=2)
    assert mosaic.shape[0] == pytest.approx(128 + 128 * 0.9, abs=2)
    h, w = mosaic.shape
    centre = (trans[-1] + (w - 1) / 2 * 1.3, trans[-2] + (h - 1) / 2 * 1.3)
    assert centre == pytest.approx((100.0, -200.0), abs=1.3)  # the scan's centre
    for d in ms["datasets"]:  # every level readable
        assert np.asarray(root[d["path"]]).shape[0] == 1


def test_stitch_matches_one_big_frame_without_seams(scope):
    """Noise-free tiles stitched == a single frame of the whole area (no seam, no offset)."""
    scope.core.setProperty("Camera", "Noise", "Off")
    scope.set_objective("5x")
    scope.set_channel("DAPI")
    scope.set_exposure(30)
    px = 1.3
    tiles, pos = [], []
    for iy in range(2):
        for ix in range(2):
            x, y = 100 * px * ix, 100 * px * iy  # 28 px overlap
            scope.move_to(x, y)
            tiles.append(scope.snap().image)
            pos.append((x, y))
    mosaic = stitch(tiles, pos, px)
    assert mosaic.shape == (228, 228)
    scope.set_centered_roi(228)
    scope.move_to(50 * px, 50 * px)
    truth = scope.snap().image.astype(np.float32)
    diff = np.abs(mosaic - truth)
    assert diff.mean() < 1.0 + 0.01 * truth.mean()
    # no seam: the error along the overlap bands is no larger than elsewhere
    band = diff[:, 100:128].mean()
    assert band <= 1.5 * diff.mean() + 1.0


def test_phase_correlation_corrects_wrong_stage_positions(scope):
    scope.core.setProperty("Camera", "Noise", "Off")
    scope.snap("5x", "DAPI", 30)
    px = 1.3
    rng = np.random.default_rng(0)
    tiles, reported, true = [], [], []
    for iy in range(3):
        for ix in range(3):
            x, y = 100 * px * ix, 100 * px * iy
            scope.move_to(x, y)
            tiles.append(scope.snap().image)
            true.append((y / px, x / px))
            reported.append((x + rng.uniform(-4, 4), y + rng.uniform(-4, 4)))  # stage error
    _, placement = stitch(tiles, reported, px, return_placement=True)
    truth = np.array(true)

    def err(offsets):
        return np.abs((offsets - offsets[0]) - (truth - truth[0])).max()

    assert err(placement.stage_offsets_px) > 2.0
    assert err(placement.offsets_px) < 0.3
    assert placement.links >= 12  # every edge-sharing neighbour pair (+ corner overlaps)


def test_camera_failure_mid_scan_keeps_tiles_and_resume_completes(scope, tmp_path):
    out = tmp_path / "s"
    scope.core.setProperty("Camera", "FailAfterFrames", 4)
    with pytest.raises(ScanIncomplete, match=r"after 4 of 6 tiles.*--resume"):
        run_scan(scope, PLAN, out)
    _, tiles, _ = load_tiles(out)
    assert sorted(tiles) == [(0, 0), (1, 0), (2, 0), (3, 0)]
    assert all(t.mean() > 100 for t in tiles.values())  # readable, real pixels
    assert not (out / "mosaic.ome.zarr").exists()

    scope.core.setProperty("Camera", "FailAfterFrames", -1)
    result = run_scan(scope, None, out, resume=True)
    assert result.complete and result.parts == ["part000.ome.zarr", "part001.ome.zarr"]
    keys = _journal_keys(out)
    assert sorted(keys) == [(i, 0) for i in range(6)]  # every tile exactly once
    # the resumed part holds only the missing tiles
    entries = Journal(out / "journal.jsonl").latest()
    assert {k for k, e in entries.items() if e.part == "part001.ome.zarr"} == {(4, 0), (5, 0)}
    assert (out / "mosaic.ome.zarr").exists()
    assert not list(out.glob("*.partial"))  # no work files left


def test_ctrl_c_mid_scan_keeps_tiles_and_resume_completes(scope, tmp_path):
    out = tmp_path / "s"
    scope.core.setProperty("Camera", "RealTime", "On")  # 20 ms per tile, like a camera
    seen = []

    def interrupt(*args):
        seen.append(1)
        if len(seen) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends

    scope.core.mda.events.frameReady.connect(interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_scan(scope, PLAN, out)
    scope.core.mda.events.frameReady.disconnect(interrupt)
    _, tiles, _ = load_tiles(out)
    assert 2 <= len(tiles) < 6
    assert all(t.mean() > 100 for t in tiles.values())
    result = run_scan(scope, None, out, resume=True)
    assert result.complete
    assert sorted(_journal_keys(out)) == [(i, 0) for i in range(6)]
    assert json.loads((out / "scan.json").read_text())["format"] == "srscope-scan/1"


def test_resume_of_a_complete_scan_captures_nothing(scope, tmp_path):
    run_scan(scope, PLAN, tmp_path / "s")
    result = run_scan(scope, None, tmp_path / "s", resume=True)
    assert result.complete and result.parts == ["part000.ome.zarr"]
    assert len(_journal_keys(tmp_path / "s")) == 6


def test_scan_refuses_unset_pixel_size(scope, tmp_path):
    scope.set_objective("5x")
    scope.core.deletePixelSizeConfig(scope.core.getCurrentPixelSizeConfig())
    assert scope.pixel_size_um == 0
    with pytest.raises(SrscopeError, match="pixel size is not set"):
        run_scan(scope, PLAN, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_scan_refuses_targets_outside_the_stage(scope, tmp_path):
    plan = PLAN.model_copy(update={"center_um": (1e6, 0.0)})
    with pytest.raises(SrscopeError, match="outside the stage travel"):
        run_scan(scope, plan, tmp_path / "s")


def test_bad_plans_and_folders(scope, tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        scan_plan(center_um=(0, 0), area_um=(0, 0, 1, 1))
    with pytest.raises(SrscopeError, match="nothing to resume"):
        run_scan(scope, None, tmp_path / "none", resume=True)
    run_scan(scope, PLAN.model_copy(update={"rows": 1, "columns": 1}), tmp_path / "s")
    with pytest.raises(SrscopeError, match="already holds a scan"):
        run_scan(scope, PLAN, tmp_path / "s")


def test_well_plate_scan_gives_a_mosaic_per_well(scope, tmp_path):
    plan = PlatePlan(plate="96-well", wells=["A1", "B2"], rows=1, columns=2, channels=["DAPI"])
    result = run_scan(scope, plan, tmp_path / "p")
    assert result.tiles_total == 4
    assert result.mosaics == {"A1": "mosaic_A1.ome.zarr", "B2": "mosaic_B2.ome.zarr"}
    for name in result.mosaics.values():
        yaozarrs.validate_zarr_store(str(tmp_path / "p" / name))


class Upscale:
    """A processor returning its outputs (2x nearest): run_scan streams their mosaic."""

    def __init__(self):
        self.n = 0
        self.finished = False

    def process(self, image, metadata):
        self.n += 1
        return np.kron(image, np.ones((2, 2), image.dtype))

    def finish(self):
        self.finished = True


def _processed_expected(folder, channels):
    """The in-memory stitch of the stored tiles' 2x outputs (stage placement)."""
    _, tiles, _ = load_tiles(folder)
    state = json.loads((folder / "scan.json").read_text())
    pos = [(p["x"], p["y"]) for p in state["positions"]]
    up = [
        np.stack([np.kron(tiles[(i, c)], np.ones((2, 2))) for c in range(channels)])
        for i in range(len(pos))
    ]
    return np.rint(stitch(up, pos, 0.65, refine=False))


def test_resumed_scan_streams_the_processed_mosaic_from_every_stored_tile(scope, tmp_path):
    out = tmp_path / "s"
    scope.core.setProperty("Camera", "FailAfterFrames", 3)
    with pytest.raises(ScanIncomplete):
        run_scan(scope, PLAN, out, processor=Upscale())
    assert not list(out.glob("mosaic*"))  # no mosaic of part of a scan, no work files
    scope.core.setProperty("Camera", "FailAfterFrames", -1)
    proc = Upscale()
    result = run_scan(scope, None, out, resume=True, processor=proc)
    assert proc.n == 6  # every stored tile again, not only the resumed ones
    root = zarr.open_group(out / result.processed_mosaics["all"], mode="r")
    np.testing.assert_allclose(np.asarray(root["0"]), _processed_expected(out, 1), atol=1)
    assert not list(out.glob("*.partial"))


def test_scan_feeds_every_tile_to_a_processor(scope, tmp_path):
    proc = Upscale()
    plan = PLAN.model_copy(update={"channels": ["DAPI", "TRITC"]})
    result = run_scan(scope, plan, tmp_path / "s", processor=proc, ome_tiff=True)
    assert proc.n == 12 and proc.finished
    assert result.processed_mosaics == {"all": "mosaic_processed.ome.zarr"}
    path = tmp_path / "s" / "mosaic_processed.ome.zarr"
    yaozarrs.validate_zarr_store(str(path))
    root = zarr.open_group(path, mode="r")
    scale = root.attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
    assert scale["scale"][-1] == pytest.approx(0.65)
    labels = [c["label"] for c in root.attrs["ome"]["omero"]["channels"]]
    assert labels == ["DAPI", "TRITC"]  # both channels
    # streamed while the scan ran == the in-memory stitch of the same outputs
    expected = _processed_expected(tmp_path / "s", 2)
    np.testing.assert_allclose(np.asarray(root["0"]), expected, atol=1)
    # the OME-TIFF export of both mosaics
    with tifffile.TiffFile(tmp_path / "s" / "mosaic_processed.ome.tif") as sr:
        assert 'PhysicalSizeX="0.65"' in sr.ome_metadata
        assert sr.series[0].shape[0] == 2 and len(sr.series[0].levels) >= 1
    assert (tmp_path / "s" / "mosaic.ome.tif").is_file()
