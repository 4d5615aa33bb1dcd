"""Random-weight ONNX copies of training's two generators (``training/models.py``).

Same layers, built with ``onnx.helper`` so that benchmarks and ``srscope bench``
need neither torch nor a trained model:

- ``paper``: conv3×3+ReLU head, 16 residual blocks [conv3×3, BN, ReLU, conv3×3,
  BN] + shortcut, long skip, two (conv 64→256, pixel shuffle ×2, ReLU) stages,
  conv3×3 tail, plus the nearest-upsampled input (input skip); ~3.9 MFLOP per LR px.
- ``live``: the live preset — conv5×5 8, conv3×3 8, conv3×3 C·s², + a linear conv5×5 C·s²
  of the input (``linear_skip``), pixel shuffle, + input skip.
- ``srgan_export``: a standard SRGAN export from elsewhere (9×9 head and PReLU, PReLU
  after each pixel shuffle, a 9×9 HR tail to C channels, no input skip).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sr_engine.graph_builder import INPUT, GraphBuilder, default_metadata
from sr_engine.metadata import ModelMetadata, attach_metadata


def paper_generator(
    channels: int = 1,
    *,
    scale: int = 4,
    blocks: int = 16,
    features: int = 64,
    head_kernel: int = 3,
    input_skip: bool = True,
    seed: int = 0,
    meta: ModelMetadata | None = None,
) -> Any:
    """The paper's generator with random weights (BN kept in the graph: ORT folds it)."""
    g = GraphBuilder(channels, seed)
    f = features
    head = g.op("Relu", [g.conv(INPUT, channels, f, head_kernel)])
    x = head
    for _ in range(blocks):
        y = g.op("Relu", [g.batchnorm(g.conv(x, f, f, 3), f)])
        y = g.batchnorm(g.conv(y, f, f, 3, gain=0.1), f)
        x = g.op("Add", [x, y])
    x = g.op("Add", [x, head])
    for s in [2, 2] if scale == 4 else [scale]:
        x = g.op("Relu", [g.pixel_shuffle(g.conv(x, f, s * s * f, 3), s)])
    out = g.conv(x, f, channels, head_kernel, gain=0.1)
    if input_skip:
        out = g.op("Add", [out, g.resize_nearest(INPUT, float(scale))])
    model = g.build(out, "paper-generator")
    return attach_metadata(model, meta or default_metadata(scale, channels, name="paper (random)"))


def live_espcn(
    channels: int = 1,
    scale: int = 4,
    *,
    features: int = 8,
    layers: int = 3,
    input_skip: bool = True,
    linear_skip: bool = True,
    seed: int = 0,
    meta: ModelMetadata | None = None,
) -> Any:
    """ESPCN-like live model with random weights; ``linear_skip`` adds the live preset's
    learned linear 5×5 path from the input to every sub-pixel."""
    g = GraphBuilder(channels, seed)
    x = g.op("Relu", [g.conv(INPUT, channels, features, 5)])
    for _ in range(layers - 2):
        x = g.op("Relu", [g.conv(x, features, features, 3)])
    x = g.conv(x, features, channels * scale * scale, 3, gain=0.3)
    if linear_skip:
        x = g.op("Add", [x, g.conv(INPUT, channels, channels * scale * scale, 5, gain=0.3)])
    x = g.pixel_shuffle(x, scale)
    if input_skip:
        x = g.op("Add", [x, g.resize_nearest(INPUT, float(scale))])
    model = g.build(x, "live-espcn")
    return attach_metadata(model, meta or default_metadata(scale, channels, name="live (random)"))


def srgan_export(
    channels: int = 1,
    *,
    blocks: int = 16,
    features: int = 64,
    tail_kernel: int = 9,
    shuffle_mode: str = "CRD",
    seed: int = 0,
    meta: ModelMetadata | None = None,
) -> Any:
    """A foreign ×4 SRGAN generator as commonly exported (per-channel PReLU after each
    pixel shuffle, a ``tail_kernel`` HR conv with ``channels`` outputs)."""
    g = GraphBuilder(channels, seed)
    f = features
    head = g.prelu(g.conv(INPUT, channels, f, 9), f)
    x = head
    for _ in range(blocks):
        y = g.prelu(g.batchnorm(g.conv(x, f, f, 3), f), f)
        y = g.batchnorm(g.conv(y, f, f, 3, gain=0.1), f)
        x = g.op("Add", [x, y])
    x = g.op("Add", [g.batchnorm(g.conv(x, f, f, 3), f), head])
    for _ in range(2):
        x = g.op("DepthToSpace", [g.conv(x, f, 4 * f, 3)], "d2s", blocksize=2, mode=shuffle_mode)
        slope = (0.1 + 0.2 * g.rng.random((f, 1, 1))).astype(np.float32)
        x = g.op("PRelu", [x, g.const(slope, "slope")], "prelu")
    out = g.conv(x, f, channels, tail_kernel, gain=0.1)
    model = g.build(out, "srgan-export")
    return attach_metadata(model, meta or default_metadata(4, channels, name="srgan (random)"))
