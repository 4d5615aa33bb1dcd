"""Where the HR field lies inside the (larger) LR capture: scoring only, never pairs.

Both captures are centred on the same stage position but not registered to the
pixel. Calibration needs the HR field on the LR pixel grid to compare a
degraded HR with the real LR, so we locate it: normalised cross-correlation for
the integer position, then sub-pixel phase correlation around it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import match_template
from skimage.registration import phase_cross_correlation

from srscope.degradation import block_mean, degrade_noise_free
from srscope.errors import SrscopeError


def locate(
    template: np.ndarray, lr: np.ndarray, upsample: int = 20, iterations: int = 5
) -> tuple[float, float]:
    """Sub-pixel ``(y, x)`` of the template's top-left pixel inside ``lr`` (LR pixels)."""
    template = np.asarray(template, dtype=np.float64)
    lr = np.asarray(lr, dtype=np.float64)
    th, tw = template.shape
    if th > lr.shape[0] or tw > lr.shape[1]:
        raise SrscopeError(f"HR field ({th}x{tw} LR px) is larger than the LR capture {lr.shape}")
    ncc = match_template(lr, template)
    iy, ix = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
    window = lr[iy : iy + th, ix : ix + tw]
    # phase correlation of non-periodic windows is biased towards zero shift; shifting
    # the template by the estimate and measuring what is left converges to the true shift
    total = np.zeros(2)
    for _ in range(iterations):
        moved = shift_image(template, *total) if total.any() else template
        shift, _, _ = phase_cross_correlation(
            window, moved, upsample_factor=upsample, normalization=None
        )
        total += shift
        if np.abs(shift).max() < 0.5 / upsample:
            break
    return float(iy + total[0]), float(ix + total[1])


def hr_footprint_template(hr: np.ndarray, scale: int, sigma_hr_px: float) -> np.ndarray:
    """The HR capture degraded (noise-free) to LR resolution: what to look for in the LR."""
    return degrade_noise_free(hr, scale, sigma_hr_px)


def shift_image(img: np.ndarray, dy: float, dx: float, pad: int = 16) -> np.ndarray:
    """Sub-pixel translation by Fourier shift, reflect-padded so edges do not wrap around."""
    padded = np.pad(np.asarray(img, dtype=np.float64), pad, mode="reflect")
    out = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(padded), (dy, dx))).real
    return out[pad:-pad, pad:-pad]


def align_on_lr_grid(
    hr: np.ndarray, scale: int, y0: float, x0: float
) -> tuple[np.ndarray, int, int]:
    """Shift the HR capture so its ``scale``×``scale`` blocks fall on LR pixels.

    Returns the shifted HR cropped to whole blocks and the LR pixel ``(ky, kx)``
    its first block covers. Callers blur this whole image, then drop a margin.
    """
    ky, kx = int(np.ceil(y0)), int(np.ceil(x0))
    dy, dx = (ky - y0) * scale, (kx - x0) * scale  # HR offset of LR pixel ky's top edge
    shifted = shift_image(hr, -dy, -dx)
    ny = int((hr.shape[0] - dy) // scale)
    nx = int((hr.shape[1] - dx) // scale)
    return shifted[: ny * scale, : nx * scale], ky, kx


__all__ = ["align_on_lr_grid", "block_mean", "hr_footprint_template", "locate", "shift_image"]
