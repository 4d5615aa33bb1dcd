"""Volume specimens of the simulated rig: a thick fluorescent sample with a real Z axis.

A volume is a stack of planes (float32, ≥ 0) at a z spacing, mirror-tiled in x and
y like the 2D specimens (:mod:`acquisition.sim.specimen`). Its planes are centred
on stage z = 0: plane ``k`` of ``N`` lies at ``z_k = (k - (N - 1) / 2) · z_step``
(relative to the focus drive's ``FocusPlane_um``); beyond the first and last plane
there is nothing, only the blur of the planes. The widefield image at focus ``z``
is the incoherent sum ``I(z) = Σ_k PSF(z - z_k) ⊛ O_k`` — every plane, each blurred
by the defocus of its own distance from focus (:func:`acquisition.sim.imaging.make_volume_level`).

Built-in: ``brain`` — 26 planes of labelled neurons in mouse brain (cellfinder's
serial two-photon test data, 2 µm/px, 5 µm apart; ``data/README.md``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import fft as sfft

from acquisition.sim.optics import ChannelOptics
from acquisition.sim.specimen import DATA_DIR, Specimen
from srscope.errors import SrscopeError

VOLUMES: dict[str, str] = {"brain": "brain_stp_volume.ome.tif"}


@dataclass(frozen=True, eq=False)  # hashed by identity: caches key on it
class VolumeSpecimen:
    """Planes along z of a single-label fluorescent volume, centred on stage z = 0."""

    name: str
    pixel_size_um: float
    z_step_um: float
    planes: tuple[np.ndarray, ...] = field(repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.planes[0].shape  # type: ignore[return-value]

    @property
    def depth(self) -> int:
        return len(self.planes)

    @property
    def z_um(self) -> tuple[float, ...]:
        """Stage z of each plane (relative to the focus plane): centred on 0."""
        mid = (self.depth - 1) / 2.0
        return tuple((k - mid) * self.z_step_um for k in range(self.depth))

    def recipe(self, channel: ChannelOptics) -> tuple[float, float]:
        """Weight of the fluorophore and a constant: what this channel sees (as a
        one-plane fluorescence specimen: every fluorescence channel sees the label,
        brightfield a little absorption on a bright background)."""
        probe = Specimen(self.name, self.pixel_size_um, (self.planes[0],), "fluorescence")
        weights, const = probe.recipe(channel)
        return weights[0], const


@functools.lru_cache(maxsize=2)
def volume_spectra(volume: VolumeSpecimen, channel: ChannelOptics) -> np.ndarray:
    """DCT-II of every plane times the channel's weight: (N, ny, nx) float32 cosine spectra
    of the mirror-tiled planes (the constant of brightfield is added once, not per plane)."""
    weight, _ = volume.recipe(channel)
    stack = np.stack(volume.planes) * np.float32(weight)
    return sfft.dctn(stack, type=2, norm="ortho", axes=(1, 2), workers=-1).astype(np.float32)


def is_volume_name(name: str) -> bool:
    """True for a built-in volume (``brain``) or ``volume:<path of a ZYX TIFF>``."""
    key = name.strip()
    return key.lower() in VOLUMES or key.lower().startswith("volume:")


def _physical_sizes(tif) -> tuple[float | None, float | None]:
    """(xy, z) pixel size in µm from OME metadata, where stored."""
    meta = tif.ome_metadata or ""
    xy = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', meta)
    z = re.search(r'PhysicalSizeZ="([0-9.eE+-]+)"', meta)
    return (float(xy.group(1)) if xy else None), (float(z.group(1)) if z else None)


@functools.lru_cache(maxsize=2)
def load_volume(name: str, pixel_size_um: float = 0.0, z_step_um: float = 0.0) -> VolumeSpecimen:
    """Load a built-in volume or ``volume:<path>`` (a single-channel Z-stack OME-TIFF).

    The autofluorescence floor (the volume's median) is removed, so the labelled
    structures — not the same haze summed over every plane — make the widefield
    image, and values are scaled so that the sum over z stays below about 1 (the
    brightness scale of the 2D specimens). ``pixel_size_um`` / ``z_step_um`` > 0
    override the file's.
    """
    import tifffile

    key = name.strip()
    low = key.lower()
    path = DATA_DIR / VOLUMES[low] if low in VOLUMES else Path(key[len("volume:") :]).expanduser()
    if not path.is_file():
        raise SrscopeError(f"volume file not found: {path}")
    try:
        with tifffile.TiffFile(path) as tif:
            data = np.asarray(tif.series[0].asarray(), dtype=np.float32)
            file_px, file_dz = _physical_sizes(tif)
    except Exception as exc:  # unreadable file: a user problem
        raise SrscopeError(f"cannot read volume {path}: {exc}") from None
    data = np.squeeze(data)
    if data.ndim != 3 or data.shape[0] < 2 or min(data.shape[1:]) < 16:
        raise SrscopeError(f"volume {path.name} is not a (Z, Y, X) stack: {data.shape}")
    px, dz = pixel_size_um or file_px, z_step_um or file_dz
    if not px or not dz or px <= 0 or dz <= 0:
        raise SrscopeError(f"volume {path.name} does not store its xy and z pixel sizes")
    data -= np.float32(np.median(data))
    np.clip(data, 0.0, None, out=data)
    top = float(np.percentile(data.sum(axis=0), 99.9)) or 1.0
    data *= np.float32(1.0 / top)
    planes = tuple(np.ascontiguousarray(p) for p in data)
    return VolumeSpecimen(key, float(px), float(dz), planes)
