"""Live processing: newest frame wins, producer never blocked, drops counted, memory bounded."""

import threading
import time
import tracemalloc

import numpy as np
import pytest

from sr_engine.live import LiveProcessor
from sr_engine.model import SRModel
from sr_engine.testing import nearest_model


@pytest.fixture
def slow_model():
    """A ×2 model whose every call takes >= 20 ms (much slower than the producer)."""
    model = SRModel(nearest_model(2, 1, n_conv=1))
    fast_run = model.run

    def run(batch):
        time.sleep(0.02)
        return fast_run(batch)

    model.run = run
    return model


def wait_until(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.005)
    return cond()


def test_fast_producer_is_never_blocked_and_drops_are_counted(slow_model):
    got = []
    proc = LiveProcessor(slow_model)
    proc.frameReady.connect(lambda sr, info: got.append((sr, info)))
    frames = [np.full((32, 32), i, np.uint16) for i in range(300)]
    with proc:
        push_times = []
        for f in frames:
            t0 = time.perf_counter()
            proc.push(f, meta={"n": int(f[0, 0])})
            push_times.append(time.perf_counter() - t0)
            assert proc.pending <= 1
        # 300 blocking pushes would take >= 6 s; never-blocking ones take milliseconds
        # (bounds generous for a loaded CI machine, still far from blocking)
        assert sum(push_times) < 1.0
        assert max(push_times) < 0.2
        assert wait_until(lambda: proc.pending == 0 and proc.stats().processed >= 1)
        assert wait_until(lambda: got and got[-1][1].seq == 299)
    s = proc.stats()
    assert s.received == 300
    assert s.processed + s.dropped == 300
    assert s.dropped > 250  # the worker could not keep up: old frames were dropped
    last_sr, last_info = got[-1]
    assert last_info.meta == {"n": 299}  # the newest frame won
    np.testing.assert_allclose(last_sr, 299, atol=0.1)
    assert last_sr.shape == (64, 64)


def test_memory_stays_bounded_under_flood(slow_model):
    frame = np.zeros((512, 512), np.uint16)  # 0.5 MB per frame
    proc = LiveProcessor(slow_model, tile=None)
    with proc:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(400):  # 200 MB if frames were queued
            proc.push(frame)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    assert peak < 30e6
    assert proc.stats().dropped > 300


def test_statistics_and_pushes_from_another_thread(conv2):
    proc = LiveProcessor(conv2)
    latencies = []
    proc.frameReady.connect(lambda sr, info: latencies.append(info.latency_ms))

    def produce():
        for i in range(40):
            proc.push(np.full((24, 24), i, np.float32))
            time.sleep(0.003)

    with proc:
        t = threading.Thread(target=produce)
        t.start()
        t.join()
        assert wait_until(lambda: proc.pending == 0)
        time.sleep(0.05)
    s = proc.stats()
    assert s.processed == len(latencies) >= 2
    assert s.received == 40 == s.processed + s.dropped
    assert 0 < s.latency_p50_ms <= s.latency_p95_ms
    assert s.fps > 0
    assert not proc.running


def test_viewport_region_and_bad_frames(conv2):
    errors, out = [], []
    proc = LiveProcessor(conv2, region=(4, 12, 0, 10))
    proc.frameReady.connect(lambda sr, info: out.append(sr))
    proc.errorOccurred.connect(errors.append)
    img = np.random.default_rng(0).random((30, 30)).astype(np.float32)
    with proc:
        proc.push(img)
        assert wait_until(lambda: len(out) == 1)
        bad = img.copy()
        bad[3, 3] = np.nan
        proc.push(bad)
        assert wait_until(lambda: len(errors) == 1)
        proc.set_region(None)
        proc.push(img)
        assert wait_until(lambda: len(out) == 2)
    assert out[0].shape == (16, 20)
    np.testing.assert_allclose(out[0], out[1][8:24, 0:20], atol=1e-4)
    assert "NaN" in errors[0]
    assert proc.stats().errors == 1
