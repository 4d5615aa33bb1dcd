"""The live pipeline of the viewer: the acquisition part's live stream -> GUI slot and SR.

Frames come from :class:`acquisition.live.LiveStream` (its display relay: newest
wins, never the GUI thread, never the camera's critical path) as
:class:`~acquisition.models.Frame` (image and metadata together, end to end).
Each frame overwrites the GUI's slot and goes to the SR sink (the engine's
newest-wins live processor); the GUI timer pulls the slot. A camera that stops
streaming stops live and leaves its error for the status bar.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from acquisition.live import LiveStream
from acquisition.models import Frame, FrameMeta
from acquisition.rig import Rig
from srscope import logger
from srscope.errors import SrscopeError
from srscope.model_base import one_line
from srscope.relay import LatestSlot
from ui.slots import RateMeter


class LivePipeline:
    """Owns the live stream, the display slot, the camera fps meter and the hand-over to SR."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.frames: LatestSlot[Frame] = LatestSlot()
        self.errors: LatestSlot[str] = LatestSlot()
        self.camera_rate = RateMeter()
        self.sr_sink: Callable[[Frame], None] | None = None
        self._stream: LiveStream | None = None

    @property
    def running(self) -> bool:
        return self._stream is not None

    def _on_frame(self, image: np.ndarray, meta: FrameMeta) -> None:
        frame = Frame(image, meta)
        self.camera_rate.tick()
        self.frames.put(frame)
        sink = self.sr_sink
        if sink is not None:
            try:
                sink(frame)
            except Exception as exc:  # SR must never stop the camera
                logger.warning("SR hand-over failed: %s", exc)

    def _on_camera_stopped(self, error: BaseException | None) -> None:
        why = one_line(error, None) if error else "the camera stopped streaming"
        self.errors.put(f"camera error: {why}")

    def start(self) -> None:
        if self._stream is not None:
            return
        self.frames.clear()
        self.errors.clear()
        stream = LiveStream(self.rig)
        stream.frame_ready.connect(self._on_frame)
        stream.camera_stopped.connect(self._on_camera_stopped)
        try:
            with self.rig.lock:
                stream.start()
        except SrscopeError as exc:
            self.errors.put(f"camera error: {exc}")
            return
        self._stream = stream

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.stop()
        except Exception as exc:  # a failed camera may refuse to stop cleanly
            logger.info("stopping live: %s", exc)
        finally:
            stream.frame_ready.disconnect(self._on_frame)
            stream.camera_stopped.disconnect(self._on_camera_stopped)
