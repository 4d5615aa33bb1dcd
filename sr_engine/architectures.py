"""Random-weight ONNX copies of the two generator architectures (for benchmarks).

Same layers as training's generators, built with ``onnx.helper`` so that
benchmarks and ``srscope bench`` need neither torch nor a trained model:

- ``paper``: SRResNet/SRGAN generator — 9×9 head, 16 residual blocks of
  (conv3×3, BN, PReLU, conv3×3, BN), conv+BN with a global skip, two
  (conv 64→256, pixel shuffle ×2, PReLU) stages, 9×9 tail; ~4.1 MFLOP per LR pixel.
- ``live``: ESPCN-like — conv5×5 64, conv3×3 32, conv3×3 C·s², pixel shuffle.
"""

from __future__ import annotations

from typing import Any

from sr_engine.metadata import ModelMetadata, attach_metadata
from sr_engine.testing import INPUT, GraphBuilder, default_metadata


def paper_generator(
    channels: int = 1,
    *,
    blocks: int = 16,
    features: int = 64,
    act: str = "prelu",
    seed: int = 0,
    meta: ModelMetadata | None = None,
) -> Any:
    """The paper's ×4 generator with random weights (BN layers kept, as exported)."""
    g = GraphBuilder(channels, seed)
    f = features

    def activation(x: str, c: int) -> str:
        return g.prelu(x, c) if act == "prelu" else g.op("Relu", [x])

    head = activation(g.conv(INPUT, channels, f, 9), f)
    x = head
    for _ in range(blocks):
        y = activation(g.batchnorm(g.conv(x, f, f, 3), f), f)
        y = g.batchnorm(g.conv(y, f, f, 3, gain=0.1), f)
        x = g.op("Add", [x, y])
    x = g.batchnorm(g.conv(x, f, f, 3), f)
    x = g.op("Add", [x, head])
    for _ in range(2):
        x = activation(g.pixel_shuffle(g.conv(x, f, 4 * f, 3), 2), f)
    out = g.conv(x, f, channels, 9, gain=0.1)
    model = g.build(out, "paper-generator")
    return attach_metadata(model, meta or default_metadata(4, channels, name="paper (random)"))


def live_espcn(
    channels: int = 1, scale: int = 4, *, seed: int = 0, meta: ModelMetadata | None = None
) -> Any:
    """ESPCN-like live model with random weights."""
    g = GraphBuilder(channels, seed)
    x = g.op("Relu", [g.conv(INPUT, channels, 64, 5)])
    x = g.op("Relu", [g.conv(x, 64, 32, 3)])
    x = g.pixel_shuffle(g.conv(x, 32, channels * scale * scale, 3, gain=0.3), scale)
    model = g.build(x, "live-espcn")
    return attach_metadata(model, meta or default_metadata(scale, channels, name="live (random)"))
