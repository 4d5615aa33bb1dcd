"""Runs a trained model on CPU (ONNX Runtime, or OpenVINO where installed). Never imports torch.

Public API (imported lazily, so ``srscope --help`` stays fast)::

    from sr_engine import SRModel, LiveProcessor, predict_file
    model = SRModel("model.onnx")               # validated, ORT fp32 backend ready
    model = SRModel("model.onnx", backend="auto")   # fastest backend that matches ORT fp32
    sr = model.predict(image)                   # (Y,X) (C,Y,X) (Z,Y,X) (Z,C,Y,X), tiled
    part = model.predict_region(image, (y0, y1, x0, x1))   # viewport SR
    predict_file(model, "in.ome.tif", "out.ome.zarr")       # larger than memory, resumable
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Backend": "backend",
    "BackendUnavailable": "backend",
    "BackendChoice": "backend_select",
    "bundled_model": "bundled",
    "bundled_models": "bundled",
    "FrameInfo": "live",
    "LiveProcessor": "live",
    "LiveStats": "live",
    "FixedNormalization": "metadata",
    "ModelMetadata": "metadata",
    "ModelMetadataError": "metadata",
    "PercentileNormalization": "metadata",
    "attach_metadata": "metadata",
    "read_metadata": "metadata",
    "ModelError": "model",
    "SRModel": "model",
    "Normalizer": "normalize",
    "fit_normalizer": "normalize",
    "predict": "predict",
    "predict_region": "predict",
    "StreamResult": "stream",
    "predict_file": "stream",
    "Tile": "tiling",
    "TilingError": "tiling",
    "iter_tiles": "tiling",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"sr_engine.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'sr_engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
