"""An image file's pixels as stored: the one reader of whole images every part can use.

TIFF / OME-TIFF (tifffile), PNG (Pillow) and OME-Zarr folders (resolution level
``0``, as :mod:`acquisition` writes them). No dtype or layout change; pixel types
no camera writes are refused (:mod:`srscope.pixels`). Lazy, tiled reading of
images larger than memory is :mod:`sr_engine.sources`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srscope.errors import ImageError
from srscope.pixels import check_pixel_dtype


def read_image(path: str | Path) -> np.ndarray:
    """Pixels of a TIFF/OME-TIFF/PNG file or an OME-Zarr folder, as stored."""
    path = Path(path)
    zarr_level = path / "0"
    if not (path.is_file() or zarr_level.is_dir()):
        raise ImageError(f"image not found: {path}")
    try:
        if zarr_level.is_dir():
            import zarr

            arr = np.asarray(zarr.open_array(zarr_level, mode="r"))
        elif path.suffix.lower() == ".png":
            from PIL import Image

            with Image.open(path) as im:
                arr = np.asarray(im)
        else:
            import tifffile

            arr = tifffile.imread(path)
    except Exception as exc:  # Pillow and tifffile raise various on damaged files
        raise ImageError(f"cannot read image {path}: {type(exc).__name__}: {exc}") from None
    if arr.size == 0:
        raise ImageError(f"cannot read image {path}: it holds no pixels (damaged or not a TIFF)")
    check_pixel_dtype(arr.dtype, str(path), allow_bool=True)
    return arr
