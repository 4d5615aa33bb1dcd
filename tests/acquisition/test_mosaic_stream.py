"""Streamed mosaics (acquisition.mosaic_stream): equal to the in-memory stitch, valid
OME-Zarr 0.5 at every level, and memory bounded by tiles, not by the canvas."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import zarr

from acquisition.mosaic import mosaic_origin_um, stage_offsets_px, stitch, stitch_tiles
from acquisition.mosaic_stream import StreamedMosaic, TileSpool, write_mosaic

yaozarrs = pytest.importorskip("yaozarrs")


def _grid(rows: int, cols: int, h: int, w: int, px: float, overlap: float = 0.2):
    """Stage positions (µm) of a grid with jitter, like a real stage's."""
    rng = np.random.default_rng(0)
    step_y, step_x = h * (1 - overlap) * px, w * (1 - overlap) * px
    return [
        (100.0 + c * step_x + rng.uniform(-2, 2) * px, -50.0 + r * step_y + rng.uniform(-2, 2) * px)
        for r in range(rows)
        for c in range(cols)
    ]


def test_streamed_equals_in_memory_stitch(tmp_path):
    h, w, px = 40, 56, 0.5
    pos = _grid(3, 4, h, w, px)
    rng = np.random.default_rng(1)
    tiles = [rng.uniform(0, 1000, (2, h, w)).astype(np.float32) for _ in pos]
    expected = stitch(tiles, pos, px, refine=False)
    out = tmp_path / "m.ome.zarr"
    offsets = stage_offsets_px(pos, (h, w), px)
    write_mosaic(
        out, lambda i: tiles[i], offsets, (h, w), n_channels=2, pixel_size_um=px,
        channels=["DAPI", "FITC"], origin_um=mosaic_origin_um(pos, (h, w), px), chunk=32,
    )  # fmt: skip
    assert not (tmp_path / "m.ome.zarr.partial").exists()
    group = zarr.open_group(str(out), mode="r")
    got = np.asarray(group["0"])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-3 * float(expected.max() - expected.min())
    yaozarrs.validate_zarr_store(str(out))
    ome = group.attrs["ome"]
    assert ome["version"] == "0.5"
    assert [c["label"] for c in ome["omero"]["channels"]] == ["DAPI", "FITC"]
    assert [c["color"] for c in ome["omero"]["channels"]] == ["0000FF", "00FF00"]
    ds = ome["multiscales"][0]["datasets"]
    x0, y0 = mosaic_origin_um(pos, (h, w), px)
    assert ds[0]["coordinateTransformations"][1]["translation"][1:] == pytest.approx([y0, x0])
    for k, d in enumerate(ds):  # every level readable, halving
        level = np.asarray(group[d["path"]])
        assert level.shape[-2:] == (-(-got.shape[1] // 2**k), -(-got.shape[2] // 2**k))
        assert d["coordinateTransformations"][0]["scale"][-1] == pytest.approx(px * 2**k)


def test_spool_of_integer_tiles_equals_stitch_tiles(tmp_path):
    h, w, px = 32, 32, 0.25
    pos = _grid(2, 3, h, w, px)
    rng = np.random.default_rng(2)
    tiles = [rng.integers(0, 4000, (h, w)).astype(np.uint16) for _ in pos]
    expected = stitch_tiles(list(zip(tiles, pos, strict=True)), px, refine=False)
    spool = TileSpool(tmp_path / "sr.ome.zarr")
    for t, p in zip(tiles, pos, strict=True):
        spool.add(t, p)
    spool.write(px, channels=["BF"], name="SR mosaic")
    group = zarr.open_group(str(tmp_path / "sr.ome.zarr"), mode="r")
    got = np.asarray(group["0"])[0]
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, expected)
    assert not (tmp_path / "sr.ome.zarr.partial").exists()
    yaozarrs.validate_zarr_store(str(tmp_path / "sr.ome.zarr"))


def test_existing_output_refused_and_abort_leaves_nothing(tmp_path):
    out = tmp_path / "m.ome.zarr"
    out.mkdir()
    with pytest.raises(Exception, match="already exists"):
        StreamedMosaic(out, (64, 64), (32, 32), pixel_size_um=1.0)
    m = StreamedMosaic(tmp_path / "n.ome.zarr", (64, 64), (32, 32), pixel_size_um=1.0)
    with pytest.raises(Exception, match="outside"):
        m.add(np.ones((32, 32)), (40, 0))
    m.abort()
    assert not (tmp_path / "n.ome.zarr.partial").exists()
    assert not (tmp_path / "n.ome.zarr").exists()


def test_memory_is_bounded_by_tiles_not_canvas(tmp_path):
    """A canvas 16 tiles on a side: peak traced memory (accumulating, normalising, the
    pyramid) stays a few dozen tiles' worth, whatever the canvas (the in-memory blend
    holds two float32 canvases: 512 tiles' worth here)."""
    h = w = 128
    n = 16
    tile_bytes = h * w * 4
    canvas_bytes = (n * h) * (n * w) * 4
    tile = np.random.default_rng(3).uniform(0, 1, (h, w)).astype(np.float32)
    mosaic = StreamedMosaic(
        tmp_path / "big.ome.zarr", (n * h, n * w), (h, w), pixel_size_um=1.0, chunk=128
    )
    tracemalloc.start()
    try:
        for r in range(n):
            for c in range(n):
                mosaic.add(tile, (r * h, c * w))
        mosaic.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * tile_bytes, (peak, tile_bytes)  # measured: ~21 tiles (zarr buffers)
    assert peak < canvas_bytes / 8
    level0 = zarr.open_array(str(tmp_path / "big.ome.zarr" / "0"), mode="r")
    np.testing.assert_allclose(level0[0, 130:140, 300:310], tile[2:12, 44:54], atol=1e-6)


def test_spool_knows_a_tile_scan_from_a_stack(tmp_path):
    tile = np.ones((8, 8), np.uint16)
    scan, stack = TileSpool(tmp_path / "a.ome.zarr"), TileSpool(tmp_path / "b.ome.zarr")
    for x in (0.0, 5.0):
        for ch in ("DAPI", "FITC"):
            scan.add(tile, (x, 0.0), ch)
    for _z in range(3):
        stack.add(tile, (0.0, 0.0), "DAPI")
    assert scan.is_tiling and not stack.is_tiling
    scan.discard()
    stack.discard()
    assert not list(tmp_path.iterdir())


def test_sparse_canvas_leaves_empty_chunks_unwritten(tmp_path):
    """Tiles far apart (wells of a plate): the gap stays 0 and costs no chunk files."""
    tile = np.full((16, 16), 7, np.uint16)
    m = StreamedMosaic(tmp_path / "s.ome.zarr", (16, 160), (16, 16), dtype=np.uint16,
                       pixel_size_um=1.0, chunk=16)  # fmt: skip
    m.add(tile, (0, 0))
    m.add(tile, (0, 144))
    m.finish()
    level0 = zarr.open_array(str(tmp_path / "s.ome.zarr" / "0"), mode="r")
    np.testing.assert_array_equal(level0[0, :, :16], 7)
    np.testing.assert_array_equal(level0[0, :, 16:144], 0)
    assert level0.nchunks_initialized == 2
