"""Pixel checks shared by every part that reads or receives images: one message each."""

from __future__ import annotations

from typing import Any

import numpy as np

from srscope.errors import ImageError


def _prefix(name: str | None) -> str:
    return f"{name}: " if name else ""


def check_pixel_dtype(dtype: Any, name: str | None = None, *, allow_bool: bool = False) -> None:
    """Refuse pixel types no microscope camera writes and the models would misread.

    Integer and float pixels pass (``allow_bool``: 1-bit images too, e.g. PNG masks
    read for training). Signed 8-bit images (int8) wrap bright pixels to negative
    values; the intensity normalisation then produces nonsense, so they are refused.
    ``name`` (a file, usually) starts the message.
    """
    dtype = np.dtype(dtype)
    if dtype == np.int8:
        raise ImageError(
            f"{_prefix(name)}signed 8-bit pixels (int8) are not supported; "
            "save it as uint8 or uint16"
        )
    if dtype.kind not in "uif" and not (allow_bool and dtype == np.bool_):
        raise ImageError(
            f"{_prefix(name)}unsupported pixel dtype {dtype} (use integer or float pixels)"
        )


def check_finite(image: Any, name: str | None = None) -> None:
    """Refuse an image with NaN or infinite pixels (every score, fit and output would be)."""
    arr = np.asarray(image)
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        raise ImageError(f"{_prefix(name)}the image has NaN or infinite pixels")
