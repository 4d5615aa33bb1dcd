"""Warm starts: a generator's weights recovered from an exported ``model.onnx``.

srscope's exports keep the torch parameter names on the ONNX initializers, so a
bundled model (or any srscope export without batch norm) is also its own
fine-tuning checkpoint: nothing extra to ship, and nothing executable to load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from sr_engine.metadata import ModelMetadata, props_of
from srscope.errors import SrscopeError


def init_model(path: str | Path) -> tuple[dict[str, torch.Tensor], ModelMetadata]:
    """The named weights and the metadata of an srscope ONNX export."""
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError / various on garbage
        raise SrscopeError(f"cannot read --init model {path}: {type(exc).__name__}") from None
    meta = ModelMetadata.from_props(props_of(proto), str(path))
    weights = {
        i.name: torch.from_numpy(np.array(numpy_helper.to_array(i), dtype=np.float32))
        for i in proto.graph.initializer
    }
    return weights, meta


def load_into(generator: torch.nn.Module, weights: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``weights`` into ``generator``; every parameter must be there with its shape."""
    state = generator.state_dict()
    missing = [k for k in state if k not in weights]
    wrong = [k for k in state if k in weights and weights[k].shape != state[k].shape]
    if missing or wrong:
        what = f"missing {missing[:3]}" if missing else f"other shapes for {wrong[:3]}"
        raise SrscopeError(
            f"cannot warm-start from {source}: its weights do not fit this generator ({what}); "
            "was it made by srscope with the same preset?"
        )
    generator.load_state_dict({k: weights[k] for k in state})
