"""SR for pycromanager users: an ``image_process_fn`` for ``pycromanager.Acquisition``.

pycromanager calls ``image_process_fn(image, metadata)`` for every image on its
image-processing thread and stores what it returns. This adapter (no
pycromanager import needed) offers three modes:

- ``"beside"`` (default, any backend): the raw image is returned unchanged, so
  pycromanager saves it as usual, and its SR is computed in a worker process and
  written beside it as its own OME-Zarr image with the HR pixel size (raw and
  SR differ in size and pixel size, so they are separate images).
- ``"replace"``: the SR image (input dtype) is returned instead of the raw one,
  with ``PixelSize_um``, ``Width`` and ``Height`` updated; computed inline on
  pycromanager's processing thread.
- ``"both"``: returns ``[(raw, md), (sr, md_sr)]`` with an ``"sr"`` axis (0 raw,
  1 SR). Only pycromanager's Java backend accepts a list; its Python backend
  (1.0.2) takes a single ``(image, metadata)``, so use ``"beside"`` there.

Usage::

    from pycromanager import Acquisition, multi_d_acquisition_events
    sr = SRImageProcessFn("live_fluo", "run_sr.ome.zarr")
    with Acquisition(directory="data", name="run", image_process_fn=sr) as acq:
        acq.acquire(multi_d_acquisition_events(num_time_points=10))
    sr.close()  # waits until every SR image is written
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np

from acquisition.sr_hook import SRFrameProcessor
from srscope.errors import SrscopeError

Mode = Literal["beside", "replace", "both"]

PIX_SIZE = "PixelSize_um"
X_UM = ("XPosition_um_Intended", "XPosition_um")
Y_UM = ("YPosition_um_Intended", "YPosition_um")


def _first(metadata: dict, keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = metadata.get(key)
        if value not in (None, ""):
            try:
                return float(value)
            except (TypeError, ValueError):
                continue
    return None


class SRImageProcessFn:
    """A pycromanager ``image_process_fn`` that super-resolves each image."""

    def __init__(
        self,
        model: Any,
        out_path: str | Path | None = None,
        *,
        mode: Mode = "beside",
        mosaic_path: str | Path | None = None,
        threads: int | None = None,
    ) -> None:
        if mode not in ("beside", "replace", "both"):
            raise SrscopeError(f"mode must be 'beside', 'replace' or 'both', got {mode!r}")
        if mode == "beside" and out_path is None:
            raise SrscopeError("mode 'beside' needs out_path (where the SR image is written)")
        self.mode = mode
        self.model: Any = None
        self._proc: SRFrameProcessor | None = None
        if mode == "beside":
            self._proc = SRFrameProcessor(
                model, out_path or "unused.ome.zarr", mosaic_path=mosaic_path, threads=threads
            )
        else:
            from sr_engine.bundled import open_model
            from sr_engine.model import SRModel

            self.model = model if isinstance(model, SRModel) else open_model(model, threads=threads)
        self._started = False
        self.count = 0

    @property
    def processor(self) -> SRFrameProcessor:
        """The worker that writes SR images (mode ``"beside"``), with its stats."""
        if self._proc is None:
            raise SrscopeError(f"mode {self.mode!r} computes SR inline: no SR writer")
        return self._proc

    def __call__(self, image: np.ndarray, metadata: dict) -> Any:
        """pycromanager's two-argument ``image_process_fn`` signature."""
        self.count += 1
        if self.mode == "beside":
            self._beside(image, metadata)
            return image, metadata
        sr = self.model.predict(image, dtype="input")
        md = self._sr_metadata(metadata, sr)
        if self.mode == "replace":
            return sr, md
        raw_md = copy.deepcopy(metadata)
        raw_md.setdefault("Axes", {})["sr"] = 0
        md.setdefault("Axes", {})["sr"] = 1
        return [(image, raw_md), (sr, md)]

    def _beside(self, image: np.ndarray, metadata: dict) -> None:
        assert self._proc is not None
        px = _first(metadata, (PIX_SIZE,))
        if not self._started:
            info = {"pixel_size_um": px, "width": image.shape[-1], "height": image.shape[-2]}
            self._proc.sequenceStarted(None, {"image_infos": [info]})
            self._started = True
        event = SimpleNamespace(x_pos=_first(metadata, X_UM), y_pos=_first(metadata, Y_UM))
        self._proc.frameReady(image, event, {"pixel_size_um": px})

    def _sr_metadata(self, metadata: dict, sr: np.ndarray) -> dict:
        md = copy.deepcopy(metadata)
        px = _first(metadata, (PIX_SIZE,))
        if px is not None:
            md[PIX_SIZE] = px / self.model.scale
        md["Height"], md["Width"] = int(sr.shape[-2]), int(sr.shape[-1])
        md["srscope"] = {"computed": True, "scale": self.model.scale, "model": self.model.meta.name}
        return md

    def close(self, timeout: float | None = None) -> bool:
        """End the SR stream and wait until every SR image is written (mode ``"beside"``)."""
        if not self._started or self._proc is None:
            return True
        self._proc.sequenceFinished(None)
        self._started = False
        ok = self._proc.wait(timeout)
        if self._proc.error:
            raise SrscopeError(f"on-the-fly SR failed: {self._proc.error}")
        return ok
