"""Decorrelation analysis and FRC on images with a known answer."""

import itertools

import numpy as np
import pytest
from scipy import ndimage

from srscope.errors import SrscopeError
from training.evaluation.resolution import (
    _radius_grid,
    decorrelation_resolution,
    frc,
    space_bandwidth_product,
)

N = 256


def _noise(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((N, N))


def test_resolution_grows_monotonically_with_gaussian_blur():
    base, noise = _noise(0), _noise(1)
    sigmas = [1.0, 1.5, 2.0, 3.0, 4.0]
    res = [
        decorrelation_resolution(ndimage.gaussian_filter(base, s) * 10 + 0.05 * noise, 0.5)
        for s in sigmas
    ]
    values = [r.resolution_um for r in res]
    assert all(b > a for a, b in itertools.pairwise(values)), values
    assert not any(r.sampling_limited for r in res)
    # roughly proportional to sigma (≈ 2.5 σ px here)
    assert values[-1] / values[0] == pytest.approx(4.0, rel=0.25)


@pytest.mark.parametrize("cutoff", [0.3, 0.5, 0.7])
def test_band_limited_pattern_gives_its_cutoff(cutoff):
    spectrum = np.fft.fft2(_noise(2)) * (_radius_grid((N, N)) < cutoff)
    img = np.real(np.fft.ifft2(spectrum))
    img = img / img.std() + 0.1 * _noise(3)
    r = decorrelation_resolution(img, pixel_size_um=0.2)
    expected_px = 2.0 / cutoff
    assert r.resolution_px == pytest.approx(expected_px, rel=0.06)
    assert r.resolution_um == pytest.approx(expected_px * 0.2, rel=0.06)


def test_white_noise_is_sampling_limited():
    r = decorrelation_resolution(_noise(4), pixel_size_um=1.3)
    assert r.sampling_limited
    assert r.resolution_um == pytest.approx(2.6)


def test_decorrelation_refuses_bad_images():
    with pytest.raises(SrscopeError):
        decorrelation_resolution(np.zeros((64, 64)))
    with pytest.raises(SrscopeError):
        decorrelation_resolution(np.ones((8, 8)))


def test_space_bandwidth_product_definition():
    # 100x100 px of 1 µm at 2 µm resolution: 1e4 µm² / 1 µm² = 1e4
    assert space_bandwidth_product((100, 100), 1.0, 2.0) == pytest.approx(1e4)


def test_frc_of_two_noisy_captures_finds_band_limit():
    spectrum = np.fft.fft2(_noise(5)) * (_radius_grid((N, N)) < 0.5)
    truth = np.real(np.fft.ifft2(spectrum))
    truth /= truth.std()
    a, b = truth + 0.3 * _noise(6), truth + 0.3 * _noise(7)
    res, _radii, curve = frc(a, b, pixel_size_um=1.0)
    assert curve[2] > 0.8
    assert res == pytest.approx(4.0, rel=0.1)
