"""Simulated reference sets from a real image: valid contract, physically ordered blur."""

import numpy as np
import tifffile
from scipy import ndimage

from srscope.optics import airy_otf
from srscope.references import ReferenceSet
from training.evaluation.resolution import decorrelation_resolution
from training.evaluation.simrefs import simulate_reference_set


def test_airy_otf_cutoff():
    assert airy_otf(np.array([0.0]), 0.45, 0.52)[0] == 1.0
    assert airy_otf(np.array([2 * 0.45 / 0.52]), 0.45, 0.52)[0] == 0.0


def test_simulated_reference_set_is_valid_and_lr_is_blurrier(tmp_path):
    rng = np.random.default_rng(0)
    specimen = ndimage.gaussian_filter(rng.random((900, 900)), 1.5) ** 4
    refs = simulate_reference_set(
        specimen, 0.2, tmp_path, positions=2, hr_shape=192, lr_shape=96, photons_hr=2000
    )
    assert ReferenceSet.load(tmp_path) == refs
    e = refs.entries[0]
    hr = tifffile.imread(tmp_path / e.hr.file)
    lr = tifffile.imread(tmp_path / e.lr.file)
    assert hr.shape == (192, 192) and lr.shape == (96, 96) and hr.dtype == np.uint16
    res_hr = decorrelation_resolution(hr, e.hr.pixel_size_um).resolution_um
    res_lr = decorrelation_resolution(lr, e.lr.pixel_size_um).resolution_um
    assert res_lr > 1.8 * res_hr
