"""Calibrate the degradation model against real reference pairs (the paper's search, automated).

1. Locate the HR field inside the LR capture (``training.register``; scoring only).
2. Turn each pair into least-squares normal equations of the LR pixels on the
   block means of shifted HR pixels (``training.kernel_fit``): every PSF, of any
   kind, is then a kernel scored in microseconds.
3. Fit each PSF kind (``gaussian`` sigma, ``airy`` width scale, non-parametric
   ``kernel``) and keep the one with the lowest cross-validated residual on
   pairs (or halves of a pair) it was not fitted on.
4. With the PSF fixed, fit each noise kind (``gaussian``, ``poisson-gaussian``)
   to the residual real LR − simulated LR, minus the HR capture's own noise
   carried through the degradation, and keep the one with the better
   cross-validated likelihood.
5. Verify: the residual should be white noise of the fitted variance
   (``whiteness`` ≈ 0, normalised residual std ≈ 1), recorded in ``fit``.

Over 400 lines because the fit of each PSF kind and each noise kind, and their cross-
validated choice, are one procedure whose steps share the pairs' normal equations; the
numerics live in ``kernel_fit``/``register``, the figure in ``calibration_figure``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field
from scipy import ndimage, optimize

from srscope import logger
from srscope.degradation import (
    PSF,
    AiryPSF,
    DegradationRecord,
    FitReport,
    GaussianPSF,
    Intensity,
    KernelPSF,
    Noise,
)
from srscope.errors import ImageError, SrscopeError
from srscope.model_base import SrscopeModel
from srscope.optics import channel_wavelength_nm, objective_na
from srscope.references import ReferenceSet
from training.calibration_figure import save_figure
from training.calibration_result import CalibrationResult, Verification
from training.images import read_plane
from training.kernel_fit import NormalEquations, fit_kernel, normal_equations, relative_sse
from training.register import align_on_lr_grid, hr_footprint_template, locate

_LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
PsfKind = Literal["gaussian", "airy", "kernel"]
NoiseKind = Literal["gaussian", "poisson-gaussian"]


class Optics(SrscopeModel):
    """What the ``airy`` PSF needs; read from the reference set's labels when not given."""

    model_config = ConfigDict(allow_inf_nan=False)

    lr_na: float = Field(gt=0, lt=1.6)
    wavelength_nm: float = Field(gt=200, lt=2000)
    hr_pixel_size_um: float = Field(gt=0)
    hr_na: float | None = Field(None, gt=0, lt=1.6)


class CalibrationConfig(SrscopeModel):
    """How to calibrate (what a user may change on the command line)."""

    model_config = ConfigDict(allow_inf_nan=False)

    psf: Literal["auto", "gaussian", "airy", "kernel"] = "auto"
    noise: Literal["auto", "gaussian", "poisson-gaussian"] = "auto"
    denoise: Literal["none", "nlmeans"] = "none"
    margin_lr_px: int = Field(4, ge=1, description="LR border not scored; kernel radius ≤ this")
    channel: str | None = None
    optics: Optics | None = None
    seed: int = 0

    def kernel_radius(self, scale: int) -> int:
        return self.margin_lr_px * scale


@dataclass
class Pair:
    """One reference pair: HR capture and the LR capture of the same position."""

    name: str
    hr: np.ndarray
    lr: np.ndarray


@dataclass
class Aligned:
    """A pair with the HR field shifted onto the LR grid (whole blocks)."""

    name: str
    hr_blocks: np.ndarray
    lr: np.ndarray  # LR pixels under hr_blocks (same footprint)
    lr_target: np.ndarray  # lr, denoised for the PSF fit
    position: tuple[float, float]


def load_pairs(
    folder: str | Path, channel: str | None = None
) -> tuple[list[Pair], int, Optics | None]:
    """Reference pairs (entries with both captures) of a reference set, and their optics."""
    folder = Path(folder)
    refs = ReferenceSet.load(folder)
    pairs, labels = [], set()
    for i, e in enumerate(refs.entries):
        if e.lr is None or (channel is not None and e.channel != channel):
            continue
        hr = read_plane(folder / e.hr.file).astype(np.float64)
        lr = read_plane(folder / e.lr.file).astype(np.float64)
        pairs.append(Pair(f"{i:03d}_{e.channel}", hr, lr))
        labels.add((e.lr.objective, e.hr.objective, e.channel, e.hr.pixel_size_um))
    if not pairs:
        what = f" of channel {channel!r}" if channel else ""
        raise ImageError(f"reference set {folder} has no HR+LR pairs{what} to calibrate on")
    optics = None
    if len(labels) == 1:  # one objective pair and one wavelength: the Airy PSF is defined
        lr_obj, hr_obj, ch, hr_px = labels.pop()
        na, hr_na, wl = objective_na(lr_obj), objective_na(hr_obj), channel_wavelength_nm(ch)
        if na is not None and wl is not None:
            optics = Optics(lr_na=na, hr_na=hr_na, wavelength_nm=wl, hr_pixel_size_um=hr_px)
    return pairs, refs.scale, optics


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


def _check_pair(p: Pair) -> None:
    for what, img in (("HR", p.hr), ("LR", p.lr)):
        if not np.isfinite(img).all():
            raise ImageError(f"pair {p.name}: the {what} capture has NaN or Inf pixels")


def align(pairs: list[Pair], scale: int, psf: PSF | float, cfg: CalibrationConfig) -> list[Aligned]:
    """Locate each HR field in its LR capture and put it on the LR pixel grid."""
    out = []
    for p in pairs:
        _check_pair(p)
        hr = p.hr
        # the HR footprint must fit inside the LR capture with room to search
        max_h, max_w = (np.array(p.lr.shape) * 0.8 * scale).astype(int)
        if hr.shape[0] > max_h or hr.shape[1] > max_w:
            cy = (hr.shape[0] - min(hr.shape[0], max_h)) // 2
            cx = (hr.shape[1] - min(hr.shape[1], max_w)) // 2
            hr = hr[cy : cy + min(hr.shape[0], max_h), cx : cx + min(hr.shape[1], max_w)]
        template = hr_footprint_template(hr, scale, psf)
        if template.std() == 0:
            raise ImageError(f"pair {p.name}: the HR capture is blank (too little signal to fit)")
        y0, x0 = locate(template, p.lr)
        blocks, ky, kx = align_on_lr_grid(hr, scale, y0, x0)
        ny, nx = blocks.shape[0] // scale, blocks.shape[1] // scale
        if ky < 0 or kx < 0 or ky + ny > p.lr.shape[0] or kx + nx > p.lr.shape[1]:
            raise ImageError(f"pair {p.name}: HR field not inside the LR capture")
        lr = p.lr[ky : ky + ny, kx : kx + nx]
        if min(ny, nx) <= 2 * cfg.margin_lr_px + 8:
            raise ImageError(f"pair {p.name}: HR field too small ({ny}x{nx} LR px) to calibrate")
        m = cfg.margin_lr_px
        inner = lr[m:-m, m:-m]
        if inner.std() < 1.05 * noise_std_estimate(inner):  # no signal beyond the noise
            raise ImageError(
                f"pair {p.name}: too little signal to fit (LR contrast {inner.std():.3g} is "
                f"not above its noise {noise_std_estimate(inner):.3g}); expose longer"
            )
        out.append(Aligned(p.name, blocks, lr, _denoise(lr, cfg.denoise), (y0, x0)))
    return out


def _lsq(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares gain and offset of ``y ≈ g·x + o``."""
    xm, ym = x.mean(), y.mean()
    dx = x - xm
    g = float((dx * (y - ym)).sum() / max((dx * dx).sum(), 1e-12))
    return g, float(ym - g * xm)


def _crop(img: np.ndarray, m: int) -> np.ndarray:
    return img[m:-m, m:-m]


def simulate(a: Aligned, record: DegradationRecord, margin: int) -> np.ndarray:
    """Noise-free degraded HR on the LR grid, margin dropped (unit gain, zero offset)."""
    unit = record.model_copy(update={"intensity": Intensity()})
    return _crop(unit.expected(a.hr_blocks).astype(np.float64), margin)


# -- PSF kinds ------------------------------------------------------------------


def _folds(n_pairs: int) -> list[list[int]]:
    """Held-out groups of the equations list (two halves per pair): pairs if ≥ 2, else halves."""
    if n_pairs >= 2:
        return [[2 * i, 2 * i + 1] for i in range(n_pairs)]
    return [[0], [1]]


def _cv(eqs: list[NormalEquations], fit, n_pairs: int) -> float:
    """Mean relative residual of ``fit(training equations)`` on each held-out fold."""
    scores = []
    for held in _folds(n_pairs):
        train = [e for i, e in enumerate(eqs) if i not in held]
        kernel = fit(train)
        scores.append(np.mean([relative_sse(eqs[i], kernel) for i in held]))
    return float(np.mean(scores))


def _fit_gaussian(eqs: list[NormalEquations], radius: int) -> GaussianPSF:
    def cost(s: float) -> float:
        k = _fit_window(GaussianPSF(sigma_hr_px=s).array(), radius)
        return float(np.mean([relative_sse(e, k) for e in eqs]))

    grid = np.arange(0.0, radius / 4.0 + 1e-9, 0.25)
    best = float(grid[int(np.argmin([cost(s) for s in grid]))])
    res = optimize.minimize_scalar(
        cost, bounds=(max(best - 0.25, 0.0), best + 0.25), method="bounded", options={"xatol": 1e-3}
    )
    return GaussianPSF(sigma_hr_px=round(float(res.x), 4))


def _fit_airy(eqs: list[NormalEquations], radius: int, optics: Optics) -> AiryPSF:
    def psf(w: float) -> AiryPSF:
        return AiryPSF(
            na=optics.lr_na,
            wavelength_nm=optics.wavelength_nm,
            hr_pixel_size_um=optics.hr_pixel_size_um,
            hr_na=optics.hr_na,
            width_scale=w,
        )

    def cost(w: float) -> float:
        k = _fit_window(psf(w).array(), radius)
        return float(np.mean([relative_sse(e, k) for e in eqs]))

    grid = np.geomspace(0.5, 2.0, 13)
    best = int(np.argmin([cost(w) for w in grid]))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    res = optimize.minimize_scalar(cost, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    return psf(round(float(res.x), 5))


def _fit_window(kernel: np.ndarray, radius: int) -> np.ndarray:
    """A kernel cut (or zero-padded) to ``2·radius + 1`` square, renormalised."""
    r = kernel.shape[0] // 2
    n = 2 * radius + 1
    out = np.zeros((n, n))
    c = min(r, radius)
    out[radius - c : radius + c + 1, radius - c : radius + c + 1] = kernel[
        r - c : r + c + 1, r - c : r + c + 1
    ]
    return out / out.sum()


def fit_psfs(
    eqs: list[NormalEquations], n_pairs: int, radius: int, kinds: list[str], optics: Optics | None
) -> tuple[dict[str, PSF], dict[str, float], dict]:
    """Each requested PSF kind fitted on all pairs, with its cross-validated score."""
    fitted: dict[str, PSF] = {}
    scores: dict[str, float] = {}
    extra: dict = {}
    for kind in kinds:
        if kind == "gaussian":
            scores[kind] = _cv(
                eqs, lambda t: _fit_window(_fit_gaussian(t, radius).array(), radius), n_pairs
            )
            fitted[kind] = _fit_gaussian(eqs, radius)
        elif kind == "airy":
            if optics is None:
                extra["airy"] = "skipped: NA and wavelength unknown (objective/channel labels)"
                continue
            scores[kind] = _cv(
                eqs, lambda t: _fit_window(_fit_airy(t, radius, optics).array(), radius), n_pairs
            )
            fitted[kind] = _fit_airy(eqs, radius, optics)
        elif kind == "kernel":
            kernel, how = fit_kernel(eqs, _folds(n_pairs), radius)
            scores[kind] = how.pop("cv")
            fitted[kind] = KernelPSF(kernel=np.round(kernel, 7).tolist(), method=how["method"])
            extra["kernel"] = how
    return fitted, scores, extra


# -- noise kinds ----------------------------------------------------------------


def hr_noise_carry(record: DegradationRecord, shape: tuple[int, int] = (256, 256)) -> float:
    """Variance of unit white HR noise after the record's blur and block mean (numerically)."""
    z = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    unit = record.model_copy(update={"intensity": Intensity()})
    return float(_crop(unit.expected(z), 4).var())


def binned_variance(
    levels: list[np.ndarray], residuals: list[np.ndarray], offset: float, bins: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residual variance in quantile bins of the signal: (signal − offset, variance, count)."""
    lev = np.concatenate([x.ravel() for x in levels])
    res = np.concatenate([x.ravel() for x in residuals])
    edges = np.unique(np.quantile(lev, np.linspace(0, 1, bins + 1)))
    xs, ys, ns = [], [], []
    for lo, hi in itertools.pairwise(edges):
        sel = (lev >= lo) & (lev <= hi)
        if sel.sum() < 50:
            continue
        xs.append(float(np.mean(lev[sel]) - offset))
        ys.append(float(res[sel].var()))
        ns.append(int(sel.sum()))
    return np.array(xs), np.array(ys), np.array(ns)


def fit_noise(
    kind: str, levels: list[np.ndarray], residuals: list[np.ndarray], carry: float, offset: float
) -> Noise:
    """Noise that explains the residual real LR − degraded HR.

    The residual's variance is the LR noise plus the HR capture's own noise
    carried through blur, block mean and gain (``carry``); that part is
    subtracted so the simulated LR, made from an HR capture that is itself
    noisy, ends up with the real LR's noise level.
    """
    if kind == "gaussian":
        var = float(np.mean(np.concatenate([r.ravel() for r in residuals]) ** 2)) - carry
        if var <= 0:
            logger.warning("LR noise is not above the degraded HR's own noise: noise std set to 0")
        return Noise(kind="gaussian", std=float(np.sqrt(max(var, 0.0))))
    x, y, n = binned_variance(levels, residuals, offset)
    if len(x) < 2 or np.ptp(x) == 0:
        return fit_noise("gaussian", levels, residuals, carry, offset)
    # start: weighted least squares on the bins (a bin's variance has std ≈ var·sqrt(2/n));
    # then maximum likelihood on every pixel: var = slope·(level − offset) + intercept
    b, a = np.polyfit(x, y, 1, w=np.sqrt(n) / np.maximum(y, 1e-12))
    lev = np.clip(np.concatenate([v.ravel() for v in levels]) - offset, 0, None)
    r2 = np.concatenate([r.ravel() for r in residuals]) ** 2
    floor = 1e-6 * float(r2.mean())

    def nll(p: np.ndarray) -> float:
        v = np.maximum(p[0] * lev + p[1], floor)
        return float(np.mean(np.log(v) + r2 / v))

    start = np.array([max(b, 0.0), max(a, floor)])
    opts = {"xatol": 1e-6, "fatol": 1e-9}
    res = optimize.minimize(nll, start, method="Nelder-Mead", options=opts)
    slope, intercept = (res.x if res.success else start).tolist()
    intercept -= carry
    return Noise(
        kind="poisson-gaussian",
        std=float(np.sqrt(max(intercept, 0.0))),
        poisson_gain=max(float(slope), 0.0),
    )


def _nll(noise: Noise, level: np.ndarray, resid: np.ndarray, carry: float, offset: float) -> float:
    var = np.maximum(noise.variance(level, offset).astype(np.float64) + carry, 1e-12)
    return float(0.5 * np.mean(np.log(var) + resid**2 / var))


def fit_noises(
    kinds: list[str],
    levels: list[np.ndarray],
    residuals: list[np.ndarray],
    carry: float,
    offset: float,
) -> tuple[dict[str, Noise], dict[str, float]]:
    """Each noise kind fitted on all pairs, scored by held-out Gaussian negative log-likelihood."""
    if len(residuals) >= 2:
        folds = [([j for j in range(len(residuals)) if j != i], [i]) for i in range(len(residuals))]
        lv, rs = levels, residuals
    else:  # one pair: top and bottom halves
        h = residuals[0].shape[0] // 2
        lv = [levels[0][:h], levels[0][h:]]
        rs = [residuals[0][:h], residuals[0][h:]]
        folds = [([0], [1]), ([1], [0])]
    fitted, scores = {}, {}
    for kind in kinds:
        nll = []
        for train, held in folds:
            nz = fit_noise(kind, [lv[i] for i in train], [rs[i] for i in train], carry, offset)
            nll.extend(_nll(nz, lv[i], rs[i], carry, offset) for i in held)
        scores[kind] = float(np.mean(nll))
        fitted[kind] = fit_noise(kind, levels, residuals, carry, offset)
    return fitted, scores


# -- calibration ----------------------------------------------------------------


def calibrate_pairs(
    pairs: list[Pair],
    scale: int,
    cfg: CalibrationConfig | None = None,
    optics: Optics | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> CalibrationResult:
    """Fit and verify a :class:`DegradationRecord` on reference pairs.

    ``progress(done, total, step)`` is called as each step starts (aligning the
    pairs, each PSF kind, gain and offset, noise).
    """
    cfg = cfg or CalibrationConfig()
    optics = cfg.optics or optics
    m, radius = cfg.margin_lr_px, cfg.kernel_radius(scale)
    kinds = ["gaussian", "airy", "kernel"] if cfg.psf == "auto" else [cfg.psf]
    steps = iter(range(3 + len(kinds) + 2))

    def step(what: str) -> None:
        if progress is not None:
            progress(next(steps), 3 + len(kinds) + 2, what)

    psf: PSF = GaussianPSF(sigma_hr_px=scale / 2.0)
    for _ in range(2):  # registration depends weakly on the PSF: refine once
        step(f"aligning {len(pairs)} pairs")
        aligned = align(pairs, scale, psf, cfg)
        eqs = [e for a in aligned for e in normal_equations(a.hr_blocks, a.lr_target, scale, m)]
        psf = _fit_gaussian(eqs, radius)
    step(f"aligning {len(pairs)} pairs")
    aligned = align(pairs, scale, psf, cfg)
    eqs = [e for a in aligned for e in normal_equations(a.hr_blocks, a.lr_target, scale, m)]

    fitted: dict[str, PSF] = {}
    psf_scores: dict[str, float] = {}
    psf_notes: dict = {}
    for psf_kind in kinds:  # one at a time, for the progress display
        step(f"fitting a {psf_kind} PSF (cross-validated)")
        got, scores, notes = fit_psfs(eqs, len(aligned), radius, [psf_kind], optics)
        fitted.update(got)
        psf_scores.update(scores)
        psf_notes.update(notes)
    if not fitted:
        raise SrscopeError(f"cannot fit a {cfg.psf} PSF: {psf_notes.get(cfg.psf, '')}")
    kind = min(fitted, key=lambda k: psf_scores[k])
    record = DegradationRecord(scale=scale, psf=fitted[kind])

    step("gain and offset per pair")
    per_pair, levels, resids, gains, offsets = [], [], [], [], []
    hr_var = []
    for a in aligned:
        sim = simulate(a, record, m)
        lr = _crop(a.lr, m)
        g, o = _lsq(sim, lr)
        gains.append(g)
        offsets.append(o)
        levels.append(g * sim + o)
        resids.append(lr - (g * sim + o))
        hr_var.append(g * g * noise_std_estimate(a.hr_blocks) ** 2)
        per_pair.append(
            {
                "pair": a.name,
                "gain": g,
                "offset": o,
                "rmse": float(np.sqrt((resids[-1] ** 2).mean())),
                "whiteness": whiteness(resids[-1]),
                "hr_field_at_lr_px": [round(a.position[0], 3), round(a.position[1], 3)],
            }
        )
    gain, offset = float(np.median(gains)), float(np.median(offsets))
    carry = float(np.mean(hr_var)) * hr_noise_carry(record)
    noise_kinds = ["gaussian", "poisson-gaussian"] if cfg.noise == "auto" else [cfg.noise]
    step("fitting the noise (cross-validated)")
    noises, noise_scores = fit_noises(noise_kinds, levels, resids, carry, offset)
    noise_kind = min(noises, key=lambda k: noise_scores[k])
    noise = noises[noise_kind]
    z = np.concatenate(
        [
            (r / np.sqrt(noise.variance(lv, offset).astype(np.float64) + carry + 1e-12)).ravel()
            for lv, r in zip(levels, resids, strict=True)
        ]
    )
    white = float(np.mean([p["whiteness"] for p in per_pair]))
    record = record.model_copy(
        update={
            "intensity": Intensity(gain=gain, offset=offset),
            "noise": noise,
            "fit": FitReport(
                pairs=len(aligned),
                rmse=float(np.mean([p["rmse"] for p in per_pair])),
                whiteness=white,
                normalized_residual_std=float(z.std()),
                psf_kind=kind,
                psf_scores={k: round(v, 6) for k, v in psf_scores.items()},
                psf_notes=psf_notes,
                noise_kind=noise_kind,
                noise_scores={k: round(v, 6) for k, v in noise_scores.items()},
                hr_noise_carry_var=carry,
                why=(
                    f"psf {kind}: lowest cross-validated relative residual "
                    f"({_fmt(psf_scores)}); noise {noise_kind}: lowest cross-validated "
                    f"negative log-likelihood ({_fmt(noise_scores)}); residual whiteness "
                    f"{white:.3f}, normalised residual std {z.std():.3f}"
                ),
                method="srscope.training.calibrate v2: NCC+phase-correlation location; "
                f"PSF kinds fitted on least-squares normal equations (denoise={cfg.denoise}), "
                "chosen by leave-one-pair-out (or half-pair) cross-validation; noise = "
                "residual variance minus the HR capture's own noise carried through the "
                "degradation",
                per_pair=per_pair,
            ),
        }
    )
    x, y, _ = binned_variance(levels, resids, offset)
    rng = np.random.default_rng(cfg.seed)
    verification = Verification(
        lr=_crop(aligned[0].lr, m),
        expected=levels[0],
        residual=resids[0],
        noisy=levels[0]
        + rng.standard_normal(levels[0].shape) * np.sqrt(noise.variance(levels[0], offset) + carry),
        levels=list(map(float, x)),
        variances=list(map(float, y)),
    )
    logger.info("calibrated: psf %s, noise %s (%s)", record.psf, noise, record.fit.why)
    return CalibrationResult(record, per_pair, psf_scores, fitted, verification)


def _fmt(scores: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in scores.items())


def calibrate_references(
    folder: str | Path,
    cfg: CalibrationConfig | None = None,
    figure: str | Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> CalibrationResult:
    """Calibrate on a reference set; optionally save the Fig. 2-like verification figure.

    ``progress``: see :func:`calibrate_pairs`.
    """
    cfg = cfg or CalibrationConfig()
    pairs, scale, optics = load_pairs(folder, cfg.channel)
    result = calibrate_pairs(pairs, scale, cfg, optics, progress)
    if figure is not None:
        save_figure(pairs[0].name, result, figure)
    return result
