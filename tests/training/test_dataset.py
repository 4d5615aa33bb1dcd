"""Patches: shapes, augmentation, normalisation consistent with the engine, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from srscope.degradation import DegradationRecord
from srscope.errors import SrscopeError
from training.dataset import PatchSampler, prepare_sources
from training.images import load_folder, load_sources, to_sources

from .conftest import tiny_config


def test_batches_have_lr_and_hr_patch_shapes(image_folder: Path, record: DegradationRecord) -> None:
    cfg = tiny_config(patch_lr=10, batch=3)
    sampler = PatchSampler(prepare_sources(load_folder(image_folder), record, cfg), record, cfg)
    lr, hr = sampler.batch()
    assert lr.shape == (3, 1, 10, 10) and hr.shape == (3, 1, 40, 40)
    assert lr.dtype == np.float32 and hr.dtype == np.float32


def test_normalisation_matches_the_engine(image_folder: Path, record: DegradationRecord) -> None:
    """The HR target is gain·HR + offset in the LR image's normalised units: the block
    mean of the (blurred) target is the noise-free LR patch."""
    cfg = tiny_config(patch_lr=10, batch=4)
    prepared = prepare_sources(load_folder(image_folder), record, cfg)
    pr = prepared[0]
    lr_full = record.apply(load_folder(image_folder)[0].image, rng=np.random.default_rng(0))
    lo, hi = np.percentile(lr_full, [1.0, 99.8])
    assert pr.lo[0] == pytest.approx(lo, rel=0.02)
    assert pr.lo[0] + pr.span[0] == pytest.approx(hi, rel=0.02)
    sampler = PatchSampler(
        prepared,
        record.model_copy(update={"noise": record.noise.model_copy(update={"std": 0.0})}),
        cfg,
    )
    lr, hr = sampler.batch()
    # noise-free LR ≈ block mean of the blurred HR; bicubic-free check: means agree
    assert lr.mean() == pytest.approx(hr.mean(), abs=0.02)


def test_resampling_is_seeded(image_folder: Path, record: DegradationRecord) -> None:
    cfg = tiny_config()
    prepared = prepare_sources(load_folder(image_folder), record, cfg)
    a, b = PatchSampler(prepared, record, cfg), PatchSampler(prepared, record, cfg)
    np.testing.assert_array_equal(a.batch()[0], b.batch()[0])
    state = a.state()
    first = a.batch()[0]
    a.set_state(state)
    np.testing.assert_array_equal(a.batch()[0], first)
    v1, v2 = a.validation(), b.validation()
    np.testing.assert_array_equal(v1[0], v2[0])


def test_background_patches_are_mostly_skipped(record: DegradationRecord) -> None:
    img = np.full((200, 200), 10.0, dtype=np.float32)
    img[:80, :80] = np.random.default_rng(0).uniform(100, 2000, (80, 80))
    cfg = tiny_config(patch_lr=8, batch=32, background_keep=0.0)
    sampler = PatchSampler(prepare_sources(to_sources("bg", img), record, cfg), record, cfg)
    _, hr = sampler.batch()
    spread = hr.max(axis=(1, 2, 3)) - hr.min(axis=(1, 2, 3))
    assert (spread > 0.05).mean() > 0.8


def test_rgb_and_multichannel_images(tmp_path: Path, record: DegradationRecord) -> None:
    rgb = (np.random.default_rng(0).random((140, 150, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "he.png")
    tifffile.imwrite(
        tmp_path / "two.tif", np.random.default_rng(1).random((2, 140, 140)).astype(np.float32)
    )
    sources = load_folder(tmp_path)
    assert [s.channels for s in sources] == [["R", "G", "B"], ["ch0", "ch1"]]
    cfg = tiny_config(patch_lr=8)
    sampler = PatchSampler(prepare_sources(sources[:1], record, cfg), record, cfg)
    assert sampler.batch()[0].shape[1] == 3
    with pytest.raises(SrscopeError, match="different channel counts"):
        prepare_sources(sources, record, cfg)


def test_images_smaller_than_a_patch_are_refused(
    image_folder: Path, record: DegradationRecord
) -> None:
    cfg = tiny_config(patch_lr=64)  # 256 px HR patch > 160 px images
    with pytest.raises(SrscopeError, match="smaller than the HR patch"):
        prepare_sources(load_folder(image_folder), record, cfg)


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SrscopeError, match="no TIFF/PNG images"):
        load_folder(tmp_path)
    with pytest.raises(SrscopeError, match="not a folder"):
        load_folder(tmp_path / "nope")


def test_reference_set_hr_images(reference_set: Path) -> None:
    sources, refs = load_sources(reference_set)
    assert refs is not None and len(sources) == 2
    assert sources[0].channels == ["FITC"] and sources[0].pixel_size_um == 0.325
    with pytest.raises(SrscopeError, match="no entries for channel"):
        load_sources(reference_set, channel="DAPI")
