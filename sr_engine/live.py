"""Live streams: the newest frame wins, the producer never waits, memory stays bounded.

``push`` (any thread, e.g. a camera relay) hands the frame to a newest-wins
:class:`srscope.relay.Relay` (one waiting item, O(1) under a lock);
an older unprocessed frame is dropped and counted. The relay's thread
super-resolves the newest frame and emits
``frameReady(sr, info)`` (psygnal, from the worker thread: connect with
``thread=`` to relay it to a GUI thread). Latency and fps statistics cover the
last ``history`` frames.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from sr_engine.normalize import Normalizer, fit_normalizer
from srscope import logger
from srscope.errors import SrscopeError
from srscope.relay import Relay

if TYPE_CHECKING:
    from sr_engine.model import SRModel

# what the relay carries: (frame, pushed at, frame number, metadata)
_Item = tuple[np.ndarray, float, int, Any]

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
        self._received = 0
        self._errors = 0
        self._compute: deque[float] = deque(maxlen=history)
        # the relay keeps only the newest item; its thread computes SR and emits
        self._relay: Relay[_Item, tuple[np.ndarray, float]] = Relay(
            self._apply,
            "latest",
            name="srscope-live",
            on_result=self._emit,
            on_error=self._skip,
            history=history,
        )

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> LiveProcessor:
        self._relay.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._relay.stop(timeout=timeout)

    def __enter__(self) -> LiveProcessor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._relay.running

    # -- producer side -----------------------------------------------------
    def push(self, frame: np.ndarray, meta: Any = None) -> None:
        """Hand over a frame; returns at once. An unprocessed older frame is dropped."""
        if self.copy:
            frame = np.array(frame, copy=True)
        seq = self._received
        self._received += 1
        self._relay.submit((frame, time.perf_counter(), seq, meta))

    def set_region(self, region: tuple[int, int, int, int] | None) -> None:
        """Change the viewport (takes effect from the next frame)."""
        self._region = region

    @property
    def pending(self) -> int:
        """Frames waiting (0 or 1: the mailbox never holds more)."""
        return self._relay.pending()

    # -- statistics --------------------------------------------------------
    def stats(self) -> LiveStats:
        relay = self._relay
        lat, comp = list(relay.latency_ms), list(self._compute)
        p50, p95 = (float(np.percentile(lat, q)) for q in (50, 95)) if lat else (0.0, 0.0)
        c50 = float(np.median(comp)) if comp else 0.0
        return LiveStats(
            self._received, relay.done, relay.dropped, self._errors, p50, p95, c50, relay.fps()
        )

    # -- the relay's thread ------------------------------------------------
    def _apply(self, item: _Item) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        sr = self._process(item[0])
        return sr, t0

    def _emit(self, item: _Item, out: tuple[np.ndarray, float]) -> None:
        (_, pushed, seq, meta), (sr, t0) = item, out
        done = time.perf_counter()
        info = FrameInfo(seq, 1e3 * (done - pushed), 1e3 * (done - t0), meta)
        self._compute.append(info.compute_ms)
        self.frameReady.emit(sr, info)

    def _skip(self, item: _Item, exc: Exception) -> None:
        if not isinstance(exc, SrscopeError):
            logger.error("live frame %d: %s: %s", item[2], type(exc).__name__, exc)
            return
        self._errors += 1
        logger.warning("live frame %d skipped: %s", item[2], exc)
        self.errorOccurred.emit(str(exc))

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
