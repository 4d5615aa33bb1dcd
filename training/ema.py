"""An exponential moving average of the generator's weights (what gets validated and exported).

Averaging the last few hundred iterates removes most of the step-to-step jitter of
Adam at no training cost. The decay warms up as ``min(decay, (1 + n) / (10 + n))``
so that short runs (and the first iterations of long ones) are not dominated by the
random initial weights.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def ema_model(model: nn.Module, decay: float) -> AveragedModel:
    """A torch ``AveragedModel`` of ``model`` with warm-up EMA averaging (buffers too)."""

    @torch.no_grad()
    def average(
        averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor | int
    ) -> torch.Tensor:
        n = float(n)
        d = min(decay, (1.0 + n) / (10.0 + n))
        return averaged * d + current * (1.0 - d)

    return AveragedModel(model, avg_fn=average, use_buffers=True)
