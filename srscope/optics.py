"""Optics shared by the simulated rig, the degradation record and evaluation.

The simulated rig, evaluation's rig-free reference sets and the ``airy`` PSF of
the degradation record all image through an objective's incoherent transfer
function; training must not import acquisition, so the formulas and the label
parsing (``20x/0.45``, ``DAPI``, ``Cy7-780nm``) live here once.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

OBJECTIVE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[xX]\s*/\s*(\d*\.?\d+)")
NM_RE = re.compile(r"(\d{3,4})\s*nm")

#: Emission (or filter) centre wavelengths of well-known channel names, nm.
KNOWN_CHANNELS: dict[str, tuple[float, Literal["fluorescence", "brightfield"]]] = {
    "DAPI": (460.0, "fluorescence"),
    "FITC": (520.0, "fluorescence"),
    "GFP": (510.0, "fluorescence"),
    "TRITC": (580.0, "fluorescence"),
    "CY3": (570.0, "fluorescence"),
    "CY5": (670.0, "fluorescence"),
    "BF": (550.0, "brightfield"),
    "BF-R": (620.0, "brightfield"),
    "BF-G": (530.0, "brightfield"),
    "BF-B": (460.0, "brightfield"),
}


def objective_na(label: str) -> float | None:
    """Numerical aperture from the usual ``<mag>x/<NA>`` objective label, else None."""
    m = OBJECTIVE_RE.match(label)
    return float(m.group(2)) if m else None


def channel_wavelength_nm(label: str) -> float | None:
    """Wavelength of a known channel name or of a label containing ``<n>nm``, else None."""
    key = label.strip().upper()
    if key in KNOWN_CHANNELS:
        return KNOWN_CHANNELS[key][0]
    m = NM_RE.search(label)
    return float(m.group(1)) if m else None


def airy_otf(f_cyc_per_um: np.ndarray, na: float, wavelength_um: float) -> np.ndarray:
    """Incoherent OTF of an aberration-free circular pupil (FT of the Airy pattern).

    Cutoff at ``2·NA/λ`` cycles/µm; float32 because it multiplies whole spectra.
    """
    rho = np.clip(np.abs(f_cyc_per_um) / (2.0 * na / wavelength_um), 0.0, 1.0)
    otf = (2.0 / np.pi) * (np.arccos(rho) - rho * np.sqrt(1.0 - rho**2))
    return otf.astype(np.float32)


def defocus_otf(f_cyc_per_um: np.ndarray, na: float, defocus_um: float) -> np.ndarray:
    """Geometric defocus: a uniform blur disc of radius ``|dz|·tan(asin NA)`` (jinc OTF)."""
    from scipy.special import j1

    if defocus_um == 0:
        return np.ones_like(f_cyc_per_um, dtype=np.float32)
    radius = abs(defocus_um) * na / np.sqrt(max(1e-6, 1.0 - min(na, 0.99) ** 2))
    x = 2.0 * np.pi * radius * f_cyc_per_um
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(x > 1e-6, 2.0 * j1(x) / np.where(x > 1e-6, x, 1.0), 1.0)
    return out.astype(np.float32)
