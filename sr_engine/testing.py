"""Tiny ONNX models with correct ``srscope.*`` metadata, built with ``onnx.helper``.

Used by tests across the project (exact checks: nearest-neighbour upsampling is a
known function); production code never imports it. The graphs are made with
:class:`sr_engine.graph_builder.GraphBuilder`, re-exported here. No torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sr_engine.graph_builder import INPUT, OPSET, OUTPUT, GraphBuilder, default_metadata
from sr_engine.metadata import ModelMetadata, attach_metadata

__all__ = [
    "INPUT",
    "OPSET",
    "OUTPUT",
    "GraphBuilder",
    "default_metadata",
    "nearest_model",
    "save_model",
]


def nearest_model(
    scale: int = 4,
    channels: int = 1,
    *,
    n_conv: int = 0,
    seed: int = 0,
    actual_scale: int | None = None,
    meta: ModelMetadata | None = None,
    **meta_kw: Any,
) -> Any:
    """Nearest-neighbour ×scale upsampling, optionally after ``n_conv`` 3×3 convs.

    With ``n_conv=0`` the model is exactly ``np.repeat`` (exact checks). Each conv
    (random weights, ReLU between) widens the receptive field by 1 LR pixel per
    side, so tiles that cut through structure would show seams if overlap were
    wrong. ``actual_scale`` builds a deliberately inconsistent model.
    """
    g = GraphBuilder(channels, seed)
    x = INPUT
    width = 8
    cin = channels
    for i in range(n_conv):
        last = i == n_conv - 1
        cout = channels if last else width
        x = g.conv(x, cin, cout, 3, gain=0.5 if last else 1.0)
        if not last:
            x = g.op("Relu", [x])
        cin = cout
    x = g.resize_nearest(x, float(actual_scale or scale))
    model = g.build(x)
    meta = meta or default_metadata(scale, channels, **meta_kw)
    return attach_metadata(model, meta)


def save_model(model: Any, path: str | os.PathLike) -> Path:
    """Save as one self-contained file."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path
