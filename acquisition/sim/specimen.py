"""Specimens of the simulated rig: real images placed in stage micrometres.

A specimen is one or more planes (float32, 0..1) at a physical pixel size,
centred on stage (0, 0) and repeated with mirror symmetry in x and y, so any
stage area is covered by real structure without seams (mirror tiling is
continuous). Built-ins:

- ``tissue``: two-channel fluorescence (DAPI, TRITC) of a tissue section, 0.228 µm/px
- ``he``: brightfield H&E (RGB transmission), 0.227 µm/px
- ``usaf1951``: the USAF-1951 resolution target from :mod:`srscope.usaf_target`
  (shared with the evaluation; drawn when first loaded)

Any other value is a path to an image file (TIFF/OME-TIFF/PNG): grey, RGB
(brightfield) or (C, Y, X) fluorescence.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acquisition.sim.optics import ChannelOptics
from srscope.errors import SrscopeError

DATA_DIR = Path(__file__).parent / "data"
BUILTINS: dict[str, str] = {
    "tissue": "tissue_dapi_tritc.ome.tif",
    "he": "he_os1.ome.tif",
}
BUILTIN_NAMES = ("tissue", "he", "usaf1951")
USAF_PIXEL_SIZE_UM = 0.1


@dataclass(frozen=True, eq=False)  # hashed by identity: caches key on it
class Specimen:
    """Planes of a specimen and how rig channels see them."""

    name: str
    pixel_size_um: float
    planes: tuple[np.ndarray, ...] = field(repr=False)
    kind: str  # "fluorescence" | "brightfield" | "grey"

    @property
    def shape(self) -> tuple[int, int]:
        return self.planes[0].shape  # type: ignore[return-value]

    @property
    def size_um(self) -> tuple[float, float]:
        h, w = self.shape
        return h * self.pixel_size_um, w * self.pixel_size_um

    def recipe(self, channel: ChannelOptics) -> tuple[tuple[float, ...], float]:
        """Weights over the planes plus a constant: what this channel sees (0..1)."""
        n = len(self.planes)
        band = 0 if channel.wavelength_nm < 490 else (1 if channel.wavelength_nm < 550 else 2)
        w = [0.0] * n
        if self.kind == "brightfield":  # planes are R, G, B transmission
            if channel.kind == "brightfield":
                w[2 - band] = 1.0  # band 0 (blue) -> B plane
                if channel.label.upper() == "BF":
                    w = [0.299, 0.587, 0.114]
                return tuple(w), 0.0
            # eosin fluoresces where it absorbs green; haematoxylin barely does
            return (0.0, -0.8, 0.0) if band else (-0.1, -0.1, -0.1), 0.8 if band else 0.3
        if self.kind == "grey":
            return (1.0,), 0.0
        # fluorescence planes ordered blue -> red
        if channel.kind == "brightfield":  # unstained tissue absorbs a little
            return tuple([-0.3] * n), 1.0
        if n == 1:
            w[0] = 1.0
        elif n == 2:
            w = [[1.0, 0.0], [0.2, 0.6], [0.0, 1.0]][band]
        else:
            w[min(band, n - 1)] = 1.0
        return tuple(w), 0.0

    def plane_for(self, channel: ChannelOptics) -> np.ndarray:
        weights, const = self.recipe(channel)
        out = np.full(self.shape, const, dtype=np.float32)
        for wgt, plane in zip(weights, self.planes, strict=False):
            if wgt:
                out += np.float32(wgt) * plane
        np.clip(out, 0.0, 1.0, out=out)
        return out


def _read_image(path: Path) -> tuple[np.ndarray, float | None, str]:
    """Read pixels, pixel size (if stored) and the axes of an image file."""
    if not path.is_file():
        raise SrscopeError(f"specimen file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                data = series.asarray()
                axes = series.axes
                px = _tiff_pixel_size(tif)
        else:
            from skimage.io import imread

            data = imread(path)
            axes = "YXS" if data.ndim == 3 and data.shape[-1] in (3, 4) else "YX"[-data.ndim :]
            px = None
    except SrscopeError:
        raise
    except Exception as exc:  # unreadable file: a user problem
        raise SrscopeError(f"cannot read specimen image {path}: {exc}") from None
    return data, px, axes


def _tiff_pixel_size(tif) -> float | None:
    import re

    if tif.ome_metadata:
        m = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', tif.ome_metadata)
        if m:
            return float(m.group(1))
    if tif.imagej_metadata and "spacing" in tif.imagej_metadata:
        pass
    page = tif.pages[0]
    tag = page.tags.get("XResolution")
    unit = page.tags.get("ResolutionUnit")
    if tag and unit and int(unit.value) == 3:  # centimetre
        num, den = tag.value
        if num:
            return 1e4 * den / num
    return None


def _normalise(data: np.ndarray) -> np.ndarray:
    data = np.asarray(data)
    if np.issubdtype(data.dtype, np.integer):
        return data.astype(np.float32) / np.float32(np.iinfo(data.dtype).max)
    data = data.astype(np.float32)
    top = float(np.nanmax(np.abs(data))) or 1.0
    return np.nan_to_num(data / top)


def _planes_from(data: np.ndarray, axes: str) -> tuple[tuple[np.ndarray, ...], str]:
    img = _normalise(data)
    axes = axes.upper()
    # drop singleton / leading T, Z axes (take the first plane)
    while img.ndim > 2 and axes[0] in "TZQI":
        img, axes = img[0], axes[1:]
    if img.ndim == 2:
        return (np.ascontiguousarray(img),), "grey"
    if axes.endswith("S") or (img.ndim == 3 and img.shape[-1] in (3, 4) and img.shape[0] > 4):
        rgb = img[..., :3]
        return tuple(np.ascontiguousarray(rgb[..., i]) for i in range(3)), "brightfield"
    if img.ndim == 3 and img.shape[0] <= 8:
        return tuple(np.ascontiguousarray(p) for p in img), "fluorescence"
    raise SrscopeError(f"specimen image has an unsupported shape {data.shape} (axes {axes})")


@functools.lru_cache(maxsize=4)
def load_specimen(name: str, pixel_size_um: float = 0.0) -> Specimen:
    """Load a built-in specimen or an image file; ``pixel_size_um > 0`` overrides the file's."""
    key = name.strip()
    if key.lower() == "usaf1951":
        from srscope.usaf_target import usaf1951_target

        px = pixel_size_um or USAF_PIXEL_SIZE_UM
        target = np.asarray(usaf1951_target(px), dtype=np.float32)
        return Specimen("usaf1951", px, _planes_from(target, "YX")[0], "grey")
    path = DATA_DIR / BUILTINS[key.lower()] if key.lower() in BUILTINS else Path(key).expanduser()
    data, file_px, axes = _read_image(path)
    px = pixel_size_um or file_px
    if not px or px <= 0:
        raise SrscopeError(
            f"specimen {path.name} does not store its pixel size; set SpecimenPixelSize_um"
        )
    planes, kind = _planes_from(data, axes)
    if min(planes[0].shape) < 16:
        raise SrscopeError(f"specimen image {path.name} is too small: {planes[0].shape}")
    return Specimen(key, float(px), planes, kind)
