"""Consistency map detects planted structure; fidelity dial endpoints and blend."""

import numpy as np
import pytest
from scipy import ndimage

from sr_engine.consistency import consistency_map
from sr_engine.fidelity import FidelityDial, blend
from srscope.degradation import DegradationRecord
from srscope.errors import SrscopeError

SCALE = 4


def _record(kind: str = "poisson-gaussian") -> DegradationRecord:
    return DegradationRecord.model_validate(
        {
            "scale": SCALE,
            "psf": {"kind": "gaussian", "sigma_hr_px": 2.0},
            "intensity": {"gain": 0.25, "offset": 100.0},
            "noise": {"kind": kind, "std": 3.0, "poisson_gain": 0.5},
        }
    )


def _specimen(n: int = 512, seed: int = 0) -> np.ndarray:
    """A cell-like HR field in HR camera units (smooth blobs and filaments)."""
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((n, n)), 4.0)
    img = (img - img.min()) / np.ptp(img)
    return (200 + 1800 * img**2).astype(np.float32)


def _setup():
    rec = _record()
    hr = _specimen()
    lr = rec.apply(hr, rng=np.random.default_rng(1))
    return rec, hr, lr


def test_clean_field_has_few_false_alarms():
    rec, hr, lr = _setup()
    cmap = consistency_map(hr, lr, rec, threshold=3.0)
    assert cmap.z.shape == lr.shape
    assert cmap.flagged_fraction <= 0.01
    summary = cmap.summary()
    assert 0.9 < summary["rms_z"] < 1.1
    assert summary["expected_false_alarm"] == pytest.approx(0.0027, abs=1e-4)
    assert cmap.upsampled().shape == hr.shape


@pytest.mark.parametrize("sign", [+1, -1])
@pytest.mark.parametrize("shape", ["blob", "line"])
def test_planted_structure_is_flagged(sign, shape):
    rec, hr, lr = _setup()
    yy, xx = np.mgrid[: hr.shape[0], : hr.shape[1]]
    if shape == "blob":
        mask = (yy - 256) ** 2 + (xx - 300) ** 2 <= 24**2
    else:
        mask = (np.abs(yy - 150) <= 6) & (xx >= 100) & (xx < 400)
    planted = hr.copy()
    planted[mask] += sign * 600.0  # a structure the LR camera would have seen
    if sign < 0:
        planted = np.clip(planted, 0, None)
    cmap = consistency_map(planted, lr, rec, threshold=3.0)
    # the structure's pixels at LR resolution: LR pixels at least half covered by it
    lr_mask = mask.reshape(128, SCALE, 128, SCALE).mean(axis=(1, 3)) >= 0.5
    detected = cmap.flagged[lr_mask].mean()
    assert detected >= 0.9, detected
    outside = ~ndimage.binary_dilation(lr_mask, iterations=3)
    assert cmap.flagged[outside].mean() <= 0.01


def test_intensity_modes_agree_when_units_are_known():
    rec, hr, lr = _setup()
    fit = consistency_map(hr, lr, rec, intensity="fit")
    known = consistency_map(hr, lr, rec, intensity="record")
    assert known.gain_offset == (0.25, 100.0)
    assert fit.gain_offset[0] == pytest.approx(0.25, rel=0.01)
    assert np.abs(fit.z - known.z).mean() < 0.05
    # SR in LR units (what the engine returns): the fit finds gain ≈ 1
    in_lr_units = hr * 0.25 + 100
    assert consistency_map(in_lr_units, lr, rec).gain_offset[0] == pytest.approx(1.0, rel=0.01)


def test_consistency_refuses_mismatched_shapes():
    rec, hr, lr = _setup()
    with pytest.raises(SrscopeError, match="not 4x"):
        consistency_map(hr[:256], lr, rec)


class _Const:
    def __init__(self, value: float) -> None:
        self.value = value
        self.calls = 0

    def predict(self, image):
        self.calls += 1
        return np.full((image.shape[0] * 2, image.shape[1] * 2), self.value, np.float32)


def test_blend_endpoints_and_midpoint():
    a, b = np.zeros((4, 4)), np.ones((4, 4))
    assert np.array_equal(blend(a, b, 0.0), a)
    assert np.array_equal(blend(a, b, 1.0), b)
    np.testing.assert_allclose(blend(a, b, 0.25), 0.25)
    with pytest.raises(SrscopeError):
        blend(a, b, 1.5)
    with pytest.raises(SrscopeError):
        blend(a, np.ones((2, 2)), 0.5)


def test_dial_runs_only_the_needed_models():
    mse, gan = _Const(10.0), _Const(20.0)
    dial = FidelityDial(mse, gan)
    lr = np.zeros((3, 3))
    assert dial.predict(lr)[0, 0] == 10.0 and gan.calls == 0
    dial.alpha = 1.0
    assert dial.predict(lr)[0, 0] == 20.0 and mse.calls == 1
    dial.alpha = 0.5
    assert dial.predict(lr)[0, 0] == pytest.approx(15.0)
    with pytest.raises(SrscopeError):
        dial.alpha = -0.1
    with pytest.raises(SrscopeError):
        FidelityDial(mse, object())


def test_fast_map_is_close_to_exact_and_still_detects():
    rec, hr, lr = _setup()
    exact = consistency_map(hr, lr, rec)
    fast = consistency_map(hr, lr, rec, fast=True)
    assert np.sqrt(np.mean((exact.z - fast.z) ** 2)) < 0.2
    assert fast.flagged_fraction <= 0.01
    planted = hr.copy()
    planted[200:260, 200:260] += 600
    assert consistency_map(planted, lr, rec, fast=True).flagged[52:63, 52:63].mean() >= 0.9


def test_model_record_comes_from_metadata(tmp_path):
    from types import SimpleNamespace

    from sr_engine.consistency import consistency_for_model

    rec, hr, lr = _setup()
    model = SimpleNamespace(meta=SimpleNamespace(degradation=rec))
    assert consistency_for_model(model, hr, lr).z.shape == lr.shape
    with pytest.raises(SrscopeError, match="no degradation record"):
        consistency_for_model(SimpleNamespace(meta=SimpleNamespace(degradation=None)), hr, lr)


def test_dial_with_engine_models(tiny_models):
    from sr_engine.model import SRModel

    mse, gan = (SRModel(p) for p in tiny_models)
    lr = np.random.default_rng(0).random((24, 20)).astype(np.float32) * 1000
    dial = FidelityDial(mse, gan, alpha=0.25)
    a, b = dial.predict_both(lr)
    assert a.shape == (96, 80)
    np.testing.assert_allclose(dial.predict(lr), 0.75 * a + 0.25 * b, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(a, np.squeeze(mse.predict(lr)))
