"""Single-image resolution without a target: decorrelation analysis, and FRC.

Decorrelation analysis (Descloux, Grußmayer & Radenovic, Nat. Methods 16, 918,
2019): correlate the image's Fourier transform ``I(k)`` with its phase-only
version ``I(k)/|I(k)|`` restricted to a disc of radius ``r`` (``r = 1`` is the
Nyquist frequency). The correlation ``d(r)`` rises while the disc adds signal
and falls once it adds mostly noise; its peak marks the highest frequency
with usable signal. Repeating with Gaussian high-pass filters of decreasing
width brings out higher-frequency peaks; the highest peak ``k_c`` gives the
resolution ``2·pixel / k_c``. This follows the authors' reference
implementation (ImDecorr: edge apodisation, local-maximum rule, ``Ng`` high-pass
filters) without the second refinement pass, which a finer radius grid (200 radii
instead of 50) replaces; peaks weaker than 0.05 are
ignored (noise). Without any peak the image carries signal up to Nyquist (or
is white noise, which is indistinguishable): the result is then the sampling
limit, 2 pixels, flagged ``sampling_limited``.

Caveats worth saying out loud: the estimate measures the highest frequency
with structure above the noise, not truth; a GAN that invents high-frequency
texture improves it. Compare it with the consistency map and the HR capture.

FRC (two independent captures of the same field) is given too: resolution
where the ring correlation falls below the 1/7 threshold.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import ConfigDict

from srscope.errors import SrscopeError
from srscope.model_base import SrscopeModel

MIN_PEAK = 0.05


class DecorrelationResult(SrscopeModel):
    """Resolution estimate and the curves behind it (for plots)."""

    model_config = ConfigDict(frozen=True)

    resolution_um: float
    resolution_px: float
    k_c: float
    amplitude: float
    pixel_size_um: float
    radii: list[float]
    d0: list[float]
    sampling_limited: bool


def apodize(img: np.ndarray, border: int = 20) -> np.ndarray:
    """Cosine taper of the image minus its mean over ``border`` pixels at each edge."""
    img = np.asarray(img, dtype=np.float64)
    img = img - img.mean()
    out = img.copy()
    for axis, n in enumerate(img.shape):
        b = min(border, n // 4)
        if b < 1:
            continue
        ramp = 0.5 * (1 - np.cos(np.pi * (np.arange(b) + 0.5) / b))
        w = np.ones(n)
        w[:b] = ramp
        w[-b:] = ramp[::-1]
        shape = [1, 1]
        shape[axis] = n
        out *= w.reshape(shape)
    return out


def _radius_grid(shape: tuple[int, int]) -> np.ndarray:
    """Normalised spatial frequency of each FFT pixel: 1 at Nyquist along each axis."""
    fy = np.fft.fftfreq(shape[0]) * 2.0
    fx = np.fft.fftfreq(shape[1]) * 2.0
    return np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


def _local_max(d: np.ndarray) -> tuple[int, float]:
    """ImDecorr's rule: the highest maximum that is not at the end of the curve."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    while n > 1:
        ind = int(np.argmax(d[:n]))
        if ind == n - 1:
            n -= 1
            continue
        if ind == 0 or d[ind] - d[ind:n].min() >= 0.0005:
            return ind, float(d[ind])
        n -= 1
    return 0, float(d[0])


def _dcorr_curve(ik: np.ndarray, i_n: np.ndarray, r2: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """``d(r)`` for every radius, via cumulative sums over pixels sorted by radius."""
    order = np.argsort(r2, axis=None)
    r2s = r2.ravel()[order]
    num = np.cumsum(np.real(ik.ravel()[order] * np.conj(i_n.ravel()[order])))
    den_n = np.cumsum(np.abs(i_n.ravel()[order]) ** 2)
    c = math.sqrt(float(np.sum(np.abs(ik) ** 2)))
    idx = np.searchsorted(r2s, radii**2, side="left") - 1
    d = np.zeros(len(radii))
    ok = idx >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        d[ok] = num[idx[ok]] / (c * np.sqrt(den_n[idx[ok]]))
    return np.nan_to_num(d)


def decorrelation_resolution(
    image: np.ndarray,
    pixel_size_um: float = 1.0,
    *,
    n_radii: int = 200,
    n_filters: int = 10,
) -> DecorrelationResult:
    """Resolution of a 2-D image by decorrelation analysis (µm, and pixels)."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 32:
        raise SrscopeError(f"decorrelation needs a 2-D image of at least 32×32, got {img.shape}")
    if not np.isfinite(img).all() or np.ptp(img) == 0:
        raise SrscopeError("decorrelation needs a finite, non-constant image")
    img = apodize(img)
    ik = np.fft.fft2(img)
    r = _radius_grid(img.shape)
    inside = r < 1.0
    ik = ik * inside
    mag = np.abs(ik)
    i_n = np.divide(ik, mag, out=np.zeros_like(ik), where=mag > 0)
    r2 = np.where(inside, r**2, np.inf)
    radii = np.linspace(0.0, 1.0, n_radii + 1)[1:]

    d0 = _dcorr_curve(ik, i_n, r2, radii)
    i0, a0 = _local_max(d0)
    r0 = radii[i0]
    g_max = 2.0 / r0 if r0 > 0 else max(img.shape) / 2
    sigmas = [max(img.shape) / 4, *np.exp(np.linspace(math.log(g_max), math.log(0.15), n_filters))]
    best_k, best_a = (r0, a0) if (a0 >= MIN_PEAK and i0 > 0) else (0.0, 0.0)
    for g in sigmas:
        ir = ik * (1.0 - np.exp(-2.0 * g * g * r**2))
        d = _dcorr_curve(ir, i_n, r2, radii)
        ind, amp = _local_max(d)
        if ind > 0 and amp >= MIN_PEAK and radii[ind] > best_k:
            best_k, best_a = float(radii[ind]), amp
    # no peak inside the band: usable signal up to Nyquist (or pure white noise, which
    # looks the same); the pixel grid, not the optics, limits: report 2 px as the bound
    sampling_limited = best_k <= 0
    k = 1.0 if sampling_limited else best_k
    res_px = 2.0 / k
    return DecorrelationResult(
        resolution_um=res_px * pixel_size_um,
        resolution_px=res_px,
        k_c=float(k),
        amplitude=float(best_a),
        pixel_size_um=float(pixel_size_um),
        radii=[float(x) for x in radii],
        d0=[float(x) for x in d0],
        sampling_limited=sampling_limited,
    )


def space_bandwidth_product(shape: tuple[int, int], pixel_size_um: float, res_um: float) -> float:
    """Effective space-bandwidth product: FOV area / (resolution/2)².

    The number of Nyquist samples the field would need at the measured
    resolution, i.e. how many independent resolvable points the image holds.
    """
    if not res_um > 0:
        raise SrscopeError(f"resolution must be > 0, got {res_um}")
    area = shape[0] * shape[1] * pixel_size_um**2
    return float(area / (res_um / 2.0) ** 2)


def frc(
    a: np.ndarray, b: np.ndarray, pixel_size_um: float = 1.0, n_bins: int = 50
) -> tuple[float | None, np.ndarray, np.ndarray]:
    """Fourier ring correlation of two independent captures; resolution at the 1/7 threshold.

    Returns ``(resolution_um or None, ring radii (1 = Nyquist), FRC values)``.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 2:
        raise SrscopeError(f"FRC needs two 2-D images of one shape, got {a.shape}, {b.shape}")
    fa, fb = np.fft.fft2(apodize(a)), np.fft.fft2(apodize(b))
    r = _radius_grid(a.shape)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.digitize(r, edges) - 1
    valid = (which >= 0) & (which < n_bins)
    w = which[valid]
    num = np.bincount(w, np.real(fa * np.conj(fb))[valid], n_bins)
    da = np.bincount(w, (np.abs(fa) ** 2)[valid], n_bins)
    db = np.bincount(w, (np.abs(fb) ** 2)[valid], n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.nan_to_num(num / np.sqrt(da * db))
    centres = 0.5 * (edges[:-1] + edges[1:])
    below = np.nonzero(curve[1:] < 1.0 / 7.0)[0]
    if len(below) == 0:
        return None, centres, curve
    k = centres[below[0] + 1]
    return 2.0 * pixel_size_um / k, centres, curve
