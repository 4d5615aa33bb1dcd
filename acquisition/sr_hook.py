"""On-the-fly SR during an acquisition: each raw frame's SR written beside the raw data.

The acquisition side only enqueues each frame (a copy, O(1)); a worker
process (:mod:`acquisition.sr_worker`, at idle CPU priority) super-resolves
every frame in order (no frame is dropped: each raw frame gets its SR) and
appends it to an OME-Zarr image of its own, with the HR pixel size
``lr / scale`` (DESIGN.md: SR output is a separate image, not a resolution
level of the raw data). For a tile scan the SR tiles are also stitched into an
SR mosaic, placed by their stage positions, when the sequence ends.

The listener methods have the names of pymmcore-plus's MDA signals
(``sequenceStarted``, ``frameReady``, ``sequenceFinished``), so the processor
can be connected to ``core.mda.events`` directly (:meth:`SRFrameProcessor.attach`)
or driven by the acquisition facade's frame-processor hook (``process`` /
``finish``).

A little over 400 lines because the client side of the worker protocol (start, the
shared-memory ring, replies, a clean stop after a kill) is one lifecycle; the worker,
its messages, its models and its logging are modules of their own.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import weakref
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.frame_ring import FrameRing
from acquisition.sr_messages import (
    Begin,
    Done,
    Exit,
    Failed,
    Finish,
    Frame,
    Ready,
    Reply,
    Request,
    RingSlot,
    UseRing,
)
from acquisition.sr_models import model_files
from acquisition.sr_worker import serve
from acquisition.worker_logging import LogForwarder
from srscope import logger
from srscope.errors import SrscopeError
from srscope.images import read_image


@dataclass
class SRRunStats:
    """How the SR worker kept up with the acquisition."""

    frames_in: int = 0
    frames_done: int = 0
    errors: int = 0
    compute_ms: list[float] = field(default_factory=list)
    first_frame_at: float | None = None
    last_frame_at: float | None = None  # last raw frame received (acquisition time)
    done_at: float | None = None  # last SR frame written
    yielded_s: float = 0.0  # time SR held back for the acquisition

    @property
    def tail_s(self) -> float:
        """How long after the last raw frame the last SR frame was written."""
        if self.last_frame_at is None or self.done_at is None:
            return 0.0
        return max(0.0, self.done_at - self.last_frame_at)

    def summary(self) -> dict[str, float]:
        comp = np.asarray(self.compute_ms) if self.compute_ms else np.zeros(1)
        return {
            "frames_in": self.frames_in,
            "frames_done": self.frames_done,
            "errors": self.errors,
            "compute_p50_ms": float(np.percentile(comp, 50)),
            "tail_s": self.tail_s,
            "yielded_s": self.yielded_s,
        }


def default_threads() -> int:
    """ORT threads for SR beside an acquisition: leave one core to the acquisition."""
    return max(1, (os.cpu_count() or 2) - 1)


def _stop_worker(process: Any, send_end: Any, rings: list[Any], logs: LogForwarder) -> None:
    if process.is_alive():
        with suppress(OSError):
            send_end.send(Exit())
        process.join(5.0)
    for ring in rings:
        ring.close()
    if process.is_alive():
        process.terminate()
        process.join(1.0)
    logs.stop()  # after the worker ended: its last records are handled first


class SRFrameProcessor:
    """Super-resolve every frame of an acquisition in a worker process and write it.

    ``process`` only copies the frame to the worker (``hands_off``), so the
    acquisition's processor relay calls it on the acquisition thread.

    ``model``: one model for every channel (a path, a bundled name, an SRModel) or
    ``{channel: model}``, each channel's frames by its own (:mod:`acquisition.sr_models`).
    ``out_path``: where the SR image goes (``.ome.zarr``); ``mosaic_path``:
    where the stitched SR mosaic of a tile scan goes (OME-Zarr 0.5 ``.ome.zarr``,
    streamed to disk by the worker; ``.ome.tif``: exported to OME-TIFF; None: no
    mosaic). The worker loads the model when this is
    constructed (a bad model is refused here, before any acquisition) and runs
    at idle CPU priority with ``threads`` ONNX Runtime threads (default: one
    core fewer than the machine has). ``max_queue`` bounds memory: when SR
    falls that far behind, ``frameReady`` blocks the producer rather than
    exhausting memory. ``yield_ms``: after each raw frame SR keeps off the
    CPU this long, while the acquisition writes the frame and starts the next
    one (0: no pacing; see :class:`acquisition.sr_pacer.Pacer`). Call
    :meth:`close` (or use it as a context manager) to end the worker; it also
    ends with the interpreter.
    """

    hands_off = True  # acquisition.live: process() may run on the acquisition thread

    def __init__(
        self,
        model: Any,
        out_path: str | Path,
        *,
        mosaic_path: str | Path | None = None,
        threads: int | None = None,
        max_queue: int = 256,
        overwrite: bool = True,
        yield_ms: float = 10.0,
        start_timeout_s: float = 300.0,
        provenance: dict[str, Any] | None = None,
        sequence: Any = None,
    ) -> None:
        self.out_path = Path(out_path)
        self.sequence = sequence  # for process(): the SR store's axes, the MIP and composite
        self.mosaic_path = Path(mosaic_path) if mosaic_path is not None else None
        self.stats = SRRunStats()
        self.error: str | None = None
        self.views: list[Path] = []  # the MIP and composite files of the last sequence
        self._lr_pixel_um: float | None = None
        self._mosaic: np.ndarray | None = None
        self._mosaic_written = False
        self._open = False  # a sequence is being sent to the worker
        self._awaiting = False  # "finish" sent, "done" not yet received
        ctx = multiprocessing.get_context("spawn")
        # requests go down a pipe written by the caller's thread: no feeder thread to
        # wake per frame; the worker's receiver drains it at once (up to max_queue)
        self._requests, self._send_end = ctx.Pipe(duplex=False)
        self._send_lock = threading.Lock()
        self._replies = ctx.Queue()
        self._last_frame_at = ctx.RawValue("d", 0.0)
        self._freed = ctx.Queue()  # frame-ring slots the worker has finished with
        self._rings: list[Any] = []  # at most one: made at the first frame
        self._ring_slots = min(max_queue, 8)  # slots come back within a frame or so
        self._logs = LogForwarder(ctx).start()  # the worker's warnings reach our handlers
        self._process = ctx.Process(
            target=serve,
            args=(
                self._requests,
                self._replies,
                model_files(model),
                str(self.out_path),
                None if self.mosaic_path is None else str(self.mosaic_path),
                default_threads() if threads is None else threads,
                overwrite,
                self._last_frame_at,
                yield_ms,
                self._freed,
                max_queue,
                provenance,
                self._logs.queue,
                self._logs.level,
            ),
            name="srscope-sr",
            daemon=True,
        )
        self._process.start()
        self._finalizer = weakref.finalize(
            self, _stop_worker, self._process, self._send_end, self._rings, self._logs
        )
        reply = self._reply(start_timeout_s)
        if not isinstance(reply, Ready):
            self.close()
            why = reply.message if isinstance(reply, Failed) else "it did not start in time"
            raise SrscopeError(f"on-the-fly SR cannot start: {why}")
        self.meta, self.source = reply.meta, reply.source

    # -- geometry ---------------------------------------------------------
    @property
    def scale(self) -> int:
        return int(self.meta.scale)

    @property
    def hr_pixel_size_um(self) -> float | None:
        return None if self._lr_pixel_um is None else self._lr_pixel_um / self.scale

    @property
    def mosaic_file(self) -> Path | None:
        """The SR mosaic the worker wrote for the last sequence, or None."""
        return self.mosaic_path if self._mosaic_written else None

    @property
    def mosaic(self) -> np.ndarray | None:
        """The SR mosaic the worker wrote (level 0, read back once: small scans), or None."""
        if self._mosaic is None and self._mosaic_written and self.mosaic_path is not None:
            image = read_image(self.mosaic_path)
            self._mosaic = image[0] if image.ndim == 3 and image.shape[0] == 1 else image
        return self._mosaic

    # -- MDA listener API (called on the acquisition side: must be cheap) --
    def sequenceStarted(self, sequence: Any, meta: Any = None) -> None:
        info = (meta or {}).get("image_infos", [{}])[0] if isinstance(meta, dict) else {}
        self._begin(sequence, info.get("pixel_size_um") or None)

    def frameReady(self, image: np.ndarray, event: Any = None, meta: Any = None) -> None:
        px = meta.get("pixel_size_um") if isinstance(meta, dict) else None
        pos = (getattr(event, "x_pos", None), getattr(event, "y_pos", None))
        channel = getattr(getattr(event, "channel", None), "config", None)
        self._send_frame(image, pos, px, channel)

    def sequenceFinished(self, sequence: Any = None) -> None:
        if self._open:
            self._post(Finish())
            self._open, self._awaiting = False, True

    # -- FrameProcessor protocol (acquisition.live.ProcessorRelay, policy "all") --
    def process(self, image: np.ndarray, metadata: Any) -> None:
        """Hand one frame to the worker; its SR is written, not returned.

        For the acquisition part's processor relay. Call :meth:`finish` after
        the last frame.
        """
        px = getattr(metadata, "pixel_size_um", None) or None
        if not self._open:
            self._begin(self.sequence, px)
        pos = getattr(metadata, "position_um", (None, None))
        self._send_frame(image, (pos[0], pos[1]), px, getattr(metadata, "channel", None) or None)
        return None

    def finish(self) -> None:
        """Wait until every frame is super-resolved, the SR image closed and the mosaic written."""
        self.sequenceFinished()
        self.wait()

    # -- connection helpers ----------------------------------------------
    @contextmanager
    def attach(self, core: Any):
        """Connect to ``core.mda.events`` for the duration of the block."""
        events = core.mda.events
        events.sequenceStarted.connect(self.sequenceStarted)
        events.frameReady.connect(self.frameReady)
        events.sequenceFinished.connect(self.sequenceFinished)
        try:
            yield self
        finally:
            events.sequenceStarted.disconnect(self.sequenceStarted)
            events.frameReady.disconnect(self.frameReady)
            events.sequenceFinished.disconnect(self.sequenceFinished)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every frame sent is super-resolved and written (False: timed out)."""
        if not self._awaiting:
            return True
        reply = self._reply(timeout)
        if reply is None:
            return False
        self._awaiting = False
        if isinstance(reply, Done):
            report = reply.report
            self.stats.frames_done = report.frames_done
            self.stats.errors = report.errors
            self.stats.compute_ms = list(report.compute_ms)
            self.error = report.error
            self._mosaic_written = report.mosaic
            self.stats.yielded_s = report.yielded_s
            self.views = [Path(v) for v in report.views]
        else:
            self.error = reply.message if isinstance(reply, Failed) else repr(reply)
        self.stats.done_at = time.perf_counter()
        if self.error:
            logger.error("on-the-fly SR failed: %s", self.error)
        return True

    def close(self) -> None:
        """End the worker process (after :meth:`wait`, or abandoning what it had left)."""
        self._finalizer()

    def abort(self) -> None:
        """End the worker now, without finishing: an interrupted acquisition's SR is
        left as it is (no mosaic of part of a scan); a resume redoes it."""
        self._open = self._awaiting = False
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5.0)
        self._finalizer()

    def __enter__(self) -> SRFrameProcessor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------
    def _begin(self, sequence: Any, lr_pixel_um: float | None) -> None:
        if self._awaiting:  # the previous sequence's report first
            self.wait()
        self.stats = SRRunStats()
        self.error = None
        self._mosaic, self._mosaic_written = None, False
        self.views = []
        self._lr_pixel_um = lr_pixel_um
        self._post(Begin(sequence, lr_pixel_um))
        self._open = True

    def _send_frame(
        self, image: np.ndarray, pos: tuple[Any, Any], px: float | None, channel: str | None = None
    ) -> None:
        if not self._open:
            raise SrscopeError("on-the-fly SR: frame received before the sequence started")
        now = time.perf_counter()
        if self.stats.first_frame_at is None:
            self.stats.first_frame_at = now
        self.stats.last_frame_at = now
        self.stats.frames_in += 1
        if self._lr_pixel_um is None and px:
            self._lr_pixel_um = float(px)
        self._last_frame_at.value = time.monotonic()
        image = np.asarray(image)
        slot = self._ring_put(image)
        if slot is not None:
            ring = RingSlot(slot, image.shape, image.dtype.str)
            self._post(Frame(None, pos, px, ring, channel))
        else:  # pickled now, so the camera may reuse its buffer
            self._post(Frame(image, pos, px, None, channel))

    def _post(self, message: Request) -> None:
        with self._send_lock:
            try:
                self._send_end.send(message)
            except (BrokenPipeError, OSError) as exc:
                raise SrscopeError(f"on-the-fly SR: the worker process is gone ({exc})") from None

    def _ring_put(self, image: np.ndarray) -> int | None:
        """The frame copied into shared memory (None: sent the plain way instead)."""
        if not self._rings and self._ring_slots > 1:
            try:
                ring = FrameRing(self._freed, image.nbytes, self._ring_slots)
            except OSError as exc:
                logger.info("no shared-memory frame ring (%s): frames go through a pipe", exc)
                self._ring_slots = 0
                return None
            self._rings.append(ring)
            self._post(UseRing(ring.name, ring.slot_bytes))
        return self._rings[0].put(image) if self._rings else None

    def _reply(self, timeout: float | None) -> Reply | None:
        """The worker's next reply; :class:`Failed` if it died, None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = 0.5 if deadline is None else min(0.5, max(0.0, deadline - time.monotonic()))
            try:
                return self._replies.get(timeout=step)
            except queue.Empty:
                if not self._process.is_alive():
                    code = self._process.exitcode
                    return Failed(f"the SR worker process ended (exit code {code})")
                if deadline is not None and time.monotonic() >= deadline:
                    return None


def sr_processor(
    model: Any,
    base: str | Path,
    provenance: dict[str, Any] | None = None,
    sequence: Any = None,
) -> SRFrameProcessor:
    """On-the-fly SR of an acquisition, written as the CLI and the viewer write it.

    Every SR frame goes to ``<base>.ome.zarr``, a scan's SR mosaic (streamed, OME-Zarr
    0.5, multiscale) to ``<base>_mosaic.ome.zarr``; ``provenance`` (e.g. how the model
    fits the frames) is written with them. ``model``: a path, a bundled model's name or
    a loaded model, or ``{channel: model}`` (each channel by its own; ``""``: the rest).
    ``sequence`` (the useq ``MDASequence`` being run): the SR store gets its axes
    and channel colours, and a Z-stack's MIP and a multi-channel composite are
    written beside it (:mod:`acquisition.sr_views`).
    """
    return SRFrameProcessor(
        model,
        Path(f"{base}.ome.zarr"),
        mosaic_path=Path(f"{base}_mosaic.ome.zarr"),
        provenance=provenance,
        sequence=sequence,
    )
