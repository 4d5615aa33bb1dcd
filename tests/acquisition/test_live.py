"""Live stream: frames off the acquisition thread, newest wins, counted drops, processor hook."""

import threading
import time

import numpy as np

from acquisition.processor import FrameProcessor
from acquisition.processor_relay import ProcessorRelay
from srscope.relay import LatestSlot


def test_latest_slot_newest_wins_and_counts_drops():
    slot = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.get(timeout=0) == 4
    assert slot.dropped == 4
    assert slot.get(timeout=0.01) is None


def test_live_frames_arrive_off_the_calling_thread_with_metadata(microscope):
    microscope.set_centered_roi(128)
    microscope.set_objective("5x")
    threads, metas = set(), []

    def consumer(image, meta):
        threads.add(threading.current_thread().name)
        metas.append(meta)

    stream = microscope.live()
    stream.frame_ready.connect(consumer)
    with stream:
        assert stream.wait_frames(40, timeout=20) >= 40
    stats = stream.stats
    assert stats.frames >= 40 and stats.fps > 0
    assert threads == {"srscope-live-display"}
    assert metas and metas[-1].pixel_size_um == 1.3 and metas[-1].objective == "5x/0.15"
    assert [m.index for m in metas] == sorted(m.index for m in metas)
    frame = stream.latest()
    assert frame is not None and frame.image.shape == (128, 128)


def test_slow_display_consumer_drops_frames_but_not_the_camera(microscope):
    microscope.set_centered_roi(128)
    seen = []

    def slow(image, meta):
        seen.append(meta.index)
        time.sleep(0.05)

    stream = microscope.live()
    stream.frame_ready.connect(slow)
    with stream:
        stream.wait_frames(60, timeout=20)
        time.sleep(0.1)
    stats = stream.stats
    assert stats.frames >= 60
    assert stats.display_dropped > 0
    assert len(seen) < stats.frames  # the consumer saw only the newest frames
    assert len(seen) + stats.display_dropped <= stats.frames


class SlowDoubler:
    def __init__(self) -> None:
        self.calls = 0
        self.thread = None

    def process(self, image, metadata):
        self.thread = threading.current_thread().name
        self.calls += 1
        time.sleep(0.03)
        return np.kron(image, np.ones((2, 2), image.dtype))


def test_processor_runs_on_relay_thread_and_never_slows_acquisition(microscope):
    microscope.set_centered_roi(128)
    proc = SlowDoubler()
    assert isinstance(proc, FrameProcessor)
    results = []
    stream = microscope.live(processor=proc)
    stream.processed.connect(lambda out, meta: results.append(out.shape))
    t0 = time.perf_counter()
    with stream:
        stream.wait_frames(80, timeout=20)
    elapsed = time.perf_counter() - t0
    stats = stream.stats
    assert proc.thread == "srscope-processor"
    assert stats.processed >= 1 and results and results[0] == (256, 256)
    assert stats.processor_dropped > 0  # slow processor: stale frames skipped, counted
    # 80 frames with a 30 ms processor in the loop would take >= 2.4 s
    assert elapsed < 2.4 or stats.processed < stats.frames / 2


def test_processor_relay_all_policy_processes_every_frame_and_finishes():
    class Rec:
        def __init__(self):
            self.seen, self.finished = [], False

        def process(self, image, metadata):
            time.sleep(0.002)
            self.seen.append(int(image[0, 0]))

        def finish(self):
            self.finished = True

    rec = Rec()
    relay = ProcessorRelay(rec, "all").start()
    from acquisition.models import FrameMeta

    meta = FrameMeta(1.0, (0.0, 0.0, 0.0), "5x/0.15", "DAPI", 10.0)
    for i in range(30):
        relay.submit(np.full((4, 4), i), meta)  # returns at once
    relay.stop(drain=True)
    assert rec.seen == list(range(30)) and rec.finished
    assert relay.dropped == 0 and relay.done == 30


def test_camera_failure_ends_live_with_a_recorded_error(microscope):
    microscope.set_centered_roi(64)
    microscope.core.setProperty("Camera", "FailAfterFrames", 5)
    hook = threading.excepthook
    stream = microscope.live()
    with stream:
        got = stream.wait_frames(50, timeout=5)
    assert got == 5
    assert stream.error is not None and "FailAfterFrames" in str(stream.error)
    assert threading.excepthook is hook  # restored
