"""Live streams: the newest frame wins, the producer never waits, memory stays bounded.

``push`` (any thread, e.g. a camera relay) swaps the frame into a one-slot
mailbox under a lock held for O(1) work; an older unprocessed frame is dropped
and counted. One worker thread super-resolves the newest frame and emits
``frameReady(sr, info)`` (psygnal, from the worker thread: connect with
``thread=`` to relay it to a GUI thread). Latency and fps statistics cover the
last ``history`` frames.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from sr_engine.normalize import Normalizer, fit_normalizer
from srscope import logger
from srscope.errors import SrscopeError

if TYPE_CHECKING:
    from sr_engine.model import SRModel

# percentiles of a live frame from at most this many pixels (fast, stable)
LIVE_SAMPLES = 1 << 16


@dataclass(frozen=True)
class FrameInfo:
    """What came with an SR frame."""

    seq: int  # producer's frame number (0-based, counting dropped frames)
    latency_ms: float  # push -> SR ready
    compute_ms: float  # model time for this frame
    meta: Any = None  # whatever the producer passed to push()


@dataclass(frozen=True)
class LiveStats:
    received: int
    processed: int
    dropped: int
    errors: int
    latency_p50_ms: float
    latency_p95_ms: float
    compute_p50_ms: float
    fps: float


class LiveProcessor:
    """Super-resolve a live stream on a worker thread, newest frame first.

    ``region`` (LR pixels ``(y0, y1, x0, x1)``) limits SR to the viewport;
    ``normalizer`` fixes the normalisation (no flicker), else it is decided per
    frame from the model's metadata.
    """

    frameReady = Signal(object, object)  # (sr: np.ndarray, info: FrameInfo)
    errorOccurred = Signal(str)

    def __init__(
        self,
        model: SRModel,
        *,
        region: tuple[int, int, int, int] | None = None,
        normalizer: Normalizer | None = None,
        dtype: Any = None,
        tile: int | None = None,
        history: int = 256,
        copy: bool = True,
    ) -> None:
        self.model = model
        self._region = region
        self.normalizer = normalizer
        self.dtype = dtype
        self.tile = tile
        self.copy = copy
        self._cond = threading.Condition(threading.Lock())
        self._slot: tuple[np.ndarray, float, int, Any] | None = None
        self._received = self._processed = self._dropped = self._errors = 0
        self._latency: deque[float] = deque(maxlen=history)
        self._compute: deque[float] = deque(maxlen=history)
        self._done_at: deque[float] = deque(maxlen=history)
        self._running = False
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> LiveProcessor:
        with self._cond:
            if self._running:
                return self
            self._running = True
        self._thread = threading.Thread(target=self._work, name="srscope-live", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> LiveProcessor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._running

    # -- producer side -----------------------------------------------------
    def push(self, frame: np.ndarray, meta: Any = None) -> None:
        """Hand over a frame; returns at once. An unprocessed older frame is dropped."""
        if self.copy:
            frame = np.array(frame, copy=True)
        now = time.perf_counter()
        with self._cond:
            seq = self._received
            self._received += 1
            if self._slot is not None:
                self._dropped += 1
            self._slot = (frame, now, seq, meta)
            self._cond.notify()

    def set_region(self, region: tuple[int, int, int, int] | None) -> None:
        """Change the viewport (takes effect from the next frame)."""
        self._region = region

    @property
    def pending(self) -> int:
        """Frames waiting (0 or 1: the mailbox never holds more)."""
        return int(self._slot is not None)

    # -- statistics --------------------------------------------------------
    def stats(self) -> LiveStats:
        with self._cond:
            lat, comp, done = list(self._latency), list(self._compute), list(self._done_at)
            received, processed = self._received, self._processed
            dropped, errors = self._dropped, self._errors
        p50, p95 = (float(np.percentile(lat, q)) for q in (50, 95)) if lat else (0.0, 0.0)
        fps = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 else 0.0
        c50 = float(np.median(comp)) if comp else 0.0
        return LiveStats(received, processed, dropped, errors, p50, p95, c50, fps)

    # -- worker ------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and self._running:
                    self._cond.wait()
                if not self._running:
                    return
                assert self._slot is not None
                frame, pushed, seq, meta = self._slot
                self._slot = None
            t0 = time.perf_counter()
            try:
                sr = self._process(frame)
            except SrscopeError as exc:
                with self._cond:
                    self._errors += 1
                logger.warning("live frame %d skipped: %s", seq, exc)
                self.errorOccurred.emit(str(exc))
                continue
            done = time.perf_counter()
            info = FrameInfo(seq, 1e3 * (done - pushed), 1e3 * (done - t0), meta)
            with self._cond:
                self._processed += 1
                self._latency.append(info.latency_ms)
                self._compute.append(info.compute_ms)
                self._done_at.append(done)
            self.frameReady.emit(sr, info)

    def _process(self, frame: np.ndarray) -> np.ndarray:
        model = self.model
        norm = self.normalizer
        if norm is None:
            from sr_engine.axes import resolve_layout

            layout = resolve_layout(frame.shape, model.n_channels)
            pcyx = layout.to_pcyx(frame)
            norm = fit_normalizer(
                model.meta.normalization, pcyx, 1, model.n_channels, max_samples=LIVE_SAMPLES
            )
        kw: dict[str, Any] = {"normalizer": norm, "dtype": self.dtype, "tile": self.tile}
        if self._region is not None:
            return model.predict_region(frame, self._region, **kw)
        return model.predict(frame, **kw)
