"""Fixtures for the viewer, demo and on-the-fly SR tests: the simulated rig, tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr_engine.testing import default_metadata, nearest_model, save_model

ROI = 128  # camera ROI side for fast frames


def make_model(
    path: Path, channel: str = "FITC", n_conv: int = 0, lr_px: float = 1.3, record: bool = False
) -> Path:
    """Nearest-neighbour ×4 model (exactly np.repeat when ``n_conv`` is 0) for ``channel``."""
    extra = {}
    if record:
        extra["degradation"] = {
            "scale": 4,
            "psf": {"sigma_hr_px": 2.0},
            "intensity": {"gain": 1.0, "offset": 0.0},
            "noise": {"kind": "gaussian", "std": 5.0},
        }
    meta = default_metadata(
        4,
        [channel],
        name=f"nearest-{channel.lower()}",
        lr_pixel_size_um=lr_px,
        hr_pixel_size_um=lr_px / 4,
        **extra,
    )
    return save_model(nearest_model(4, 1, n_conv=n_conv, meta=meta), path)


@pytest.fixture(scope="session")
def fitc_model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("models") / "fitc.onnx", "FITC")


@pytest.fixture(scope="session")
def fitc_model_with_record(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("models") / "fitc_rec.onnx", "FITC", record=True)


@pytest.fixture(scope="session")
def dapi_model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("models") / "dapi.onnx", "DAPI")


@pytest.fixture
def rig(fitc_model):
    """The simulated rig (a Microscope) at 5x / FITC, small ROI, fast camera."""
    from ui.app import prepare_rig

    scope = prepare_rig(None, fitc_model)
    scope.core.setProperty("Camera", "RealTime", "Off")
    scope.set_centered_roi(ROI)
    try:
        yield scope
    finally:
        scope.close()


@pytest.fixture
def viewer(qtbot, rig, fitc_model, tmp_path):
    """A shown viewer window on the sim rig with the FITC model, live on."""
    from ui.viewer import ViewerSettings, ViewerWindow

    window = ViewerWindow(
        rig, ViewerSettings(model=fitc_model, out_dir=tmp_path / "out", viewport_max_px=110)
    )
    qtbot.addWidget(window)
    window.show()
    try:
        yield window
    finally:
        window.shutdown()
