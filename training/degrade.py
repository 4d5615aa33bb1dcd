"""``srscope degrade``: apply a degradation record to an image file.

What a user's LR objective would record of an HR image, with exactly the maths
of the training pairs (:meth:`srscope.degradation.DegradationRecord.apply`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from srscope.atomic import atomic_path
from srscope.degradation import AiryPSF, DegradationRecord
from srscope.errors import ImageError, OutputError, SettingsError
from srscope.images import read_image
from training.images import to_sources

_PHYSICAL_SIZE = re.compile(r'PhysicalSizeX="([0-9.eE+-]+)"')


def ome_pixel_size_um(path: Path) -> float | None:
    """``PhysicalSizeX`` of an OME-TIFF (assumed µm, the OME default), else None."""
    if not path.name.lower().endswith((".tif", ".tiff")):
        return None
    import tifffile

    with tifffile.TiffFile(path) as tf:
        m = _PHYSICAL_SIZE.search(tf.ome_metadata or "")
    return float(m.group(1)) if m else None


def degrade_file(
    hr_path: Path,
    record_path: Path,
    out: Path,
    *,
    seed: int | None = None,
    noise: bool = True,
    hr_pixel_size_um: float | None = None,
) -> tuple[np.ndarray, float | None]:
    """Degrade ``hr_path`` with the record; write float32 LR OME-TIFF ``out`` atomically."""
    if not out.name.lower().endswith((".tif", ".tiff")):
        raise OutputError(f"--out {out}: degrade writes OME-TIFF; name it .ome.tif")
    record = DegradationRecord.load(record_path)
    if hr_pixel_size_um is not None and not hr_pixel_size_um > 0:
        raise SettingsError(f"--hr-pixel-size-um must be > 0, got {hr_pixel_size_um}")
    sources = to_sources(hr_path.name, read_image(hr_path))
    if len(sources) != 1:
        raise ImageError(f"{hr_path}: expected one image, found a stack of {len(sources)}")
    img = sources[0].image
    if not np.isfinite(img).all():
        raise ImageError(f"{hr_path}: the image has NaN or Inf pixels")
    if min(img.shape[-2:]) < 2 * record.scale:
        raise ImageError(
            f"{hr_path}: {img.shape[-1]}x{img.shape[-2]} px is too small for ×{record.scale}"
        )
    px = hr_pixel_size_um or ome_pixel_size_um(hr_path)
    if isinstance(record.psf, AiryPSF) and px and abs(px / record.psf.hr_pixel_size_um - 1) > 0.01:
        raise ImageError(
            f"{hr_path} has {px:g} µm pixels but the record's psf.hr_pixel_size_um is "
            f"{record.psf.hr_pixel_size_um:g}: it was made for other images"
        )
    lr = record.apply(img, noise=noise, rng=np.random.default_rng(seed))
    lr = lr[0] if lr.shape[0] == 1 else lr
    md: dict = {"axes": "YX" if lr.ndim == 2 else "CYX"}
    if px:
        md.update(PhysicalSizeX=px * record.scale, PhysicalSizeY=px * record.scale)
        md.update(PhysicalSizeXUnit="µm", PhysicalSizeYUnit="µm")
    import tifffile

    with atomic_path(out) as tmp:
        tifffile.imwrite(tmp, lr, ome=True, metadata=md, compression="zlib")
    return lr, px * record.scale if px else None
