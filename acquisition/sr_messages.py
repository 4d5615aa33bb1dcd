"""What the acquisition side and the SR worker process say to each other.

Small frozen dataclasses (picklable, so they cross the process boundary as they
are) instead of positional tuples: each message names its fields, and a
``match`` on the class replaces ``message[0] == "frame"`` and ``message[2]``.

Acquisition side -> worker (:func:`acquisition.sr_worker.serve`):
:class:`UseRing`, :class:`Begin`, :class:`Frame`, :class:`Finish`, :class:`Exit`
(and :class:`Abort`, queued by the worker itself when the pipe closes).
Worker -> acquisition side (:class:`acquisition.sr_hook.SRFrameProcessor`):
:class:`Ready` or :class:`Failed` once at start, a :class:`Done` per finished image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class UseRing:
    """Frames will come through this shared-memory ring (:mod:`acquisition.frame_ring`)."""

    shm_name: str
    slot_bytes: int


@dataclass(frozen=True)
class Begin:
    """A new SR image begins (``sequence``: the useq sequence, if known)."""

    sequence: Any
    lr_pixel_um: float | None


@dataclass(frozen=True)
class RingSlot:
    """Where a frame waits in the ring: slot index, shape and dtype string."""

    slot: int
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Frame:
    """One raw frame: its pixels (pickled), or ``ring`` naming the slot that holds them."""

    image: np.ndarray | None
    position_um: tuple[Any, Any]  # stage (x, y), None where unknown
    lr_pixel_um: float | None
    ring: RingSlot | None = None
    channel: str | None = None  # the channel's name: a scan's SR mosaic has one per channel


@dataclass(frozen=True)
class Finish:
    """Close the SR image and stitch the SR mosaic; the worker replies :class:`Done`."""


@dataclass(frozen=True)
class Exit:
    """Stop the worker (after what it was sent)."""


@dataclass(frozen=True)
class Abort:
    """The acquisition side is gone: leave at once, no mosaic of a partial run."""


Request = UseRing | Begin | Frame | Finish | Exit | Abort


@dataclass(frozen=True)
class Ready:
    """The worker loaded its model (``meta``: its ``ModelMetadata``)."""

    meta: Any
    source: str


@dataclass(frozen=True)
class Failed:
    """The worker could not start, or ended (the message says why)."""

    message: str


@dataclass(frozen=True)
class SRReport:
    """How one SR image went."""

    frames_done: int = 0
    errors: int = 0
    compute_ms: list[float] = field(default_factory=list)
    error: str | None = None
    mosaic: bool = False
    yielded_s: float = 0.0
    views: list[str] = field(default_factory=list)  # Z MIP / colour composite files written


@dataclass(frozen=True)
class Done:
    """An SR image is closed (and its mosaic written where ``report.mosaic``)."""

    report: SRReport


Reply = Ready | Failed | Done
