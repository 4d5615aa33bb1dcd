"""The live pipeline of the viewer: camera frames → newest-wins slot → SR worker.

Frames arrive on a relay thread (never the GUI thread, never the acquisition
thread's critical path). Each frame overwrites the display slot and is offered
to the SR worker, which always takes the newest one; the GUI timer pulls both
slots. A camera error stops live and is kept for the status bar.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from srscope import logger
from ui.slots import LatestSlot, RateMeter

OnFrame = Callable[[np.ndarray], None]
OnError = Callable[[str], None]


class FrameStream(Protocol):
    """Something that delivers camera frames to ``on_frame`` off the GUI thread."""

    def start(self, on_frame: OnFrame, on_error: OnError) -> None: ...

    def stop(self) -> None: ...


class SnapLoopStream:
    """Live by repeated snaps on a thread: works with any pymmcore-plus core.

    Used when the acquisition facade offers no streaming API for this core; a
    snap error (camera failure) ends the loop and is reported once.
    """

    def __init__(self, core: Any, lock: threading.Lock | None = None) -> None:
        self._core = core
        self._lock = lock or threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, on_frame: OnFrame, on_error: OnError) -> None:
        self.stop()
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    with self._lock:
                        self._core.snapImage()
                        frame = self._core.getImage()
                except Exception as exc:
                    on_error(f"camera error: {exc}")
                    return
                on_frame(np.asarray(frame))
                time.sleep(0.001)

        self._thread = threading.Thread(target=loop, name="srscope-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        self._thread = None


class LivePipeline:
    """Owns the display slot, the camera fps meter and the hand-over to SR."""

    def __init__(self, stream: FrameStream) -> None:
        self.stream = stream
        self.frames: LatestSlot[np.ndarray] = LatestSlot()
        self.errors: LatestSlot[str] = LatestSlot()
        self.camera_rate = RateMeter()
        self.sr_sink: Callable[[np.ndarray], None] | None = None
        self.running = False

    def _on_frame(self, frame: np.ndarray) -> None:
        self.camera_rate.tick()
        self.frames.put(frame)
        sink = self.sr_sink
        if sink is not None:
            try:
                sink(frame)
            except Exception as exc:  # SR must never stop the camera
                logger.warning("SR hand-over failed: %s", exc)

    def _on_error(self, message: str) -> None:
        self.running = False
        self.errors.put(message)

    def start(self) -> None:
        if self.running:
            return
        self.frames.clear()
        self.errors.clear()
        self.running = True
        self.stream.start(self._on_frame, self._on_error)

    def stop(self) -> None:
        self.running = False
        self.stream.stop()


class MicroscopeStream:
    """The acquisition part's continuous live stream (``Microscope.live()``) as a FrameStream.

    Frames come from its display relay (newest wins). A watchdog turns a camera
    that stopped streaming (an error in the camera) into one ``on_error`` call.
    """

    def __init__(self, microscope: Any, lock: threading.RLock | None = None) -> None:
        self._microscope = microscope
        self._lock = lock
        self._stream: Any = None
        self._watch: threading.Thread | None = None
        self._running = threading.Event()

    def start(self, on_frame: OnFrame, on_error: OnError) -> None:
        self.stop()
        stream = self._microscope.live()
        stream.frame_ready.connect(lambda image, meta: on_frame(image))
        try:
            stream.start()
        except Exception as exc:
            on_error(f"camera error: {exc}")
            return
        self._stream = stream
        self._running.set()
        core = self._microscope.core

        def watch() -> None:
            while self._running.is_set():
                time.sleep(0.1)
                if self._running.is_set() and not core.isSequenceRunning():
                    self._running.clear()
                    on_error("camera error: the camera stopped streaming")
                    return

        self._watch = threading.Thread(target=watch, name="srscope-live-watch", daemon=True)
        self._watch.start()

    def stop(self) -> None:
        self._running.clear()
        if self._watch is not None and self._watch is not threading.current_thread():
            self._watch.join(2.0)
        self._watch = None
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
            except Exception as exc:  # a failed camera may refuse to stop cleanly
                logger.info("stopping live: %s", exc)
