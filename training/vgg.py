"""VGG19 feature extractor in plain PyTorch (no torchvision), for the perceptual loss.

The layer layout matches ``torchvision.models.vgg19().features`` exactly, so a
torchvision state dict (``features.0.weight`` …, classifier keys ignored) loads
as is from a local file. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from srscope.errors import SettingsError

# torchvision's "E" configuration
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
        512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]  # fmt: skip
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def layer_names() -> list[str]:
    """Names of ``features`` indices: ``conv1_1``, ``relu1_1``, …, ``pool5``."""
    names, block, conv = [], 1, 1
    for v in _CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


def make_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in _CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
            cin = int(v)
    return nn.Sequential(*layers)


class VGG19Features(nn.Module):
    """VGG19 ``features`` truncated after ``layer`` (the paper's φ_{i,j}), frozen, in eval mode."""

    def __init__(self, layer: str = "relu5_4") -> None:
        super().__init__()
        names = layer_names()
        if layer not in names:
            raise SettingsError(f"unknown VGG19 layer {layer!r}; one of {', '.join(names)}")
        self.layer = layer
        self.features = make_features()
        self._stop = names.index(layer) + 1
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def load_weights(self, path: str | Path) -> VGG19Features:
        """Load a torchvision-format state dict (``features.N.weight/bias``) from a local file."""
        path = Path(path)
        if not path.is_file():
            raise SettingsError(f"VGG19 weights not found: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch.load raises various on a damaged file
            raise SettingsError(f"cannot read VGG19 weights {path}: {type(exc).__name__}") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        feats = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
        try:
            self.features.load_state_dict(feats, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise SettingsError(f"{path} is not a torchvision VGG19 state dict: {first}") from None
        return self

    def train(self, mode: bool = True) -> VGG19Features:  # always frozen
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in [0, 1], ``(N, 3, H, W)``; ImageNet normalisation is applied here."""
        h = (x - self.mean) / self.std
        for layer in list(self.features)[: self._stop]:
            h = layer(h)
        return h


def to_rgb_views(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` → ``(N', 3, H, W)`` for VGG: RGB as is, else each channel as grey."""
    n, c, h, w = x.shape
    if c == 3:
        return x
    return x.reshape(n * c, 1, h, w).expand(n * c, 3, h, w)
