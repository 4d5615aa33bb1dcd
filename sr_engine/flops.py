"""Count a model's FLOPs from its ONNX graph (Conv/ConvTranspose/MatMul/Gemm MACs x 2)."""

from __future__ import annotations

from typing import Any

import numpy as np


def count_flops(
    model: Any, height: int = 64, width: int = 64, n_channels: int | None = None
) -> int:
    """FLOPs of one ``(1, C, height, width)`` forward pass (multiply-adds count 2)."""
    import onnx
    from onnx import shape_inference

    model = onnx.ModelProto.FromString(
        model if isinstance(model, bytes) else model.SerializeToString()
    )
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    inp = next(i for i in graph.input if i.name not in inits)
    dims = inp.type.tensor_type.shape.dim
    c = n_channels or (dims[1].dim_value if dims[1].HasField("dim_value") else 1)
    for d, v in zip(dims, (1, c, height, width), strict=True):
        d.ClearField("dim_param")
        d.dim_value = v
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, tuple[int, ...]] = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        shapes[vi.name] = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
    for name, t in inits.items():
        shapes[name] = tuple(t.dims)
    macs = 0
    for node in inferred.graph.node:
        if node.op_type in ("Conv", "ConvTranspose"):
            w = shapes[node.input[1]]
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if node.op_type == "Conv":
                out = shapes[node.output[0]]
                macs += int(np.prod(out)) * int(np.prod(w[1:]))
            else:
                x = shapes[node.input[0]]
                macs += int(np.prod(x)) * int(np.prod(w[1:])) // max(group, 1) * group
        elif node.op_type in ("MatMul", "Gemm"):
            a, out = shapes[node.input[0]], shapes[node.output[0]]
            macs += int(np.prod(out)) * int(a[-1])
    return 2 * macs


def flops_per_lr_pixel(model: Any, n_channels: int | None = None, size: int = 64) -> float:
    return count_flops(model, size, size, n_channels) / (size * size)
