"""Pixel types srscope reads: a check shared by every part that reads images."""

from __future__ import annotations

import numpy as np

from srscope.errors import SrscopeError


def check_pixel_dtype(dtype: np.dtype, name: str) -> None:
    """Refuse pixel types no microscope camera writes and the models would misread.

    Signed 8-bit images (int8) wrap bright pixels to negative values; the
    intensity normalisation then produces nonsense, so they are refused.
    """
    dtype = np.dtype(dtype)
    if dtype == np.int8:
        raise SrscopeError(
            f"{name}: signed 8-bit pixels (int8) are not supported; save it as uint8 or uint16"
        )
    if dtype.kind not in "uif" and dtype != np.bool_:
        raise SrscopeError(f"{name}: unsupported pixel type {dtype}")


def check_finite(image: np.ndarray, name: str) -> None:
    """Refuse an image with NaN or Inf pixels (every score and fit would be NaN)."""
    if image.dtype.kind in "fc" and not np.isfinite(image).all():
        raise SrscopeError(f"{name}: the image has NaN or Inf pixels")
