"""The paper's losses: MSE + w_vgg · VGG19 feature MSE + w_adv · (−log D(G(x))); D by BCE."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from training.config import LossConfig
from training.vgg import VGG19Features, to_rgb_views


@dataclass
class GeneratorLoss:
    total: torch.Tensor
    mse: float
    vgg: float
    adv: float


class Losses:
    """Generator and discriminator losses; the VGG term is off when ``vgg`` is None."""

    def __init__(self, cfg: LossConfig, vgg: VGG19Features | None) -> None:
        self.cfg, self.vgg = cfg, vgg

    def generator(
        self, sr: torch.Tensor, hr: torch.Tensor, d_fake: torch.Tensor | None
    ) -> GeneratorLoss:
        mse = F.mse_loss(sr, hr)
        total = self.cfg.mse * mse
        vgg_v = adv_v = 0.0
        if self.vgg is not None and self.cfg.vgg > 0:
            f_sr = self.vgg(to_rgb_views(sr))
            with torch.no_grad():
                f_hr = self.vgg(to_rgb_views(hr))
            vgg = F.mse_loss(f_sr, f_hr)
            total = total + self.cfg.vgg * vgg
            vgg_v = float(vgg.detach())
        if d_fake is not None and self.cfg.adversarial > 0:
            # −log D(G(x)) with D = sigmoid(logits)
            adv = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
            total = total + self.cfg.adversarial * adv
            adv_v = float(adv.detach())
        return GeneratorLoss(total, float(mse.detach()), vgg_v, adv_v)

    @staticmethod
    def discriminator(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(
            d_real, torch.ones_like(d_real)
        ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
