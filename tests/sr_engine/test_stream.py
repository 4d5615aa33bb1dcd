"""Streaming files tile by tile: formats, pixel sizes, resume after interruption, memory."""

import tracemalloc

import numpy as np
import pytest
import tifffile
import zarr

from sr_engine import stream
from sr_engine.compatibility import ModelMismatch
from sr_engine.stream import predict_file
from srscope.errors import SrscopeError

from .conftest import structured


@pytest.fixture
def tiff_in(tmp_path):
    img = structured(150, 210, seed=11)
    path = tmp_path / "in.ome.tif"
    tifffile.imwrite(
        path,
        img,
        tile=(64, 64),
        compression="zlib",
        metadata={"axes": "YX", "PhysicalSizeX": 1.3, "PhysicalSizeY": 1.3},
    )
    return path, img


def test_tiff_to_ome_zarr_equals_in_memory_prediction(conv2, tiff_in, tmp_path):
    path, img = tiff_in
    out = tmp_path / "out.ome.zarr"
    res = predict_file(conv2, path, out, tile=48)
    group = zarr.open_group(str(out), mode="r")
    assert group.metadata.zarr_format == 3 and group.attrs["ome"]["version"] == "0.5"
    ms = group.attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["c", "y", "x"]
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 0.65, 0.65]
    assert res.pixel_size_um == pytest.approx(0.65)  # HR = input LR pixel size / scale
    level0 = group["0"][:]
    assert level0.shape == (1, 300, 420) and level0.dtype == np.float32
    np.testing.assert_allclose(level0[0], conv2.predict(img, tile=48), atol=1e-3)
    assert group["1"].shape == (1, 150, 210)
    np.testing.assert_allclose(
        group["1"][0, :2, :2], level0[0, :4, :4].reshape(2, 2, 2, 2).mean((1, 3)), rtol=1e-5
    )
    assert not (tmp_path / "out.ome.zarr.partial").exists()
    yaozarrs = pytest.importorskip("yaozarrs")
    yaozarrs.validate_zarr_store(str(out))  # a valid OME-Zarr 0.5 image, every level


def test_zstack_to_pyramidal_ome_tiff_in_input_dtype(conv2, tmp_path):
    stack = np.stack([structured(70, 90, seed=i) for i in range(3)])
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, stack, metadata={"axes": "ZYX"}, photometric="minisblack")
    out = tmp_path / "sr.ome.tif"
    res = predict_file(conv2, src, out, tile=40, dtype="input", levels=2)
    assert res.axes == "CZYX"
    with tifffile.TiffFile(out) as tf:
        series = tf.series[0]
        assert len(series.levels) == 2
        data = series.asarray()
        assert 'PhysicalSizeX="0.65"' in tf.ome_metadata
    assert data.dtype == np.uint16 and data.shape == (3, 140, 180)
    expected = conv2.predict(stack, tile=40, dtype="input")
    assert np.abs(data.astype(int) - expected.astype(int)).max() <= 1


def test_ome_zarr_and_array_inputs(conv2_rgb, tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (3, 40, 50), dtype=np.uint8)
    first = predict_file(conv2_rgb, rgb, tmp_path / "a.ome.zarr", tile=24)
    assert first.axes == "CYX" and first.shape == (3, 80, 100)
    with pytest.raises(ModelMismatch, match=r"0\.65 µm"):  # SR output is not the model's input
        predict_file(conv2_rgb, tmp_path / "a.ome.zarr", tmp_path / "b.zarr", tile=24)
    assert not (tmp_path / "b.zarr").exists()
    second = predict_file(
        conv2_rgb, tmp_path / "a.ome.zarr", tmp_path / "b.zarr", tile=24, allow_mismatch=True
    )
    assert second.shape == (3, 160, 200)
    assert second.pixel_size_um == pytest.approx(0.65 / 2)  # read from the OME-Zarr scale


def test_sr_of_an_ome_zarr_mosaic_keeps_its_stage_place_and_channel(conv2, tmp_path):
    """A scan's LR mosaic through predict: the SR pyramid lies where the mosaic lies."""
    from srscope.ome_zarr import create_image, finish_image

    img = structured(60, 80, seed=3)
    work = tmp_path / "lr.partial"
    create_image(work, (1, 60, 80), np.float32, (1, 32, 32), "CYX")["0"][:] = img[None]
    src = finish_image(work, tmp_path / "mosaic.ome.zarr", "CYX", 1.3, ["FITC"], "mosaic",
                       chunks=(1, 32, 32), origin_um=(-100.0, 250.0))  # fmt: skip
    out = tmp_path / "sr.ome.zarr"
    predict_file(conv2, src, out, tile=40, allow_mismatch=True)  # conv2 is not a FITC model
    attrs = zarr.open_group(str(out), mode="r").attrs["ome"]
    shift = 1.3 * (2 - 1) / (2 * 2)  # SR pixel centres start a quarter LR pixel earlier
    t0 = attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][1]["translation"]
    assert t0[-2:] == pytest.approx([250.0 - shift, -100.0 - shift])
    assert attrs["omero"]["channels"][0]["label"] == "FITC"  # the data's channel


def test_interrupted_run_resumes_to_the_clean_result(conv2, tiff_in, tmp_path):
    path, _ = tiff_in
    clean = tmp_path / "clean.ome.zarr"
    total = predict_file(conv2, path, clean, tile=40).tiles_computed
    out = tmp_path / "out.ome.zarr"
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if done == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_file(conv2, path, out, tile=40, progress=interrupt)
    assert not out.exists()  # never looks complete
    assert (tmp_path / "out.ome.zarr.partial").is_dir()
    res = predict_file(conv2, path, out, tile=40)
    assert res.tiles_resumed == 7
    assert res.tiles_computed == total - 7  # completed tiles were not recomputed
    assert calls[-1] == 7
    a = zarr.open_group(str(clean), mode="r")
    b = zarr.open_group(str(out), mode="r")
    for level in ("0", "1"):
        np.testing.assert_array_equal(a[level][:], b[level][:])
    assert not (tmp_path / "out.ome.zarr.partial").exists()


def test_changed_settings_do_not_resume_a_stale_partial(conv2, tiff_in, tmp_path):
    path, _ = tiff_in
    out = tmp_path / "o.ome.zarr"

    def stop(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_file(conv2, path, out, tile=40, progress=stop)
    res = predict_file(conv2, path, out, tile=56)  # different tiling: start again
    assert res.tiles_resumed == 0


def test_memory_does_not_grow_with_the_image(conv2, tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "STREAM_SAMPLES", 1 << 16)
    big = np.zeros((1024, 2048), np.uint16)
    big[::7] = 1000
    src = tmp_path / "big.tif"
    tifffile.imwrite(src, big, tile=(128, 128))
    tracemalloc.start()
    predict_file(conv2, src, tmp_path / "big.ome.zarr", tile=128, levels=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 12e6  # the float32 output alone is 32 MB


def test_existing_output_and_bad_suffix_are_refused(conv2, tiff_in, tmp_path):
    path, _ = tiff_in
    out = tmp_path / "x.ome.zarr"
    predict_file(conv2, path, out, tile=48)
    with pytest.raises(SrscopeError, match="already exists"):
        predict_file(conv2, path, out, tile=48)
    predict_file(conv2, path, out, tile=48, overwrite=True)
    with pytest.raises(SrscopeError, match="must end in"):
        predict_file(conv2, path, tmp_path / "x.png")


def test_nan_in_streamed_tile_is_refused_without_complete_output(conv2, tmp_path):
    img = np.ones((200, 200), np.float32)
    img[150, 150] = np.nan  # not on the strided sample grid
    src = tmp_path / "nan.tif"
    tifffile.imwrite(src, img)
    monkey_samples = stream.STREAM_SAMPLES
    stream.STREAM_SAMPLES = 64
    try:
        with pytest.raises(SrscopeError, match="NaN"):
            predict_file(conv2, src, tmp_path / "nan.ome.zarr", tile=48)
    finally:
        stream.STREAM_SAMPLES = monkey_samples
    assert not (tmp_path / "nan.ome.zarr").exists()
