"""Units of the viewer that need no rig: slots, workers, rates, the PySide6 leak bank."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from acquisition.references import grid_positions, random_positions, square_area
from srscope.errors import SrscopeError
from srscope.relay import LatestSlot
from ui.panel_jobs import montage
from ui.slots import LatencyStats, OneSlotWorker, RateMeter


def test_latest_slot_keeps_newest_and_counts_drops():
    slot: LatestSlot[int] = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.take() == 4
    assert slot.take() is None
    assert (slot.received, slot.dropped) == (5, 4)


def test_one_slot_worker_processes_newest_and_never_blocks():
    gate = threading.Event()
    timed_out: list[int] = []

    def slow(x: int) -> int:
        if not gate.wait(30):  # a safety bound: the gate opens after the 50 submits
            timed_out.append(x)
        return x * 10

    worker: OneSlotWorker[int, int] = OneSlotWorker(slow)
    try:
        for i in range(50):
            worker.submit(i)  # returns at once while the worker is held at the gate
        gate.set()
        deadline = time.time() + 5
        results = []
        while time.time() < deadline and (not results or results[-1][0] != 49):
            r = worker.results.take()
            if r is not None:
                results.append(r)
            time.sleep(0.005)
        assert results[-1] == (49, 490)
        assert worker.dropped >= 40
        assert timed_out == []  # no submit waited for the worker's function
    finally:
        worker.stop()


def test_one_slot_worker_reports_errors():
    worker: OneSlotWorker[int, int] = OneSlotWorker(lambda x: 1 // x)
    try:
        worker.submit(0)
        deadline = time.time() + 5
        while worker.errors.peek() is None and time.time() < deadline:
            time.sleep(0.01)
        assert isinstance(worker.errors.peek(), ZeroDivisionError)
    finally:
        worker.stop()


def test_rate_meter_and_latency_percentiles():
    meter = RateMeter(window_s=10)
    now = time.perf_counter()
    for i in range(11):
        meter.tick(now - 1.0 + i * 0.1)
    assert meter.rate() == pytest.approx(10, rel=0.2)
    lat = LatencyStats()
    for v in range(1, 101):
        lat.add(float(v))
    p50, p95 = lat.percentiles()
    assert p50 == pytest.approx(50.5) and p95 == pytest.approx(95.05)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None/True are immortal on 3.12+")
def test_leak_bank_keeps_singletons_alive():
    from ui import _qtfix

    _qtfix.keep_none_alive(force=True)
    assert sys.getrefcount(None) >= _qtfix._FLOOR
    assert sys.getrefcount(True) >= _qtfix._FLOOR


def test_grid_positions_and_montage():
    pts = grid_positions(square_area((100.0, 50.0), 200.0), 4)
    assert np.allclose(np.mean(pts, axis=0), (100.0, 50.0))
    assert len(set(pts)) == 4
    rnd = random_positions(square_area((0.0, 0.0), 100.0), 7)
    assert all(abs(x) <= 50 and abs(y) <= 50 for x, y in rnd)
    m = montage([np.random.default_rng(0).random((64, 64)) for _ in range(3)], max_side=32)
    assert m.shape == (64, 64)
    with pytest.raises(SrscopeError):
        montage([])


def test_demo_settings_parse_and_refuse():
    from srscope_cli.demo.run import DemoSettings

    assert DemoSettings(scan="2x3").scan == (2, 3)
    with pytest.raises(ValueError, match="3x3"):
        DemoSettings(scan="three")
