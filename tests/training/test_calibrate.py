"""Calibration recovers a known degradation and verifies it (whiteness, figure)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from srscope.degradation import DegradationRecord, GaussianPSF, Intensity, Noise
from srscope.errors import SrscopeError
from srscope.references import ReferenceSet
from training.calibrate import (
    CalibrationConfig,
    calibrate_pairs,
    calibrate_references,
    noise_std_estimate,
    whiteness,
)
from training.register import locate
from training.synthetic import make_pairs


@pytest.mark.parametrize(("sigma", "std", "hr_noise"), [(2.0, 3.0, 1.0), (1.2, 6.0, 8.0)])
def test_recovers_known_sigma_and_noise_within_5_percent(
    sigma: float, std: float, hr_noise: float
) -> None:
    truth = DegradationRecord(
        scale=4,
        psf=GaussianPSF(sigma_hr_px=sigma),
        intensity=Intensity(gain=0.5, offset=100.0),
        noise=Noise(std=std),
    )
    pairs = make_pairs(truth, n=2, hr_shape=(320, 320), hr_noise_std=hr_noise, seed=1)

    fit = calibrate_pairs(pairs, 4).record

    assert fit.psf.sigma_hr_px == pytest.approx(sigma, rel=0.05)
    assert fit.noise.std == pytest.approx(std, rel=0.05)
    assert fit.intensity.gain == pytest.approx(0.5, rel=0.05)
    assert fit.fit is not None and fit.fit.whiteness < 0.1


def test_wrong_sigma_leaves_a_structured_residual(record: DegradationRecord) -> None:
    from training.calibrate import _align, _crop, _lsq, _simulate

    pairs = make_pairs(record, n=1, hr_shape=(256, 256))
    cfg = CalibrationConfig()
    (a,) = _align(pairs, 4, 2.0, cfg)
    lr = _crop(a.lr, cfg.margin_lr_px)
    white = {}
    for s in (0.5, 2.0, 4.0):
        sim = _simulate(a, 4, s, cfg.margin_lr_px)
        g, o = _lsq(sim, lr)
        white[s] = whiteness(lr - g * sim - o)
    assert white[2.0] < white[0.5] and white[2.0] < white[4.0]


def test_locate_finds_subpixel_position() -> None:
    from scipy import ndimage

    big = ndimage.gaussian_filter(np.random.default_rng(0).random((128, 128)), 2)
    y0, x0 = 40.25, 31.5
    template = ndimage.shift(big, (-y0, -x0), order=3)[:40, :50]  # template[i] = big[i + y0]

    y, x = locate(template, big)

    assert (y, x) == (pytest.approx(y0, abs=0.1), pytest.approx(x0, abs=0.1))


def test_noise_estimate_of_white_noise() -> None:
    z = np.random.default_rng(0).standard_normal((256, 256)) * 4.0
    assert noise_std_estimate(z) == pytest.approx(4.0, rel=0.05)


def test_calibrate_references_writes_record_and_figure(reference_set: Path, tmp_path: Path) -> None:
    fig = tmp_path / "fig2.png"
    result = calibrate_references(reference_set, figure=fig)
    out = result.record.save(tmp_path / "degradation.json")

    loaded = DegradationRecord.load(out)
    assert loaded.psf.sigma_hr_px == pytest.approx(2.0, rel=0.1)
    assert json.loads(out.read_text())["format"] == "srscope-degradation/1"
    assert fig.stat().st_size > 10_000


def test_no_pairs_is_a_clear_error(reference_set: Path) -> None:
    with pytest.raises(SrscopeError, match="no HR\\+LR pairs"):
        calibrate_references(reference_set, CalibrationConfig(channel="DAPI"))


def test_inconsistent_pixel_sizes_are_refused(reference_set: Path) -> None:
    data = json.loads((reference_set / "references.json").read_text())
    data["entries"][1]["lr"]["pixel_size_um"] = 1.0  # ratio 3.08, not 4
    (reference_set / "references.json").write_text(json.dumps(data))
    with pytest.raises(SrscopeError, match="not the scale 4"):
        ReferenceSet.load(reference_set)
    with pytest.raises(SrscopeError, match="not the scale 4"):
        calibrate_references(reference_set)
