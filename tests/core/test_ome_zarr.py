"""srscope.ome_zarr: the one output convention (OME-Zarr 0.5 on Zarr v3), and readers that
take it and the older NGFF 0.4 / Zarr v2 stores alike."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from sr_engine.sources import open_source
from srscope.ome_zarr import create_image, finish_image, ome_attrs, pyramid_shapes

yaozarrs = pytest.importorskip("yaozarrs")


def test_image_is_valid_ome_zarr_05_at_every_level(tmp_path):
    work, out = tmp_path / "w", tmp_path / "img.ome.zarr"
    data = np.random.default_rng(0).integers(0, 4000, (2, 300, 520)).astype(np.uint16)
    group = create_image(work, data.shape, data.dtype, (1, 128, 128), "CYX")
    group["0"][:] = data
    finish_image(
        work, out, "CYX", 0.25, ["DAPI", "mystery"], "t",
        chunks=(1, 128, 128), origin_um=(10.0, -5.0), provenance={"kind": "test"},
    )  # fmt: skip
    assert not work.exists()
    yaozarrs.validate_zarr_store(str(out))
    root = zarr.open_group(str(out), mode="r")
    assert root.metadata.zarr_format == 3 and root.attrs["srscope"] == {"kind": "test"}
    ome = root.attrs["ome"]
    assert ome["version"] == "0.5"
    ds = ome["multiscales"][0]["datasets"]
    assert len(ds) == len(pyramid_shapes(data.shape)) == 2
    for k, d in enumerate(ds):
        arr = root[d["path"]]
        assert arr.metadata.dimension_names == ("c", "y", "x")
        assert arr.compressors  # compressed
        assert np.asarray(arr).shape == pyramid_shapes(data.shape)[k]
        scale, trans = (t[t["type"]] for t in d["coordinateTransformations"])
        assert scale[-1] == pytest.approx(0.25 * 2**k)
        # level k's first pixel centre: half a level-k pixel minus half a level-0 pixel in
        assert trans[-1] == pytest.approx(10.0 + (0.25 * 2**k - 0.25) / 2)
        assert trans[-2] == pytest.approx(-5.0 + (0.25 * 2**k - 0.25) / 2)
    np.testing.assert_array_equal(np.asarray(root["0"]), data)
    level1 = np.asarray(root["1"]).astype(float)
    np.testing.assert_allclose(
        level1[:, :2, :2], data[:, :4, :4].reshape(2, 2, 2, 2, 2).mean((2, 4)), atol=0.5
    )
    channels = ome["omero"]["channels"]
    assert [c["label"] for c in channels] == ["DAPI", "mystery"]
    assert channels[0]["color"] == "0000FF" and channels[1]["color"] != channels[0]["color"]


def test_existing_output_refused(tmp_path):
    work, out = tmp_path / "w", tmp_path / "img.ome.zarr"
    out.mkdir()
    create_image(work, (1, 8, 8), np.float32, (1, 8, 8), "CYX")
    with pytest.raises(Exception, match="already exists"):
        finish_image(work, out, "CYX", 1.0, ["x"], "t", chunks=(1, 8, 8))


def test_sources_read_05_and_04_stores(tmp_path):
    data = np.random.default_rng(1).uniform(0, 1, (1, 64, 48)).astype(np.float32)
    new = tmp_path / "new.ome.zarr"
    group = create_image(tmp_path / "w", data.shape, data.dtype, (1, 64, 64), "CYX")
    group["0"][:] = data
    finish_image(tmp_path / "w", new, "CYX", 0.5, ["DAPI"], "t", chunks=(1, 64, 64))
    old = tmp_path / "old.ome.zarr"  # what srscope wrote before: NGFF 0.4 on Zarr v2
    g2 = zarr.open_group(str(old), mode="w", zarr_format=2)
    g2.create_array("0", shape=data.shape, chunks=data.shape, dtype=data.dtype)[:] = data
    attrs = ome_attrs("CYX", 1, 0.5, ["DAPI"], "t")
    g2.attrs.update({"multiscales": attrs["multiscales"], "omero": attrs["omero"]})
    for path in (new, old):
        with open_source(path, 1, None) as src:
            assert src.pixel_size_um == pytest.approx(0.5)
            assert src.channels == ["DAPI"]
            np.testing.assert_array_equal(np.asarray(src.array), data)
