"""A reference set made from a real HR image by explicit optics, when no rig is at hand.

The specimen is a real microscopy image at its physical pixel size, mirror-
tiled so any field has context. Each objective images it with the incoherent
Airy OTF of its NA (not the training's Gaussian, so this is no inverse
crime), the camera pixel integrates (box), and shot noise (Poisson), read
noise and an offset are added. The LR frame covers ``lr_shape`` camera pixels
around the HR field. The LR captures are *simulated*: say so wherever numbers
from such a set are reported.

A library function (:func:`simulate_reference_set`, used by the tests);
the ``srscope`` command line is the one place commands live, and it has no such step.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import ndimage

from srscope.errors import SrscopeError
from srscope.optics import airy_otf
from srscope.references import ReferenceSet


def render(
    specimen: np.ndarray,
    specimen_px: float,
    centre_um: tuple[float, float],
    shape: tuple[int, int],
    pixel_um: float,
    na: float,
    wavelength_um: float,
    photons: float,
    rng: np.random.Generator,
    read_noise: float = 2.0,
    offset: float = 100.0,
) -> np.ndarray:
    """One camera frame (uint16) of the mirror-tiled specimen centred at ``centre_um``."""
    k = max(1, math.ceil(pixel_um / specimen_px))  # fine samples per camera pixel
    step = pixel_um / k
    pad = math.ceil(4 * wavelength_um / na / step)
    ny, nx = shape[0] * k + 2 * pad, shape[1] * k + 2 * pad
    y0 = centre_um[0] - shape[0] * pixel_um / 2 - pad * step
    x0 = centre_um[1] - shape[1] * pixel_um / 2 - pad * step
    ys = (y0 + (np.arange(ny) + 0.5) * step) / specimen_px - 0.5
    xs = (x0 + (np.arange(nx) + 0.5) * step) / specimen_px - 0.5
    fine = ndimage.map_coordinates(
        specimen, np.meshgrid(ys, xs, indexing="ij"), order=1, mode="mirror"
    )
    fy = np.fft.fftfreq(ny, d=step)[:, None]
    fx = np.fft.rfftfreq(nx, d=step)[None, :]
    otf = airy_otf(np.sqrt(fy**2 + fx**2), na, wavelength_um)
    img = np.fft.irfft2(np.fft.rfft2(fine) * otf, s=(ny, nx))[pad : ny - pad, pad : nx - pad]
    img = img.reshape(shape[0], k, shape[1], k).mean(axis=(1, 3))
    electrons = rng.poisson(np.clip(img, 0, None) * photons).astype(np.float64)
    counts = electrons + rng.normal(0, read_noise, shape) + offset
    return np.clip(np.round(counts), 0, 65535).astype(np.uint16)


def simulate_reference_set(
    image: np.ndarray,
    specimen_px: float,
    out: str | Path,
    *,
    channel: str = "FITC",
    wavelength_um: float = 0.52,
    scale: int = 4,
    lr_px: float = 1.3,
    lr_na: float = 0.15,
    hr_na: float = 0.45,
    hr_shape: int = 512,
    lr_shape: int = 256,
    positions: int = 4,
    photons_hr: float = 400.0,
    seed: int = 0,
) -> ReferenceSet:
    """Write ``positions`` HR/LR pairs (OME-TIFF) and ``references.json`` to ``out``.

    Fields lie on a grid inside the image extent. The LR objective collects
    (NA ratio)² less light per µm², and its pixel is ``scale``² times larger:
    photons per LR pixel = photons_hr · (lr_na/hr_na)² · scale².
    """
    import tifffile

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise SrscopeError(f"simulate_reference_set needs a 2-D image, got {img.shape}")
    lo, hi = np.percentile(img, [0.5, 99.9])
    spec = np.clip((img - lo) / (hi - lo), 0, None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hr_px = lr_px / scale
    h_um, w_um = img.shape[0] * specimen_px, img.shape[1] * specimen_px
    field_um = hr_shape * hr_px
    n = max(1, math.ceil(math.sqrt(positions)))
    rng = np.random.default_rng(seed)
    photons_lr = photons_hr * (lr_na / hr_na) ** 2 * scale**2
    entries = []
    for i in range(positions):
        r, c = divmod(i, n)
        cy = field_um / 2 + (h_um - field_um) * (r + 0.5) / n if h_um > field_um else h_um / 2
        cx = field_um / 2 + (w_um - field_um) * (c + 0.5) / n if w_um > field_um else w_um / 2
        hr = render(
            spec,
            specimen_px,
            (cy, cx),
            (hr_shape, hr_shape),
            hr_px,
            hr_na,
            wavelength_um,
            photons_hr,
            rng,
        )
        # the stage returns to the field within a few µm after the objective switch:
        # nothing may rely on the two captures being registered
        ly, lx = cy + rng.uniform(-2, 2), cx + rng.uniform(-2, 2)
        lr = render(
            spec,
            specimen_px,
            (ly, lx),
            (lr_shape, lr_shape),
            lr_px,
            lr_na,
            wavelength_um,
            photons_lr,
            rng,
        )
        stem = f"p{i:03d}_{channel}"
        meta_hr = {"axes": "YX", "PhysicalSizeX": hr_px, "PhysicalSizeY": hr_px}
        meta_lr = {"axes": "YX", "PhysicalSizeX": lr_px, "PhysicalSizeY": lr_px}
        tifffile.imwrite(out / f"{stem}_hr.ome.tif", hr, ome=True, metadata=meta_hr)
        tifffile.imwrite(out / f"{stem}_lr.ome.tif", lr, ome=True, metadata=meta_lr)
        entries.append(
            {
                "position_um": [cx, cy, 0.0],
                "channel": channel,
                "hr": {
                    "file": f"{stem}_hr.ome.tif",
                    "objective": f"20x/{hr_na}",
                    "pixel_size_um": hr_px,
                    "exposure_ms": 50.0,
                },
                "lr": {
                    "file": f"{stem}_lr.ome.tif",
                    "objective": f"5x/{lr_na}",
                    "pixel_size_um": lr_px,
                    "exposure_ms": 50.0,
                },
            }
        )
    refs = ReferenceSet.model_validate({"scale": scale, "entries": entries})
    refs.save(out)
    return refs
