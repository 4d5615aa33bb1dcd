"""Exact graph rewrites that let ONNX Runtime fuse more (applied when a model is loaded).

ORT fuses Conv+BN, Conv+activation and Conv+Add (NCHWc layout on x86), but not
an activation that sits after a ``DepthToSpace`` (pixel shuffle), nor ``PRelu``.
Pointwise activations with one parameter for all channels commute with pixel
shuffle, so ``Conv → DepthToSpace → Relu`` becomes ``Conv → Relu → DepthToSpace``
(the ReLU fuses into the conv), and a ``PRelu`` with a single slope becomes
``LeakyRelu``. The function the graph computes is unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_POINTWISE = {"Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid"}


def optimize_graph(model: Any) -> tuple[Any, list[str]]:
    """A rewritten copy of ``model`` and a list of what was changed."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    notes: list[str] = []

    # PRelu with one slope for every channel -> LeakyRelu
    for i, node in enumerate(graph.node):
        if node.op_type == "PRelu" and node.input[1] in inits:
            slope = numpy_helper.to_array(inits[node.input[1]]).ravel()
            if slope.size and np.all(slope == slope[0]):
                graph.node[i].CopyFrom(
                    helper.make_node(
                        "LeakyRelu", [node.input[0]], list(node.output), alpha=float(slope[0])
                    )
                )
                notes.append(f"PRelu {node.output[0]} -> LeakyRelu")

    # DepthToSpace -> pointwise activation  ==>  activation -> DepthToSpace
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    for d2s in list(graph.node):
        if d2s.op_type != "DepthToSpace" or d2s.output[0] in outputs:
            continue
        users = consumers.get(d2s.output[0], [])
        if len(users) != 1 or users[0].op_type not in _POINTWISE:
            continue
        act = users[0]
        if any(n in inits for n in act.input[1:]) and act.op_type != "Clip":
            continue
        src, mid, dst = d2s.input[0], d2s.output[0], act.output[0]
        # act now reads the conv output and writes `mid`; d2s reads `mid` and writes `dst`
        act.input[0], act.output[0] = src, mid
        d2s.input[0], d2s.output[0] = mid, dst
        # keep topological order: act before d2s
        ia = list(graph.node).index(act)
        idx = list(graph.node).index(d2s)
        if ia > idx:
            moved = onnx.NodeProto()
            moved.CopyFrom(act)
            del graph.node[ia]
            graph.node.insert(idx, moved)
        notes.append(f"{act.op_type} moved before DepthToSpace {dst}")
    del graph.value_info[:]  # shapes changed for the swapped intermediates
    return model, notes
