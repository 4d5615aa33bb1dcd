"""Calibrate the degradation model against real reference pairs (the paper's search, automated).

1. Locate the HR field inside the LR capture (``training.register``; scoring only).
2. Fit the PSF sigma with per-pair gain/offset by least squares between the
   noise-free degraded HR and the (optionally denoised) LR.
3. With sigma fixed, fit the noise so that a simulated LR has the real LR's
   noise statistics (robust high-pass noise estimates, matched by root finding,
   so the HR capture's own noise and residual structure cancel out).
4. Verify: the residual real LR − simulated LR should be white noise; report a
   whiteness statistic and draw a figure like the paper's Fig. 2.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage, optimize

from srscope import logger
from srscope.degradation import (
    DegradationRecord,
    FitReport,
    GaussianPSF,
    Intensity,
    Noise,
    block_mean,
)
from srscope.errors import SrscopeError
from srscope.references import ReferenceSet
from training.images import _plane, read_image
from training.register import align_on_lr_grid, hr_footprint_template, locate

_LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


class CalibrationConfig(BaseModel):
    """How to calibrate (what a user may change on the command line)."""

    model_config = ConfigDict(extra="forbid")

    noise: Literal["gaussian", "poisson-gaussian"] = "gaussian"
    denoise: Literal["none", "nlmeans"] = "none"
    sigma_max_hr_px: float = Field(12.0, gt=0)
    margin_lr_px: int = Field(4, ge=1)
    channel: str | None = None
    seed: int = 0


@dataclass
class Pair:
    """One reference pair: HR capture and the LR capture of the same position."""

    name: str
    hr: np.ndarray
    lr: np.ndarray


@dataclass
class _Aligned:
    name: str
    hr_blocks: np.ndarray  # HR shifted onto the LR grid (whole blocks)
    lr: np.ndarray  # LR pixels under hr_blocks (same footprint)
    lr_target: np.ndarray  # lr, denoised for the sigma fit
    position: tuple[float, float]


@dataclass
class CalibrationResult:
    record: DegradationRecord
    per_pair: list[dict] = field(default_factory=list)
    sigma_curve: list[tuple[float, float]] = field(default_factory=list)


def load_pairs(folder: str | Path, channel: str | None = None) -> tuple[list[Pair], int]:
    """Reference pairs (entries with both captures) of a reference set."""
    folder = Path(folder)
    refs = ReferenceSet.load(folder)
    pairs = []
    for i, e in enumerate(refs.entries):
        if e.lr is None or (channel is not None and e.channel != channel):
            continue
        hr = _plane(read_image(folder / e.hr.file), e.hr.file).astype(np.float64)
        lr = _plane(read_image(folder / e.lr.file), e.lr.file).astype(np.float64)
        pairs.append(Pair(f"{i:03d}_{e.channel}", hr, lr))
    if not pairs:
        what = f" of channel {channel!r}" if channel else ""
        raise SrscopeError(f"reference set {folder} has no HR+LR pairs{what} to calibrate on")
    return pairs, refs.scale


def noise_std_estimate(img: np.ndarray) -> float:
    """Robust white-noise std: MAD of a second-difference filter (Immerkær kernel, norm 6)."""
    hp = ndimage.convolve(np.asarray(img, dtype=np.float64), _LAPLACE, mode="reflect")[1:-1, 1:-1]
    return float(1.4826 * np.median(np.abs(hp - np.median(hp))) / 6.0)


def whiteness(residual: np.ndarray) -> float:
    """Max |normalised autocorrelation| at the 4 one-pixel lags: 0 for white noise."""
    r = np.asarray(residual, dtype=np.float64)
    r = r - r.mean()
    var = float((r * r).mean())
    if var == 0:
        return 0.0
    lags = [
        (r[:, :-1], r[:, 1:]),
        (r[:-1, :], r[1:, :]),
        (r[:-1, :-1], r[1:, 1:]),
        (r[:-1, 1:], r[1:, :-1]),
    ]
    return float(max(abs((a * b).mean()) / var for a, b in lags))


def _denoise(lr: np.ndarray, how: str) -> np.ndarray:
    if how == "none":
        return lr
    from skimage.restoration import denoise_nl_means

    s = noise_std_estimate(lr)
    return denoise_nl_means(lr, h=0.8 * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True)


def _simulate(a: _Aligned, scale: int, sigma: float, margin: int) -> np.ndarray:
    """Noise-free degraded HR on the LR grid, margin dropped (unit gain, zero offset)."""
    blurred = (
        ndimage.gaussian_filter(a.hr_blocks, sigma, mode="reflect") if sigma > 0 else a.hr_blocks
    )
    sim = block_mean(blurred, scale)
    return sim[margin:-margin, margin:-margin]


def _lsq(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares gain and offset of ``y ≈ g·x + o``."""
    xm, ym = x.mean(), y.mean()
    dx = x - xm
    g = float((dx * (y - ym)).sum() / max((dx * dx).sum(), 1e-12))
    return g, float(ym - g * xm)


def _crop(img: np.ndarray, m: int) -> np.ndarray:
    return img[m:-m, m:-m]


def _align(pairs: list[Pair], scale: int, sigma: float, cfg: CalibrationConfig) -> list[_Aligned]:
    out = []
    for p in pairs:
        hr = p.hr
        # the HR footprint must fit inside the LR capture with room to search
        max_h, max_w = (np.array(p.lr.shape) * 0.8 * scale).astype(int)
        if hr.shape[0] > max_h or hr.shape[1] > max_w:
            cy, cx = (
                (hr.shape[0] - min(hr.shape[0], max_h)) // 2,
                (hr.shape[1] - min(hr.shape[1], max_w)) // 2,
            )
            hr = hr[cy : cy + min(hr.shape[0], max_h), cx : cx + min(hr.shape[1], max_w)]
        template = hr_footprint_template(hr, scale, sigma)
        y0, x0 = locate(template, p.lr)
        blocks, ky, kx = align_on_lr_grid(hr, scale, y0, x0)
        ny, nx = blocks.shape[0] // scale, blocks.shape[1] // scale
        if ky < 0 or kx < 0 or ky + ny > p.lr.shape[0] or kx + nx > p.lr.shape[1]:
            raise SrscopeError(f"pair {p.name}: HR field not inside the LR capture")
        lr = p.lr[ky : ky + ny, kx : kx + nx]
        if min(ny, nx) <= 2 * cfg.margin_lr_px + 8:
            raise SrscopeError(f"pair {p.name}: HR field too small ({ny}x{nx} LR px) to calibrate")
        out.append(_Aligned(p.name, blocks, lr, _denoise(lr, cfg.denoise), (y0, x0)))
    return out


def _sigma_cost(aligned: list[_Aligned], scale: int, sigma: float, m: int) -> float:
    cost = 0.0
    for a in aligned:
        sim = _simulate(a, scale, sigma, m)
        target = _crop(a.lr_target, m)
        g, o = _lsq(sim, target)
        cost += float(((g * sim + o - target) ** 2).mean() / max(target.var(), 1e-12))
    return cost / len(aligned)


def fit_sigma(
    aligned: list[_Aligned], scale: int, cfg: CalibrationConfig
) -> tuple[float, list[tuple[float, float]]]:
    """Grid search then bounded refinement of the normalised least-squares cost."""
    m = cfg.margin_lr_px
    grid = np.arange(0.0, cfg.sigma_max_hr_px + 1e-9, 0.25)
    curve = [(float(s), _sigma_cost(aligned, scale, float(s), m)) for s in grid]
    best = int(np.argmin([c for _, c in curve]))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    res = optimize.minimize_scalar(
        lambda s: _sigma_cost(aligned, scale, float(s), m),
        bounds=(float(lo), float(hi)),
        method="bounded",
        options={"xatol": 1e-3},
    )
    return float(res.x), curve


def fit_noise(
    residuals: list[np.ndarray],
    levels: list[np.ndarray],
    hr_contrib_var: list[float],
    kind: str,
    offset: float,
) -> Noise:
    """Noise that explains the residual real LR − degraded HR.

    The residual's variance is the LR noise plus the HR capture's own noise
    carried through blur, block mean and gain (``hr_contrib_var``, known once
    sigma is fixed); that part is subtracted so the simulated LR, made from an
    HR capture that is itself noisy, ends up with the real LR's noise level.
    """
    if kind == "gaussian":
        var = float(np.mean([r.var() - h for r, h in zip(residuals, hr_contrib_var, strict=True)]))
        if var <= 0:
            logger.warning("LR noise is not above the degraded HR's own noise: noise std set to 0")
        return Noise(kind="gaussian", std=float(np.sqrt(max(var, 0.0))))
    # Poisson-Gaussian: var = a + b·(signal − offset), fitted on intensity bins
    a, b = _binned_variance_fit(levels, residuals, offset)
    a -= float(np.mean(hr_contrib_var))
    return Noise(kind="poisson-gaussian", std=float(np.sqrt(max(a, 0.0))), poisson_gain=max(b, 0.0))


def hr_noise_carry(scale: int, sigma: float, shape: tuple[int, int] = (256, 256)) -> float:
    """Variance of unit white HR noise after blur and block mean (numerically)."""
    z = np.random.default_rng(0).standard_normal(shape)
    blurred = ndimage.gaussian_filter(z, sigma, mode="wrap") if sigma > 0 else z
    return float(block_mean(blurred, scale).var())


def _binned_variance_fit(
    levels: list[np.ndarray], residuals: list[np.ndarray], offset: float, bins: int = 8
) -> tuple[float, float]:
    """Linear fit of residual variance against signal level over quantile bins."""
    xs, ys = [], []
    for lev, res in zip(levels, residuals, strict=True):
        edges = np.quantile(lev, np.linspace(0, 1, bins + 1))
        for lo, hi in itertools.pairwise(edges):
            sel = (lev >= lo) & (lev <= hi)
            if sel.sum() < 50:
                continue
            xs.append(float(np.median(lev[sel]) - offset))
            ys.append(float(res[sel].var()))
    b, a = np.polyfit(np.array(xs), np.array(ys), 1)
    return float(a), float(b)


def calibrate_pairs(
    pairs: list[Pair], scale: int, cfg: CalibrationConfig | None = None
) -> CalibrationResult:
    """Fit and verify a :class:`DegradationRecord` on reference pairs."""
    cfg = cfg or CalibrationConfig()
    m = cfg.margin_lr_px
    sigma = scale / 2.0
    aligned = _align(pairs, scale, sigma, cfg)
    for _ in range(2):  # registration depends weakly on sigma: refine once
        sigma, curve = fit_sigma(aligned, scale, cfg)
        aligned = _align(pairs, scale, sigma, cfg)
    sigma, curve = fit_sigma(aligned, scale, cfg)

    carry = hr_noise_carry(scale, sigma)
    per_pair, sims, resids, hr_var, gains, offsets, rmses, whites = ([] for _ in range(8))
    for a in aligned:
        sim = _simulate(a, scale, sigma, m)
        lr = _crop(a.lr, m)
        g, o = _lsq(sim, lr)
        resid = lr - (g * sim + o)
        gains.append(g)
        offsets.append(o)
        sims.append(g * sim + o)
        resids.append(resid)
        hr_std = noise_std_estimate(a.hr_blocks)
        hr_var.append(g * g * hr_std * hr_std * carry)
        rmses.append(float(np.sqrt((resid**2).mean())))
        whites.append(whiteness(resid))
        per_pair.append(
            {
                "pair": a.name,
                "gain": g,
                "offset": o,
                "rmse": rmses[-1],
                "whiteness": whites[-1],
                "hr_field_at_lr_px": [round(a.position[0], 3), round(a.position[1], 3)],
            }
        )
    gain, offset = float(np.median(gains)), float(np.median(offsets))
    noise = fit_noise(resids, sims, hr_var, cfg.noise, offset)
    record = DegradationRecord(
        scale=scale,
        psf=GaussianPSF(sigma_hr_px=round(sigma, 4)),
        intensity=Intensity(gain=gain, offset=offset),
        noise=noise,
        fit=FitReport(
            pairs=len(aligned),
            rmse=float(np.mean(rmses)),
            whiteness=float(np.mean(whites)),
            method="srscope.training.calibrate: NCC+phase-correlation location; "
            f"LSQ sigma fit (denoise={cfg.denoise}); noise = residual variance minus the "
            "HR capture's own noise carried through the degradation",
            sigma_cost_min=float(min(c for _, c in curve)),
            per_pair=per_pair,
        ),
    )
    logger.info("calibrated: sigma %.3f HR px, noise %s", sigma, noise)
    return CalibrationResult(record=record, per_pair=per_pair, sigma_curve=curve)


def calibrate_references(
    folder: str | Path, cfg: CalibrationConfig | None = None, figure: str | Path | None = None
) -> CalibrationResult:
    """Calibrate on a reference set; optionally save the Fig. 2-like verification figure."""
    cfg = cfg or CalibrationConfig()
    pairs, scale = load_pairs(folder, cfg.channel)
    result = calibrate_pairs(pairs, scale, cfg)
    if figure is not None:
        from training.calibration_figure import save_figure

        save_figure(pairs[0], scale, result, cfg, figure)
    return result
