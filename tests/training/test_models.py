"""Generator/discriminator shapes, BN folding, VGG19 weight loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sr_engine.architectures import live_espcn, paper_generator
from srscope.errors import SrscopeError
from training.export import fold_batchnorm, has_batchnorm
from training.models import BalancedGenerator, Discriminator, LiveGenerator, PaperGenerator
from training.vgg import VGG19Features, layer_names, make_features


@pytest.mark.parametrize("scale", [2, 3, 4, 5])
@pytest.mark.parametrize("kind", ["paper", "balanced", "live"])
def test_generators_upsample_by_scale(kind: str, scale: int) -> None:
    net = {
        "paper": lambda: PaperGenerator(2, scale, features=4, blocks=1),
        "balanced": lambda: BalancedGenerator(2, scale, features=4, blocks=1),
        "live": lambda: LiveGenerator(2, scale, features=4, linear_skip=True),
    }[kind]()
    y = net(torch.rand(3, 2, 7, 9))
    assert y.shape == (3, 2, 7 * scale, 9 * scale)


def test_balanced_generator_costs_100_to_300_kflop_per_lr_pixel() -> None:
    g = BalancedGenerator(1, 4)
    # every conv runs at LR resolution: MACs per LR pixel = weights (the 1→16 linear path too)
    macs = sum(m.weight.numel() for m in g.modules() if isinstance(m, torch.nn.Conv2d))
    assert 100e3 <= 2 * macs <= 300e3


def test_paper_generator_has_the_papers_layout() -> None:
    g = PaperGenerator(1, 4)
    assert len(g.blocks) == 16
    pixel_shuffles = [m for m in g.up if isinstance(m, torch.nn.PixelShuffle)]
    assert [p.upscale_factor for p in pixel_shuffles] == [2, 2]
    convs = [m for m in g.blocks[0].body if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64]


@pytest.mark.parametrize("patch", [48, 96, 384])
def test_discriminator_works_for_any_patch(patch: int) -> None:
    d = Discriminator(1, base=2)
    assert d(torch.rand(2, 1, patch, patch)).shape == (2, 1)
    convs = [m for m in d.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 8 and convs[0].kernel_size == (4, 4)
    assert [c.out_channels for c in convs] == [2, 4, 8, 16, 32, 64, 32, 16]


def test_fold_batchnorm_keeps_outputs() -> None:
    torch.manual_seed(0)
    g = PaperGenerator(1, 4, features=8, blocks=2)
    g.train()
    for _ in range(3):  # give BN non-trivial running statistics
        g(torch.rand(4, 1, 12, 12))
    g.eval()
    folded = fold_batchnorm(g)
    x = torch.rand(1, 1, 10, 10)
    assert not has_batchnorm(folded)
    torch.testing.assert_close(folded(x), g(x), rtol=1e-4, atol=1e-5)


def _torchvision_like_state(path: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    feats = make_features()
    state = {f"features.{k}": v for k, v in feats.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files carry these too
    torch.save(state, path)
    return state


def test_vgg19_loads_torchvision_format_weights(tmp_path: Path) -> None:
    state = _torchvision_like_state(tmp_path / "vgg19.pth")
    vgg = VGG19Features("relu2_2").load_weights(tmp_path / "vgg19.pth")
    torch.testing.assert_close(vgg.features[0].weight, state["features.0.weight"])
    out = vgg(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 128, 16, 16)
    assert not any(p.requires_grad for p in vgg.parameters())
    assert "relu5_4" in layer_names() and len(layer_names()) == 37


def test_vgg19_bad_weights_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SrscopeError, match="not found"):
        VGG19Features().load_weights(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(SrscopeError, match="cannot read"):
        VGG19Features().load_weights(tmp_path / "junk.pth")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "partial.pth")
    with pytest.raises(SrscopeError, match="not a torchvision VGG19"):
        VGG19Features().load_weights(tmp_path / "partial.pth")
    with pytest.raises(SrscopeError, match="unknown VGG19 layer"):
        VGG19Features("relu9_9")


def _weight_shapes(proto) -> list[tuple[int, ...]]:
    return sorted(tuple(t.dims) for t in proto.graph.initializer if len(t.dims) == 4)


@pytest.mark.parametrize(
    ("net", "copy"),
    [
        (
            lambda: LiveGenerator(1, 4, features=8, layers=3, linear_skip=True),
            lambda: live_espcn(1, 4, features=8, layers=3, linear_skip=True),
        ),
        (
            lambda: PaperGenerator(1, 4, features=16, blocks=2),
            lambda: paper_generator(1, scale=4, features=16, blocks=2),
        ),
    ],
    ids=["live", "paper"],
)
def test_the_engines_onnx_copies_have_training_s_layers(net, copy) -> None:
    """sr_engine.architectures builds random-weight copies for benchmarks without torch:
    the same convolutions (shapes) and the same cost per LR pixel as what training exports."""
    import onnx

    from sr_engine.flops import flops_per_lr_pixel
    from training.export import to_onnx_bytes

    trained = onnx.load_from_string(to_onnx_bytes(fold_batchnorm(net().eval()), 1))
    built = copy()
    assert _weight_shapes(trained) == _weight_shapes(built)
    assert flops_per_lr_pixel(trained, 1) == pytest.approx(flops_per_lr_pixel(built, 1), rel=0.01)
