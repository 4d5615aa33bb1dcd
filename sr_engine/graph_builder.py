"""Build NCHW conv nets as ONNX graphs with ``onnx.helper``: no torch, no trained weights.

:class:`GraphBuilder` writes the ``lr`` -> ``sr`` graphs (dynamic N, H, W) that
:mod:`sr_engine.architectures` (random-weight copies of training's generators for
``srscope bench``) and :mod:`sr_engine.testing` (exact test models) are made of.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sr_engine.metadata import ModelMetadata, PercentileNormalization

OPSET = 17
INPUT, OUTPUT = "lr", "sr"


def default_metadata(scale: int = 4, channels: int | list[str] = 1, **kw: Any) -> ModelMetadata:
    """Metadata for a built model: 1.3 µm LR pixels, HR = LR / scale, percentile 1-99.8."""
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
