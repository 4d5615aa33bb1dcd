"""Live streaming off the acquisition thread, and the per-frame processor hook.

Threads, and why each exists::

    camera thread (core)  ->  circular buffer
    pump thread (ours)    ->  drains the buffer at once, stamps metadata, then hands the
                              frame to two newest-wins slots and returns to the buffer
    display relay         ->  emits ``frame_ready`` with the newest frame (slow viewers
                              lose stale frames, counted as drops, never delay the camera)
    processor relay       ->  runs ``FrameProcessor.process`` (e.g. super-resolution)

Both relays are :class:`srscope.relay.Relay` (policy "latest").

Acquisition never waits on a consumer: slots overwrite, queues never block.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from psygnal import Signal

from acquisition.models import Frame, FrameMeta
from acquisition.processor import FrameProcessor
from acquisition.processor_relay import ProcessorRelay
from acquisition.rig import Rig
from srscope import logger
from srscope.errors import DeviceError
from srscope.model_base import one_line
from srscope.relay import Relay

__all__ = ["FrameProcessor", "LiveStream", "ProcessorRelay", "StreamStats"]


@dataclass(frozen=True)
class StreamStats:
    """A camera stream's counts: frames, display and processor drops, camera overflow."""

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
    camera_stopped = Signal(object)  # the camera ended the stream itself (its error, or None)

    def __init__(self, microscope: Rig, processor: FrameProcessor | None = None) -> None:
        self.microscope = microscope
        self.relay = ProcessorRelay(processor, "latest") if processor is not None else None
        self._display: Relay[Frame, None] = Relay(
            self._show, "latest", name="srscope-live-display", on_error=self._show_failed
        )
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
            raise DeviceError("the camera is already streaming")
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
        except Exception as exc:  # CMMError, or a Python camera's own error
            self._running.clear()
            threading.excepthook = self._prev_hook
            raise DeviceError(f"cannot start live: {one_line(exc, None)}") from None
        self._t0 = self._t1 = 0.0
        self._display.start()
        t = threading.Thread(target=self._pump, name="srscope-live-pump", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> StreamStats:
        if self._running.is_set():
            self._running.clear()
            core = self.microscope.core
            try:
                core.stopSequenceAcquisition()
            finally:
                for t in self._threads:
                    t.join(5)
                self._threads.clear()
                self._display.stop(timeout=5)
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
            logger.warning("live stream: %s", one_line(exc, None))
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
    def stats(self) -> StreamStats:
        return StreamStats(
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
                    if self._running.is_set():  # not stopped by us: the camera ended it
                        logger.warning("live stream: the camera stopped")
                        self.camera_stopped.emit(self.error)
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
            self._display.submit(frame)
            if self.relay:
                self.relay.submit(image, meta)
            if core.isBufferOverflowed():
                self._overflowed = True

    def _show(self, frame: Frame) -> None:
        self.frame_ready.emit(frame.image, frame.meta)

    @staticmethod
    def _show_failed(frame: Frame, exc: Exception) -> None:
        logger.error("a frame_ready consumer failed on frame %d", frame.meta.index, exc_info=exc)
