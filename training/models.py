"""Generators (paper SRResNet-style, and the small ``live`` ESPCN-like one) and the discriminator.

All generators take ``(N, C, H, W)`` normalised LR and return ``(N, C, s·H, s·W)``.
Conv→BN pairs live in ``nn.Sequential`` containers so export can fold them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _upsampler(features: int, scale: int) -> nn.Sequential:
    """Sub-pixel convolution stages: two ×2 for scale 4, one ×s for 2, 3, 5."""
    stages = [2, 2] if scale == 4 else [scale]
    layers: list[nn.Module] = []
    for s in stages:
        layers += [
            nn.Conv2d(features, features * s * s, 3, padding=1),
            nn.PixelShuffle(s),
            nn.ReLU(),
        ]
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """[conv 3×3, BN, ReLU, conv 3×3, BN] + shortcut."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1),
            nn.BatchNorm2d(features),
            nn.ReLU(),
            nn.Conv2d(features, features, 3, padding=1),
            nn.BatchNorm2d(features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PaperGenerator(nn.Module):
    """The paper's generator: conv+ReLU, residual blocks, long skip, sub-pixel upsampling.

    ``input_skip`` (an addition to the paper) adds the nearest-upsampled input to
    the output, so the network learns only the detail; it speeds up short trainings.
    """

    def __init__(
        self,
        channels: int = 1,
        scale: int = 4,
        features: int = 64,
        blocks: int = 16,
        input_skip: bool = True,
    ) -> None:
        super().__init__()
        self.scale, self.input_skip = scale, input_skip
        self.head = nn.Sequential(nn.Conv2d(channels, features, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(*[ResidualBlock(features) for _ in range(blocks)])
        self.up = _upsampler(features, scale)
        self.tail = nn.Conv2d(features, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        y = self.tail(self.up(self.blocks(h) + h))
        if self.input_skip:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return y


class LiveGenerator(nn.Module):
    """ESPCN-like: every conv at LR resolution, one pixel shuffle at the end.

    Cost per LR pixel is a few k MACs, so a 512² frame runs in milliseconds.
    """

    def __init__(
        self,
        channels: int = 1,
        scale: int = 4,
        features: int = 32,
        layers: int = 3,
        input_skip: bool = True,
        linear_skip: bool = False,
    ) -> None:
        super().__init__()
        self.scale, self.input_skip = scale, input_skip
        # a learned linear 5×5 path from the input to every sub-pixel: a Wiener-like
        # upsampling filter for ~1 % of the cost, so the ReLU layers learn only detail
        self.linear = (
            nn.Conv2d(channels, channels * scale * scale, 5, padding=2) if linear_skip else None
        )
        if self.linear is not None:  # start as the plain network; learn the filter from there
            nn.init.zeros_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)
        mods: list[nn.Module] = [nn.Conv2d(channels, features, 5, padding=2), nn.ReLU()]
        for _ in range(layers - 2):
            mods += [nn.Conv2d(features, features, 3, padding=1), nn.ReLU()]
        mods.append(nn.Conv2d(features, channels * scale * scale, 3, padding=1))
        self.body = nn.Sequential(*mods)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        if self.linear is not None:
            h = h + self.linear(x)
        y = self.shuffle(h)
        if self.input_skip:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return y


class PlainResidualBlock(nn.Module):
    """[conv 3×3, ReLU, conv 3×3] + shortcut (no BN: EDSR-style, better for regression)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(features, features, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class BalancedGenerator(nn.Module):
    """Residual blocks at LR resolution and one sub-pixel conv (≈ 230 kFLOP per LR pixel).

    Between ``live`` and ``paper``: the paper's residual trunk, but everything at
    LR resolution as in ESPCN, plus the learned linear input path of ``live``.
    """

    def __init__(
        self,
        channels: int = 1,
        scale: int = 4,
        features: int = 32,
        blocks: int = 6,
        input_skip: bool = True,
    ) -> None:
        super().__init__()
        self.scale, self.input_skip = scale, input_skip
        out = channels * scale * scale
        self.head = nn.Conv2d(channels, features, 3, padding=1)
        self.blocks = nn.Sequential(*[PlainResidualBlock(features) for _ in range(blocks)])
        self.tail = nn.Conv2d(features, out, 3, padding=1)
        self.linear = nn.Conv2d(channels, out, 5, padding=2)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        y = self.shuffle(self.tail(self.blocks(h) + h) + self.linear(x))
        if self.input_skip:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return y


class Discriminator(nn.Module):
    """The paper's discriminator (SRGAN/TensorLayer style), for any patch size.

    Six stride-2 4×4 convs (base → 32·base maps), two 1×1 convs down to 16·base
    and 8·base (8 convs in all, BN on all but the first, LeakyReLU 0.2), a residual
    block of three convs with BN, then — our addition — adaptive average pooling
    (patches under 64 px are first enlarged by nearest neighbour)
    to 4×4 so the dense layer does not depend on the patch size. Returns logits
    (the sigmoid lives in the loss, ``BCEWithLogits``, for numerical stability).
    """

    def __init__(self, channels: int = 1, base: int = 64) -> None:
        super().__init__()

        def block(cin: int, cout: int, k: int, stride: int, bn: bool = True) -> list[nn.Module]:
            pad = 1 if k == 4 else (k - 1) // 2
            mods: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, pad)]
            if bn:
                mods.append(nn.BatchNorm2d(cout))
            return [*mods, nn.LeakyReLU(0.2)]

        b = base
        layers = block(channels, b, 4, 2, bn=False)
        for i in range(5):
            layers += block(b * 2**i, b * 2 ** (i + 1), 4, 2)
        layers += block(b * 32, b * 16, 1, 1) + block(b * 16, b * 8, 1, 1)
        self.features = nn.Sequential(*layers)
        self.res = nn.Sequential(
            *block(b * 8, b * 2, 1, 1),
            *block(b * 2, b * 2, 3, 1),
            nn.Conv2d(b * 2, b * 8, 3, 1, 1),
            nn.BatchNorm2d(b * 8),
        )
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.dense = nn.Linear(b * 8 * 16, 1)

    MIN_SIZE = 64  # six stride-2 4×4 convs need at least 64 px

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < self.MIN_SIZE:  # tiny test patches only
            x = F.interpolate(x, size=(max(x.shape[-2], 64), max(x.shape[-1], 64)), mode="nearest")
        h = self.features(x)
        h = F.leaky_relu(h + self.res(h), 0.2)
        return self.dense(torch.flatten(self.pool(h), 1))


def build_generator(kind: str, channels: int, scale: int, **kwargs: int | bool) -> nn.Module:
    if kind == "paper":
        return PaperGenerator(channels, scale, **kwargs)  # type: ignore[arg-type]
    if kind == "live":
        return LiveGenerator(channels, scale, **kwargs)  # type: ignore[arg-type]
    if kind == "balanced":
        return BalancedGenerator(channels, scale, **kwargs)  # type: ignore[arg-type]
    raise ValueError(f"unknown generator {kind!r}")
