"""Working-memory estimate of a model per LR pixel, from its graph (for auto tile size)."""

from __future__ import annotations

import numpy as np

from srscope import logger

_PROBE = 64
# ORT keeps inputs of a node alive while writing its output and adds NCHWc
# reorder buffers and arena slack: a factor over the largest node footprint.
SAFETY = 2.5


def estimate_bytes_per_lr_pixel(model_bytes: bytes, n_channels: int) -> float:
    """Largest (inputs + outputs) activation footprint of any node, per LR pixel.

    Every graph input gets N=1 and a 64×64 LR size (its channel count is kept,
    or ``n_channels`` when symbolic).
    """
    import onnx
    from onnx import shape_inference

    model = onnx.load_model_from_string(model_bytes)
    graph = model.graph
    init = {t.name for t in graph.initializer}
    for inp in graph.input:
        if inp.name in init:
            continue
        for k, d in enumerate(inp.type.tensor_type.shape.dim):
            if d.HasField("dim_value"):
                continue
            d.ClearField("dim_param")
            d.dim_value = {0: 1, 1: n_channels}.get(k, _PROBE)
    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # pragma: no cover - exotic graphs
        logger.warning("shape inference failed (%s); using a coarse memory estimate", exc)
        return 64.0 * 16 * 4 * SAFETY
    sizes: dict[str, int] = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        shape = vi.type.tensor_type.shape.dim
        if shape and all(d.HasField("dim_value") for d in shape):
            sizes[vi.name] = int(np.prod([d.dim_value for d in shape])) * 4
    peak = 0
    for node in inferred.graph.node:
        total = sum(sizes.get(n, 0) for n in node.input if n not in init)
        total += sum(sizes.get(n, 0) for n in node.output)
        peak = max(peak, total)
    if peak == 0:
        return 64.0 * 16 * 4 * SAFETY
    return SAFETY * peak / (_PROBE * _PROBE)
