"""The core's life cycle: a bounded sequence buffer, and a teardown that leaves nothing behind."""

import gc
import math
import weakref

import pytest

from acquisition import SIM_CONFIG, Microscope
from acquisition.core import LIVE_BUFFER_FRAMES, burst_buffer, full_frame_bytes, open_core


def _cfg(tmp_path, extra=""):
    path = tmp_path / "rig.cfg"
    path.write_text(SIM_CONFIG.read_text() + "\n" + extra)
    return path


def test_sim_buffer_holds_a_few_full_frames_not_a_gibibyte(microscope):
    core = microscope.core
    frame = 1024 * 1024 * 2  # the sim sensor, 16 bit
    assert full_frame_bytes(core) == frame
    assert core.getCircularBufferMemoryFootprint() == math.ceil(LIVE_BUFFER_FRAMES * frame / 2**20)
    assert core.getBufferTotalCapacity() == LIVE_BUFFER_FRAMES
    microscope.set_centered_roi(64)  # a ROI keeps the full-frame size
    assert full_frame_bytes(core) == frame and core.getImageWidth() == 64


def test_a_users_config_gets_a_buffer_for_its_own_camera(tmp_path):
    sensor = "#py Property,Camera,SensorWidth,512\n#py Property,Camera,SensorHeight,256\n"
    cfg = _cfg(tmp_path, sensor)
    with Microscope.open(cfg) as scope:
        footprint = scope.core.getCircularBufferMemoryFootprint()
        assert footprint == math.ceil(LIVE_BUFFER_FRAMES * 512 * 256 * 2 / 2**20) == 4
        assert scope.core.getBufferTotalCapacity() == 2**22 // (512 * 256 * 2)


def test_a_burst_borrows_a_bigger_buffer_and_gives_it_back(microscope):
    core = microscope.core
    live_mb = core.getCircularBufferMemoryFootprint()
    with burst_buffer(core, 100) as size_mb:
        assert size_mb == 200 and core.getCircularBufferMemoryFootprint() == 200
    assert core.getCircularBufferMemoryFootprint() == live_mb
    with burst_buffer(core, 10**6) as size_mb:
        assert size_mb == 1024  # capped
    assert core.getCircularBufferMemoryFootprint() == live_mb


def test_live_stream_stays_within_the_buffer(microscope):
    microscope.set_centered_roi(256)
    with microscope.live() as stream:
        assert stream.wait_frames(3 * LIVE_BUFFER_FRAMES, timeout=30) >= 3 * LIVE_BUFFER_FRAMES
    assert not stream.stats.camera_overflowed


def test_close_destroys_the_core_at_once(caplog):
    """No reference cycle keeps the core (and MMCore's callback thread) past close()."""
    caplog.set_level("INFO", logger="pymmcore-plus")  # its debug records hold the core
    scope = Microscope.open()
    scope.core.setProperty("Camera", "RealTime", "Off")
    scope.set_centered_roi(64)
    scope.snap("20x", "DAPI", 5)  # a pixel-size change through the follower
    ref = weakref.ref(scope.core)
    scope.close()
    assert ref() is None
    with pytest.raises(Exception, match="closed"):
        scope.snap()


def test_open_core_can_be_dropped_without_close(caplog):
    caplog.set_level("INFO", logger="pymmcore-plus")
    core = open_core()
    ref = weakref.ref(core)
    del core
    gc.collect()
    assert ref() is None
