"""On-the-fly SR during acquisitions (acquisition.sr_hook) on the simulated rig."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import useq
import zarr

from acquisition.mosaic import place_tiles
from acquisition.sr_hook import SRFrameProcessor
from srscope.errors import SrscopeError


@pytest.fixture
def processors():
    """``make(*args, **kwargs)``: an SRFrameProcessor whose worker ends with the test."""
    made: list[SRFrameProcessor] = []

    def make(*args, **kwargs) -> SRFrameProcessor:
        made.append(SRFrameProcessor(*args, **kwargs))
        return made[-1]

    yield make
    for proc in made:
        proc.close()


def sr_worker():
    """The one SR worker process alive (multiprocessing's public list of children)."""
    (worker,) = [p for p in multiprocessing.active_children() if p.name == "srscope-sr"]
    return worker


def _zarr_scale(group_path) -> list[float]:
    attrs = json.loads((group_path / "zarr.json").read_text())["attributes"]
    return attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]


def test_scan_writes_sr_beside_raw_with_hr_pixel_size(rig, fitc_model, tmp_path, processors):
    scope = rig
    core = scope.core
    lr_px = core.getPixelSizeUm()
    seq = useq.MDASequence(grid_plan=useq.GridRowsColumns(rows=2, columns=2, overlap=10))
    proc = processors(
        fitc_model, tmp_path / "sr.ome.zarr", mosaic_path=tmp_path / "sr_mosaic.ome.zarr"
    )
    with proc.attach(core):
        core.mda.run(seq, output=str(tmp_path / "raw.ome.zarr"), overwrite=True)
        assert proc.wait(60)
    assert proc.error is None
    assert proc.stats.frames_done == proc.stats.frames_in == 4
    # every tile's SR is its own image: 4x the pixels, pixel size lr/4
    groups = sorted(p for p in (tmp_path / "sr.ome.zarr").iterdir() if (p / "0").is_dir())
    assert len(groups) == 4
    assert _zarr_scale(groups[0])[-1] == pytest.approx(lr_px / 4)
    sr0 = np.asarray(zarr.open_array(groups[0] / "0"))
    raw0 = np.asarray(zarr.open_array(sorted((tmp_path / "raw.ome.zarr").glob("0000*"))[0] / "0"))
    assert sr0.shape[-2:] == (4 * raw0.shape[-2], 4 * raw0.shape[-1])
    np.testing.assert_array_equal(np.squeeze(sr0)[::4, ::4], np.squeeze(raw0))  # nearest model
    # the SR mosaic: 2x2 tiles with 10 % overlap, at HR pixel size
    h = 4 * raw0.shape[-1]
    step = round(0.9 * h)
    assert proc.mosaic.shape == (h + step, h + step)
    assert _zarr_scale(tmp_path / "sr_mosaic.ome.zarr")[-1] == pytest.approx(lr_px / 4)
    assert proc.mosaic_file == tmp_path / "sr_mosaic.ome.zarr"
    pytest.importorskip("yaozarrs").validate_zarr_store(str(proc.mosaic_file))  # OME-Zarr 0.5
    assert not (tmp_path / "sr_mosaic.ome.zarr.partial").exists()  # the spool is gone
    assert proc.stats.tail_s < 30


def test_frame_processor_protocol(fitc_model, tmp_path, processors):
    from acquisition.models import FrameMeta

    proc = processors(
        fitc_model, tmp_path / "sr.ome.zarr", mosaic_path=tmp_path / "mosaic.ome.zarr"
    )
    rng = np.random.default_rng(0)
    frames = []
    for i, x in enumerate((0.0, 50.0)):
        img = rng.integers(100, 4000, (32, 32), dtype=np.uint16)
        frames.append(img)
        meta = FrameMeta(1.3, (x, 0.0, 0.0), "5x/0.15", "FITC", 10.0, index=i)
        assert proc.process(img, meta) is None  # written by the worker, not returned
    proc.finish()
    assert proc.error is None and proc.stats.frames_done == 2
    sr = np.asarray(zarr.open_array(tmp_path / "sr.ome.zarr" / "0", mode="r"))
    assert sr.shape == (2, 128, 128) and sr.dtype == np.uint16  # written in the raw dtype
    for k, img in enumerate(frames):
        np.testing.assert_array_equal(sr[k, ::4, ::4], img)  # nearest-neighbour model
    assert proc.mosaic.shape == (128, round(50 / 0.325) + 128)
    assert proc.mosaic.dtype == np.uint16


def test_sr_runs_in_an_idle_priority_process(fitc_model, tmp_path):
    """The acquisition's process never runs SR: a worker process does, on idle cores only."""
    with SRFrameProcessor(fitc_model, tmp_path / "sr.ome.zarr"):
        worker = sr_worker()
        assert worker.pid != os.getpid() and worker.is_alive()
        if hasattr(os, "sched_getscheduler") and sys.platform.startswith("linux"):
            assert os.sched_getscheduler(worker.pid) == os.SCHED_IDLE
    assert not worker.is_alive()  # close() ends it


def test_bad_frames_are_counted_and_blank_frames_keep_the_indices(fitc_model, tmp_path):
    from acquisition.models import FrameMeta

    good = np.full((16, 16), 700, np.float32)
    bad = good.copy()
    bad[3, 3] = np.nan
    with SRFrameProcessor(fitc_model, tmp_path / "sr.ome.zarr") as proc:
        for i, img in enumerate((good, bad, good)):
            proc.process(img, FrameMeta(1.3, (0.0, 0.0, 0.0), "5x", "FITC", 10.0, index=i))
        proc.finish()
    assert proc.error is None
    assert proc.stats.frames_done == 3 and proc.stats.errors == 1
    sr = np.asarray(zarr.open_array(tmp_path / "sr.ome.zarr" / "0", mode="r"))
    assert sr.shape == (3, 64, 64)
    assert np.all(sr[0] == 700) and np.all(sr[1] == 0) and np.all(sr[2] == 700)


def _nan_frames(proc: SRFrameProcessor, n_bad: int) -> None:
    from acquisition.models import FrameMeta

    good = np.full((16, 16), 700, np.float32)
    bad = good.copy()
    bad[3, 3] = np.nan
    for i, img in enumerate([good] + [bad] * n_bad):
        proc.process(img, FrameMeta(1.3, (0.0, 0.0, 0.0), "5x", "FITC", 10.0, index=i))
    proc.finish()


def test_a_worker_warning_reaches_the_parent_logger(fitc_model, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="srscope")
    with SRFrameProcessor(fitc_model, tmp_path / "sr.ome.zarr") as proc:
        _nan_frames(proc, 1)
    # close() ends the worker, then handles what it logged
    from_worker = [r for r in caplog.records if r.process != os.getpid()]
    assert [(r.name, r.levelname, r.processName) for r in from_worker] == [
        ("srscope", "WARNING", "srscope-sr")
    ]
    assert from_worker[0].getMessage().startswith("SR of frame 1 failed")


WORKER_WARNS = """
import sys
from acquisition.sr_hook import SRFrameProcessor
from srscope._logger import configure_logging
from tests.ui.test_onthefly import _nan_frames

undo = configure_logging(0, sys.argv[3])
with SRFrameProcessor(sys.argv[1], sys.argv[2]) as proc:
    _nan_frames(proc, 3)
undo()
"""


def test_a_worker_warning_is_shown_once_on_stderr_and_logged_to_the_file(fitc_model, tmp_path):
    """As a user sees it: a command's process, its SR worker, stderr and --log-file."""
    log = tmp_path / "run.log"
    args = [str(fitc_model), str(tmp_path / "sr.ome.zarr"), str(log)]
    run = subprocess.run(
        [sys.executable, "-c", WORKER_WARNS, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [
        "warning: SR of frame 1 failed: the image has NaN or infinite pixels",
        "warning: 2 repeated warning(s) not shown again (all in " + str(log) + ")",
    ]
    logged = [line for line in log.read_text().splitlines() if "SR of frame" in line]
    assert [line.split("SR of frame ")[1][:1] for line in logged] == ["1", "2", "3"]


def test_a_corrupt_model_is_refused_before_acquisition(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(SrscopeError, match="on-the-fly SR cannot start"):
        SRFrameProcessor(bad, tmp_path / "sr.ome.zarr")
    with pytest.raises(SrscopeError, match="not found"):
        SRFrameProcessor(tmp_path / "missing.onnx", tmp_path / "sr.ome.zarr")


def test_a_dead_worker_is_reported_not_waited_for(fitc_model, tmp_path, processors):
    from acquisition.models import FrameMeta

    proc = processors(fitc_model, tmp_path / "sr.ome.zarr")
    proc.process(np.ones((8, 8), np.uint16), FrameMeta(1.3, (0.0, 0.0, 0.0), "5x", "FITC", 1.0))
    sr_worker().kill()
    proc.finish()
    assert "worker process ended" in proc.error


def test_sr_relay_never_blocks_the_producer(fitc_model, tmp_path, processors):
    """The acquisition side only enqueues: every frame is handed over while the worker
    is stopped (SIGSTOP: no SR can run), and every one is super-resolved after."""
    proc = processors(fitc_model, tmp_path / "sr.ome.zarr")
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 20})
    proc.sequenceStarted(seq, {"image_infos": [{"pixel_size_um": 1.3}]})
    frame = np.full((32, 32), 500, np.uint16)  # 20 fit the ring and the pipe's buffer

    def produce() -> None:
        for i in range(20):
            proc.frameReady(frame, useq.MDAEvent(index={"t": i}), {})

    worker = sr_worker()
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        producer = threading.Thread(target=produce)
        producer.start()
        producer.join(60)  # a safety bound only: it returns at once or never
        assert not producer.is_alive() and proc.stats.frames_in == 20
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    proc.sequenceFinished(seq)
    assert proc.wait(60)
    assert proc.stats.frames_done == 20


def test_place_tiles_feathers_without_seams():
    tile = np.full((40, 40), 1000, np.uint16)
    mosaic = place_tiles([(tile, (0.0, 0.0)), (tile, (30 * 1.0, 0.0))], 1.0)
    assert mosaic.shape == (40, 70)
    assert np.all(mosaic == 1000)
