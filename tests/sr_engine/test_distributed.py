"""``predict`` on Dask distributed equals the single-process path, resumes, refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import zarr

from sr_engine.distributed import ClusterSpec, DaskRunner, blocks, open_client
from sr_engine.stream import predict_file
from sr_engine.testing import nearest_model, save_model
from sr_engine.tiling import iter_tiles
from srscope.errors import SrscopeError
from tests.core.test_bad_inputs import run_cli

from .conftest import structured

pytest.importorskip("distributed")


@pytest.fixture
def tiff_in(tmp_path):
    img = structured(150, 210, seed=21)
    path = tmp_path / "in.ome.tif"
    meta = {"axes": "YX", "PhysicalSizeX": 1.3, "PhysicalSizeY": 1.3}
    tifffile.imwrite(path, img, tile=(64, 64), metadata=meta)
    return path


@pytest.fixture(scope="module")
def thread_client():
    """Two thread workers in this process: the same tasks, without process start-up."""
    with open_client(ClusterSpec(workers=2, processes=False, threads=1)) as client:
        yield client


def _level0(path):
    return zarr.open_group(str(path), mode="r")["0"][:]


def _close(a, b):
    span = float(b.max() - b.min())
    assert a.shape == b.shape
    assert np.abs(a.astype(np.float64) - b).max() <= 1e-3 * span


def test_two_worker_processes_equal_the_single_process_output(conv2, tiff_in, tmp_path):
    single = predict_file(conv2, tiff_in, tmp_path / "one.ome.zarr", tile=40)
    with open_client(ClusterSpec(workers=2, threads=1)) as client:  # processes, as Dask does
        res = predict_file(
            conv2, tiff_in, tmp_path / "two.ome.zarr", tile=40, runner=DaskRunner(client, 1)
        )
    assert res.tiles_computed == single.tiles_computed
    _close(_level0(res.path), _level0(single.path))
    group = zarr.open_group(str(res.path), mode="r")
    assert group.attrs["srscope"]["distributed"]["workers"] == 2
    np.testing.assert_allclose(group["1"][:], zarr.open_group(str(single.path))["1"][:], atol=1e-3)
    assert not (tmp_path / "two.ome.zarr.partial").exists()


def test_arrays_stacks_and_input_dtype_on_thread_workers(conv2, thread_client, tmp_path):
    stack = np.stack([structured(70, 90, seed=i) for i in range(3)])
    runner = DaskRunner(thread_client, tiles_per_task=3)
    res = predict_file(
        conv2, stack, tmp_path / "s.ome.zarr", tile=40, dtype="input", runner=runner, axes="ZYX"
    )
    assert res.axes == "CZYX" and res.shape == (1, 3, 140, 180)
    expected = conv2.predict(stack, tile=40, dtype="input", axes="ZYX")
    got = _level0(res.path)[0]
    assert got.dtype == np.uint16
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_normalisation_is_one_for_the_whole_image(thread_client, tmp_path):
    # a dark half and a bright half: per-block normalisation would change the output
    img = np.full((96, 128), 100, np.uint16)
    img[:, 64:] = 3000
    img[::5, ::7] += 500
    model = SRModelFactory.conv()
    runner = DaskRunner(thread_client, tiles_per_task=1)
    res = predict_file(model, img, tmp_path / "h.ome.zarr", tile=40, runner=runner)
    _close(_level0(res.path)[0], model.predict(img, tile=40))


class SRModelFactory:
    @staticmethod
    def conv():
        from sr_engine.model import SRModel

        return SRModel(nearest_model(2, 1, n_conv=2, seed=7))


@pytest.mark.parametrize("first", ["cluster", "local"])
def test_interrupted_run_resumes_under_either_executor(
    conv2, thread_client, tiff_in, tmp_path, first
):
    clean = predict_file(conv2, tiff_in, tmp_path / "clean.ome.zarr", tile=40)
    out = tmp_path / "o.ome.zarr"
    cluster = DaskRunner(thread_client, tiles_per_task=1)
    before, after = (cluster, None) if first == "cluster" else (None, cluster)

    def stop(done, total):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_file(conv2, tiff_in, out, tile=40, progress=stop, runner=before)
    assert not out.exists() and (tmp_path / "o.ome.zarr.partial").is_dir()
    res = predict_file(conv2, tiff_in, out, tile=40, runner=after)
    assert res.tiles_resumed == 5
    assert res.tiles_computed == clean.tiles_computed - 5
    np.testing.assert_allclose(_level0(out), _level0(clean.path), atol=1e-4)


def test_a_worker_error_is_one_error_and_no_output(conv2, thread_client, tmp_path, monkeypatch):
    from sr_engine import stream

    img = np.ones((120, 120), np.float32)
    img[97, 97] = np.nan  # off the strided sample: found by the worker that reads it
    src = tmp_path / "nan.tif"
    tifffile.imwrite(src, img)
    monkeypatch.setattr(stream, "STREAM_SAMPLES", 64)
    with pytest.raises(SrscopeError, match="NaN"):
        predict_file(conv2, src, tmp_path / "n.ome.zarr", tile=40, runner=DaskRunner(thread_client))
    assert not (tmp_path / "n.ome.zarr").exists()


def test_blocks_stay_in_one_plane_and_row():
    tiles = list(iter_tiles((100, 100), 30, 5, aligned=True))  # 5 x 5 tiles
    todo = [(p, t) for p in range(2) for t in tiles]
    got = blocks(todo, 3)
    assert sum(len(b) for _, b in got) == len(todo)
    for _, b in got:
        assert len(b) <= 3 and len({t.index[0] for t in b}) == 1
    assert len(got) == 2 * 5 * 2  # each row of 5: a block of 3 and one of 2


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"workers": 0}, "at least 1"),
        ({"workers": 2, "scheduler": "tcp://x:1"}, "not both"),
        ({"scheduler": " "}, "address"),
    ],
)
def test_cluster_spec_refuses(kw, match):
    with pytest.raises(SrscopeError, match=match):
        ClusterSpec(**kw)


def test_unreachable_scheduler_is_one_error():
    with (
        pytest.raises(SrscopeError, match="cannot reach Dask scheduler"),
        open_client(ClusterSpec(scheduler="tcp://127.0.0.1:9", connect_timeout_s=0.5)),
    ):
        pass


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--workers", "0"], "at least 1"),
        (["--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "1"], "cannot reach"),
    ],
)
def test_cli_bad_cluster_is_one_line_exit_2_nothing_written(tmp_path, extra, match):
    save_model(nearest_model(2, 1), tmp_path / "m.onnx")
    tifffile.imwrite(tmp_path / "img.tif", structured(40, 40))
    before = sorted(p.name for p in tmp_path.iterdir())
    res = run_cli(["predict", "m.onnx", "img.tif", "o.ome.zarr", *extra], tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_cli_folder_of_images(tmp_path):
    from srscope_cli import main

    model = save_model(nearest_model(2, 1, n_conv=1, seed=4), tmp_path / "m.onnx")
    folder = tmp_path / "slides"
    folder.mkdir()
    imgs = {name: structured(50, 60, seed=i) for i, name in enumerate(["a", "b"])}
    for name, img in imgs.items():
        tifffile.imwrite(folder / f"{name}.ome.tif", img)
    (folder / "notes.txt").write_text("not an image")
    assert main(["predict", str(model), str(folder), str(tmp_path / "sr"), "--tile", "32"]) == 0
    assert sorted(p.name for p in (tmp_path / "sr").iterdir()) == ["a.ome.zarr", "b.ome.zarr"]
    assert _level0(tmp_path / "sr" / "b.ome.zarr").shape == (1, 100, 120)


@pytest.mark.soak
def test_cli_workers_on_a_folder_equals_single_process(tmp_path):
    save_model(nearest_model(4, 1, n_conv=3, seed=9), tmp_path / "m.onnx")
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        img = structured(300, 260, seed=i)
        meta = {"axes": "YX", "PhysicalSizeX": 1.3, "PhysicalSizeY": 1.3}
        tifffile.imwrite(folder / f"s{i}.ome.tif", img, metadata=meta)
    common = ["--tile", "64"]
    one = run_cli(["predict", "m.onnx", "in", "one", *common], tmp_path, 300)
    two = run_cli(["predict", "m.onnx", "in", "two", "--workers", "2", *common], tmp_path, 300)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert "dask: 2 workers" in two.stdout
    for i in range(3):
        _close(
            _level0(tmp_path / "two" / f"s{i}.ome.zarr"),
            _level0(tmp_path / "one" / f"s{i}.ome.zarr"),
        )
