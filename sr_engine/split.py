"""Split a pixel-shuffle generator into an LR trunk and an HR tail, run the tail in sub-tiles.

Most of a generator runs at LR resolution with 64 channels (a few hundred
bytes per LR pixel), but its upsampling tail holds 64–256-channel tensors at 2×
and 4× resolution (about 18 KB per LR pixel in ONNX Runtime). Running the
graph as one piece makes that tail set the tile size, and small tiles pay a
large overlap. Cut at the tensor feeding the first upsampling conv: the trunk
runs on big windows, the tail (receptive field of a few LR pixels) on
sub-windows of the trunk's features with the real neighbouring features as
context — the same function, with far less memory per window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# split only graphs needing more than this per LR pixel (the paper model: ~20 KB)
SPLIT_MIN_BYTES = 4096


@dataclass(frozen=True)
class SplitGraphs:
    trunk: Any  # onnx.ModelProto: lr -> features
    tail: Any  # onnx.ModelProto: (features[, lr]) -> sr
    features: str
    n_features: int
    tail_uses_input: bool


def _needed(graph: Any, outputs: list[str], stop: set[str]) -> list[Any]:
    producers = {o: n for n in graph.node for o in n.output}
    keep: set[int] = set()
    todo = list(outputs)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name in stop or name not in producers:
            continue
        seen.add(name)
        node = producers[name]
        keep.add(id(node))
        todo.extend(i for i in node.input if i)
    return [n for n in graph.node if id(n) in keep]


def split_graph(model: Any) -> SplitGraphs | None:
    """Cut before the first upsampling conv (Conv → [pointwise] → DepthToSpace), or None."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    d2s = next((n for n in graph.node if n.op_type == "DepthToSpace"), None)
    if d2s is None:
        return None
    node = producers.get(d2s.input[0])
    while node is not None and node.op_type in ("Relu", "LeakyRelu", "Clip", "Add"):
        node = producers.get(node.input[0])
    if node is None or node.op_type != "Conv" or node.input[1] not in inits:
        return None
    features = node.input[0]
    n_features = int(numpy_helper.to_array(inits[node.input[1]]).shape[1])
    lr = next(i for i in graph.input if i.name not in inits)
    out = graph.output[0]

    trunk_nodes = _needed(graph, [features], {lr.name})
    tail_nodes = _needed(graph, [out.name], {features, lr.name})
    tail_inputs = {i for n in tail_nodes for i in n.input}
    uses_lr = lr.name in tail_inputs
    if not trunk_nodes or features not in {o for n in trunk_nodes for o in n.output}:
        return None

    def used_inits(nodes: list[Any]) -> list[Any]:
        names = {i for n in nodes for i in n.input}
        return [t for name, t in inits.items() if name in names]

    feat_info = helper.make_tensor_value_info(
        features, TensorProto.FLOAT, ["N", n_features, "H", "W"]
    )
    opset = list(model.opset_import)

    def make(nodes: list[Any], inputs: list[Any], outputs: list[Any], name: str) -> Any:
        g = helper.make_graph(nodes, name, inputs, outputs, initializer=used_inits(nodes))
        m = helper.make_model(g, opset_imports=opset)
        m.ir_version = model.ir_version
        return m

    trunk = make(trunk_nodes, [lr], [feat_info], "trunk")
    tail = make(tail_nodes, [feat_info, lr] if uses_lr else [feat_info], [out], "tail")
    return SplitGraphs(trunk, tail, features, n_features, uses_lr)


def tail_windows(
    length: int, core: int, overlap: int, span: tuple[int, int] | None = None
) -> list[tuple[int, int, int, int]]:
    """``(read0, read1, core0, core1)`` covering ``span`` (default ``[0, length)``) evenly.

    Windows read their context from ``[0, length)`` and are clipped there (not
    reflected), which keeps the tail's zero padding at the window border
    exactly as in the unsplit graph. Cores are spread evenly (no thin last
    window paying a full context).
    """
    start, stop = span if span is not None else (0, length)
    n = max(1, math.ceil((stop - start) / core))
    step = math.ceil((stop - start) / n)
    out = []
    for c0 in range(start, stop, step):
        c1 = min(stop, c0 + step)
        out.append((max(0, c0 - overlap), min(length, c1 + overlap), c0, c1))
    return out


class SplitRunner:
    """``run(batch)`` equal to the whole graph, with the tail in sub-windows."""

    def __init__(self, trunk: Any, tail: Any, graphs: SplitGraphs, scale: int) -> None:
        self.trunk, self.tail, self.graphs, self.scale = trunk, tail, graphs, scale
        self.trunk_in = trunk.get_inputs()[0].name
        self.tail_in = [i.name for i in tail.get_inputs()]
        self.tail_core = 128
        self.tail_overlap = 4
        self.tail_bytes = 0.0
        self.trunk_bytes = b""

    def configure(self, tail_bytes_per_px: float, budget: float, n_channels: int) -> None:
        """Tail window from a quarter of the memory budget; overlap from its receptive field."""
        side = int((budget / 4 / tail_bytes_per_px) ** 0.5)
        self.tail_core = max(32, min(512, side // 8 * 8))
        self.tail_overlap = self._tail_receptive_field(n_channels)  # exact: no margin needed
        self.tail_bytes = tail_bytes_per_px * (self.tail_core + 2 * self.tail_overlap) ** 2

    def _tail_receptive_field(self, n_channels: int, radius: int = 8) -> int:
        """Strict impulse response of the tail on its feature input (it is small and exact)."""
        size = 2 * radius + 1
        rng = np.random.default_rng(0)
        f = rng.random((1, self.graphs.n_features, size, size), dtype=np.float32)
        bumped = f.copy()
        bumped[:, :, radius, radius] += 1.0
        lr = rng.random((2, n_channels, size, size), dtype=np.float32)
        out = self._tail(np.concatenate([f, bumped]), lr[[0, 0]]).astype(np.float64)
        s = self.scale
        diff = np.abs(out[1] - out[0]).max(axis=0).reshape(size, s, size, s).max(axis=(1, 3))
        yy, xx = np.mgrid[:size, :size]
        dist = np.maximum(np.abs(yy - radius), np.abs(xx - radius))
        hit = dist[diff > 1e-6 * max(diff.max(), 1e-30)]
        return int(hit.max()) if hit.size else 0

    def _tail(self, feats: np.ndarray, lr: np.ndarray) -> np.ndarray:
        feed = {self.tail_in[0]: np.ascontiguousarray(feats)}
        if self.graphs.tail_uses_input:
            feed[self.tail_in[1]] = np.ascontiguousarray(lr)
        return self.tail.run(None, feed)[0]

    def run(self, batch: np.ndarray, keep: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """The whole graph's output; with ``keep`` ``(y0, y1, x0, x1)`` (LR pixels of the
        window) the tail runs only there and the rest of the output is left at zero.

        The trunk's context around a tile is there for the trunk's receptive
        field; the tail needs only its own few pixels, so running it on the
        whole window would waste a tail's worth of FLOPs on pixels thrown away.
        """
        s = self.scale
        feats = self.trunk.run(None, {self.trunk_in: batch})[0]
        n, _, h, w = feats.shape
        if keep is None and h <= self.tail_core and w <= self.tail_core:
            return self._tail(feats, batch)
        ky0, ky1, kx0, kx1 = keep if keep is not None else (0, h, 0, w)
        out: np.ndarray | None = None
        ys = tail_windows(h, self.tail_core, self.tail_overlap, (ky0, ky1))
        xs = tail_windows(w, self.tail_core, self.tail_overlap, (kx0, kx1))
        for ry0, ry1, cy0, cy1 in ys:
            for rx0, rx1, cx0, cx1 in xs:
                part = self._tail(feats[:, :, ry0:ry1, rx0:rx1], batch[:, :, ry0:ry1, rx0:rx1])
                if out is None:
                    alloc = np.empty if keep is None else np.zeros
                    out = alloc((n, part.shape[1], s * h, s * w), np.float32)
                oy, ox = s * (cy0 - ry0), s * (cx0 - rx0)
                out[:, :, s * cy0 : s * cy1, s * cx0 : s * cx1] = part[
                    :, :, oy : oy + s * (cy1 - cy0), ox : ox + s * (cx1 - cx0)
                ]
        assert out is not None
        return out
