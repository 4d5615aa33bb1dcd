"""What a calibration returns: the record and the arrays its verification figure shows.

Read by :mod:`training.calibrate` (which makes it) and :mod:`training.calibration_figure`
(which draws it); a module of its own so that neither imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from srscope.degradation import PSF, DegradationRecord


@dataclass
class Verification:
    """Arrays of the first pair for the Fig. 2-style figure."""

    lr: np.ndarray
    expected: np.ndarray
    residual: np.ndarray
    noisy: np.ndarray
    levels: list[float]
    variances: list[float]


@dataclass
class CalibrationResult:
    """The fitted record, per-pair figures, each PSF kind's cross-validated score and fit."""

    record: DegradationRecord
    per_pair: list[dict] = field(default_factory=list)
    psf_scores: dict[str, float] = field(default_factory=dict)
    fitted: dict[str, PSF] = field(default_factory=dict)
    verification: Verification | None = None
