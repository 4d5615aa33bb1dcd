"""Pacing of on-the-fly SR: keep the SR worker off the CPU while the acquisition works.

Used by the SR worker process (:mod:`acquisition.sr_worker`); measured there.
"""

from __future__ import annotations

import collections
import statistics
import time
from typing import Any

# after the first raw frame SR waits this long for a second one (to learn the cadence)
FIRST_HOLD_S = 0.1


class Pacer:
    """Keeps SR off the CPU while the acquisition works on a frame it just took.

    After each raw frame the acquisition writes it, moves the stage and starts
    the next exposure; only then does it sit idle until the camera is done.
    ``SCHED_IDLE`` already gives those threads any core they ask for, but on
    a small machine the other core's work still slows them (shared caches,
    memory, a hypervisor's sibling threads): measured on 2 vCPUs, even a pure
    arithmetic loop at idle priority made an 8x8 scan 3–5 % slower. So SR runs
    in tiles of a few milliseconds and starts one only inside the quiet part of
    the frame cycle: ``yield_ms`` after the newest raw frame, and not if the
    tile (its measured duration) would run into the next frame, expected one
    frame interval (the median of the last few) after the newest. When frames
    stop (the scan is over), SR runs at full speed.
    """

    def __init__(self, last_frame_at: Any, yield_ms: float, receptive_field: int) -> None:
        self.last_frame_at = last_frame_at
        self.hold_s = max(0.0, float(yield_ms)) / 1000.0
        # small windows (a few ms of SR each) only when pacing: they cost some overlap
        self.tile = max(128, 8 * int(receptive_field)) if self.hold_s > 0 else None
        self.waited_s = 0.0
        self._seen = 0.0
        self._intervals: collections.deque[float] = collections.deque(maxlen=8)
        self._chunk_s = {"tile": 0.0, "finish": 0.0}
        self._kind = "tile"
        self._work_from: float | None = None

    @property
    def enabled(self) -> bool:
        return self.last_frame_at is not None and self.hold_s > 0

    def wait(self, done: int | None = None, total: int | None = None) -> None:
        """Return when SR may use the CPU: before a frame and after each of its tiles.

        After the last tile comes the frame's finish (back to camera units, the
        write), a chunk of its own with its own measured duration.
        """
        if not self.enabled:
            return
        self.end_chunk()
        self._kind = "finish" if done is not None and done == total else "tile"
        while (pause := self._pause(time.monotonic())) > 0:
            time.sleep(pause)
            self.waited_s += pause
        self._work_from = time.monotonic()

    def end_chunk(self) -> None:
        """The SR work since the last :meth:`wait` is over (its duration is learnt)."""
        if self._work_from is None:
            return
        work = time.monotonic() - self._work_from
        old = self._chunk_s[self._kind]
        self._chunk_s[self._kind] = work if not old else 0.8 * old + 0.2 * work
        self._work_from = None

    def _pause(self, now: float) -> float:
        last = self.last_frame_at.value
        if last != self._seen:
            if self._seen:
                self._intervals.append(last - self._seen)
            self._seen = last
        if now < last + self.hold_s:
            return last + self.hold_s - now
        if not self._intervals and now < last + FIRST_HOLD_S:
            return last + FIRST_HOLD_S - now  # cadence unknown: wait for a second frame
        if self._intervals:
            expected = last + statistics.median(self._intervals)
            if now + self._chunk_s[self._kind] > expected and now < expected + self.hold_s:
                return min(expected + self.hold_s - now, self.hold_s)
        return 0.0

    def predict_kwargs(self) -> dict[str, Any]:
        if self.tile is None:
            return {}
        return {"tile": self.tile, "progress": self.wait}
