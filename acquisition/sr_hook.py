"""On-the-fly SR during an acquisition: each raw frame's SR written beside the raw data.

The acquisition thread only enqueues (O(1)); one relay thread super-resolves
every frame in order (no frame is dropped: each raw frame gets its SR) and
appends it to an OME-Zarr/OME-TIFF stream of its own, with the HR pixel size
``lr / scale`` (DESIGN.md: SR output is a separate image, not a resolution
level of the raw data). For a tile scan the SR tiles are also stitched into an
SR mosaic, placed by their stage positions, when the sequence ends.

The listener methods have the names of pymmcore-plus's MDA signals
(``sequenceStarted``, ``frameReady``, ``sequenceFinished``), so the processor
can be connected to ``core.mda.events`` directly (:meth:`SRFrameProcessor.attach`)
or driven by the acquisition facade's frame-processor hook.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srscope import logger
from srscope.errors import SrscopeError

_STOP = object()


@dataclass
class SRRunStats:
    """How the SR relay kept up with the acquisition."""

    frames_in: int = 0
    frames_done: int = 0
    errors: int = 0
    compute_ms: list[float] = field(default_factory=list)
    first_frame_at: float | None = None
    last_frame_at: float | None = None  # last raw frame received (acquisition time)
    done_at: float | None = None  # last SR frame written

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
        }


def default_threads() -> int:
    """ORT threads for SR beside an acquisition: leave one core to the acquisition."""
    return max(1, (os.cpu_count() or 2) - 1)


def lower_thread_priority(nice: int = 10) -> None:
    """Make the calling thread yield the CPU to acquisition (Linux: per-thread nice)."""
    if not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError as exc:  # not permitted: SR still runs, at normal priority
        logger.debug("cannot lower SR thread priority: %s", exc)


def _open_model(model: Any, threads: int | None) -> Any:
    from sr_engine.model import SRModel

    if isinstance(model, SRModel):
        return model
    from sr_engine.bundled import resolve_model

    kwargs = {} if threads is None else {"threads": threads}
    return SRModel(resolve_model(model), **kwargs)


class SRFrameProcessor:
    """Super-resolve every frame of an acquisition on a relay thread and write it.

    ``out_path``: where the SR image goes (``.ome.zarr`` or ``.ome.tif``);
    ``mosaic_path``: where the stitched SR mosaic of a tile scan goes (None:
    no mosaic). ``max_queue`` bounds memory: when SR falls that far behind,
    ``frameReady`` blocks the producer rather than exhausting memory (never
    reached when SR is faster than the camera, the case this is built for).
    SR runs with one core fewer than the machine has (``threads``) on a thread
    of lowered priority (``nice``), and its images are written behind (held in
    memory up to ``write_behind_mb``, then flushed; all flushed at the end), so
    the acquisition keeps its pace and SR catches up afterwards.
    """

    def __init__(
        self,
        model: Any,
        out_path: str | Path,
        *,
        mosaic_path: str | Path | None = None,
        threads: int | None = None,
        max_queue: int = 256,
        overwrite: bool = True,
        keep_tiles: bool = True,
        nice: int | None = 19,
        write_behind_mb: float = 1024.0,
        gil_switch_s: float | None = 0.0005,
    ) -> None:
        self.model = _open_model(model, default_threads() if threads is None else threads)
        self.nice = nice
        self._niced: set[int] = set()
        self.out_path = Path(out_path)
        self.mosaic_path = Path(mosaic_path) if mosaic_path is not None else None
        self.overwrite = overwrite
        self.keep_tiles = keep_tiles or mosaic_path is not None
        self.stats = SRRunStats()
        self.tiles: list[tuple[np.ndarray, tuple[float, float]]] = []
        self.mosaic: np.ndarray | None = None
        self.error: str | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._stream: Any = None
        self.write_behind_mb = float(write_behind_mb)
        self.gil_switch_s = gil_switch_s
        self._switch_interval: float | None = None
        self._pending: list[tuple[int | None, np.ndarray]] = []
        self._dtype: Any = None
        self._pending_bytes = 0
        self._lr_pixel_um: float | None = None
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()

    # -- geometry ---------------------------------------------------------
    @property
    def scale(self) -> int:
        return int(self.model.scale)

    @property
    def hr_pixel_size_um(self) -> float | None:
        return None if self._lr_pixel_um is None else self._lr_pixel_um / self.scale

    # -- MDA listener API (called on the acquisition side: must be cheap) --
    def sequenceStarted(self, sequence: Any, meta: Any = None) -> None:
        info = (meta or {}).get("image_infos", [{}])[0] if isinstance(meta, dict) else {}
        self._lr_pixel_um = info.get("pixel_size_um") or None
        self.stats = SRRunStats()
        self.tiles.clear()
        self.mosaic = None
        self.error = None
        self._finished.clear()
        self._thread = threading.Thread(
            target=self._run, args=(sequence, info), name="srscope-sr-relay", daemon=True
        )
        self._thread.start()

    def frameReady(self, image: np.ndarray, event: Any = None, meta: Any = None) -> None:
        now = time.perf_counter()
        if self.stats.first_frame_at is None:
            self.stats.first_frame_at = now
        self.stats.last_frame_at = now
        self.stats.frames_in += 1
        pos = (getattr(event, "x_pos", None), getattr(event, "y_pos", None))
        if self._lr_pixel_um is None and isinstance(meta, dict):
            self._lr_pixel_um = meta.get("pixel_size_um") or None
        self._queue.put((np.asarray(image), pos))

    def sequenceFinished(self, sequence: Any = None) -> None:
        self._queue.put(_STOP)

    # -- FrameProcessor protocol (acquisition.live.ProcessorRelay, policy "all") --
    def process(self, image: np.ndarray, metadata: Any) -> np.ndarray:
        """SR one frame on the caller's (relay) thread, write it; returns the SR image.

        For the acquisition part's processor relay, which already runs off the
        acquisition thread. Call :meth:`finish` after the last frame.
        """
        self._background()
        px = getattr(metadata, "pixel_size_um", None)
        if self._lr_pixel_um is None and px:
            self._lr_pixel_um = float(px)
        now = time.perf_counter()
        if self.stats.first_frame_at is None:
            self.stats.first_frame_at = now
        self.stats.last_frame_at = now
        self.stats.frames_in += 1
        pos = getattr(metadata, "position_um", (None, None))
        sr = self._one(None, np.asarray(image), (pos[0], pos[1]))
        self.stats.done_at = time.perf_counter()
        return sr

    def finish(self) -> None:
        """Close the SR image and write the SR mosaic (after :meth:`process` calls)."""
        self._foreground()
        self._close_stream()
        if self.mosaic_path is not None and self.tiles:
            self._write_mosaic()
        self.stats.done_at = time.perf_counter()

    # -- connection helpers ----------------------------------------------
    @contextmanager
    def attach(self, core: Any):
        """Connect to ``core.mda.events`` for the duration of the block, then wait for SR."""
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
        """Block until every queued frame is super-resolved and written."""
        if self._thread is None:
            return True
        ok = self._finished.wait(timeout)
        if ok:
            self._thread.join(1.0)
        return ok

    # -- relay thread ------------------------------------------------------
    def _background(self) -> None:
        """Lower the priority of the thread doing SR (once per thread).

        Also shortens the interpreter's GIL switch interval while SR runs (5 ms
        → 0.5 ms): the acquisition thread, waking from a camera exposure,
        then waits at most that long for the GIL the SR thread holds between
        native calls. Restored when SR ends.
        """
        tid = threading.get_native_id()
        if self.nice and tid not in self._niced:
            lower_thread_priority(self.nice)
            self._niced.add(tid)
        if self._switch_interval is None and self.gil_switch_s:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, self.gil_switch_s))

    def _foreground(self) -> None:
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None

    def _run(self, sequence: Any, info: dict) -> None:
        self._background()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                frame, pos = item
                self._one(sequence, frame, pos)
            self._close_stream()
            if self.mosaic_path is not None and self.tiles:
                self._write_mosaic()
        except Exception as exc:  # reported, never raised into the acquisition
            self.error = f"{type(exc).__name__}: {exc}"
            logger.error("on-the-fly SR failed: %s", self.error)
            self._close_stream()
        finally:
            self.stats.done_at = time.perf_counter()
            self._foreground()
            self._finished.set()

    def _one(self, sequence: Any, frame: np.ndarray, pos: tuple[Any, Any]) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            sr = self.model.predict(frame)  # float32 in input units
        except SrscopeError as exc:
            self.stats.errors += 1
            logger.warning("SR of frame %d failed: %s", self.stats.frames_done, exc)
            sr = np.zeros((frame.shape[0] * self.scale, frame.shape[1] * self.scale), np.float32)
        self.stats.compute_ms.append((time.perf_counter() - t0) * 1e3)
        if self._stream is None:
            self._dtype = frame.dtype
            self._stream = self._open_stream(sequence, sr.shape, frame.dtype)
        # write-behind: SR images are scale² times the raw size; converting and writing
        # them while the camera runs competes with acquisition for memory bandwidth,
        # the GIL and zarr's IO thread, so both wait (bounded) until it has finished
        tile = None
        if self.keep_tiles and pos[0] is not None and pos[1] is not None:
            tile = len(self.tiles)
            self.tiles.append((sr, (float(pos[0]), float(pos[1]))))
        self._pending.append((tile, sr))
        self._pending_bytes += sr.nbytes
        if self._pending_bytes > self.write_behind_mb * 2**20:
            self._flush()
        self.stats.frames_done += 1
        return sr

    def _open_stream(self, sequence: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        from ome_writers import AcquisitionSettings, create_stream, useq_to_acquisition_settings

        h, w = shape[-2:]
        hr_px = self.hr_pixel_size_um
        try:
            dims = useq_to_acquisition_settings(
                sequence, image_width=w, image_height=h, pixel_size_um=hr_px
            )["dimensions"]
        except Exception:  # ragged or unknown sequence: one growing T axis
            from ome_writers import Dimension

            dims = [
                Dimension(name="t", count=None, chunk_size=1, type="time"),
                Dimension(name="y", count=h, chunk_size=h, scale=hr_px, unit="micrometer"),
                Dimension(name="x", count=w, chunk_size=w, scale=hr_px, unit="micrometer"),
            ]
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        settings = AcquisitionSettings(
            root_path=str(self.out_path),
            dimensions=dims,
            dtype=str(np.dtype(dtype)),
            overwrite=self.overwrite,
        )
        stream = create_stream(settings)
        with _suppress_all():
            meta = stream.get_metadata()
            if isinstance(meta, dict):
                for attrs in meta.values():
                    if isinstance(attrs, dict):
                        attrs["srscope"] = self._provenance()
                stream.update_metadata(meta)
        return stream

    def _provenance(self) -> dict[str, Any]:
        meta = self.model.meta
        return {
            "computed": True,
            "kind": "super-resolution",
            "model": str(getattr(self.model, "source", "")),
            "model_name": meta.name,
            "scale": meta.scale,
            "channels": list(meta.channels),
            "lr_pixel_size_um": self._lr_pixel_um,
            "hr_pixel_size_um": self.hr_pixel_size_um,
        }

    def _flush(self) -> None:
        """Convert the SR images held back so far to the raw dtype and append them, in order."""
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        for tile, sr in pending:
            out = _to_dtype(sr, self._dtype)
            self._stream.append(out)
            if tile is not None:
                self.tiles[tile] = (out, self.tiles[tile][1])

    def _close_stream(self) -> None:
        if self._stream is not None and self._pending:
            self._flush()
        if self._stream is not None:
            with _suppress_all():
                self._stream.close()
            self._stream = None

    def _write_mosaic(self) -> None:
        if self.hr_pixel_size_um is None:
            logger.warning("no pixel size: SR mosaic not written")
            return
        self.mosaic = stitch_tiles(self.tiles, self.hr_pixel_size_um, refine=False)
        write_image(self.mosaic_path, self.mosaic, self.hr_pixel_size_um, "SR mosaic (computed)")


def _to_dtype(image: np.ndarray, dtype: Any) -> np.ndarray:
    """Round and clip into an integer dtype (never wrap); floats just cast."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        out = np.rint(image)
        np.clip(out, info.min, info.max, out=out)
        return out.astype(dtype)
    return image.astype(dtype, copy=False)


@contextmanager
def _suppress_all():
    try:
        yield
    except Exception as exc:
        logger.debug("ignored: %s", exc)


def stitch_tiles(
    tiles: list[tuple[np.ndarray, tuple[float, float]]],
    pixel_size_um: float,
    *,
    refine: bool = True,
) -> np.ndarray:
    """Mosaic of tiles placed by stage position (µm), blended without seams.

    The acquisition part's stitcher; ``refine`` adds its phase-correlation
    refinement (worth it on LR tiles, costly on SR tiles, which are placed by
    stage position only).
    """
    from acquisition.mosaic import stitch

    images = [t for t, _ in tiles]
    positions = [p for _, p in tiles]
    mosaic = np.asarray(stitch(images, positions, pixel_size_um, refine=refine))
    dtype = images[0].dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.round(mosaic), info.min, info.max).astype(dtype)
    return mosaic


def place_tiles(
    tiles: list[tuple[np.ndarray, tuple[float, float]]], pixel_size_um: float
) -> np.ndarray:
    """Placement by stage position with linear feathering (no seams from hard edges)."""
    if not tiles:
        raise SrscopeError("no tiles to stitch")
    h, w = tiles[0][0].shape[-2:]
    xs = np.array([p[0] for _, p in tiles]) / pixel_size_um
    ys = np.array([p[1] for _, p in tiles]) / pixel_size_um
    # tile centre at its stage position; image x grows with stage x, y with stage y
    x0s = np.round(xs - xs.min()).astype(int)
    y0s = np.round(ys - ys.min()).astype(int)
    H, W = int(y0s.max()) + h, int(x0s.max()) + w
    acc = np.zeros((H, W), np.float32)
    wsum = np.zeros((H, W), np.float32)
    ramp_y = np.minimum(np.arange(h) + 1, np.arange(h)[::-1] + 1).astype(np.float32)
    ramp_x = np.minimum(np.arange(w) + 1, np.arange(w)[::-1] + 1).astype(np.float32)
    weight = np.outer(ramp_y, ramp_x)
    for (img, _), x0, y0 in zip(tiles, x0s, y0s, strict=True):
        acc[y0 : y0 + h, x0 : x0 + w] += img.astype(np.float32) * weight
        wsum[y0 : y0 + h, x0 : x0 + w] += weight
    out = acc / np.maximum(wsum, 1e-6)
    dtype = tiles[0][0].dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.round(out), info.min, info.max).astype(dtype)
    return out


def write_image(path: Path, image: np.ndarray, pixel_size_um: float, name: str) -> Path:
    """A single 2-D image as OME-Zarr (``.zarr``) or OME-TIFF, with its pixel size."""
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    h, w = image.shape
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(
            path,
            image,
            ome=True,
            photometric="minisblack",
            metadata={
                "axes": "YX",
                "Name": name,
                "PhysicalSizeX": pixel_size_um,
                "PhysicalSizeXUnit": "µm",
                "PhysicalSizeY": pixel_size_um,
                "PhysicalSizeYUnit": "µm",
            },
        )
        return path
    chunk = min(1024, h), min(1024, w)
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(
                name="y", count=h, chunk_size=chunk[0], scale=pixel_size_um, unit="micrometer"
            ),
            Dimension(
                name="x", count=w, chunk_size=chunk[1], scale=pixel_size_um, unit="micrometer"
            ),
        ],
        dtype=str(image.dtype),
        overwrite=True,
    )
    with create_stream(settings) as stream:
        stream.append(image)
    return path
