"""A small synthetic reference set and tiny ONNX models, made in the test."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from sr_engine.testing import nearest_model, save_model
from srscope.degradation import DegradationRecord
from srscope.references import ReferenceSet

SCALE = 4


@pytest.fixture(scope="session")
def record() -> DegradationRecord:
    return DegradationRecord.model_validate(
        {
            "scale": SCALE,
            "psf": {"kind": "gaussian", "sigma_hr_px": 1.5},
            "intensity": {"gain": 0.5, "offset": 100.0},
            "noise": {"kind": "gaussian", "std": 2.0},
        }
    )


def _world(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((n, n)), 2.5)
    img = (img - img.min()) / np.ptp(img)
    return (300 + 3000 * img**2).astype(np.float32)


@pytest.fixture(scope="session")
def reference_set(tmp_path_factory, record) -> tuple:
    """Two positions: an LR frame of 128² LR px around an HR capture of 208² HR px."""
    folder = tmp_path_factory.mktemp("refs")
    rng = np.random.default_rng(0)
    entries = []
    for i in range(2):
        world = _world(512, seed=10 + i)
        lr = record.apply(world, rng=rng)
        dy, dx = 3 + i, -2  # HR capture slightly off centre: nothing may rely on registration
        c = 256
        hr = world[c - 104 + dy : c + 104 + dy, c - 104 + dx : c + 104 + dx]
        hr = (hr + rng.normal(0, 5, hr.shape)).astype(np.float32)
        tifffile.imwrite(folder / f"p{i:03d}_FITC_hr.ome.tif", hr.astype(np.uint16), ome=True)
        tifffile.imwrite(folder / f"p{i:03d}_FITC_lr.ome.tif", lr.astype(np.uint16), ome=True)
        entries.append(
            {
                "position_um": [100.0 * i, 0.0, 0.0],
                "channel": "FITC",
                "hr": {
                    "file": f"p{i:03d}_FITC_hr.ome.tif",
                    "objective": "20x/0.45",
                    "pixel_size_um": 0.325,
                    "exposure_ms": 50.0,
                },
                "lr": {
                    "file": f"p{i:03d}_FITC_lr.ome.tif",
                    "objective": "5x/0.15",
                    "pixel_size_um": 1.3,
                    "exposure_ms": 10.0,
                },
            }
        )
    ReferenceSet.model_validate({"scale": SCALE, "entries": entries}).save(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, record):
    """An 'MSE' model (nearest upsampling) and a 'GAN' one (random convs + nearest)."""
    folder = tmp_path_factory.mktemp("models")
    mse = save_model(
        nearest_model(SCALE, degradation=record, name="mse", receptive_field=0), folder / "mse.onnx"
    )
    gan = save_model(
        nearest_model(SCALE, n_conv=2, degradation=record, name="gan", receptive_field=2),
        folder / "gan.onnx",
    )
    return mse, gan
