"""The consistency map: where does the SR image disagree with what the LR camera saw?

The SR image is a claim about the specimen. Degrading it with the calibrated
record (PSF blur, ``scale``×``scale`` pixel integration, no noise) predicts the
LR frame; the residual against the real LR frame, divided by the calibrated
per-pixel noise std (Poisson-Gaussian variance ``std² + poisson_gain·signal``),
is a z-score map at LR resolution. Where ``|z|`` is large the SR invented or
lost structure that the LR measurement contradicts. It cannot flag structure
finer than the LR camera can see (that is what SR adds and no measurement at
LR can confirm), so a clean map means "consistent with the data", not "true".

NumPy/SciPy only, O(pixels): cheap enough to run per live frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage
from scipy.special import erfc

from sr_engine.errors import ModelError
from srscope.degradation import DegradationRecord, block_mean
from srscope.errors import ImageError, SettingsError

IntensityMode = Literal["fit", "record", "none"]


def _expected_false_alarm(threshold: float) -> float:
    """Fraction of pixels with ``|z| > threshold`` if the residual were white Gaussian noise."""
    return float(erfc(threshold / math.sqrt(2.0)))


@dataclass(frozen=True)
class ConsistencyMap:
    """Per-pixel z-scores at LR resolution and what went into them."""

    z: np.ndarray
    expected_lr: np.ndarray
    scale: int
    threshold: float
    window: int = 1
    gain_offset: tuple[float, float] = (1.0, 0.0)

    @property
    def flagged(self) -> np.ndarray:
        """Boolean map of LR pixels with ``|z| > threshold``."""
        return np.abs(self.z) > self.threshold

    @property
    def flagged_fraction(self) -> float:
        return float(self.flagged.mean())

    def upsampled(self) -> np.ndarray:
        """z at SR size for overlays: each LR pixel covers exactly ``scale``×``scale`` SR pixels."""
        return np.repeat(np.repeat(self.z, self.scale, axis=-2), self.scale, axis=-1)

    def summary(self) -> dict[str, float]:
        """One line per image: flagged fraction (vs the pure-noise expectation) and rms z.

        ``rms_z`` ≈ 1 means the calibrated noise explains the residual; much more
        than 1 everywhere means the record does not fit this rig (recalibrate).
        An SR computed from this very LR frame carries part of its noise, so
        values somewhat below 1 are normal (the flagged fraction then errs on
        the side of fewer alarms).
        """
        z = self.z
        return {
            "threshold": self.threshold,
            "flagged_fraction": self.flagged_fraction,
            "expected_false_alarm": _expected_false_alarm(self.threshold),
            "rms_z": float(np.sqrt(np.mean(z.astype(np.float64) ** 2))),
            "max_abs_z": float(np.abs(z).max()),
            "gain": self.gain_offset[0],
            "offset": self.gain_offset[1],
        }


def _fit_affine(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    xs, ys = x[mask].astype(np.float64), y[mask].astype(np.float64)
    xm, ym = xs.mean(), ys.mean()
    var = np.mean((xs - xm) ** 2)
    a = float(np.mean((xs - xm) * (ys - ym)) / var) if var > 0 else 0.0
    return a, float(ym - a * xm)


def consistency_map(
    sr: np.ndarray,
    lr: np.ndarray,
    record: DegradationRecord,
    *,
    threshold: float = 3.0,
    intensity: IntensityMode = "fit",
    window: int = 1,
    fast: bool = False,
) -> ConsistencyMap:
    """z-score map of the real LR frame against the degraded SR image (2-D).

    ``sr`` is ``(s·H, s·W)`` (cropped to multiples of ``s`` otherwise), ``lr`` is
    ``(H, W)``. ``intensity`` says how SR units relate to LR units:

    - ``"fit"`` (default): one gain and offset per frame fitted by least squares
      (twice, the second time without the flagged pixels). Robust to whatever
      units the engine returned; two numbers per frame cannot hide a local
      invented structure.
    - ``"record"``: SR is in HR units, the record's gain/offset map it to LR units.
    - ``"none"``: SR is already in LR camera units.

    ``window`` > 1 averages the normalised residual over ``window``×``window`` LR
    pixels (rescaled to unit variance): more sensitive to extended structure,
    coarser in position.

    ``fast=True`` blurs after the block mean (``σ/s`` in LR pixels, σ the PSF's
    equivalent Gaussian) instead of before: about 5× cheaper, and within ≈0.1
    noise std of the exact map on smooth specimens; use it when the exact map
    (≈0.1 s per 2048² SR frame on one core) is too slow for the live frame rate.
    """
    sr = np.asarray(sr, dtype=np.float32)
    lr = np.asarray(lr, dtype=np.float32)
    if sr.ndim != 2 or lr.ndim != 2:
        raise ImageError(f"consistency map expects 2-D images, got {sr.shape} and {lr.shape}")
    s = record.scale
    h, w = sr.shape[0] // s, sr.shape[1] // s
    if (h, w) != lr.shape:
        raise ImageError(f"SR {sr.shape} is not {s}x the LR frame {lr.shape} (record scale {s})")
    if window < 1:
        raise SettingsError(f"window must be ≥ 1, got {window}")
    if fast:  # any PSF kind: its equivalent Gaussian, applied after the block mean
        sigma_lr = record.equivalent_sigma_hr_px / s
        blurred = block_mean(sr, s)
        if sigma_lr > 0:
            blurred = ndimage.gaussian_filter(blurred, sigma_lr, mode="reflect")
        blurred = record.intensity.gain * blurred + record.intensity.offset
    else:
        blurred = record.apply(sr, noise=False)
    # undo the record's own intensity map, then choose how SR units map to LR units
    g0, o0 = record.intensity.gain, record.intensity.offset
    base = (blurred - o0) / g0 if g0 != 0 else blurred
    noise = record.noise

    def zmap(expected: np.ndarray) -> np.ndarray:
        var = np.maximum(noise.variance(expected, o0), 1e-12)
        z = (lr - expected) / np.sqrt(var)
        if window > 1:
            z = ndimage.uniform_filter(z, window, mode="reflect") * window
        return z.astype(np.float32, copy=False)

    if intensity == "record":
        gain, offset = g0, o0
    elif intensity == "none":
        gain, offset = 1.0, 0.0
    elif intensity == "fit":
        mask = np.ones(lr.shape, dtype=bool)
        gain, offset = _fit_affine(base, lr, mask)
        keep = np.abs(zmap(gain * base + offset)) <= threshold
        if keep.mean() > 0.5:
            gain, offset = _fit_affine(base, lr, keep)
    else:
        raise SettingsError(f"unknown intensity mode {intensity!r}")
    expected = (gain * base + offset).astype(np.float32)
    return ConsistencyMap(
        z=zmap(expected),
        expected_lr=expected,
        scale=s,
        threshold=float(threshold),
        window=window,
        gain_offset=(float(gain), float(offset)),
    )


def model_record(model: object) -> DegradationRecord:
    """The calibrated record inside a model's metadata (``SRModel.meta.degradation``)."""
    record = getattr(getattr(model, "meta", None), "degradation", None)
    if record is None:
        raise ModelError(
            "this model carries no degradation record: the consistency map needs one "
            "(pass degradation.json from `srscope calibrate`)"
        )
    return record


def consistency_for_model(
    model: object, sr: np.ndarray, lr: np.ndarray, **kwargs: object
) -> ConsistencyMap:
    """Per-frame map for the engine/viewer: the record comes from the model file."""
    return consistency_map(sr, lr, model_record(model), **kwargs)  # type: ignore[arg-type]
