"""The process that super-resolves and writes an acquisition's frames (on-the-fly SR).

Why a process and not a thread of the acquisition's process: SR's Python work
(normalisation, dtype conversion, the OME-Zarr writer) takes the GIL from the
acquisition's threads, and the kernel shares the cores between SR and those
threads however low SR's ``nice`` is. Measured with
``python benchmarks/bench_onthefly.py --grid 8x8`` (20 ms exposure, 2 cores): a
relay thread at nice 19 made the scan 13–19 % slower, a relay thread under
``SCHED_IDLE`` 18 %; a ``SCHED_IDLE`` process 0–1 %. ``SCHED_IDLE`` tells the
kernel to run it only on a core nothing else wants, and to preempt it at once
when an acquisition thread wakes.

The parent (:class:`acquisition.sr_hook.SRFrameProcessor`) sends the requests
of :mod:`acquisition.sr_messages` on a pipe (``UseRing``, ``Begin``, ``Frame``,
``Finish``, ``Exit``) and reads replies on a queue: ``Ready`` or ``Failed`` at
start, then a ``Done`` with the :class:`~acquisition.sr_messages.SRReport` of
each finished SR image.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.frame_ring import RingReader
from acquisition.mosaic_stream import TileSpool, export_ome_tiff
from acquisition.sr_messages import (
    Abort,
    Begin,
    Done,
    Exit,
    Failed,
    Finish,
    Frame,
    Ready,
    Request,
    SRReport,
    UseRing,
)
from acquisition.sr_models import ChannelModels
from acquisition.sr_pacer import Pacer
from acquisition.sr_views import (
    mosaic_composite_path,
    with_channel_colors,
    write_mosaic_composite,
    write_views,
)
from acquisition.worker_logging import forward_to_parent
from srscope import logger
from srscope.errors import SrscopeError


def idle_priority() -> str:
    """Run this process (and the threads it starts later) only on otherwise idle cores."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return "SCHED_IDLE"
        except OSError as exc:
            logger.debug("SCHED_IDLE refused: %s", exc)
    if hasattr(os, "nice"):
        try:
            os.nice(19)
            return "nice 19"
        except OSError as exc:
            logger.debug("nice refused: %s", exc)
    return "normal"


def serve(
    requests: Any,
    replies: Any,
    model_files: dict[str, str],
    out_path: str,
    mosaic_path: str | None,
    threads: int | None,
    overwrite: bool,
    last_frame_at: Any = None,
    yield_ms: float = 0.0,
    freed: Any = None,
    max_queue: int = 256,
    provenance: dict[str, Any] | None = None,
    log_queue: Any = None,
    log_level: int = logging.WARNING,
) -> None:
    """The worker's main loop (the target of the spawned process).

    ``model_files``: ``{channel: ONNX file}`` (``""``: any channel), see
    :mod:`acquisition.sr_models`. ``requests``: the read end of a pipe; at most
    ``max_queue`` frames wait here for SR, then the pipe fills and the sender waits
    (bounded memory).

    ``last_frame_at`` (a shared double, ``time.monotonic()`` of the newest raw
    frame, set by the acquisition side) and ``yield_ms``: see :class:`Pacer`.

    ``log_queue``, ``log_level``: this process's ``srscope`` records at
    ``log_level`` or above go to the parent (:mod:`acquisition.worker_logging`).
    """
    import signal

    if log_queue is not None:
        forward_to_parent(log_queue, log_level)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the acquisition side's to handle
    priority = idle_priority()
    try:
        model = ChannelModels(model_files, threads=threads)
    except Exception as exc:  # any load failure is the parent's to report, in one line
        replies.put(Failed(str(exc) if isinstance(exc, SrscopeError) else repr(exc)))
        return
    replies.put(Ready(model.meta, str(model.source)))
    logger.debug("SR worker ready (%s, priority %s)", model.source, priority)
    pacer = Pacer(last_frame_at, yield_ms, model.receptive_field)
    inbox: queue.Queue[Request] = queue.Queue(maxsize=max_queue)
    gone = threading.Event()  # the acquisition side's end of the pipe closed (it died)
    threading.Thread(target=receive, args=(requests, freed, inbox, gone), daemon=True).start()
    writer: SRWriter | None = None
    while True:
        message = inbox.get()
        if gone.is_set() or isinstance(message, Abort):
            # killed mid-acquisition: leave at once, and no mosaic of a partial run
            if writer is not None:
                writer.abort()
            return
        match message:
            case Exit():
                break
            case Begin(sequence=sequence, lr_pixel_um=px):
                writer = SRWriter(
                    model, out_path, mosaic_path, overwrite, sequence, px, pacer, provenance
                )
            case Frame(image=image, position_um=pos, lr_pixel_um=px, channel=ch) if (
                image is not None
            ):
                if writer is None:
                    writer = SRWriter(
                        model, out_path, mosaic_path, overwrite, None, px, pacer, provenance
                    )
                writer.add(image, pos, px, ch)
            case Finish():
                report = writer.finish() if writer is not None else SRReport()
                writer = None
                replies.put(Done(report))
    if writer is not None:
        writer.finish()


def receive(
    requests: Any, freed: Any, inbox: queue.Queue, gone: threading.Event | None = None
) -> None:
    """Move each message to ``inbox`` at once, frames out of the shared ring.

    Runs beside SR so ring slots come back within a frame's time whatever SR
    is doing; the frames waiting for SR then live in this process's memory.
    The pipe closing (the acquisition process was killed) sets ``gone`` and
    queues an :class:`Abort`: an orphaned worker would otherwise wait forever.
    """
    ring: RingReader | None = None
    while True:
        try:
            message = requests.recv()
        except (EOFError, OSError):
            if gone is not None:
                gone.set()
            inbox.put(Abort())
            break
        if isinstance(message, UseRing):
            if ring is not None:
                ring.close()
            ring = RingReader(message.shm_name, message.slot_bytes, freed)
            continue
        if isinstance(message, Frame) and message.ring is not None and ring is not None:
            where = message.ring
            image = np.array(ring.view(where.slot, where.shape, where.dtype), copy=True)
            ring.release(where.slot)
            message = replace(message, image=image, ring=None)
        inbox.put(message)
        if isinstance(message, Exit):
            break
    if ring is not None:
        ring.close()


class SRWriter:
    """SR of each frame appended to one OME-Zarr image; the SR mosaic at the end.

    Frames with a stage position are also kept in a :class:`TileSpool` on disk (not in
    memory: a slide's SR tiles outgrow it), streamed into the mosaic by :meth:`finish`
    at their stage positions (:mod:`acquisition.mosaic_stream` says why not refined).

    An error in one frame's SR (a :class:`SrscopeError`, e.g. a NaN frame)
    writes a blank SR frame and is counted, so frame indices stay aligned
    with the raw data; any other error stops SR for this image (the frames
    written so far are kept) and is reported by :meth:`finish`.
    """

    def __init__(
        self,
        model: ChannelModels,
        out_path: str | Path,
        mosaic_path: str | Path | None,
        overwrite: bool,
        sequence: Any,
        lr_pixel_um: float | None,
        pacer: Pacer | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.extra_provenance = dict(provenance or {})  # e.g. how the model fits the frames
        self.pacer = pacer or Pacer(None, 0.0, 0)
        self.out_path = Path(out_path)
        self.mosaic_path = Path(mosaic_path) if mosaic_path is not None else None
        self.overwrite = overwrite
        self.sequence = sequence
        self.lr_pixel_um = lr_pixel_um or None
        self.spool = TileSpool(self._mosaic_zarr()) if self.mosaic_path is not None else None
        self.compute_ms: list[float] = []
        self.frames_done = 0
        self.errors = 0
        self.error: str | None = None
        self._stream: Any = None
        self._dims: list[Any] | None = None  # the SR store's axes, when the sequence gave them
        self._dtype: Any = None
        self.views: list[str] = []  # MIP and composite files written (acquisition.sr_views)

    @property
    def hr_pixel_um(self) -> float | None:
        return None if self.lr_pixel_um is None else self.lr_pixel_um / self.model.scale

    def add(
        self,
        frame: np.ndarray,
        pos: tuple[Any, Any],
        lr_pixel_um: float | None,
        channel: str | None = None,
    ) -> None:
        if self.error is not None:
            return
        if self.lr_pixel_um is None:
            self.lr_pixel_um = lr_pixel_um or None
        try:
            self._add(frame, pos, channel)
        except Exception as exc:  # reported at finish, never raised into the acquisition
            self.error = f"{type(exc).__name__}: {exc}"
            logger.error("on-the-fly SR failed: %s", self.error)
            self._close_stream()

    def _add(self, frame: np.ndarray, pos: tuple[Any, Any], channel: str | None) -> None:
        self.pacer.wait()
        t0 = time.perf_counter()
        try:
            model = self.model.for_channel(channel)  # each channel its own model
            sr = model.predict(frame, dtype="input", **self.pacer.predict_kwargs())
        except SrscopeError as exc:
            self.errors += 1
            logger.warning("SR of frame %d failed: %s", self.frames_done, exc)
            s = self.model.scale
            sr = np.zeros((frame.shape[-2] * s, frame.shape[-1] * s), frame.dtype)
        self.compute_ms.append((time.perf_counter() - t0) * 1e3)
        if self._stream is None:
            positioned = pos[0] is not None and pos[1] is not None
            self._stream = self._open_stream(sr.shape, sr.dtype, positioned)
        self._stream.append(sr)
        if self.spool is not None and pos[0] is not None and pos[1] is not None:
            self.spool.add(sr, (float(pos[0]), float(pos[1])), channel)
        self.pacer.end_chunk()
        self.frames_done += 1

    def finish(self) -> SRReport:
        self._close_stream()
        if self.error is None and self._dims is not None and self.frames_done:
            try:
                self.views = [str(p) for p in write_views(self.out_path, self._dims, self._dtype)]
            except Exception as exc:  # reported by finish; the SR frames are kept
                self.error = f"SR MIP/composite: {type(exc).__name__}: {exc}"
        mosaic = False
        if self.error is None and self.spool is not None and self.spool.is_tiling:
            try:
                mosaic = self._write_mosaic()
            except Exception as exc:  # reported by finish; the SR frames are kept
                self.error = f"SR mosaic: {type(exc).__name__}: {exc}"
        elif self.spool is not None and len(self.spool):
            logger.info("frames repeat a stage position (Z or time): no SR mosaic")
        if self.spool is not None:
            self.spool.discard()
        return SRReport(
            frames_done=self.frames_done,
            errors=self.errors,
            compute_ms=self.compute_ms,
            error=self.error,
            mosaic=mosaic,
            yielded_s=self.pacer.waited_s,
            views=self.views,
        )

    def abort(self) -> None:
        """Close the SR image as it is (the acquisition stopped): no mosaic."""
        self._close_stream()
        if self.spool is not None:
            self.spool.discard()

    def _open_stream(self, shape: tuple[int, ...], dtype: Any, positioned: bool = False) -> Any:
        from ome_writers import AcquisitionSettings, create_stream, useq_to_acquisition_settings

        h, w = shape[-2:]
        hr_px = self.hr_pixel_um
        try:
            dims = useq_to_acquisition_settings(
                self.sequence, image_width=w, image_height=h, pixel_size_um=hr_px
            )["dimensions"]
            dims = with_channel_colors(dims)  # omero.channels[].color
            self._dims, self._dtype = dims, np.dtype(dtype)
        except Exception:  # no, ragged or unknown sequence: one growing axis
            from ome_writers import Dimension

            # frames at stage positions (a scan's tiles) stack on a position axis "p"
            # (NGFF has no position type: "other"); frames without, on time
            first = ("p", "other") if positioned else ("t", "time")
            dims = [
                Dimension(name=first[0], count=None, chunk_size=1, type=first[1]),
                Dimension(name="y", count=h, chunk_size=h, scale=hr_px, unit="micrometer"),
                Dimension(name="x", count=w, chunk_size=w, scale=hr_px, unit="micrometer"),
            ]
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        settings = AcquisitionSettings(
            root_path=str(self.out_path),
            dimensions=dims,
            dtype=str(np.dtype(dtype)),
            overwrite=self.overwrite,
            compression="blosc-zstd",  # ome-writers' default is none
        )
        stream = create_stream(settings)
        try:
            meta = stream.get_metadata()
            if isinstance(meta, dict):
                for attrs in meta.values():
                    if isinstance(attrs, dict):
                        attrs["srscope"] = self._provenance()
                stream.update_metadata(meta)
        except Exception as exc:  # provenance is a courtesy; the pixels matter
            logger.debug("SR provenance not written: %s", exc)
        return stream

    def _provenance(self) -> dict[str, Any]:
        return {
            "computed": True,
            "kind": "super-resolution",
            **self.model.provenance(),  # the model(s), by channel, and the backend
            "lr_pixel_size_um": self.lr_pixel_um,
            "hr_pixel_size_um": self.hr_pixel_um,
            **self.extra_provenance,
        }

    def _close_stream(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                stream.close()
            except Exception as exc:  # the frames are written; a close error is noise
                logger.debug("closing the SR image: %s", exc)

    def _mosaic_zarr(self) -> Path:
        """Where the mosaic is streamed: ``mosaic_path``, or beside it for a TIFF export."""
        assert self.mosaic_path is not None
        if self.mosaic_path.suffix.lower() in (".tif", ".tiff"):
            return self.mosaic_path.with_name(self.mosaic_path.name + ".zarr")
        return self.mosaic_path

    def _write_mosaic(self) -> bool:
        if self.hr_pixel_um is None or self.mosaic_path is None or self.spool is None:
            logger.warning("no pixel size: SR mosaic not written")
            return False
        provenance = {**self._provenance(), "kind": "SR mosaic", "placement": "stage"}
        path = self.spool.write(
            self.hr_pixel_um,
            name="SR mosaic (computed)",
            provenance=provenance,
            overwrite=self.overwrite,
        )
        try:  # the channels in colour; a preview, so its failure leaves the mosaic be
            preview = write_mosaic_composite(path, mosaic_composite_path(self.mosaic_path))
            self.views += [str(preview)] if preview is not None else []
        except Exception as exc:  # a preview: its failure leaves the mosaic be
            logger.warning("SR mosaic composite not written: %s: %s", type(exc).__name__, exc)
        if path != self.mosaic_path:  # an OME-TIFF asked for: exported, the Zarr dropped
            import shutil

            export_ome_tiff(path, self.mosaic_path)
            shutil.rmtree(path)
        return True
