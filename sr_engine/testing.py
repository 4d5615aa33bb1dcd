"""Tiny ONNX models with correct ``srscope.*`` metadata, built with ``onnx.helper``.

Used by tests across the project (exact checks: nearest-neighbour upsampling is a
known function) and by the benchmark (random-weight copies of the real
architectures). No torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from sr_engine.metadata import ModelMetadata, PercentileNormalization, attach_metadata

OPSET = 17
INPUT, OUTPUT = "lr", "sr"


def default_metadata(scale: int = 4, channels: int | list[str] = 1, **kw: Any) -> ModelMetadata:
    """Metadata for a test model: 1.3 µm LR pixels, HR = LR / scale."""
    names = [f"ch{i}" for i in range(channels)] if isinstance(channels, int) else list(channels)
    data: dict[str, Any] = {
        "scale": scale,
        "channels": names,
        "normalization": PercentileNormalization(low=1.0, high=99.8),
        "lr_pixel_size_um": 1.3,
        "hr_pixel_size_um": 1.3 / scale,
        "name": "test",
    }
    data.update(kw)
    return ModelMetadata.model_validate(data)


class GraphBuilder:
    """Accumulates nodes and initializers of an NCHW conv net with dynamic N, H, W."""

    def __init__(self, channels: int, seed: int = 0) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.channels = channels
        self.rng = np.random.default_rng(seed)
        self._n = 0

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, value: np.ndarray, stem: str = "c") -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        out = self.name(stem or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(
        self, x: str, cin: int, cout: int, k: int, *, bias: bool = True, gain: float = 1.0
    ) -> str:
        """'same' k×k convolution with He-initialised random weights."""
        std = gain * np.sqrt(2.0 / (cin * k * k))
        w = (self.rng.standard_normal((cout, cin, k, k)) * std).astype(np.float32)
        ins = [x, self.const(w, "w")]
        if bias:
            ins.append(self.const((self.rng.standard_normal(cout) * 0.01).astype(np.float32), "b"))
        p = k // 2
        return self.op("Conv", ins, "conv", kernel_shape=[k, k], pads=[p, p, p, p])

    def batchnorm(self, x: str, c: int) -> str:
        scale = (1.0 + 0.1 * self.rng.standard_normal(c)).astype(np.float32)
        bias = (0.01 * self.rng.standard_normal(c)).astype(np.float32)
        mean = (0.01 * self.rng.standard_normal(c)).astype(np.float32)
        var = (1.0 + 0.1 * np.abs(self.rng.standard_normal(c))).astype(np.float32)
        ins = [x, *(self.const(v, "bn") for v in (scale, bias, mean, var))]
        return self.op("BatchNormalization", ins, "bn", epsilon=1e-5)

    def prelu(self, x: str, c: int) -> str:
        slope = np.full((c, 1, 1), 0.25, dtype=np.float32)
        return self.op("PRelu", [x, self.const(slope, "slope")], "prelu")

    def pixel_shuffle(self, x: str, r: int) -> str:
        return self.op("DepthToSpace", [x], "d2s", blocksize=r, mode="CRD")

    def resize_nearest(self, x: str, scale: float) -> str:
        scales = self.const(np.array([1, 1, scale, scale], dtype=np.float32), "scales")
        roi = self.const(np.zeros(0, dtype=np.float32), "roi")
        return self.op(
            "Resize",
            [x, roi, scales],
            "resize",
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )

    def build(self, out: str, name: str = "srscope-test") -> Any:
        from onnx import TensorProto, helper

        c = self.channels
        self.nodes.append(helper.make_node("Identity", [out], [OUTPUT]))
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", c, "H", "W"])],
            [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", c, "H2", "W2"])],
            initializer=self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        return model


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
