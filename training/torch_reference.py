"""PyTorch eager execution of an srscope ONNX graph, for the benchmark comparison only.

Here because only training imports torch: ``srscope bench`` (the command line
composes the two parts) hands :func:`eager_tiler` to :func:`sr_engine.bench.run_bench`,
which times it beside the engine. Runs the graph node by node with
``torch.nn.functional`` (what an ``nn.Module`` does in eager mode) with the same
weights, and tiles like Real-ESRGAN's ``tile_process`` (one tile at a time,
``tile_pad`` of real neighbouring pixels, output cropped).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

SUPPORTED = {
    "Conv", "BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Add", "Mul",
    "DepthToSpace", "Resize", "Identity", "Tanh", "Sigmoid", "Constant",
}  # fmt: skip


class TorchGraph:
    """Callable ``(N, C, H, W)`` tensor -> tensor, executing the ONNX nodes in eager torch."""

    def __init__(self, model: Any) -> None:
        import torch
        from onnx import numpy_helper

        graph = model.graph
        unsupported = {n.op_type for n in graph.node} - SUPPORTED
        if unsupported:
            raise NotImplementedError(f"ops not supported: {sorted(unsupported)}")
        self.weights = {
            t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer
        }
        self.nodes = list(graph.node)
        self.input = next(i.name for i in graph.input if i.name not in self.weights)
        self.output = graph.output[0].name

    def __call__(self, x: Any) -> Any:
        import torch
        import torch.nn.functional as F

        env = dict(self.weights)
        env[self.input] = x
        for node in self.nodes:
            a = {at.name: at for at in node.attribute}
            ins = [env[n] if n else None for n in node.input]
            op = node.op_type
            if op == "Constant":
                from onnx import numpy_helper

                y = torch.from_numpy(numpy_helper.to_array(a["value"].t).copy())
            elif op == "Conv":
                pads = list(a["pads"].ints) if "pads" in a else [0, 0, 0, 0]
                group = a["group"].i if "group" in a else 1
                y = F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                             padding=(pads[0], pads[1]), groups=group)  # fmt: skip
            elif op == "BatchNormalization":
                eps = a["epsilon"].f if "epsilon" in a else 1e-5
                y = F.batch_norm(ins[0], ins[3], ins[4], ins[1], ins[2], False, 0.0, eps)
            elif op == "Relu":
                y = F.relu(ins[0])
            elif op == "LeakyRelu":
                y = F.leaky_relu(ins[0], a["alpha"].f if "alpha" in a else 0.01)
            elif op == "PRelu":
                y = F.prelu(ins[0], ins[1].reshape(-1))
            elif op == "Add":
                y = ins[0] + ins[1]
            elif op == "Mul":
                y = ins[0] * ins[1]
            elif op == "DepthToSpace":
                y = F.pixel_shuffle(ins[0], a["blocksize"].i)
            elif op == "Resize":
                y = F.interpolate(ins[0], scale_factor=float(ins[2][-1]), mode="nearest")
            elif op == "Tanh":
                y = ins[0].tanh()
            elif op == "Sigmoid":
                y = ins[0].sigmoid()
            else:
                y = ins[0]
            env[node.output[0]] = y
        return env[self.output]


def tiled_eager(net: TorchGraph, img: np.ndarray, scale: int, tile: int, pad: int) -> np.ndarray:
    """Real-ESRGAN ``tile_process``: ``(C, H, W)`` normalised float32 -> ``(C, sH, sW)``."""
    import torch

    c, h, w = img.shape
    x = torch.from_numpy(np.ascontiguousarray(img))[None]
    out = torch.empty((1, c, h * scale, w * scale))
    with torch.inference_mode():
        for ty in range(math.ceil(h / tile)):
            for tx in range(math.ceil(w / tile)):
                y0, x0 = ty * tile, tx * tile
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                py0, px0 = max(y0 - pad, 0), max(x0 - pad, 0)
                py1, px1 = min(y1 + pad, h), min(x1 + pad, w)
                res = net(x[:, :, py0:py1, px0:px1])
                oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
                out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = res[
                    :, :, oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
                ]
    return out[0].numpy()


def eager_tiler(
    proto: Any, threads: int | None
) -> Callable[[np.ndarray, int, int, int], np.ndarray]:
    """``run(img, scale, tile, pad)``: :func:`tiled_eager` of ``proto`` on ``threads`` threads.

    Raises ImportError without torch and NotImplementedError for a graph with ops
    :class:`TorchGraph` does not run (the benchmark notes either instead of a time).
    """
    import torch

    net = TorchGraph(proto)
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 2)))
    return lambda img, scale, tile, pad: tiled_eager(net, img, scale, tile, pad)
