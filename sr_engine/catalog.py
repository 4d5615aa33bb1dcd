"""What the bundled models are: tier, channels, cost, speed here, and their held-out scores.

``srscope models`` prints this so a user can choose a model (and see why not just
deconvolve) without opening ONNX files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx

from sr_engine.bundled import bundled_models
from sr_engine.compatibility import modality_of
from sr_engine.flops import flops_per_lr_pixel
from sr_engine.metadata import ModelMetadata, props_of


def modality(channels: list[str]) -> str:
    """``brightfield`` when every channel is a brightfield name (or RGB), else ``fluorescence``."""
    return "brightfield" if modality_of(channels) == "brightfield" else "fluorescence"


def held_out_scores(meta: ModelMetadata) -> dict[str, dict[str, float]]:
    """``{method: {psnr, ssim}}`` of the model's held-out real-capture evaluation, if recorded."""
    held = meta.metrics.get("held_out_real_5x_vs_20x") or {}
    rows = held.get("table") or []
    return {
        r["method"]: {"psnr": round(r["psnr_mean"], 2), "ssim": round(r["ssim_mean"], 4)}
        for r in rows
    }


def describe(name: str, path: Path, fps_side: int | None = 512, seconds: float = 2.0) -> dict:
    """One row of the catalogue; ``fps_side`` None skips the speed measurement."""
    proto = onnx.load(str(path))
    meta = ModelMetadata.from_props(props_of(proto), str(path))
    row: dict[str, Any] = {
        "name": name,
        "tier": meta.tier or "unknown",
        "modality": modality(meta.channels),
        "channels": meta.channels,
        "scale": meta.scale,
        "lr_pixel_size_um": meta.lr_pixel_size_um,
        "kflop_per_lr_px": round(flops_per_lr_pixel(proto, meta.n_channels) / 1e3, 1),
        "size_kb": round(path.stat().st_size / 1024, 1),
        "degradation": meta.degradation.psf.describe() if meta.degradation else None,
        "held_out": held_out_scores(meta),
        "trained_on": meta.description,
    }
    if fps_side:
        from sr_engine.bench_timing import live_fps
        from sr_engine.model import SRModel

        row["fps_512"] = live_fps(SRModel(path), fps_side, seconds)["fps"]
    return row


def catalogue(fps_side: int | None = 512) -> list[dict]:
    return [describe(n, p, fps_side) for n, p in bundled_models().items()]


def format_row(r: dict) -> str:
    scores = "; ".join(
        f"{m} {s['psnr']:.2f} dB / {s['ssim']:.3f}" for m, s in r["held_out"].items()
    )
    fps = f", {r['fps_512']:.1f} fps at 512²" if "fps_512" in r else ""
    return (
        f"{r['name']}: {r['tier']} tier, {r['modality']} ({', '.join(r['channels'])}), "
        f"×{r['scale']} from {r['lr_pixel_size_um']:g} µm/px, {r['kflop_per_lr_px']:g} kFLOP/LR px"
        f"{fps}, {r['size_kb']:g} kB\n  held-out real capture: {scores or 'not recorded'}\n"
        f"  trained on: {r['trained_on']}"
    )
