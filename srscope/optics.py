"""Optics shared by the simulated rig and evaluation's rig-free reference sets.

Both image real specimens through an objective's incoherent transfer function;
training must not import acquisition, so the formula lives here once.
"""

from __future__ import annotations

import numpy as np


def airy_otf(f_cyc_per_um: np.ndarray, na: float, wavelength_um: float) -> np.ndarray:
    """Incoherent OTF of an aberration-free circular pupil (FT of the Airy pattern).

    Cutoff at ``2·NA/λ`` cycles/µm; float32 because it multiplies whole spectra.
    """
    rho = np.clip(np.abs(f_cyc_per_um) / (2.0 * na / wavelength_um), 0.0, 1.0)
    otf = (2.0 / np.pi) * (np.arccos(rho) - rho * np.sqrt(1.0 - rho**2))
    return otf.astype(np.float32)
