"""The paper's baselines: bicubic upsampling and bicubic + Richardson–Lucy deconvolution.

Alignment convention (pixel centres, area-consistent): LR pixel ``i`` is the
mean of HR pixels ``[i·s, (i+1)·s)`` (``srscope.degradation.block_mean``), so
its centre sits at HR coordinate ``i·s + (s-1)/2``. ``scipy.ndimage.zoom`` with
``grid_mode=True`` samples HR pixel ``j`` at LR coordinate ``(j + 0.5)/s - 0.5``,
which is exactly that convention: ``bicubic(block_mean(hr))`` is not shifted
against ``hr``. (The interpolant is the cubic B-spline with prefilter, the
usual "bicubic" of scipy/scikit-image.)

NumPy/SciPy/scikit-image only: importable without torch.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, signal
from skimage.restoration import richardson_lucy

from srscope.degradation import DegradationRecord, GaussianPSF
from srscope.errors import ImageError, SettingsError


def _check(lr: np.ndarray, scale: int) -> np.ndarray:
    lr = np.asarray(lr, dtype=np.float32)
    if lr.ndim < 2:
        raise ImageError(f"expected an image (..., Y, X), got shape {lr.shape}")
    if not (isinstance(scale, (int, np.integer)) and 1 <= scale <= 8):
        raise SettingsError(f"scale must be an integer 1..8, got {scale!r}")
    return lr


def bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    """Cubic-spline upsampling of the last two axes by ``scale`` (float32, shape ``s·H × s·W``)."""
    lr = _check(lr, scale)
    zoom = (1,) * (lr.ndim - 2) + (scale, scale)
    out = ndimage.zoom(lr, zoom, order=3, grid_mode=True, mode="reflect")
    return out.astype(np.float32, copy=False)


def gaussian_psf(sigma_px: float, truncate: float = 4.0) -> np.ndarray:
    """A normalised 2-D Gaussian kernel (odd size, sums to 1)."""
    if sigma_px <= 0:
        return np.ones((1, 1), dtype=np.float64)
    r = max(1, math.ceil(truncate * sigma_px))
    y = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (y / sigma_px) ** 2)
    psf = np.outer(g, g)
    return psf / psf.sum()


def effective_sigma(sigma_hr_px: float, scale: int, pixel_box: bool = True) -> float:
    """PSF sigma seen in a bicubic-upsampled LR image, in HR pixels.

    The optics blur with ``sigma_hr_px``; the LR camera pixel adds a box of
    ``scale`` HR pixels (variance ``s²/12``). Deconvolving with the optics alone
    under-corrects, so the box is included by default (Gaussian approximation).
    """
    var = sigma_hr_px**2 + (scale**2 / 12.0 if pixel_box else 0.0)
    return math.sqrt(var)


def rl_psf(record: DegradationRecord, scale: int, pixel_box: bool = True) -> np.ndarray:
    """The PSF a bicubic-upsampled LR image shows: the record's PSF and the LR pixel's box."""
    if isinstance(record.psf, GaussianPSF):
        return gaussian_psf(effective_sigma(record.psf.sigma_hr_px, scale, pixel_box))
    k = record.psf.array()
    if pixel_box:  # an even box, centred on a pixel: half weights at both ends
        box = np.ones(scale + 1 - scale % 2)
        if scale % 2 == 0:
            box[[0, -1]] = 0.5
        k = signal.convolve2d(k, np.outer(box, box) / box.sum() ** 2)
    return k / k.sum()


def bicubic_rl(
    lr: np.ndarray,
    scale: int,
    record_or_sigma: DegradationRecord | float,
    iterations: int = 10,
    *,
    offset: float | None = None,
    pixel_box: bool = True,
) -> np.ndarray:
    """Bicubic upsampling followed by Richardson–Lucy deconvolution (the paper's baseline).

    ``record_or_sigma``: the calibrated :class:`DegradationRecord` (its Gaussian
    PSF sigma in HR pixels and its camera offset are used) or a sigma in HR
    pixels. RL needs a non-negative image: the offset (record's, else the
    ``offset`` argument, else the 0.1th percentile) is removed first, the
    image scaled to ≈[0, 1], and both undone afterwards, so the output is in
    the input's units.
    """
    if isinstance(record_or_sigma, DegradationRecord):
        psf = rl_psf(record_or_sigma, scale, pixel_box)
        if offset is None:
            offset = record_or_sigma.intensity.offset
    else:
        sigma = float(record_or_sigma)
        if sigma < 0:
            raise SettingsError(f"PSF sigma must be ≥ 0, got {sigma}")
        psf = gaussian_psf(effective_sigma(sigma, scale, pixel_box))
    if iterations < 1:
        raise SettingsError(f"iterations must be ≥ 1, got {iterations}")
    up = bicubic(lr, scale).astype(np.float64)
    if offset is None:
        offset = float(np.percentile(up, 0.1))
    lead = up.shape[:-2]
    out = np.empty_like(up, dtype=np.float32)
    for idx in np.ndindex(*lead) if lead else [()]:
        img = np.clip(up[idx] - offset, 0, None)
        peak = float(img.max())
        if peak <= 0:
            out[idx] = up[idx]
            continue
        dec = richardson_lucy(img / peak, psf, num_iter=iterations, clip=False)
        out[idx] = dec * peak + offset
    return out
