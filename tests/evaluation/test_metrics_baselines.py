"""Metrics against independently computed values; baselines shapes and accuracy."""

import math

import numpy as np
import pytest
from scipy import ndimage

from srscope.degradation import DegradationRecord, block_mean
from srscope.errors import SrscopeError
from training.evaluation.baselines import bicubic, bicubic_rl
from training.evaluation.metrics import (
    affine_match,
    fields,
    prepare_for_scoring,
    psnr,
    register,
    ssim,
)


def _specimen(n: int = 256, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((n, n)), 3.0)
    img = (img - img.min()) / (img.max() - img.min())
    return img.astype(np.float64)


def test_psnr_of_known_gaussian_noise_matches_formula():
    rng = np.random.default_rng(1)
    ref = np.full((512, 512), 0.5)
    sigma = 0.05
    noisy = ref + rng.normal(0, sigma, ref.shape)
    measured_mse = np.mean((noisy - ref) ** 2)
    assert psnr(ref, noisy, data_range=1.0) == pytest.approx(
        10 * math.log10(1.0 / measured_mse), abs=1e-9
    )
    assert psnr(ref, noisy, data_range=1.0) == pytest.approx(
        10 * math.log10(1.0 / sigma**2), abs=0.05
    )
    # data range scales PSNR by 20 log10(range ratio)
    assert psnr(ref * 1000, noisy * 1000, data_range=1000.0) == pytest.approx(
        psnr(ref, noisy, 1.0), abs=1e-6
    )


def test_ssim_identity_and_independent_formula():
    img = _specimen()
    assert ssim(img, img, 1.0) == pytest.approx(1.0)
    # global SSIM of a constant-offset copy, computed by hand with the 7x7 uniform window
    other = img + 0.1
    c1, c2 = (0.01) ** 2, (0.03) ** 2
    mu_x = ndimage.uniform_filter(img, 7)
    mu_y = ndimage.uniform_filter(other, 7)
    n = 49
    cov_norm = n / (n - 1)
    vx = cov_norm * (ndimage.uniform_filter(img * img, 7) - mu_x**2)
    vy = cov_norm * (ndimage.uniform_filter(other * other, 7) - mu_y**2)
    vxy = cov_norm * (ndimage.uniform_filter(img * other, 7) - mu_x * mu_y)
    s = ((2 * mu_x * mu_y + c1) * (2 * vxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (vx + vy + c2))
    expected = s[3:-3, 3:-3].mean()
    assert ssim(img, other, 1.0) == pytest.approx(expected, rel=1e-6)


def test_metrics_refuse_bad_inputs():
    with pytest.raises(SrscopeError):
        psnr(np.zeros((8, 8)), np.zeros((8, 9)), 1.0)
    with pytest.raises(SrscopeError):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)), 0.0)


def test_register_recovers_subpixel_shift():
    img = _specimen(200)
    moved = ndimage.shift(img, (2.3, -1.6), order=3, mode="nearest")
    reg = register(img, moved)
    assert reg.shift_px == pytest.approx((-2.3, 1.6), abs=0.1)
    assert reg.reference.shape == reg.moving.shape
    assert psnr(reg.reference, reg.moving, 1.0) > 35


def test_prepare_for_scoring_removes_gain_offset_and_shift():
    hr = _specimen(200)
    test = 3.0 * ndimage.shift(hr, (1.5, 0.5), order=3, mode="nearest") + 100.0
    ref_n, matched, _ = prepare_for_scoring(hr, test)
    assert psnr(ref_n, matched, 1.0) > 35
    assert affine_match(2 * hr + 1, hr) == pytest.approx(hr)


def test_fields_tile_the_centre():
    tiles = fields((800, 400), 384)
    assert len(tiles) == 2
    assert all(t[0].stop - t[0].start == 384 for t in tiles)
    assert fields((100, 100), 384) == [(slice(0, 100), slice(0, 100))]


def test_bicubic_shape_and_alignment_with_block_mean():
    hr = _specimen(256)
    lr = block_mean(hr, 4)
    up = bicubic(lr, 4)
    assert up.shape == hr.shape and up.dtype == np.float32
    # no systematic shift: registration finds ~0
    reg = register(hr, up)
    assert max(abs(s) for s in reg.shift_px) < 0.15
    # smooth specimen: bicubic of the block mean is close to the truth
    assert psnr(hr[8:-8, 8:-8], up[8:-8, 8:-8], 1.0) > 28
    assert bicubic(np.zeros((2, 5, 6)), 3).shape == (2, 15, 18)


def test_bicubic_rl_sharpens_towards_truth():
    rng = np.random.default_rng(3)
    hr = np.zeros((256, 256))
    pts = rng.integers(16, 240, (60, 2))
    hr[pts[:, 0], pts[:, 1]] = 1.0
    hr = ndimage.gaussian_filter(hr, 1.0) * 1000
    rec = DegradationRecord.model_validate(
        {"scale": 4, "psf": {"sigma_hr_px": 2.0}, "intensity": {"gain": 1.0, "offset": 100.0}}
    )
    lr = rec.apply(hr, noise=False)
    bic = bicubic(lr, 4) - 100
    rl = bicubic_rl(lr, 4, rec, iterations=20) - 100
    assert rl.shape == hr.shape
    # RL restores peak height lost to blur
    assert rl.max() > 1.5 * bic.max()
    # and improves the error against the (blurred-once) truth
    err_b = np.mean((bic - hr) ** 2)
    err_r = np.mean((rl - hr) ** 2)
    assert err_r < err_b
    assert bicubic_rl(lr, 4, 2.0, iterations=2, offset=100.0).shape == hr.shape
