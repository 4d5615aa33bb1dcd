"""The verification figure (like the paper's Fig. 2): real LR, simulated LR at a few
sigmas, and the residual that should look like white noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srscope.degradation import add_noise
from training.calibrate import (
    CalibrationConfig,
    CalibrationResult,
    Pair,
    _align,
    _crop,
    _simulate,
    whiteness,
)


def save_figure(
    pair: Pair,
    scale: int,
    result: CalibrationResult,
    cfg: CalibrationConfig,
    path: str | Path,
    factors: tuple[float, ...] = (0.5, 1.0, 2.0),
) -> Path:
    """Write a PNG with LR | simulated LR (sigma × factors) | residual | cost curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = result.record
    sigma, m = rec.psf.sigma_hr_px, cfg.margin_lr_px
    (a,) = _align([pair], scale, sigma, cfg)
    lr = _crop(a.lr, m)
    rng = np.random.default_rng(cfg.seed)
    lo, hi = np.percentile(lr, [1, 99.8])
    panels = [("real LR", lr, None)]
    for f in factors:
        sim = _simulate(a, scale, sigma * f, m)
        g, o = rec.intensity.gain, rec.intensity.offset
        x, y = sim.ravel(), lr.ravel()
        g, o = np.polyfit(x, y, 1) if x.std() > 0 else (g, o)
        noisy = add_noise(g * sim + o, rec.noise, o, rng)
        w = whiteness(lr - (g * sim + o))
        panels.append((f"sim LR σ×{f:g} = {sigma * f:.2f}\nresidual whiteness {w:.3f}", noisy, w))
    sim = _simulate(a, scale, sigma, m)
    g, o = np.polyfit(sim.ravel(), lr.ravel(), 1)
    resid = lr - (g * sim + o)

    fig, axes = plt.subplots(1, len(panels) + 2, figsize=(4 * (len(panels) + 2), 4.4))
    for ax, (title, img, _) in zip(axes, panels, strict=False):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    r = 3 * resid.std()
    ax = axes[len(panels)]
    ax.imshow(resid, cmap="RdBu_r", vmin=-r, vmax=r)
    ax.set_title(
        f"residual real − sim (σ = {sigma:.2f})\nwhiteness {whiteness(resid):.3f}", fontsize=9
    )
    ax.axis("off")
    ax = axes[-1]
    s, c = zip(*result.sigma_curve, strict=True)
    ax.plot(s, c, "-")
    ax.axvline(sigma, color="r", ls="--")
    ax.set_xlabel("PSF sigma (HR px)")
    ax.set_ylabel("normalised LSQ cost")
    ax.set_title("sigma search", fontsize=9)
    fig.suptitle(f"calibration of {pair.name}: noise {rec.noise.kind} std {rec.noise.std:.2f}")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
