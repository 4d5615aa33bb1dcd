"""Rate meters and the viewer's newest-wins worker, on the one relay (:mod:`srscope.relay`).

The GUI never queues frames: producers overwrite a slot, the GUI timer takes
whatever is newest. Anything overwritten before it was taken counts as dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from srscope import logger
from srscope.relay import LatestSlot, Relay

T = TypeVar("T")
R = TypeVar("R")


class RateMeter:
    """Events per second over a sliding window (thread-safe)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self._window = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self._window:
            self._times.popleft()

    def rate(self) -> float:
        now = time.perf_counter()
        with self._lock:
            self._trim(now)
            n = len(self._times)
            if n < 2:
                return 0.0
            span = max(now - self._times[0], 1e-6)
            return (n - 1) / span if span < self._window else n / self._window


class LatencyStats:
    """Bounded history of latencies in ms, with percentiles."""

    def __init__(self, size: int = 200) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._values.append(ms)

    def percentiles(self) -> tuple[float, float]:
        with self._lock:
            if not self._values:
                return 0.0, 0.0
            arr = np.asarray(self._values)
        return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


class OneSlotWorker(Relay[T, R]):
    """A started newest-wins :class:`~srscope.relay.Relay` whose outputs wait in slots.

    Submissions never block; an item replaced before the thread picked it up
    counts as dropped. Results go to ``results`` (``(item, result)``, newest wins),
    errors to ``errors`` (newest wins as well) so a GUI timer can show them.
    """

    def __init__(self, fn: Callable[[T], R], name: str = "srscope-worker") -> None:
        self.results: LatestSlot[tuple[T, R]] = LatestSlot()
        self.errors: LatestSlot[BaseException] = LatestSlot()
        self.latency = LatencyStats()
        self.rate = RateMeter()
        super().__init__(fn, "latest", name=name, on_result=self._done, on_error=self._failed)
        self.start()

    def _done(self, item: T, result: R) -> None:
        self.latency.add(self.latency_ms[-1])
        self.rate.tick()
        self.results.put((item, result))

    def _failed(self, item: T, exc: Exception) -> None:
        logger.warning("worker %s failed: %s", self.name, exc)
        self.errors.put(exc)

    def stop(self, drain: bool = False, timeout: float = 5.0) -> None:
        super().stop(drain=drain, timeout=timeout)
