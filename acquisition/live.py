"""Live streaming off the acquisition thread, and the per-frame processor hook.

Threads, and why each exists::

    camera thread (core)  ->  circular buffer
    pump thread (ours)    ->  drains the buffer at once, stamps metadata, then hands the
                              frame to two newest-wins slots and returns to the buffer
    display relay         ->  emits ``frame_ready`` with the newest frame (slow viewers
                              lose stale frames, counted as drops, never delay the camera)
    processor relay       ->  runs ``FrameProcessor.process`` (e.g. super-resolution)

Acquisition never waits on a consumer: slots overwrite, queues never block.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
from psygnal import Signal

from acquisition.models import Frame, FrameMeta
from srscope import logger
from srscope.errors import SrscopeError

if TYPE_CHECKING:
    from acquisition.microscope import Microscope


@runtime_checkable
class FrameProcessor(Protocol):
    """Anything that turns a frame into another image (the SR engine, a denoiser...).

    ``process`` runs on a relay thread, one frame at a time; it may be slower than
    the camera. Return an array (delivered through ``ProcessorRelay.processed``)
    or ``None``. It must not touch the microscope.
    """

    def process(self, image: np.ndarray, metadata: FrameMeta) -> np.ndarray | None: ...


# A processor may also define ``finish()``: called once after the last frame of a
# scan or sequence (close its writers). Live streams never call it.
# A processor whose ``process`` only copies the frame off to work done elsewhere
# (another process) may set ``hands_off = True``: a relay with policy "all" then
# calls it at once on the acquisition's thread, with the camera's own array, and
# skips its own thread and copy (a thread hop and a copy per frame saved).


class LatestSlot:
    """A one-item mailbox where the newest item wins; overwritten items count as drops."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._full = False
        self.dropped = 0
        self.put_count = 0

    def put(self, item: Any) -> None:
        with self._cond:
            if self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self.put_count += 1
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Any:
        """The newest item (removing it), or ``None`` after ``timeout`` seconds."""
        with self._cond:
            if not self._full and not self._cond.wait_for(lambda: self._full, timeout):
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class ProcessorRelay:
    """Runs a :class:`FrameProcessor` beside acquisition; ``submit`` never blocks.

    ``policy="latest"`` (live view): only the newest waiting frame is processed,
    older ones are dropped and counted. ``policy="all"`` (scans): every frame is
    queued and processed, possibly after acquisition has finished (``stop(drain=True)``).
    """

    processed = Signal(object, object)  # (result array, FrameMeta)
    failed = Signal(object, object)  # (exception, FrameMeta)

    def __init__(
        self, processor: FrameProcessor, policy: Literal["latest", "all"] = "latest"
    ) -> None:
        if not callable(getattr(processor, "process", None)):
            raise SrscopeError(f"{processor!r} is not a FrameProcessor (no process method)")
        self.processor = processor
        self.policy = policy
        self._slot = LatestSlot()
        self._queue: collections.deque[tuple[np.ndarray, FrameMeta]] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.submitted = 0
        self.done = 0
        self.errors = 0
        self.busy_s = 0.0
        self._latest: tuple[np.ndarray, FrameMeta] | None = None

    @property
    def dropped(self) -> int:
        return self._slot.dropped if self.policy == "latest" else 0

    def start(self) -> ProcessorRelay:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="srscope-processor", daemon=True)
            self._thread.start()
        return self

    @property
    def inline(self) -> bool:
        """Frames go straight to a hands-off processor (no copy needed by the caller)."""
        return self.policy == "all" and bool(getattr(self.processor, "hands_off", False))

    def submit(self, image: np.ndarray, meta: FrameMeta) -> None:
        self.submitted += 1
        if self.inline:
            self._process(image, meta)
        elif self.policy == "latest":
            self._slot.put((image, meta))
        else:
            with self._cond:
                self._queue.append((image, meta))
                self._cond.notify()

    def _next(self) -> tuple[np.ndarray, FrameMeta] | None:
        if self.policy == "latest":
            return self._slot.get(timeout=0.05)
        with self._cond:
            if not self._queue:
                self._cond.wait(0.05)
            return self._queue.popleft() if self._queue else None

    def pending(self) -> int:
        return len(self._queue) if self.policy == "all" else int(self._slot._full)

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                if self._stop.is_set():
                    return
                continue
            self._process(*item)

    def _process(self, image: np.ndarray, meta: FrameMeta) -> None:
        t0 = time.perf_counter()
        try:
            result = self.processor.process(image, meta)
        except Exception as exc:  # a processor bug must not kill the stream
            self.errors += 1
            logger.exception("frame processor failed on frame %d", meta.index)
            self.failed.emit(exc, meta)
            return
        finally:
            self.busy_s += time.perf_counter() - t0
        self.done += 1
        if result is not None:
            self._latest = (result, meta)
            self.processed.emit(result, meta)

    def latest(self) -> tuple[np.ndarray, FrameMeta] | None:
        """The newest processed result and the metadata of its input frame."""
        return self._latest

    def stop(self, drain: bool = False, timeout: float = 60.0) -> None:
        """Stop the relay; with ``drain`` process what is queued first.

        After a drain, the processor's optional ``finish()`` is called (close
        its outputs, write its mosaic): the end of the acquisition.
        """
        if self._thread is None:
            return
        if drain:
            deadline = time.monotonic() + timeout
            while self.pending() and time.monotonic() < deadline:
                time.sleep(0.005)
        else:
            with self._cond:
                self._queue.clear()
        self._stop.set()
        self._slot.wake()
        self._thread.join(timeout)
        self._thread = None
        finish = getattr(self.processor, "finish", None)
        if drain and callable(finish):
            try:
                finish()
            except Exception:
                self.errors += 1
                logger.exception("frame processor failed to finish")


@dataclass(frozen=True)
class LiveStats:
    frames: int
    elapsed_s: float  # first frame to last frame
    display_dropped: int
    processed: int
    processor_dropped: int
    camera_overflowed: bool

    @property
    def fps(self) -> float:
        """Frame rate from the first to the last frame (start-up excluded)."""
        return (self.frames - 1) / self.elapsed_s if self.frames > 1 and self.elapsed_s > 0 else 0.0


class LiveStream:
    """Continuous acquisition with frames delivered off the acquisition thread.

    Connect to ``frame_ready`` (newest frame wins; emitted on the display relay
    thread) or poll :meth:`latest`. Give a ``processor`` to run a
    :class:`FrameProcessor` on every frame it can keep up with; results come out
    of ``processed``.
    """

    frame_ready = Signal(object, object)  # (image, FrameMeta)

    def __init__(self, microscope: Microscope, processor: FrameProcessor | None = None) -> None:
        self.microscope = microscope
        self.relay = ProcessorRelay(processor, "latest") if processor is not None else None
        self._display = LatestSlot()
        self._latest: Frame | None = None
        self._latest_lock = threading.Lock()
        self._running = threading.Event()
        self._threads: list[threading.Thread] = []
        self._frames = 0
        self._t0 = 0.0
        self._t1 = 0.0
        self._meta_dirty = True
        self._meta: FrameMeta | None = None
        self._overflowed = False
        self.error: BaseException | None = None  # why the camera stopped, if it failed
        self._prev_hook: Any = None

    @property
    def processed(self):
        """The relay's ``processed`` signal (result, FrameMeta); ``None`` without a processor."""
        return self.relay.processed if self.relay else None

    # -- control --------------------------------------------------------------------
    def start(self) -> LiveStream:
        if self._running.is_set():
            return self
        core = self.microscope.core
        if core.isSequenceRunning():
            raise SrscopeError("the camera is already streaming")
        core.events.propertyChanged.connect(self._mark_dirty)
        core.events.XYStagePositionChanged.connect(self._mark_dirty)
        core.events.stagePositionChanged.connect(self._mark_dirty)
        core.events.configSet.connect(self._mark_dirty)
        core.events.exposureChanged.connect(self._mark_dirty)
        self.microscope.stage_moved.connect(self._mark_dirty)
        self._frames = 0
        self.error = None
        self._running.set()
        if self.relay:
            self.relay.start()
        self._prev_hook, threading.excepthook = threading.excepthook, self._camera_thread_hook
        try:
            core.startContinuousSequenceAcquisition(0)
        except Exception as exc:
            self._running.clear()
            threading.excepthook = self._prev_hook
            raise SrscopeError(f"cannot start live: {' '.join(str(exc).split())}") from None
        self._t0 = self._t1 = 0.0
        for target, name in (
            (self._pump, "srscope-live-pump"),
            (self._emit, "srscope-live-display"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> LiveStats:
        if self._running.is_set():
            self._running.clear()
            core = self.microscope.core
            try:
                core.stopSequenceAcquisition()
            finally:
                self._display.wake()
                for t in self._threads:
                    t.join(5)
                self._threads.clear()
                for sig in (
                    core.events.propertyChanged,
                    core.events.XYStagePositionChanged,
                    core.events.stagePositionChanged,
                    core.events.configSet,
                    core.events.exposureChanged,
                ):
                    sig.disconnect(self._mark_dirty)
                self.microscope.stage_moved.disconnect(self._mark_dirty)
                if self.relay:
                    self.relay.stop()
                if self._prev_hook is not None:
                    threading.excepthook = self._prev_hook
                    self._prev_hook = None
        return self.stats

    def _camera_thread_hook(self, args: threading.ExceptHookArgs) -> None:
        """A camera failing in the core's acquisition thread ends the stream with a
        recorded error (``self.error``) instead of a traceback on stderr."""
        exc = args.exc_value
        if isinstance(exc, Exception) and "sequence acquisition" in str(exc):
            self.error = exc
            logger.warning("live stream: %s", " ".join(str(exc).split()))
            return
        (self._prev_hook or threading.__excepthook__)(args)

    def __enter__(self) -> LiveStream:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- consumers ------------------------------------------------------------------
    def latest(self, timeout: float | None = 1.0) -> Frame | None:
        """The newest frame (waits up to ``timeout`` s for the first one)."""
        deadline = time.monotonic() + (timeout or 0)
        while self._latest is None and time.monotonic() < deadline:
            time.sleep(0.002)
        with self._latest_lock:
            return self._latest

    def wait_frames(self, n: int, timeout: float = 30.0) -> int:
        """Block until ``n`` frames were acquired (or timeout); returns the count."""
        deadline = time.monotonic() + timeout
        while self._frames < n and time.monotonic() < deadline:
            if not self._running.is_set():
                break
            time.sleep(0.001)
        return self._frames

    @property
    def stats(self) -> LiveStats:
        return LiveStats(
            frames=self._frames,
            elapsed_s=max(0.0, self._t1 - self._t0) if self._frames else 0.0,
            display_dropped=self._display.dropped,
            processed=self.relay.done if self.relay else 0,
            processor_dropped=self.relay.dropped if self.relay else 0,
            camera_overflowed=self._overflowed,
        )

    # -- threads ----------------------------------------------------------------------
    def _mark_dirty(self, *args: Any) -> None:
        self._meta_dirty = True

    def _template(self) -> FrameMeta:
        if self._meta_dirty or self._meta is None:
            self._meta_dirty = False
            self._meta = self.microscope.frame_meta()
        return self._meta

    def _pump(self) -> None:
        core = self.microscope.core
        while self._running.is_set():
            if core.getRemainingImageCount() == 0:
                if not core.isSequenceRunning():
                    logger.warning("live stream: the camera stopped")
                    break
                time.sleep(0.0005)
                continue
            try:
                image = np.asarray(core.popNextImage())  # already a copy of the buffer slot
            except (IndexError, RuntimeError):  # buffer emptied under us
                continue
            template = self._template()
            meta = FrameMeta(
                pixel_size_um=template.pixel_size_um,
                position_um=template.position_um,
                objective=template.objective,
                channel=template.channel,
                exposure_ms=template.exposure_ms,
                index=self._frames,
                timestamp_s=time.time(),
            )
            frame = Frame(image, meta)
            with self._latest_lock:
                self._latest = frame
            self._t1 = time.perf_counter()
            if self._frames == 0:
                self._t0 = self._t1
            self._frames += 1
            self._display.put(frame)
            if self.relay:
                self.relay.submit(image, meta)
            if core.isBufferOverflowed():
                self._overflowed = True

    def _emit(self) -> None:
        while self._running.is_set():
            frame = self._display.get(timeout=0.05)
            if frame is not None:
                try:
                    self.frame_ready.emit(frame.image, frame.meta)
                except Exception:
                    logger.exception("a frame_ready consumer failed")
