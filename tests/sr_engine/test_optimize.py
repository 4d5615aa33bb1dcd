"""Graph rewrites are exact; the benchmark's architectures and torch reference agree with ORT."""

import numpy as np
import onnx
import pytest

from sr_engine.architectures import live_espcn, paper_generator
from sr_engine.metadata import attach_metadata
from sr_engine.model import SRModel
from sr_engine.optimize import optimize_graph
from sr_engine.testing import GraphBuilder, default_metadata


def _prelu_shuffle_model():
    g = GraphBuilder(1, seed=3)
    x = g.prelu(g.conv("lr", 1, 8, 3), 8)  # one slope for all channels
    x = g.pixel_shuffle(g.conv(x, 8, 16, 3), 2)
    x = g.op("Relu", [x])
    x = g.conv(x, 4, 1, 3)
    return attach_metadata(g.build(x), default_metadata(2, 1))


def test_rewrites_fire_and_are_exact():
    model = _prelu_shuffle_model()
    optimized, notes = optimize_graph(model)
    onnx.checker.check_model(optimized, full_check=True)
    ops = [n.op_type for n in optimized.graph.node]
    assert "PRelu" not in ops and "LeakyRelu" in ops
    assert ops.index("Relu") < ops.index("DepthToSpace")
    assert len(notes) == 2
    x = np.random.default_rng(0).random((2, 1, 11, 13), dtype=np.float32)
    a = SRModel(model, rewrite=False).run(x)
    b = SRModel(model, rewrite=True).run(x)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_paper_and_live_architectures_run_and_count_flops():
    from sr_engine.flops import flops_per_lr_pixel

    paper = paper_generator(blocks=16)
    # 3x3 head, 32 block convs, 2 upsampling convs (LR and 2x), 3x3 tail at 4x
    macs = 9 * 64 + 32 * 9 * 64 * 64 + 9 * 64 * 256 * (1 + 4) + 9 * 64 * 16
    assert flops_per_lr_pixel(paper) == pytest.approx(2 * macs)
    small = SRModel(paper_generator(blocks=2))
    assert small.run(np.zeros((1, 1, 9, 10), np.float32)).shape == (1, 1, 36, 40)
    assert SRModel(live_espcn(3, 2)).run(np.zeros((1, 3, 9, 10), np.float32)).shape == (
        1,
        3,
        18,
        20,
    )


def test_torch_reference_computes_the_same_function():
    pytest.importorskip("torch")
    from training.torch_reference import TorchGraph, tiled_eager

    proto = paper_generator(blocks=2)
    model = SRModel(proto)
    x = np.random.default_rng(0).random((1, 40, 52), dtype=np.float32)
    ours = model.run(x[None])[0]
    net = TorchGraph(proto)
    import torch

    with torch.inference_mode():
        ref = net(torch.from_numpy(x[None])).numpy()[0]
    np.testing.assert_allclose(ref, ours, atol=1e-4)
    tiled = tiled_eager(net, x, 4, tile=20, pad=model.receptive_field)
    assert tiled.shape == ours.shape


def test_engine_never_imports_torch():
    import subprocess
    import sys

    code = (
        "import sys, sr_engine.model, sr_engine.predict, sr_engine.stream, sr_engine.live, "
        "sr_engine.bench, sr_engine.cli; assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_input_skip_moves_before_pixel_shuffle_exactly():
    proto = live_espcn(1, 4)
    optimized, notes = optimize_graph(proto)
    assert any("input skip" in n for n in notes)
    assert "Resize" not in [n.op_type for n in optimized.graph.node]
    x = np.random.default_rng(1).random((2, 1, 17, 9), dtype=np.float32)
    a = SRModel(proto, rewrite=False).run(x)
    b = SRModel(proto).run(x)
    np.testing.assert_allclose(a, b, atol=1e-5)
    # with 3 channels the broadcast would be wrong: the rewrite must not fire
    assert not any("input skip" in n for n in optimize_graph(live_espcn(3, 2))[1])


def test_input_skip_folds_into_the_linear_path_exactly():
    """live preset: the nearest skip becomes one more tap of the learned linear conv."""
    proto = live_espcn(1, 4, features=8, linear_skip=True)
    optimized, notes = optimize_graph(proto)
    assert any("folded into the linear conv" in n for n in notes)
    ops = [n.op_type for n in optimized.graph.node]
    assert "Resize" not in ops and ops.count("Add") == 1
    x = np.random.default_rng(2).random((2, 1, 15, 11), dtype=np.float32)
    want = SRModel(proto, rewrite=False).run(x)
    np.testing.assert_allclose(SRModel(proto).run(x), want, atol=1e-5)
    # no linear path: nothing to fold into, the skip stays an Add before the shuffle
    assert not any("folded" in n for n in optimize_graph(live_espcn(1, 4, linear_skip=False))[1])


def test_split_tail_runs_the_same_function_in_sub_windows():
    from sr_engine.split import split_graph, tail_windows

    proto = paper_generator(blocks=2)
    whole = SRModel(proto, split=False)
    split = SRModel(proto, split=True)
    assert split.split and not whole.split
    assert split.bytes_per_lr_pixel < whole.bytes_per_lr_pixel / 4  # why we split
    split._split.tail_core = 16  # force many tail windows on a small input
    assert split._split.tail_overlap >= 2  # tail convs: 1 + 1/2 + 1/4 LR px, rounded up
    x = np.random.default_rng(2).random((2, 1, 45, 37), dtype=np.float32)
    full = whole.run(x)
    np.testing.assert_allclose(split.run(x), full, atol=1e-5)
    # only the kept part of the window: the tail runs there alone, the same values
    y0, y1, x0, x1 = 5, 30, 3, 20
    kept = split.run(x, keep=(y0, y1, x0, x1))
    s = split.scale
    np.testing.assert_allclose(
        kept[..., s * y0 : s * y1, s * x0 : s * x1],
        full[..., s * y0 : s * y1, s * x0 : s * x1],
        atol=1e-5,
    )
    assert not kept[..., : s * y0, :].any()  # outside: not computed
    graphs = split_graph(optimize_graph(proto)[0])
    assert graphs is not None and graphs.n_features == 64 and graphs.tail_uses_input
    ops = {n.op_type for n in graphs.tail.graph.node}
    assert "DepthToSpace" in ops and "BatchNormalization" not in ops
    assert tail_windows(10, 4, 2) == [(0, 6, 0, 4), (2, 10, 4, 8), (6, 10, 8, 10)]
    # cores spread evenly over a span, context read beyond it
    assert tail_windows(20, 8, 2, (4, 16)) == [(2, 12, 4, 10), (8, 18, 10, 16)]


def test_models_without_pixel_shuffle_or_small_memory_are_not_split():
    from sr_engine.testing import nearest_model

    assert not SRModel(nearest_model(2, 1, n_conv=2)).split
    assert not SRModel(live_espcn()).split


def test_input_skip_rewrite_with_constant_node_scales():
    """torch's exporter gives the Resize scales as a Constant node, not an initializer."""
    from onnx import helper

    proto = live_espcn(1, 4)
    graph = proto.graph
    rsz = next(n for n in graph.node if n.op_type == "Resize")
    init = next(t for t in graph.initializer if t.name == rsz.input[2])
    graph.node.insert(0, helper.make_node("Constant", [], [init.name], value=init))
    graph.initializer.remove(init)
    _, notes = optimize_graph(proto)
    assert any("input skip" in n for n in notes)
    x = np.random.default_rng(3).random((1, 1, 12, 15), dtype=np.float32)
    np.testing.assert_allclose(
        SRModel(proto).run(x), SRModel(proto, rewrite=False).run(x), atol=1e-5
    )


@pytest.mark.parametrize(("channels", "mode"), [(1, "CRD"), (3, "DCR")])
def test_a_foreign_srgan_tail_becomes_a_sub_pixel_conv_and_stays_exact(channels, mode):
    from sr_engine.architectures import srgan_export

    proto = srgan_export(channels, blocks=1, features=16, shuffle_mode=mode)
    optimized, notes = optimize_graph(proto)
    onnx.checker.check_model(optimized, full_check=True)
    assert any("sub-pixel" in n for n in notes)
    assert sum("per-channel PRelu moved" in n for n in notes) == 2
    last = [n for n in optimized.graph.node if n.op_type == "Conv"][-1]
    w = next(t for t in optimized.graph.initializer if t.name == last.input[1])
    assert list(w.dims)[:2] == [channels * 4, 16 * 4]  # at the LR side of the last shuffle
    x = np.random.default_rng(1).random((1, channels, 17, 21), dtype=np.float32)
    a = SRModel(proto, rewrite=False).run(x)
    b = SRModel(proto, rewrite=True).run(x)
    np.testing.assert_allclose(a, b, atol=1e-5 * float(np.ptp(a)))


def test_a_3x3_tail_is_left_alone_where_the_sub_pixel_form_costs_4x_the_flops():
    from sr_engine.architectures import srgan_export

    _, notes = optimize_graph(srgan_export(1, blocks=1, features=8, tail_kernel=3))
    assert not any("sub-pixel" in n for n in notes)
