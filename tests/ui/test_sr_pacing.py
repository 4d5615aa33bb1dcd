"""Pacing of on-the-fly SR and the shared-memory frame ring (acquisition.sr_worker, frame_ring)."""

from __future__ import annotations

import multiprocessing
import time
from types import SimpleNamespace

import numpy as np

from acquisition.frame_ring import FrameRing, RingReader
from acquisition.sr_pacer import FIRST_HOLD_S, Pacer


def _pacer(hold_ms: float = 10.0) -> tuple[Pacer, SimpleNamespace]:
    shared = SimpleNamespace(value=0.0)
    return Pacer(shared, hold_ms, receptive_field=5), shared


def test_sr_keeps_off_the_cpu_right_after_a_frame_and_before_the_next():
    pacer, shared = _pacer(10.0)
    t0 = 1000.0
    for k in range(4):  # frames every 26 ms: the pacer learns the interval
        shared.value = t0 + 0.026 * k
        pacer._pause(shared.value)
    last = shared.value
    assert pacer._pause(last + 0.002) > 0.0079  # the acquisition's own work first
    assert pacer._pause(last + 0.012) == 0.0  # the quiet part of the cycle
    pacer._chunk_s["tile"] = 0.005
    assert pacer._pause(last + 0.023) > 0  # a 5 ms tile would run into the next frame
    pacer._kind = "finish"
    pacer._chunk_s["finish"] = 0.012
    assert pacer._pause(last + 0.016) > 0  # so would a 12 ms finish
    assert pacer._pause(last + 0.2) == 0.0  # frames stopped: full speed


def test_first_frame_waits_for_the_cadence_and_no_pacing_when_disabled():
    pacer, shared = _pacer(10.0)
    shared.value = 50.0
    assert pacer._pause(50.02) > 0  # one frame seen: the interval is unknown yet
    assert pacer._pause(50.0 + FIRST_HOLD_S + 0.001) == 0.0
    off = Pacer(SimpleNamespace(value=time.monotonic()), 0.0, 5)
    off.wait()
    assert not off.enabled and off.waited_s == 0.0 and off.predict_kwargs() == {}
    assert pacer.predict_kwargs()["tile"] >= 128  # small SR chunks when pacing


def test_frame_ring_hands_frames_over_and_reuses_slots():
    ctx = multiprocessing.get_context("spawn")
    freed = ctx.Queue()
    ring = FrameRing(freed, 64 * 64 * 2, 2)
    reader = RingReader(ring.name, ring.slot_bytes, freed)
    try:
        a = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
        slot_a = ring.put(a)
        slot_b = ring.put(a + 1)
        assert {slot_a, slot_b} == {0, 1}
        assert ring.put(a) is None  # full: this frame goes the plain way
        np.testing.assert_array_equal(reader.view(slot_a, a.shape, a.dtype.str), a)
        np.testing.assert_array_equal(reader.view(slot_b, a.shape, a.dtype.str), a + 1)
        reader.release(slot_a)
        deadline = time.monotonic() + 5
        while (slot := ring.put(a + 2)) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert slot == slot_a
        assert ring.put(np.zeros((65, 64), np.uint16)) is None  # larger than a slot
    finally:
        reader.close()
        ring.close()
