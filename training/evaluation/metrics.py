"""Image-quality metrics and scoring-only registration (NumPy/SciPy/scikit-image).

PSNR and SSIM always take an explicit ``data_range``: scikit-image guesses it
from the dtype otherwise, which is wrong for float images in camera units.

SR output and HR captures come from different objectives (different gain,
offset, exposure) and are centred on the same stage position but not
registered to the pixel. :func:`prepare_for_scoring` therefore (1) registers
the test image to the HR capture by sub-pixel phase correlation, (2) crops the
common central region, (3) normalises the HR crop by percentiles and maps the
test image onto it with the least-squares affine intensity map (as CSBDeep's
evaluation does). The same treatment is applied to every method, so the
comparison between SR and baselines stays fair. Registration is for scoring
only: nothing in training relies on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import window
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.registration import phase_cross_correlation

from srscope.errors import ImageError, SrscopeError


def _as_float(img: np.ndarray) -> np.ndarray:
    return np.asarray(img, dtype=np.float64)


def _check_pair(ref: np.ndarray, test: np.ndarray) -> None:
    if ref.shape != test.shape:
        raise ImageError(f"images differ in shape: {ref.shape} vs {test.shape}")
    if ref.ndim != 2:
        raise ImageError(f"expected 2-D images (Y, X), got shape {ref.shape}")


def psnr(ref: np.ndarray, test: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB with an explicit data range."""
    ref, test = _as_float(ref), _as_float(test)
    _check_pair(ref, test)
    if not data_range > 0:
        raise SrscopeError(f"data_range must be > 0, got {data_range}")
    if np.array_equal(ref, test):
        return math.inf
    return float(peak_signal_noise_ratio(ref, test, data_range=data_range))


def ssim(ref: np.ndarray, test: np.ndarray, data_range: float) -> float:
    """Structural similarity (7×7 uniform window, scikit-image defaults) with explicit range."""
    ref, test = _as_float(ref), _as_float(test)
    _check_pair(ref, test)
    if min(ref.shape) < 7:
        raise ImageError(f"image {ref.shape} is too small for SSIM (needs ≥ 7×7)")
    if not data_range > 0:
        raise SrscopeError(f"data_range must be > 0, got {data_range}")
    return float(structural_similarity(ref, test, data_range=data_range))


def center_crop(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Central ``shape`` region of the last two axes (odd leftovers go to the far side)."""
    h, w = img.shape[-2:]
    th, tw = int(shape[0]), int(shape[1])
    if th > h or tw > w:
        raise ImageError(f"cannot crop {h}x{w} to {th}x{tw}")
    y0, x0 = (h - th) // 2, (w - tw) // 2
    return img[..., y0 : y0 + th, x0 : x0 + tw]


@dataclass(frozen=True)
class Registration:
    """A test image registered onto a reference, both cropped to the common region."""

    reference: np.ndarray
    moving: np.ndarray
    shift_px: tuple[float, float]
    error: float


def register(
    reference: np.ndarray,
    moving: np.ndarray,
    *,
    upsample_factor: int = 20,
    max_shift_px: float | None = None,
    border_px: int = 2,
) -> Registration:
    """Register ``moving`` to ``reference`` (sub-pixel phase correlation), crop common centre.

    Both images are first centre-cropped to their common shape (captures are
    centred on the same stage position). The moving image is shifted with a
    cubic spline; the margin that the shift pulled in from outside is cropped
    from both, plus ``border_px``.
    """
    ref, mov = _as_float(reference), _as_float(moving)
    if ref.ndim != 2 or mov.ndim != 2:
        raise ImageError(f"register expects 2-D images, got {ref.shape} and {mov.shape}")
    common = (min(ref.shape[0], mov.shape[0]), min(ref.shape[1], mov.shape[1]))
    ref, mov = center_crop(ref, common), center_crop(mov, common)
    if min(common) < 16:
        raise ImageError(f"common region {common} is too small to register")
    # Hann window + plain cross-correlation: the image borders do not line up after a
    # shift, and phase normalisation amplifies the noise of smooth (blurred) images.
    win = window("hann", common)
    shift, error, _ = phase_cross_correlation(
        (ref - ref.mean()) * win,
        (mov - mov.mean()) * win,
        upsample_factor=upsample_factor,
        normalization=None,
    )
    shift = np.asarray(shift, dtype=float)
    if max_shift_px is not None and np.abs(shift).max() > max_shift_px:
        raise ImageError(
            f"registration shift {tuple(np.round(shift, 2))} px exceeds {max_shift_px} px: "
            "are these captures of the same field?"
        )
    aligned = ndimage.shift(mov, shift, order=3, mode="nearest")
    m = math.ceil(np.abs(shift).max()) + border_px
    if 2 * m >= min(common) - 8:
        raise ImageError(f"registration shift {tuple(shift)} leaves no common region")
    sl = (slice(m, common[0] - m), slice(m, common[1] - m))
    return Registration(
        reference=ref[sl],
        moving=aligned[sl],
        shift_px=(float(shift[0]), float(shift[1])),
        error=float(error),
    )


def percentile_normalize(
    img: np.ndarray, low: float = 0.1, high: float = 99.9
) -> tuple[np.ndarray, float, float]:
    """Map the ``low``/``high`` percentiles to 0/1; returns the image and the two levels."""
    img = _as_float(img)
    lo, hi = np.percentile(img, [low, high])
    if not hi > lo:
        raise ImageError("image is constant: cannot normalise for scoring")
    return (img - lo) / (hi - lo), float(lo), float(hi)


def affine_match(test: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``a·test + b`` with the least-squares (a, b) to ``target``: removes gain/offset only."""
    x, y = _as_float(test).ravel(), _as_float(target).ravel()
    xm, ym = x.mean(), y.mean()
    var = np.mean((x - xm) ** 2)
    a = np.mean((x - xm) * (y - ym)) / var if var > 0 else 0.0
    return a * (_as_float(test) - xm) + ym


def score(hr: np.ndarray, test: np.ndarray, data_range: float = 1.0) -> dict[str, float]:
    """PSNR and SSIM of ``test`` against ``hr`` (already registered and normalised)."""
    return {"psnr": psnr(hr, test, data_range), "ssim": ssim(hr, test, data_range)}


def prepare_for_scoring(
    hr: np.ndarray, test: np.ndarray, *, register_images: bool = True
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Register, crop, normalise: returns (hr_norm, test_matched, shift) with data range 1."""
    if register_images:
        reg = register(hr, test)
        ref, mov, shift = reg.reference, reg.moving, reg.shift_px
    else:
        common = (min(hr.shape[0], test.shape[0]), min(hr.shape[1], test.shape[1]))
        ref, mov, shift = center_crop(_as_float(hr), common), center_crop(test, common), (0, 0)
    ref_n, _, _ = percentile_normalize(ref)
    return ref_n, affine_match(mov, ref_n), shift


def fields(shape: tuple[int, int], field: int) -> list[tuple[slice, slice]]:
    """Non-overlapping ``field``×``field`` tiles centred in ``shape`` (≥ 1: whole if smaller)."""
    h, w = shape
    ny, nx = max(h // field, 1), max(w // field, 1)
    fh, fw = min(field, h), min(field, w)
    y0, x0 = (h - ny * fh) // 2, (w - nx * fw) // 2
    return [
        (slice(y0 + i * fh, y0 + (i + 1) * fh), slice(x0 + j * fw, x0 + (j + 1) * fw))
        for i in range(ny)
        for j in range(nx)
    ]
