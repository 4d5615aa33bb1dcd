"""The verification figure (like the paper's Fig. 2).

Real LR | simulated LR (with the fitted noise) | residual map | residual power
spectrum (flat for white noise) | residual variance against signal with the
fitted noise curve | the fitted PSF beside the other kinds' cross-validated scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.calibration_result import CalibrationResult


def radial_power(residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of the residual, normalised to its mean (1 = white)."""
    r = residual - residual.mean()
    p = np.abs(np.fft.fftshift(np.fft.fft2(r))) ** 2
    h, w = p.shape
    yy, xx = np.indices(p.shape)
    rad = np.hypot((yy - h // 2) / h, (xx - w // 2) / w)
    bins = np.linspace(0, 0.5, 26)
    idx = np.digitize(rad.ravel(), bins) - 1
    sel = (idx >= 0) & (idx < len(bins) - 1)
    sums = np.bincount(idx[sel], p.ravel()[sel], minlength=len(bins) - 1)
    counts = np.maximum(np.bincount(idx[sel], minlength=len(bins) - 1), 1)
    prof = sums / counts
    return 0.5 * (bins[1:] + bins[:-1]), prof / max(prof.mean(), 1e-30)


def save_figure(pair_name: str, result: CalibrationResult, path: str | Path) -> Path:
    """Write the PNG for the first pair of a calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec, v = result.record, result.verification
    assert v is not None and rec.fit is not None
    fit = rec.fit.model_dump()
    lo, hi = np.percentile(v.lr, [1, 99.8])
    fig, axes = plt.subplots(2, 3, figsize=(13, 8.6))
    (a_lr, a_sim, a_res), (a_ps, a_var, a_psf) = axes
    for ax, img, title in (
        (a_lr, v.lr, "real LR"),
        (a_sim, v.noisy, f"simulated LR: psf {rec.psf.kind}, noise {rec.noise.kind}"),
    ):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    r = 3 * v.residual.std()
    a_res.imshow(v.residual, cmap="RdBu_r", vmin=-r, vmax=r)
    a_res.set_title(
        f"residual real − expected\nwhiteness {fit.get('whiteness', 0):.3f}, "
        f"normalised std {fit.get('normalized_residual_std', float('nan')):.3f}",
        fontsize=9,
    )
    a_res.axis("off")
    f, prof = radial_power(v.residual)
    a_ps.plot(f, prof, "o-", ms=3)
    a_ps.axhline(1.0, color="k", lw=0.8, ls="--")
    a_ps.set_xlabel("frequency (cycles / LR px)")
    a_ps.set_ylabel("residual power / mean")
    a_ps.set_ylim(0, max(2.0, float(prof.max()) * 1.1))
    a_ps.set_title("residual power spectrum (white = flat)", fontsize=9)
    x = np.asarray(v.levels)
    a_var.plot(x, v.variances, "o", label="residual variance (binned)")
    xs = np.linspace(0, max(float(x.max()), 1e-6) if len(x) else 1.0, 50)
    curve = rec.noise.variance(xs + rec.intensity.offset, rec.intensity.offset) + fit.get(
        "hr_noise_carry_var", 0.0
    )
    a_var.plot(xs, curve, "-", label=f"fitted: {rec.noise.kind}")
    a_var.set_xlabel("expected signal − offset (LR units)")
    a_var.set_ylabel("variance")
    a_var.legend(fontsize=8)
    a_var.set_title(
        f"noise: std {rec.noise.std:.3g}, poisson gain {rec.noise.poisson_gain:.3g}", fontsize=9
    )
    k = rec.psf.array()
    a_psf.imshow(k, cmap="magma")
    scores = ", ".join(f"{n} {s:.4f}" for n, s in result.psf_scores.items())
    a_psf.set_title(f"PSF ({rec.psf.kind}, HR px)\nCV residual: {scores}", fontsize=9)
    a_psf.axis("off")
    fig.suptitle(f"calibration of {pair_name} (scale {rec.scale})")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
