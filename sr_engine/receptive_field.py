"""Receptive field of a model, measured by its impulse response.

The overlap between tiles must cover every LR pixel an output pixel depends
on. For a trained network the dependence decays with distance; we keep the
radius at which the response to a unit impulse (on a random background, so
ReLUs are not all dead) falls below ``tol`` of its peak.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from srscope import logger


class _Runs(Protocol):
    scale: int
    n_channels: int

    def run(self, batch: np.ndarray) -> np.ndarray: ...


def impulse_profile(model: _Runs, radius: int = 48, seed: int = 0) -> np.ndarray:
    """Peak |response| at each LR Chebyshev distance from an impulse (index = distance)."""
    size = 2 * radius + 1
    rng = np.random.default_rng(seed)
    c, s = model.n_channels, model.scale
    base = (0.3 + 0.4 * rng.random((1, c, size, size))).astype(np.float32)
    bumped = base.copy()
    bumped[:, :, radius, radius] += 1.0
    out = model.run(np.concatenate([base, bumped])).astype(np.float64)
    diff = np.abs(out[1] - out[0])
    # max over channels and over each LR pixel's scale x scale HR block
    per_lr = diff.max(axis=0).reshape(size, s, size, s).max(axis=(1, 3))
    yy, xx = np.mgrid[:size, :size]
    dist = np.maximum(np.abs(yy - radius), np.abs(xx - radius))
    return np.array([per_lr[dist == d].max() for d in range(radius + 1)])


def measure_receptive_field(
    model: _Runs, tol: float = 1e-4, radius: int = 48, margin: int = 1
) -> int:
    """LR radius beyond which the impulse response is below ``tol`` x its peak, plus margin."""
    profile = impulse_profile(model, radius)
    peak = profile.max()
    if peak <= 0:
        return margin
    above = np.nonzero(profile > tol * peak)[0]
    rf = int(above.max()) + margin
    if rf > radius:
        logger.warning("receptive field reaches the probe border (%d px); capped", radius)
        rf = radius
    return rf
