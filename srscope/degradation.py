"""The degradation record of DESIGN.md and its NumPy application.

``LR = gain * blockmean_s(PSF * HR) + offset + noise``. Shared by training
(pair synthesis), the engine (consistency map) and evaluation (baselines), so
it lives here and depends on NumPy/SciPy only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from srscope.atomic import write_text_atomic
from srscope.errors import SrscopeError

DEGRADATION_FORMAT = "srscope-degradation/1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GaussianPSF(_Model):
    kind: Literal["gaussian"] = "gaussian"
    sigma_hr_px: float = Field(ge=0.0, description="PSF sigma in HR pixels")


class Intensity(_Model):
    gain: float = 1.0
    offset: float = 0.0


class Noise(_Model):
    kind: Literal["gaussian", "poisson-gaussian"] = "gaussian"
    std: float = Field(0.0, ge=0.0, description="read-noise std in LR camera units")
    # Poisson-Gaussian: variance = std**2 + poisson_gain * max(signal - offset, 0)
    poisson_gain: float = Field(0.0, ge=0.0)


class FitReport(_Model):
    pairs: int = 0
    rmse: float | None = None
    whiteness: float | None = None
    model_config = ConfigDict(extra="allow", frozen=True)


class DegradationRecord(_Model):
    format: Literal["srscope-degradation/1"] = DEGRADATION_FORMAT
    scale: int = Field(ge=2, le=5)
    psf: GaussianPSF
    intensity: Intensity = Intensity()
    noise: Noise = Noise()
    fit: FitReport | None = None

    # -- io -------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> DegradationRecord:
        path = Path(path)
        if not path.is_file():
            raise SrscopeError(f"degradation record not found: {path}")
        try:
            return cls.model_validate_json(path.read_text())
        except ValueError as exc:
            first = str(exc).splitlines()[0]
            raise SrscopeError(f"invalid degradation record {path}: {first}") from None

    def save(self, path: str | os.PathLike) -> Path:
        return write_text_atomic(Path(path), self.model_dump_json(indent=2))

    # -- application ----------------------------------------------------
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
        lr = degrade_noise_free(hr, self.scale, self.psf.sigma_hr_px)
        lr = self.intensity.gain * lr + self.intensity.offset
        if noise:
            lr = add_noise(lr, self.noise, self.intensity.offset, rng)
        return lr.astype(np.float32, copy=False)


def degrade_noise_free(hr: np.ndarray, scale: int, sigma_hr_px: float) -> np.ndarray:
    """Gaussian blur in the last two axes, then mean over ``scale``×``scale`` blocks."""
    hr = np.asarray(hr, dtype=np.float32)
    if hr.ndim < 2:
        raise SrscopeError(f"expected an image with at least 2 dimensions, got shape {hr.shape}")
    sigma = [0.0] * (hr.ndim - 2) + [sigma_hr_px, sigma_hr_px]
    blurred = ndimage.gaussian_filter(hr, sigma, mode="reflect") if sigma_hr_px > 0 else hr
    return block_mean(blurred, scale)


def block_mean(img: np.ndarray, scale: int) -> np.ndarray:
    """Average over ``scale``×``scale`` blocks of the last two axes (camera pixel integration)."""
    *lead, h, w = img.shape
    h2, w2 = (h // scale) * scale, (w // scale) * scale
    if h2 == 0 or w2 == 0:
        raise SrscopeError(f"image {h}x{w} is smaller than one {scale}x{scale} block")
    cropped = img[..., :h2, :w2]
    return cropped.reshape(*lead, h2 // scale, scale, w2 // scale, scale).mean(axis=(-3, -1))


def add_noise(
    lr: np.ndarray, noise: Noise, offset: float, rng: np.random.Generator | None = None
) -> np.ndarray:
    rng = rng or np.random.default_rng()
    var = np.full(lr.shape, noise.std**2, dtype=np.float32)
    if noise.kind == "poisson-gaussian" and noise.poisson_gain > 0:
        var = var + noise.poisson_gain * np.clip(lr - offset, 0, None)
    return lr + rng.standard_normal(lr.shape, dtype=np.float32) * np.sqrt(var)
