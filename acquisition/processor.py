"""The seam between acquisition and whatever processes its frames (e.g. super-resolution).

As pymmcore-plus's ``mda/_protocol.py`` declares its engine: one required method,
and the optional members declared too (each its own small protocol, so
``isinstance`` says whether a processor has it) rather than looked up by name.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from acquisition.models import FrameMeta


@runtime_checkable
class FrameProcessor(Protocol):
    """Anything that turns a frame into another image (the SR engine, a denoiser...).

    ``process`` runs on a relay thread (:class:`acquisition.processor_relay.ProcessorRelay`),
    one frame at a time; it may be slower than the camera. Return an array
    (delivered through ``ProcessorRelay.processed`` with the frame's metadata)
    or ``None``. It must not touch the microscope.
    """

    def process(self, image: np.ndarray, metadata: FrameMeta) -> np.ndarray | None: ...


@runtime_checkable
class FinishingProcessor(FrameProcessor, Protocol):
    """**Optional.** A processor with outputs to close after the last frame."""

    def finish(self) -> None:
        """Called once after the last frame of a scan or sequence (close writers, stitch).

        Live streams never call it.
        """


@runtime_checkable
class AbortableProcessor(FrameProcessor, Protocol):
    """**Optional.** A processor that can be ended without finishing."""

    def abort(self) -> None:
        """Called instead of ``finish`` when an acquisition stops incomplete: its
        outputs of part of a scan are not completed (a resume redoes them)."""


@runtime_checkable
class HandsOffProcessor(FrameProcessor, Protocol):
    """**Optional.** A processor whose ``process`` only copies the frame off elsewhere.

    With ``hands_off = True`` a relay with policy ``"all"`` calls it at once on the
    acquisition's thread, with the camera's own array, and skips its own thread and
    copy (a thread hop and a copy per frame saved).
    """

    hands_off: bool


def is_hands_off(processor: FrameProcessor) -> bool:
    return isinstance(processor, HandsOffProcessor) and bool(processor.hands_off)
