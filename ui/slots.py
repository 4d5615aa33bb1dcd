"""Newest-wins hand-over between threads, rate meters and a one-slot worker thread.

The GUI never queues frames: producers overwrite a slot, the GUI timer takes
whatever is newest. Anything overwritten before it was taken counts as dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np

from srscope import logger

T = TypeVar("T")
R = TypeVar("R")


class LatestSlot(Generic[T]):
    """A thread-safe slot holding only the newest item; counts what was overwritten."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None
        self._fresh = False
        self.received = 0
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._lock:
            if self._fresh:
                self.dropped += 1
            self._item, self._fresh = item, True
            self.received += 1

    def take(self) -> T | None:
        """The newest item if not taken yet, else None."""
        with self._lock:
            if not self._fresh:
                return None
            self._fresh = False
            return self._item

    def peek(self) -> T | None:
        with self._lock:
            return self._item

    def clear(self) -> None:
        with self._lock:
            self._item, self._fresh = None, False


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


class OneSlotWorker(Generic[T, R]):
    """A daemon thread applying ``fn`` to the newest submitted item only.

    Submissions never block; an item replaced before the thread picked it up
    counts as dropped. Results go to ``results`` (a :class:`LatestSlot`), errors
    to ``errors`` (newest wins as well) so a GUI timer can show them.
    """

    def __init__(self, fn: Callable[[T], R], name: str = "srscope-worker") -> None:
        self._fn = fn
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has_item = False
        self._stop = False
        self.dropped = 0
        self.results: LatestSlot[tuple[T, R]] = LatestSlot()
        self.errors: LatestSlot[BaseException] = LatestSlot()
        self.latency = LatencyStats()
        self.rate = RateMeter()
        self.busy = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> None:
        with self._cond:
            if self._has_item:
                self.dropped += 1
            self._item, self._has_item = item, True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._has_item and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                item, self._has_item = self._item, False
                self._item = None
                self.busy = True
            t0 = time.perf_counter()
            try:
                result = self._fn(item)  # type: ignore[arg-type]
            except Exception as exc:
                logger.warning("worker %s failed: %s", self._thread.name, exc)
                self.errors.put(exc)
            else:
                self.latency.add((time.perf_counter() - t0) * 1e3)
                self.rate.tick()
                self.results.put((item, result))  # type: ignore[arg-type]
            finally:
                self.busy = False

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout)
