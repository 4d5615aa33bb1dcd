"""Calibration recovers a known degradation and verifies it (whiteness, figure)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from srscope.degradation import (
    AiryPSF,
    DegradationRecord,
    GaussianPSF,
    Intensity,
    KernelPSF,
    Noise,
)
from srscope.errors import SrscopeError
from srscope.references import ReferenceSet
from training.calibrate import (
    CalibrationConfig,
    Optics,
    align,
    calibrate_pairs,
    calibrate_references,
    noise_std_estimate,
    simulate,
    whiteness,
)
from training.register import locate
from training.synthetic import make_pairs

GAUSSIAN_ONLY = CalibrationConfig(psf="gaussian", noise="gaussian")
OPTICS = Optics(lr_na=0.15, wavelength_nm=460.0, hr_pixel_size_um=0.325, hr_na=0.45)


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

    fit = calibrate_pairs(pairs, 4, GAUSSIAN_ONLY).record

    assert fit.psf.sigma_hr_px == pytest.approx(sigma, rel=0.05)
    assert fit.noise.std == pytest.approx(std, rel=0.05)
    assert fit.intensity.gain == pytest.approx(0.5, rel=0.05)
    assert fit.fit is not None and fit.fit.whiteness < 0.1


def test_recovers_airy_width_and_poisson_gaussian_noise_within_5_percent() -> None:
    truth = DegradationRecord(
        scale=4,
        psf=AiryPSF(
            na=0.15, wavelength_nm=460.0, hr_pixel_size_um=0.325, hr_na=0.45, width_scale=1.2
        ),
        intensity=Intensity(gain=0.5, offset=100.0),
        noise=Noise(kind="poisson-gaussian", std=8.0, poisson_gain=2.0),
    )
    pairs = make_pairs(truth, n=4, hr_shape=(384, 384), seed=2, background=0.0)

    result = calibrate_pairs(pairs, 4, CalibrationConfig(optics=OPTICS))

    rec = result.record
    assert rec.fit is not None
    assert set(result.psf_scores) == {"gaussian", "airy", "kernel"}
    assert rec.psf.kind in ("airy", "kernel")  # the Gaussian does not win on Airy data
    assert result.psf_scores["gaussian"] > min(
        result.psf_scores["airy"], result.psf_scores["kernel"]
    )
    assert rec.noise.kind == "poisson-gaussian"
    assert rec.noise.poisson_gain == pytest.approx(2.0, rel=0.05)
    assert rec.noise.std == pytest.approx(8.0, rel=0.05)
    assert rec.fit.whiteness < 0.05
    assert rec.fit.normalized_residual_std == pytest.approx(1.0, abs=0.1)
    assert result.fitted["airy"].width_scale == pytest.approx(1.2, rel=0.05)


def test_kernel_fit_recovers_an_asymmetric_psf() -> None:
    y, x = np.mgrid[-8:9, -8:9].astype(float)
    k = np.exp(-0.5 * ((y - 0.7) ** 2 / 1.5**2 + (x + 0.4) ** 2 / 2.5**2))
    truth = DegradationRecord(
        scale=4,
        psf=KernelPSF(kernel=(k / k.sum()).tolist()),
        intensity=Intensity(gain=0.5, offset=100.0),
        noise=Noise(std=3.0),
    )
    pairs = make_pairs(truth, n=2, hr_shape=(384, 384), seed=4)

    fit = calibrate_pairs(pairs, 4, CalibrationConfig(psf="kernel", margin_lr_px=3)).record

    est = fit.psf.array()
    r = est.shape[0] // 2
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    cy, cx = (est * yy).sum(), (est * xx).sum()  # a shift is the registration's, not the PSF's
    var_y, var_x = (est * (yy - cy) ** 2).sum(), (est * (xx - cx) ** 2).sum()
    assert var_y == pytest.approx(1.5**2, rel=0.25)
    assert var_x == pytest.approx(2.5**2, rel=0.25)
    assert fit.fit is not None and fit.fit.whiteness < 0.1


def test_wrong_sigma_leaves_a_structured_residual(record: DegradationRecord) -> None:
    pairs = make_pairs(record, n=1, hr_shape=(256, 256))
    cfg = CalibrationConfig()
    (a,) = align(pairs, 4, 2.0, cfg)
    lr = a.lr[cfg.margin_lr_px : -cfg.margin_lr_px, cfg.margin_lr_px : -cfg.margin_lr_px]
    white = {}
    for s in (0.5, 2.0, 4.0):
        sim = simulate(a, DegradationRecord(scale=4, psf=GaussianPSF(sigma_hr_px=s)), 4)
        g, o = np.polyfit(sim.ravel(), lr.ravel(), 1)
        white[s] = whiteness(lr - g * sim - o)
    assert white[2.0] < white[0.5] and white[2.0] < white[4.0]


def test_nan_or_blank_pairs_are_refused_by_name(record: DegradationRecord) -> None:
    pairs = make_pairs(record, n=2, hr_shape=(256, 256))
    pairs[1].hr[5, 5] = np.nan
    with pytest.raises(SrscopeError, match="pair syn1: the HR capture has NaN"):
        calibrate_pairs(pairs, 4)
    pairs = make_pairs(record, n=2, hr_shape=(256, 256))
    pairs[0].hr[:] = 7.0
    pairs[0].lr[:] = 100.0 + np.random.default_rng(0).standard_normal(pairs[0].lr.shape)
    with pytest.raises(SrscopeError, match=r"pair syn0: .*too little signal"):
        calibrate_pairs(pairs, 4)


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
    assert loaded.psf.kind in ("gaussian", "kernel")  # Gaussian truth: no Airy wins
    assert loaded.fit is not None and loaded.fit.whiteness < 0.1
    assert json.loads(out.read_text())["format"] == "srscope-degradation/2"
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


def test_calibration_reports_each_step_as_it_starts(reference_set: Path) -> None:
    seen: list[tuple[int, int, str]] = []
    calibrate_references(reference_set, progress=lambda *step: seen.append(step))
    assert [done for done, _, _ in seen] == list(range(len(seen)))
    assert {total for _, total, _ in seen} == {len(seen)}  # the total is known from the start
    steps = [what for _, _, what in seen]
    assert steps[0].startswith("aligning") and steps[-1].startswith("fitting the noise")
    assert [s.split()[2] for s in steps if "PSF" in s] == ["gaussian", "airy", "kernel"]
