"""The degradation record of DESIGN.md and its NumPy application.

``LR = gain · blockmean_s(PSF ⊛ HR) + offset + noise``. Shared by training
(pair synthesis, ``srscope degrade``), the engine (consistency map) and
evaluation (baselines), so it lives here and depends on NumPy/SciPy only: one
implementation of the maths, whoever applies it.

Version 2 (``srscope-degradation/2``) adds two PSF kinds beside v1's Gaussian:
``airy`` (the LR objective's Airy pattern from NA and wavelength, relative to the
HR objective that took the references, with a fitted width scale and an
optional defocus) and ``kernel`` (a non-parametric HR-pixel kernel estimated
from the reference pairs). Pixel integration is always the explicit block
mean, never folded into the PSF. Noise is ``gaussian`` or ``poisson-gaussian``
(variance = ``poisson_gain`` · (signal − offset) + ``std``²: camera gain and read
noise). A v1 record loads unchanged and means what it meant.
"""

from __future__ import annotations

import math
import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator
from scipy import ndimage, signal

from srscope.errors import ImageError, SettingsError
from srscope.model_base import SrscopeModel
from srscope.optics import airy_otf, defocus_otf

DEGRADATION_FORMAT_V1 = "srscope-degradation/1"
DEGRADATION_FORMAT = "srscope-degradation/2"


class _Frozen(SrscopeModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)


class GaussianPSF(_Frozen):
    """v1's PSF: a Gaussian of ``sigma_hr_px`` HR pixels (``scipy.ndimage.gaussian_filter``)."""

    kind: Literal["gaussian"] = "gaussian"
    sigma_hr_px: float = Field(ge=0.0, description="PSF sigma in HR pixels")

    def describe(self) -> str:
        return f"Gaussian σ = {self.sigma_hr_px:.2f} HR px"

    def array(self) -> np.ndarray:
        """The kernel ``gaussian_filter`` applies (radius 4σ), for fits and figures."""
        if self.sigma_hr_px <= 0:
            return np.ones((1, 1))
        r = int(4.0 * self.sigma_hr_px + 0.5)
        y = np.arange(-r, r + 1, dtype=np.float64)
        g = np.exp(-0.5 * (y / self.sigma_hr_px) ** 2)
        g /= g.sum()
        return np.outer(g, g)


class AiryPSF(_Frozen):
    """The LR objective's Airy PSF as seen from an HR capture, in HR pixels.

    The HR reference was itself blurred by the HR objective, so where ``hr_na``
    is given its transfer function is divided out inside the LR band (the LR
    band is the narrower one). ``width_scale`` > 1 widens the PSF (aberrations,
    a fill factor of the pupil); ``defocus_um`` adds geometric defocus.
    """

    kind: Literal["airy"] = "airy"
    na: float = Field(gt=0, lt=1.6, description="numerical aperture of the LR objective")
    wavelength_nm: float = Field(gt=200, lt=2000, description="emission / filter wavelength")
    hr_pixel_size_um: float = Field(gt=0, description="pixel size of the HR images it blurs")
    hr_na: float | None = Field(None, gt=0, lt=1.6, description="NA of the HR objective")
    width_scale: float = Field(1.0, gt=0.1, lt=10.0, description="fitted PSF width factor")
    defocus_um: float = Field(0.0, ge=0.0, lt=1000.0)

    def describe(self) -> str:
        return (
            f"Airy NA {self.na:g} at {self.wavelength_nm:g} nm, width ×{self.width_scale:.3f}"
            + (f", defocus {self.defocus_um:g} µm" if self.defocus_um else "")
        )

    def transfer(self, f_cyc_per_um: np.ndarray) -> np.ndarray:
        """LR-from-HR optical transfer at radial frequencies (cycles/µm)."""
        wl = self.wavelength_nm / 1000.0
        h = airy_otf(f_cyc_per_um * self.width_scale, self.na, wl).astype(np.float64)
        h *= defocus_otf(f_cyc_per_um, self.na, self.defocus_um)
        if self.hr_na is not None:
            hr = airy_otf(f_cyc_per_um, self.hr_na, wl).astype(np.float64)
            h = np.where(hr > 1e-3, h / np.maximum(hr, 1e-3), 0.0)
        return h

    def array(self, energy: float = 0.995) -> np.ndarray:
        """Kernel from the transfer function, cropped where it holds ``energy`` of its |mass|."""
        wl = self.wavelength_nm / 1000.0
        cutoff_px = 2 * self.na / (wl * self.width_scale) * self.hr_pixel_size_um
        extra = self.defocus_um * self.na / self.hr_pixel_size_um
        n = int(2 ** math.ceil(math.log2(max(64, 24 / max(cutoff_px, 1e-3) + 4 * extra))))
        f = np.fft.fftfreq(n, d=self.hr_pixel_size_um)
        fr = np.hypot(f[:, None], f[None, :])
        k = np.fft.fftshift(np.fft.ifft2(self.transfer(fr)).real)
        c = n // 2
        total = np.abs(k).sum()
        r = 1
        while r < c - 1 and np.abs(k[c - r : c + r + 1, c - r : c + r + 1]).sum() < energy * total:
            r += 1
        k = k[c - r : c + r + 1, c - r : c + r + 1]
        return k / k.sum()


class KernelPSF(_Frozen):
    """A non-parametric PSF in HR pixels (odd square, sums to 1), estimated from pairs."""

    kind: Literal["kernel"] = "kernel"
    kernel: list[list[float]]
    method: str = ""

    @model_validator(mode="after")
    def _shape(self) -> KernelPSF:
        k = np.asarray(self.kernel, dtype=np.float64)
        if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
            raise ValueError(f"kernel must be an odd square 2-D list, got shape {k.shape}")
        if abs(k.sum() - 1.0) > 1e-3:
            raise ValueError(f"kernel must sum to 1 (gain is separate), sums to {k.sum():.6g}")
        return self

    def describe(self) -> str:
        n = len(self.kernel)
        return f"measured {n}×{n} HR px kernel"

    def array(self) -> np.ndarray:
        return np.asarray(self.kernel, dtype=np.float64)


PSF = Annotated[GaussianPSF | AiryPSF | KernelPSF, Field(discriminator="kind")]


class Intensity(_Frozen):
    gain: float = 1.0
    offset: float = 0.0


class Noise(_Frozen):
    """Camera noise in LR units: variance = ``poisson_gain``·max(signal − offset, 0) + ``std``²."""

    kind: Literal["gaussian", "poisson-gaussian"] = "gaussian"
    std: float = Field(0.0, ge=0.0, description="read-noise std in LR camera units")
    poisson_gain: float = Field(0.0, ge=0.0, description="shot-noise variance per signal unit")

    def scaled(self, factor: float) -> Noise:
        """The same noise with its standard deviation times ``factor`` (variance × factor²)."""
        return self.model_copy(
            update={"std": self.std * factor, "poisson_gain": self.poisson_gain * factor**2}
        )

    def variance(self, expected: np.ndarray, offset: float) -> np.ndarray:
        """Per-pixel noise variance of an expected (noise-free) LR image."""
        var = np.full(np.shape(expected), self.std**2, dtype=np.float32)
        if self.kind == "poisson-gaussian" and self.poisson_gain > 0:
            var += np.float32(self.poisson_gain) * np.clip(expected - offset, 0, None)
        return var


class FitReport(_Frozen):
    pairs: int = 0
    rmse: float | None = None
    whiteness: float | None = None
    model_config = ConfigDict(extra="allow", frozen=True)


class DegradationRecord(_Frozen):
    format: Literal["srscope-degradation/1", "srscope-degradation/2"] = DEGRADATION_FORMAT
    scale: int = Field(ge=2, le=5)
    psf: PSF
    intensity: Intensity = Intensity()
    noise: Noise = Noise()
    fit: FitReport | None = None

    @model_validator(mode="before")
    @classmethod
    def _v1_psf_kind(cls, data: Any) -> Any:
        """v1 records may omit ``psf.kind``: it was always Gaussian."""
        psf = data.get("psf") if isinstance(data, dict) else None
        if isinstance(psf, dict) and "kind" not in psf:
            data = {**data, "psf": {"kind": "gaussian", **psf}}
        return data

    @model_validator(mode="after")
    def _v1_is_gaussian(self) -> DegradationRecord:
        if self.format == DEGRADATION_FORMAT_V1 and self.psf.kind != "gaussian":
            raise ValueError(f"psf.kind {self.psf.kind!r} needs format {DEGRADATION_FORMAT!r}")
        return self

    # -- io -------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> DegradationRecord:
        path = Path(path)
        if not path.is_file():
            raise SettingsError(f"degradation record not found: {path}")
        return cls.from_json(path.read_bytes(), f"invalid degradation record {path}")

    def save(self, path: str | os.PathLike) -> Path:
        return self.to_file(path, exclude_none=True)

    def widened(self, factor: float) -> DegradationRecord:
        """The same record with the PSF ``factor`` times as wide (training over a range of rigs)."""
        psf = self.psf
        if isinstance(psf, GaussianPSF):
            psf = psf.model_copy(update={"sigma_hr_px": psf.sigma_hr_px * factor})
        elif isinstance(psf, AiryPSF):
            psf = psf.model_copy(update={"width_scale": psf.width_scale * factor})
        else:
            psf = KernelPSF(kernel=stretch_kernel(psf.array(), factor).tolist(), method=psf.method)
        return self.model_copy(update={"psf": psf, "fit": None})

    # -- application ----------------------------------------------------
    @cached_property
    def _kernel(self) -> np.ndarray:
        return self.psf.array()

    @cached_property
    def equivalent_sigma_hr_px(self) -> float:
        """The Gaussian sigma with the PSF's second moment (for fast approximations)."""
        if isinstance(self.psf, GaussianPSF):
            return self.psf.sigma_hr_px
        k = self._kernel
        r = k.shape[0] // 2
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        cy, cx = float((k * yy).sum()), float((k * xx).sum())
        var = float((k * ((yy - cy) ** 2 + (xx - cx) ** 2)).sum()) / 2.0
        return float(np.sqrt(max(var, 0.0)))

    def blur(self, hr: np.ndarray) -> np.ndarray:
        """PSF ⊛ HR over the last two axes (reflected borders), float32, same shape."""
        hr = np.asarray(hr, dtype=np.float32)
        if hr.ndim < 2:
            raise ImageError(f"expected an image with at least 2 dimensions, got {hr.shape}")
        if isinstance(self.psf, GaussianPSF):
            return gaussian_blur(hr, self.psf.sigma_hr_px)
        return convolve_reflect(hr, self._kernel)

    def expected(self, hr: np.ndarray) -> np.ndarray:
        """The noise-free LR image of ``hr`` in camera units."""
        lr = block_mean(self.blur(hr), self.scale)
        return (self.intensity.gain * lr + self.intensity.offset).astype(np.float32, copy=False)

    def apply(
        self,
        hr: np.ndarray,
        *,
        noise: bool = True,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Degrade HR ``(..., Y, X)`` to LR camera units (float32).

        Y and X are cropped to multiples of ``scale``. With ``noise=False`` the
        result is the expected LR image (used by the consistency map).
        """
        lr = self.expected(hr)
        if noise:
            lr = add_noise(lr, self.noise, self.intensity.offset, rng)
        return lr.astype(np.float32, copy=False)


def stretch_kernel(kernel: np.ndarray, factor: float) -> np.ndarray:
    """``k(x / factor)`` resampled on an odd grid and renormalised: a ``factor`` times wider PSF."""
    r = kernel.shape[0] // 2
    r2 = max(1, math.ceil(r * factor))
    grid = np.arange(-r2, r2 + 1) / factor + r
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    out = ndimage.map_coordinates(kernel, [yy, xx], order=1, mode="constant", cval=0.0)
    return out / out.sum()


def gaussian_blur(img: np.ndarray, sigma_hr_px: float) -> np.ndarray:
    """v1's blur: a Gaussian over the last two axes with reflected borders."""
    if sigma_hr_px <= 0:
        return img
    sigma = [0.0] * (img.ndim - 2) + [sigma_hr_px, sigma_hr_px]
    return ndimage.gaussian_filter(img, sigma, mode="reflect")


def convolve_reflect(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolution over the last two axes with reflected borders (FFT; any kernel size)."""
    r = kernel.shape[0] // 2
    if r == 0:
        return img * np.float32(kernel[0, 0])
    pad = [(0, 0)] * (img.ndim - 2) + [(r, r), (r, r)]
    padded = np.pad(img, pad, mode="symmetric")
    k = kernel.astype(np.float32).reshape((1,) * (img.ndim - 2) + kernel.shape)
    out = signal.fftconvolve(padded, k, mode="valid", axes=(-2, -1))
    return out.astype(np.float32, copy=False)


def degrade_noise_free(
    hr: np.ndarray, scale: int, psf: float | GaussianPSF | AiryPSF | KernelPSF
) -> np.ndarray:
    """Blur (a sigma in HR pixels or any PSF), then mean over ``scale``×``scale`` blocks."""
    if not isinstance(psf, GaussianPSF | AiryPSF | KernelPSF):
        psf = GaussianPSF(sigma_hr_px=float(psf))
    return DegradationRecord(scale=scale, psf=psf).expected(hr)


def block_mean(img: np.ndarray, scale: int) -> np.ndarray:
    """Average over ``scale``×``scale`` blocks of the last two axes (camera pixel integration)."""
    *lead, h, w = img.shape
    h2, w2 = (h // scale) * scale, (w // scale) * scale
    if h2 == 0 or w2 == 0:
        raise ImageError(f"image {h}x{w} is smaller than one {scale}x{scale} block")
    cropped = img[..., :h2, :w2]
    return cropped.reshape(*lead, h2 // scale, scale, w2 // scale, scale).mean(axis=(-3, -1))


def add_noise(
    lr: np.ndarray, noise: Noise, offset: float, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Draw camera noise around an expected LR image (Gaussian approximation of Poisson)."""
    rng = rng or np.random.default_rng()
    sd = np.sqrt(noise.variance(lr, offset))
    return lr + rng.standard_normal(lr.shape, dtype=np.float32) * sd
