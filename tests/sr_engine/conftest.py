"""Tiny models shared by the engine tests (built once per session, milliseconds)."""

import numpy as np
import pytest

from sr_engine.model import SRModel
from sr_engine.testing import nearest_model, save_model


@pytest.fixture(scope="session")
def nearest4():
    """Exact ×4 nearest-neighbour model, 1 channel."""
    return SRModel(nearest_model(4, 1))


@pytest.fixture(scope="session")
def conv2():
    """×2 model with three 3×3 convs before upsampling: a real receptive field (3 px)."""
    return SRModel(nearest_model(2, 1, n_conv=3, seed=1))


@pytest.fixture(scope="session")
def conv2_rgb():
    return SRModel(nearest_model(2, 3, n_conv=2, seed=2))


@pytest.fixture
def model_file(tmp_path):
    return save_model(nearest_model(2, 1, n_conv=2, seed=3), tmp_path / "model.onnx")


def structured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Camera-like uint16 image with edges and blobs everywhere (tiles cut through them)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    img = 500 + 300 * np.sin(yy / 3.1) * np.cos(xx / 4.7) + 200 * ((yy // 7 + xx // 5) % 2)
    img += rng.normal(0, 30, (h, w))
    return np.clip(img, 0, 65535).astype(np.uint16)


@pytest.fixture
def image():
    return structured(61, 83)
