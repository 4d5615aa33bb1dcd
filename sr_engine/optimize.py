"""Exact graph rewrites that let ONNX Runtime fuse more (applied when a model is loaded).

ORT fuses Conv+BN, Conv+activation and Conv+Add (NCHWc layout on x86), but not
an activation that sits after a ``DepthToSpace`` (pixel shuffle), nor ``PRelu``.
Pointwise activations with one parameter for all channels commute with pixel
shuffle, so ``Conv → DepthToSpace → Relu`` becomes ``Conv → Relu → DepthToSpace``
(the ReLU fuses into the conv), and a ``PRelu`` with a single slope becomes
``LeakyRelu`` (a per-channel ``PRelu`` moves too, its slopes repeated per
sub-pixel). A convolution with few output channels at HR resolution right after a
pixel shuffle (the standard SRGAN export's 9×9 tail) becomes the equivalent
sub-pixel convolution on the low-resolution side followed by the shuffle: s² times
the output channels, which the CPU's GEMM kernels run many times better. The
function the graph computes is unchanged.
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
        _move_before(graph, act, d2s)
        notes.append(f"{act.op_type} moved before DepthToSpace {dst}")
    notes += _prelu_before_shuffle(graph, inits)
    notes += _subpixel_tail(graph, inits)
    notes += _skip_before_shuffle(graph, inits)
    notes += _skip_into_linear_conv(graph, inits)
    used = {i for n in graph.node for i in n.input}
    for t in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(t)
    del graph.value_info[:]  # shapes changed for the swapped intermediates
    return model, notes


def _move_before(graph: Any, node: Any, anchor: Any) -> None:
    """Keep topological order after rewiring: ``node`` must come before ``anchor``."""
    import onnx

    nodes = list(graph.node)
    at, to = nodes.index(node), nodes.index(anchor)
    if at > to:
        moved = onnx.NodeProto()
        moved.CopyFrom(node)
        del graph.node[at]
        graph.node.insert(to, moved)


def _d2s_layout(node: Any) -> tuple[int, str]:
    attrs = {a.name: a for a in node.attribute}
    mode = attrs["mode"].s.decode() if "mode" in attrs else "DCR"
    return int(attrs["blocksize"].i), mode


def _sub_channel(c: int, s: int, t: int, r: int, channels: int, mode: str) -> int:
    """Input channel of DepthToSpace feeding output channel ``c`` at sub-pixel (s, t)."""
    return c * r * r + s * r + t if mode == "CRD" else (s * r + t) * channels + c


def _consumers(graph: Any) -> dict[str, list[Any]]:
    users: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users


def _prelu_before_shuffle(graph: Any, inits: dict[str, Any]) -> list[str]:
    """``DepthToSpace → PRelu(per-channel slope)`` ==> ``PRelu(slopes per sub-channel) → D2S``."""
    from onnx import numpy_helper

    users, outputs, notes = _consumers(graph), {o.name for o in graph.output}, []
    for d2s in [n for n in graph.node if n.op_type == "DepthToSpace"]:
        after = users.get(d2s.output[0], [])
        if d2s.output[0] in outputs or len(after) != 1 or after[0].op_type != "PRelu":
            continue
        act = after[0]
        if act.input[1] not in inits:
            continue
        slope = numpy_helper.to_array(inits[act.input[1]]).ravel()
        r, mode = _d2s_layout(d2s)
        repeated = np.empty(slope.size * r * r, np.float32)
        for c in range(slope.size):
            for s in range(r):
                for t in range(r):
                    repeated[_sub_channel(c, s, t, r, slope.size, mode)] = slope[c]
        name = act.input[1] + "_per_subpixel"
        graph.initializer.append(numpy_helper.from_array(repeated.reshape(-1, 1, 1), name))
        src, mid, dst = d2s.input[0], d2s.output[0], act.output[0]
        act.input[0], act.input[1], act.output[0] = src, name, mid
        d2s.input[0], d2s.output[0] = mid, dst
        _move_before(graph, act, d2s)
        notes.append(f"per-channel PRelu moved before DepthToSpace {dst}")
    return notes


MAX_SUBPIXEL_FLOP_RATIO = 2.0  # the sub-pixel form may cost this many times the FLOPs


def _subpixel_tail(graph: Any, inits: dict[str, Any]) -> list[str]:
    """``DepthToSpace(z) → Conv k×k (few outputs)`` ==> ``Conv' on z → DepthToSpace``.

    Output pixel (r·i + a, r·j + b) of the HR conv reads HR inputs whose sub-pixel
    positions and LR offsets are fixed by (a, b, dy, dx): its weights scatter into a
    conv on z with C·r² outputs and a kernel of ⌈…⌉ LR pixels. Done when few outputs
    make the HR conv slow and the sub-pixel form costs ≤ 2× its FLOPs.
    """
    from onnx import helper, numpy_helper

    users, outputs, notes = _consumers(graph), {o.name for o in graph.output}, []
    for d2s in [n for n in graph.node if n.op_type == "DepthToSpace"]:
        after = users.get(d2s.output[0], [])
        if d2s.output[0] in outputs or len(after) != 1 or after[0].op_type != "Conv":
            continue
        conv = after[0]
        if conv.input[0] != d2s.output[0] or conv.input[1] not in inits:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
        w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float32)
        cout, cin, kh, kw = w.shape
        p = kh // 2
        if (
            kh != kw
            or kh % 2 == 0
            or attrs.get("group", 1) != 1
            or any(v != 1 for v in attrs.get("strides", [1, 1]))
            or any(v != 1 for v in attrs.get("dilations", [1, 1]))
            or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
            or list(attrs.get("pads", [0, 0, 0, 0])) != [p, p, p, p]
            or cout > 4
        ):
            continue
        r, mode = _d2s_layout(d2s)
        q_lo, q_hi = -((p + r - 1) // r), (r - 1 + p) // r
        k2 = q_hi - q_lo + 1
        if (r * k2 / kh) ** 2 > MAX_SUBPIXEL_FLOP_RATIO:
            continue
        w2 = np.zeros((cout * r * r, cin * r * r, k2, k2), np.float32)
        for a in range(r):
            for dy in range(kh):
                qy, sy = divmod(a + dy - p, r)
                for b in range(r):
                    for dx in range(kw):
                        qx, sx = divmod(b + dx - p, r)
                        rows = [o * r * r + a * r + b for o in range(cout)]
                        cols = [_sub_channel(c, sy, sx, r, cin, mode) for c in range(cin)]
                        at_q = np.ix_(rows, cols, [qy - q_lo], [qx - q_lo])
                        w2[at_q] += w[:, :, dy, dx][:, :, None, None]
        ins = [d2s.input[0], conv.input[1] + "_subpixel"]
        graph.initializer.append(numpy_helper.from_array(w2, ins[1]))
        if len(conv.input) > 2 and conv.input[2]:
            bias = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float32)
            ins.append(conv.input[2] + "_subpixel")
            graph.initializer.append(numpy_helper.from_array(np.repeat(bias, r * r), ins[2]))
        mid, out = conv.output[0] + "_subpixel", conv.output[0]
        new_conv = helper.make_node(
            "Conv", ins, [mid], kernel_shape=[k2, k2], pads=[-q_lo, -q_lo, q_hi, q_hi]
        )
        new_d2s = helper.make_node("DepthToSpace", [mid], [out], blocksize=r, mode="CRD")
        at = list(graph.node).index(conv)
        graph.node.remove(conv)
        graph.node.insert(at, new_d2s)
        graph.node.insert(at, new_conv)
        graph.node.remove(d2s)
        notes.append(f"{kh}×{kw} HR conv to {cout} channel(s) as a sub-pixel conv {out}")
    return notes


def _skip_before_shuffle(graph: Any, inits: dict[str, Any]) -> list[str]:
    """``DepthToSpace(y) + Resize_nearest(x)`` -> ``DepthToSpace(y + x)`` for 1-channel x.

    Nearest ×s upsampling puts ``x[h, w]`` on every sub-pixel of the block that
    pixel shuffle fills from the s² channels at ``(h, w)``; adding ``x`` (broadcast
    over those channels) before the shuffle is the same sum without the HR-sized
    Resize (a tenth of the live model's time).
    """

    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, int] = {}
    for n in graph.node:
        for name in n.input:
            consumers[name] = consumers.get(name, 0) + 1
    graph_inputs = {i.name: i for i in graph.input if i.name not in inits}
    notes = []
    for add in list(graph.node):
        if add.op_type != "Add":
            continue
        pair = [producers.get(n) for n in add.input]
        if any(p is None for p in pair):
            continue
        kinds = [p.op_type for p in pair]
        if sorted(kinds) != ["DepthToSpace", "Resize"]:
            continue
        d2s, rsz = (pair[0], pair[1]) if kinds[0] == "DepthToSpace" else (pair[1], pair[0])
        s = next(a.i for a in d2s.attribute if a.name == "blocksize")
        attrs = {a.name: a for a in rsz.attribute}
        mode = attrs["mode"].s.decode() if "mode" in attrs else "nearest"
        ctm = attrs.get("coordinate_transformation_mode")
        ctm = ctm.s.decode() if ctm is not None else "half_pixel"
        nm = attrs.get("nearest_mode")
        nm = nm.s.decode() if nm is not None else "round_prefer_floor"
        if mode != "nearest" or (ctm, nm) != ("asymmetric", "floor"):
            continue
        scales = _constant(rsz.input[2] if len(rsz.input) > 2 else "", inits, producers)
        if scales is None:
            continue
        scales = scales.tolist()
        x = rsz.input[0]
        if scales != [1.0, 1.0, float(s), float(s)] or x not in graph_inputs:
            continue
        dims = graph_inputs[x].type.tensor_type.shape.dim
        if not (dims[1].HasField("dim_value") and dims[1].dim_value == 1):
            continue
        if consumers.get(d2s.output[0], 0) != 1:
            continue
        # add: (d2s input, x) -> mid ; d2s: mid -> add's old output
        pre, out = d2s.input[0], add.output[0]
        mid = out + "_pre_shuffle"
        add.input[0], add.input[1], add.output[0] = pre, x, mid
        d2s.input[0], d2s.output[0] = mid, out
        _move_before(graph, add, d2s)
        if consumers.get(rsz.output[0], 0) == 1:  # the Resize is dead now
            graph.node.remove(rsz)
        notes.append(f"input skip added before DepthToSpace {out}")
    return notes


def _skip_into_linear_conv(graph: Any, inits: dict[str, Any]) -> list[str]:
    """``Add(Add(a, Conv(x)), x)`` -> ``Add(a, Conv'(x))`` with 1 added to Conv's centre tap.

    After :func:`_skip_before_shuffle` the input skip is an Add of the 1-channel
    input broadcast over the s² sub-pixel channels. Where a conv of that same
    input (the live and balanced presets' learned linear path) is summed at the
    same point, the identity is one more tap of it: the Add of a full LR-sized
    s²-channel tensor disappears and the conv's own Add can fuse into its producer.
    """
    from onnx import numpy_helper

    producers = {o: n for n in graph.node for o in n.output}
    users = _consumers(graph)
    graph_inputs = {i.name for i in graph.input if i.name not in inits}
    notes = []
    for skip in list(graph.node):
        if skip.op_type != "Add" or sum(i in graph_inputs for i in skip.input) != 1:
            continue
        x = next(i for i in skip.input if i in graph_inputs)
        other = next(i for i in skip.input if i != x)
        inner = producers.get(other)
        if inner is None or inner.op_type != "Add" or len(users.get(other, [])) != 1:
            continue
        conv = next(
            (
                producers[i]
                for i in inner.input
                if i in producers
                and _is_centred_conv_of(producers[i], x, inits)
                and len(users.get(i, [])) == 1
            ),
            None,
        )
        if conv is None:
            continue
        w = numpy_helper.to_array(inits[conv.input[1]]).copy()
        w[:, 0, w.shape[2] // 2, w.shape[3] // 2] += 1.0
        name = conv.input[1] + "_with_skip"
        graph.initializer.append(numpy_helper.from_array(w, name))
        conv.input[1] = name
        inner.output[0] = skip.output[0]  # the inner sum is now the whole sum
        graph.node.remove(skip)
        notes.append(f"input skip folded into the linear conv {conv.output[0]}")
    return notes


def _is_centred_conv_of(node: Any, x: str, inits: dict[str, Any]) -> bool:
    """A stride-1, undilated, 1-group Conv of ``x`` with an odd kernel and 'same' pads."""
    if node.op_type != "Conv" or node.input[0] != x or node.input[1] not in inits:
        return False
    dims = list(inits[node.input[1]].dims)
    if len(dims) != 4 or dims[1] != 1 or dims[2] % 2 == 0 or dims[3] % 2 == 0:
        return False
    attrs = {a.name: a for a in node.attribute}
    if any(list(attrs[k].ints) not in ([], [1, 1]) for k in ("strides", "dilations") if k in attrs):
        return False
    if "group" in attrs and attrs["group"].i != 1:
        return False
    auto_pad = attrs["auto_pad"].s.decode() if "auto_pad" in attrs else "NOTSET"
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):  # odd kernel: symmetric either way
        return True
    pads = list(attrs["pads"].ints) if "pads" in attrs else [0, 0, 0, 0]
    return auto_pad == "NOTSET" and pads == [dims[2] // 2, dims[3] // 2] * 2


def _constant(name: str, inits: dict[str, Any], producers: dict[str, Any]) -> np.ndarray | None:
    """Value of an initializer or of a ``Constant`` node's output, else None."""
    from onnx import numpy_helper

    if name in inits:
        return numpy_helper.to_array(inits[name])
    node = producers.get(name)
    if node is not None and node.op_type == "Constant":
        for a in node.attribute:
            if a.name == "value":
                return numpy_helper.to_array(a.t)
    return None
