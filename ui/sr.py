"""SR for the viewer: the live model on whole frames, the full model on the visible region.

Thin layer over the engine's public API (``sr_engine``): which models exist,
whether a model fits the rig's channel, and two one-slot workers (newest frame
wins) so the GUI thread never runs a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.models import Frame
from sr_engine.bundled import bundled_models
from sr_engine.compatibility import Fit, ModelMismatch, check_fit
from sr_engine.live import LiveProcessor
from sr_engine.metadata import ModelMetadata, read_metadata
from srscope.errors import SrscopeError
from srscope.relay import LatestSlot
from ui.panes import Region
from ui.slots import OneSlotWorker

#: the viewer's name for a model that does not fit the rig's channel
ChannelMismatchError = ModelMismatch


def check_channel(meta: ModelMetadata, rig_channel: str, model_name: str = "model") -> Fit:
    """Refuse a single-channel frame of ``rig_channel`` for a model of other channels
    (a generalist fits any channel of its modality)."""
    return check_fit(meta, channel=rig_channel, model_name=model_name)


def higher_fidelity_model(models: dict[str, Path], channel: str, live: ModelMetadata) -> str | None:
    """The offered model to run on the zoomed view instead of the live one, or None.

    A model of a higher tier that fits ``channel`` (``balanced_fluo`` for DAPI, the
    generalist of the channel's modality otherwise); see
    :func:`ui.sr_budget.pick_higher_fidelity`.
    """
    from ui.sr_budget import pick_higher_fidelity

    candidates: dict[str, tuple[ModelMetadata, str]] = {}
    for name, path in models.items():
        try:
            meta = read_metadata(path)
            fit = check_fit(meta, channel=channel)
        except SrscopeError:
            continue
        candidates[name] = (meta, fit.how)
    return pick_higher_fidelity(candidates, live)


def model_choices(extra: list[Path] | None = None) -> dict[str, Path]:
    """Bundled models by name, plus user files by file name."""
    choices = dict(bundled_models())
    for path in extra or []:
        choices[path.name] = path
    return choices


def load_model(path: Path, threads: int | None = None) -> Any:
    """An engine model (``sr_engine.SRModel``) for ``path``."""
    from sr_engine.bundled import open_model

    return open_model(path, threads=threads)


@dataclass
class LoadedModel:
    path: Path
    meta: ModelMetadata
    model: Any

    @property
    def name(self) -> str:
        return self.meta.name or self.path.stem

    @property
    def scale(self) -> int:
        return self.meta.scale

    @classmethod
    def open(cls, path: Path, threads: int | None = None) -> LoadedModel:
        meta = read_metadata(path)
        return cls(path=Path(path), meta=meta, model=load_model(path, threads))

    def predict(self, frame: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(frame), dtype=np.float32)

    def predict_region(self, frame: np.ndarray, region: Region) -> np.ndarray:
        """SR of ``region`` (x0, y0, x1, y1 in LR px) with the context the model needs."""
        x0, y0, x1, y1 = region
        return np.asarray(self.model.predict_region(frame, (y0, y1, x0, x1)), dtype=np.float32)


class FrameSR:
    """Live SR of the newest frame (the engine's LiveProcessor), within a frame budget.

    Whole frames with the live model; with a ``hifi`` model and a region set
    (:meth:`set_region`, the viewer decides by :func:`ui.sr_budget.plan_frame`),
    frames go to a second processor that runs ``hifi`` on that region only.
    A frame keeps its metadata: the LR :class:`~acquisition.models.Frame` rides
    through the engine's newest-wins processor and comes back beside its SR.
    """

    def __init__(self, model: LoadedModel, hifi: LoadedModel | None = None) -> None:
        self.model = model
        self.hifi = hifi
        # (the LR frame, its SR): the pair also feeds the consistency map
        self.results: LatestSlot[tuple[Frame, np.ndarray]] = LatestSlot()
        # (the region it was asked for, the hifi SR of that region)
        self.region_results: LatestSlot[tuple[Region, np.ndarray]] = LatestSlot()
        self.errors: LatestSlot[str] = LatestSlot()
        self.region: Region | None = None
        self.processor = LiveProcessor(model.model)
        self.processor.frameReady.connect(self._on_ready)
        self.processor.errorOccurred.connect(self.errors.put)
        self.processor.start()
        self.hifi_processor: LiveProcessor | None = None
        if hifi is not None:
            self.hifi_processor = LiveProcessor(hifi.model)
            self.hifi_processor.frameReady.connect(self._on_region_ready)
            self.hifi_processor.errorOccurred.connect(self.errors.put)
            self.hifi_processor.start()

    @property
    def showing(self) -> LoadedModel:
        """The model that computes the frames now."""
        return self.hifi if self.region is not None and self.hifi is not None else self.model

    def set_region(self, region: Region | None) -> None:
        """The hifi model on ``region`` (x0, y0, x1, y1 LR px) from the next frame; None: the
        live model on whole frames."""
        if self.hifi_processor is None:
            region = None
        self.region = region
        if self.hifi_processor is not None and region is not None:
            x0, y0, x1, y1 = region
            self.hifi_processor.set_region((y0, y1, x0, x1))

    def _on_ready(self, sr: np.ndarray, info: Any) -> None:
        self.results.put((info.meta, sr))

    def _on_region_ready(self, sr: np.ndarray, info: Any) -> None:
        region = info.meta
        x0, y0, x1, y1 = region
        s = self.hifi.scale if self.hifi is not None else 1
        # the processor may have picked up a newer region than the frame was sent for
        if sr.shape[:2] == (s * (y1 - y0), s * (x1 - x0)):
            self.region_results.put((region, sr))

    def submit(self, frame: Frame) -> None:
        region = self.region
        if region is not None and self.hifi_processor is not None:
            self.hifi_processor.push(frame.image, meta=region)
        else:
            self.processor.push(frame.image, meta=frame)

    def stats(self) -> dict[str, float]:
        proc = self.processor
        if self.region is not None and self.hifi_processor is not None:
            proc = self.hifi_processor
        s = proc.stats()
        return {
            "sr_fps": s.fps,
            "latency_p50_ms": s.latency_p50_ms,
            "latency_p95_ms": s.latency_p95_ms,
            "sr_dropped": float(s.dropped),
            "sr_processed": float(s.processed),
        }

    def stop(self) -> None:
        self.processor.frameReady.disconnect(self._on_ready)
        self.processor.stop()
        if self.hifi_processor is not None:
            self.hifi_processor.frameReady.disconnect(self._on_region_ready)
            self.hifi_processor.stop()


class ViewportSR:
    """Full-quality SR of the region on screen, newest request wins."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.worker: OneSlotWorker[tuple[np.ndarray, Region], np.ndarray] = OneSlotWorker(
            lambda item: model.predict_region(item[0], item[1]), name="srscope-sr-viewport"
        )

    def submit(self, frame: np.ndarray, region: Region) -> None:
        self.worker.submit((frame, region))

    def stop(self) -> None:
        self.worker.stop()


class ConsistencyOverlay:
    """Where the SR disagrees with the LR frame: the engine's z-score map, as RGBA.

    Needs the model's degradation record (``srscope.degradation``); computed on
    its own newest-wins worker so the GUI thread never waits for it.
    """

    def __init__(self, model: LoadedModel, threshold: float = 3.0) -> None:
        if model.meta.degradation is None:
            raise SrscopeError(f"{model.name} carries no degradation record: no consistency map")
        self.record = model.meta.degradation
        self.threshold = threshold
        self.flagged_fraction = 0.0
        self.worker: OneSlotWorker[tuple[np.ndarray, np.ndarray], np.ndarray] = OneSlotWorker(
            self._rgba, name="srscope-consistency"
        )

    def _rgba(self, pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        from sr_engine.consistency import consistency_map

        lr, sr = pair
        cmap = consistency_map(sr, lr, self.record, threshold=self.threshold)
        flagged = cmap.flagged
        self.flagged_fraction = float(flagged.mean())
        rgba = np.zeros((*flagged.shape, 4), np.uint8)
        rgba[flagged] = (255, 40, 40, 255)
        return rgba

    def submit(self, lr: np.ndarray, sr: np.ndarray) -> None:
        self.worker.submit((lr, sr))

    def stop(self) -> None:
        self.worker.stop()


class BlendedModel:
    """MSE and GAN generators behind one model interface, blended by ``alpha``.

    The engine's fidelity dial (``sr_engine.fidelity``) with the parts of the
    model interface the live processor and the viewport need (``meta``,
    ``n_channels``, ``predict``, ``predict_region``); ``alpha`` may change any
    time (0: MSE, PSNR-faithful; 1: GAN, sharper texture).
    """

    def __init__(self, mse: LoadedModel, gan: LoadedModel, alpha: float = 0.5) -> None:
        from sr_engine.fidelity import FidelityDial

        self.dial = FidelityDial(mse.model, gan.model, alpha)
        self.mse, self.gan = mse, gan
        self.meta = mse.model.meta
        self.n_channels = mse.model.n_channels
        self.scale = mse.model.scale
        self.source = f"{mse.path.name} ⊕ {gan.path.name}"

    @property
    def alpha(self) -> float:
        return self.dial.alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        self.dial.alpha = value

    def predict(self, image: np.ndarray, **kw: Any) -> np.ndarray:
        return self.dial.predict(image, **kw)

    def predict_region(self, image: np.ndarray, region: Any, **kw: Any) -> np.ndarray:
        from sr_engine.fidelity import blend

        a = self.dial.alpha
        if a == 0.0:
            return self.mse.model.predict_region(image, region, **kw)
        if a == 1.0:
            return self.gan.model.predict_region(image, region, **kw)
        return blend(
            self.mse.model.predict_region(image, region, **kw),
            self.gan.model.predict_region(image, region, **kw),
            a,
        )

    def loaded(self) -> LoadedModel:
        """As a :class:`LoadedModel` (for FrameSR / ViewportSR)."""
        return LoadedModel(path=self.mse.path, meta=self.meta, model=self)
