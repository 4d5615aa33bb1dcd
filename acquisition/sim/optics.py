"""Optics of the simulated rig: objectives, channels, camera, and transfer functions.

The image is formed in the frequency domain: the specimen spectrum times the
incoherent optical transfer function of a circular pupil (the Fourier transform
of the Airy pattern), times a defocus term, times the camera pixel's box
transfer (area integration). Deliberately not the Gaussian of the training
degradation, so calibration has real work to do.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field

from srscope.errors import SrscopeError
from srscope.model_base import SrscopeModel
from srscope.optics import KNOWN_CHANNELS, NM_RE, OBJECTIVE_RE


class _Frozen(SrscopeModel):
    model_config = ConfigDict(frozen=True)


class ObjectiveOptics(_Frozen):
    """An objective: its label (e.g. ``5x/0.15``), magnification and numerical aperture."""

    label: str
    magnification: float = Field(gt=0)
    na: float = Field(gt=0, lt=1.6)

    @classmethod
    def from_label(cls, label: str) -> ObjectiveOptics:
        """Parse the usual ``<mag>x/<NA>`` objective naming (``20x/0.45``)."""
        m = OBJECTIVE_RE.match(label)
        if not m:
            raise SrscopeError(
                f"objective label {label!r} does not say its optics; name it like '20x/0.45'"
            )
        return cls(label=label, magnification=float(m.group(1)), na=float(m.group(2)))


class ChannelOptics(_Frozen):
    """A channel: emission (fluorescence) or filter (brightfield) wavelength."""

    label: str
    wavelength_nm: float = Field(gt=200, lt=2000)
    kind: Literal["fluorescence", "brightfield"] = "fluorescence"

    @classmethod
    def from_label(cls, label: str) -> ChannelOptics:
        """Known names (DAPI, FITC, TRITC, BF-R ...) or any label containing ``<n>nm``."""
        key = label.strip().upper()
        if key in KNOWN_CHANNELS:
            wl, kind = KNOWN_CHANNELS[key]
            return cls(label=label, wavelength_nm=wl, kind=kind)
        if m := NM_RE.search(label):
            kind = "brightfield" if key.startswith("BF") else "fluorescence"
            return cls(label=label, wavelength_nm=float(m.group(1)), kind=kind)
        raise SrscopeError(
            f"channel label {label!r} is unknown; use one of {sorted(KNOWN_CHANNELS)} "
            "or put the wavelength in it, e.g. 'Cy7-780nm'"
        )


class CameraModel(_Frozen):
    """Sensor physics: pitch, full well, read noise, conversion gain, offset, bit depth."""

    pixel_pitch_um: float = Field(6.5, gt=0)
    full_well_e: float = Field(30000.0, gt=0)
    read_noise_e: float = Field(1.6, ge=0)
    gain_e_per_adu: float = Field(0.46, gt=0)
    offset_adu: float = Field(100.0, ge=0)
    bit_depth: int = Field(16, ge=8, le=16)

    @property
    def max_adu(self) -> int:
        return 2**self.bit_depth - 1


def pixel_box_transfer(f_cyc_per_um: np.ndarray, pixel_um: float) -> np.ndarray:
    """Transfer of integrating over a square camera pixel along one axis (sinc)."""
    return np.sinc(f_cyc_per_um * pixel_um).astype(np.float32)


def collection_factor(objective: ObjectiveOptics, kind: str) -> float:
    """Relative photon flux per camera pixel, normalised to a 20x/0.45 objective.

    Epi-fluorescence brightness per pixel scales as NA⁴/M²; brightfield with a
    matched condenser as NA²/M² times a lamp that users turn up at low
    magnification, which we model as constant.
    """
    if kind == "brightfield":
        return 1.0
    ref = 0.45**4 / 20.0**2
    return float(objective.na**4 / objective.magnification**2 / ref)
