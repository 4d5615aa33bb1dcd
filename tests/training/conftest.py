"""Tiny data for the training tests: a synthetic specimen, a known degradation, a reference set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from srscope.degradation import DegradationRecord, GaussianPSF, Intensity, Noise
from srscope.references import Capture, ReferenceEntry, ReferenceSet
from training.config import PaperGenerator, TrainConfig
from training.synthetic import make_pairs, specimen


@pytest.fixture
def record() -> DegradationRecord:
    return DegradationRecord(
        scale=4,
        psf=GaussianPSF(sigma_hr_px=2.0),
        intensity=Intensity(gain=0.5, offset=100.0),
        noise=Noise(std=3.0),
    )


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        tifffile.imwrite(folder / f"im{i}.tif", specimen((160, 160), seed=i).astype(np.uint16))
    return folder


def write_reference_set(folder: Path, record: DegradationRecord, n: int = 2, hr: int = 192) -> Path:
    """A reference set folder from synthetic pairs (HR 0.325 µm, LR 1.3 µm)."""
    folder.mkdir(parents=True, exist_ok=True)
    pairs = make_pairs(record, n=n, hr_shape=(hr, hr), seed=3)
    entries = []
    for i, p in enumerate(pairs):
        tifffile.imwrite(folder / f"p{i}_hr.ome.tif", np.clip(p.hr, 0, 65535).astype(np.uint16))
        tifffile.imwrite(folder / f"p{i}_lr.ome.tif", np.clip(p.lr, 0, 65535).astype(np.uint16))
        entries.append(
            ReferenceEntry(
                position_um=(100.0 * i, 0.0, 0.0),
                channel="FITC",
                hr=Capture(
                    file=f"p{i}_hr.ome.tif",
                    objective="20x/0.45",
                    pixel_size_um=0.325,
                    exposure_ms=50,
                ),
                lr=Capture(
                    file=f"p{i}_lr.ome.tif", objective="5x/0.15", pixel_size_um=1.3, exposure_ms=10
                ),
            )
        )
    ReferenceSet(scale=record.scale, entries=entries).save(folder)
    return folder


@pytest.fixture
def reference_set(tmp_path: Path, record: DegradationRecord) -> Path:
    return write_reference_set(tmp_path / "refs", record)


def tiny_config(preset: str = "live", **overrides: object) -> TrainConfig:
    """A network and run small enough for a unit test."""
    base: dict = {
        "patch_lr": 12,
        "batch": 2,
        "iterations": 4,
        "epoch_iterations": 2,
        "val_patches": 4,
        "checkpoint_every": 1,
        "threads": 1,
    }
    if preset == "paper":
        base.update(
            generator=PaperGenerator(features=4, blocks=1),
            discriminator_base=2,
            warmup_iterations=2,
        )
    base.update(overrides)
    return TrainConfig.preset_defaults(preset, **base)
