"""``srscope train`` as a function: data → training run → exported, checked ``model.onnx``."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from sr_engine.metadata import ModelMetadata, PercentileNormalization
from srscope import __version__, logger
from srscope.degradation import DegradationRecord
from srscope.errors import SrscopeError
from training.config import TrainConfig
from training.export import export_model
from training.images import load_sources
from training.trainer import Trainer, TrainResult


@dataclass
class TrainOutput:
    model: Path
    result: TrainResult
    meta: ModelMetadata
    export_diff: float


def default_workdir(out: Path) -> Path:
    return out.with_name(out.stem + ".train")


def train_model(
    data: str | Path | list[str | Path],
    degradation: str | Path | DegradationRecord,
    out: str | Path,
    cfg: TrainConfig,
    *,
    workdir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    hr_pixel_size_um: float | None = None,
    channel_names: list[str] | None = None,
    name: str | None = None,
    description: str = "",
) -> TrainOutput:
    """Train on a reference set or an image folder and export ``out`` with full metadata."""
    out = Path(out)
    record = (
        degradation
        if isinstance(degradation, DegradationRecord)
        else DegradationRecord.load(degradation)
    )
    if record.scale != cfg.scale:
        cfg = cfg.model_copy(update={"scale": record.scale})
    sources, refs = load_sources(data, cfg.channel, cfg.stack_channels)
    hr_px = hr_pixel_size_um
    if hr_px is None and refs is not None:
        hr_px = refs.entries[0].hr.pixel_size_um
        lr_sizes = {e.lr.pixel_size_um for e in refs.entries if e.lr is not None}
        if refs.scale != record.scale:
            raise SrscopeError(
                f"reference set scale {refs.scale} != degradation record scale {record.scale}"
            )
        if lr_sizes and any(abs(v / hr_px - record.scale) > 0.01 * record.scale for v in lr_sizes):
            raise SrscopeError(
                f"LR pixel sizes {sorted(lr_sizes)} µm are not {record.scale}× HR {hr_px} µm"
            )
    if hr_px is None:
        raise SrscopeError("an image folder has no pixel size: pass --hr-pixel-size-um")
    names = channel_names or _channel_names(sources, refs is not None and not cfg.stack_channels)
    if len(names) != sources[0].image.shape[0]:
        raise SrscopeError(
            f"{len(names)} channel names for {sources[0].image.shape[0]}-channel images"
        )
    trainer = Trainer(sources, record, cfg, workdir or default_workdir(out), progress=progress)
    result = trainer.run(resume=resume)
    meta = ModelMetadata(
        scale=record.scale,
        channels=names,
        normalization=PercentileNormalization(
            low=cfg.normalization_low, high=cfg.normalization_high
        ),
        lr_pixel_size_um=hr_px * record.scale,
        hr_pixel_size_um=hr_px,
        degradation=record,
        training=provenance(data, sources, cfg, result),
        metrics={k: round(float(v), 4) for k, v in result.metrics.items()},
        name=name or out.stem,
        description=description
        or f"srscope {cfg.preset} generator, ×{record.scale}, trained on {_data_names(data)}",
    )
    path, diff, meta = export_model(result.generator, meta, out)
    logger.info("exported %s (ORT vs torch: %.1e of range)", path, diff)
    return TrainOutput(path, result, meta, diff)


def _data_names(data: str | Path | list[str | Path]) -> str:
    items = data if isinstance(data, list) else [data]
    return ", ".join(Path(d).name for d in items)


def _channel_names(sources: list, per_channel_refs: bool) -> list[str]:
    """One name per model channel; a single-channel model trained on several channels
    of a reference set is named after all of them (``"DAPI|TRITC"``)."""
    if per_channel_refs:
        seen = sorted({s.channels[0] for s in sources})
        return ["|".join(seen)]
    return list(sources[0].channels)


def provenance(
    data: str | Path | list[str | Path], sources: list, cfg: TrainConfig, result: TrainResult
) -> dict:
    """How the model was made, for ``srscope.training``."""
    return {
        "data": [str(d) for d in data] if isinstance(data, list) else str(data),
        "images": [s.name for s in sources][:50],
        "n_images": len(sources),
        "config": cfg.model_dump(mode="json"),
        "iterations": result.iteration,
        "best_iteration": result.metrics.get("best_iteration"),
        "losses": {
            "mse": cfg.loss.mse,
            "vgg": result.vgg_loss,
            "adversarial": (
                f"{cfg.loss.adversarial:g} after {cfg.warmup_iterations} MSE-only iterations"
                if cfg.adversarial
                else "off"
            ),
        },
        "seed": cfg.seed,
        "srscope_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
    }
