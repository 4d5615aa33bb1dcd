"""Prediction on in-memory images: exactness, layouts, dtypes, tiling, viewport."""

from pathlib import Path

import numpy as np
import pytest

from sr_engine.normalize import Normalizer
from srscope.errors import SrscopeError

from .conftest import structured


def up(a: np.ndarray, s: int) -> np.ndarray:
    return np.repeat(np.repeat(a, s, -2), s, -1)


def test_nearest_model_is_exact_in_input_units(nearest4, image):
    out = nearest4.predict(image, tile=24, overlap=2)
    assert out.dtype == np.float32 and out.shape == (4 * 61, 4 * 83)
    np.testing.assert_allclose(out, up(image, 4).astype(np.float32), atol=1e-3 * image.max())


def test_input_dtype_output_is_clipped_not_wrapped(nearest4):
    img = np.array([[0, 10], [250, 255]], dtype=np.uint8)
    # fixed normaliser whose inverse maps beyond 255: must clip, not wrap around
    norm = Normalizer(lo=(0.0,), hi=(255.0,))
    out = nearest4.predict(img, dtype="input", normalizer=norm)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, up(img, 4))
    big = nearest4.predict(img, dtype=np.uint8, normalizer=Normalizer((0.0,), (255.0,)))
    assert big.max() == 255
    wide = nearest4.predict(img.astype(np.float32) * 2, dtype=np.uint8)
    assert wide.max() == 255 and wide.min() == 0  # 510 clipped to 255, not 254


def test_tiled_equals_untiled_with_receptive_field(conv2):
    img = structured(97, 131, seed=5)
    assert conv2.receptive_field >= 3
    whole = conv2.predict(img, tile=400)  # one window
    tiled = conv2.predict(img, tile=2 * conv2.receptive_field + 9)  # many cut windows
    batched = conv2.predict(img, tile=2 * conv2.receptive_field + 9, batch=5)
    span = float(whole.max() - whole.min())
    assert np.abs(tiled - whole).max() <= 1e-3 * span
    assert np.abs(batched - whole).max() <= 1e-3 * span
    # and the test would catch seams: too little overlap differs visibly
    seamy = conv2.predict(img, tile=16, overlap=0)
    assert np.abs(seamy - whole).max() > 1e-2 * span


def test_interior_matches_plain_session_run(conv2):
    """Away from the reflected border the engine is the model itself."""
    img = structured(64, 64, seed=2).astype(np.float32)
    norm = Normalizer((0.0,), (1.0,))
    ours = conv2.predict(img, tile=20, normalizer=norm)
    raw = conv2.run(img[None, None])[0, 0]
    m = 2 * (conv2.receptive_field + 1)
    np.testing.assert_allclose(ours[m:-m, m:-m], raw[m:-m, m:-m], atol=1e-3)


@pytest.mark.parametrize("region", [(10, 35, 20, 71), (0, 70, 0, 13), (60, 70, 85, 90)])
def test_viewport_region_equals_full_frame(conv2, region):
    img = structured(70, 90, seed=7)
    full = conv2.predict(img, tile=40)
    y0, y1, x0, x1 = region
    part = conv2.predict_region(img, region, tile=22)
    assert part.shape == (2 * (y1 - y0), 2 * (x1 - x0))
    np.testing.assert_allclose(part, full[2 * y0 : 2 * y1, 2 * x0 : 2 * x1], atol=1e-3)


def test_viewport_region_given_as_slices(conv2):
    img = structured(70, 90, seed=7)
    full = conv2.predict(img, tile=40)
    part = conv2.predict_region(img, (slice(5, 9), slice(None, 30)))
    np.testing.assert_allclose(part, full[10:18, :60], atol=1e-3)


def test_normalisation_is_once_per_image_not_per_tile(nearest4):
    """A dark tile next to a bright one keeps its level (per-tile stretch would not)."""
    img = np.full((40, 40), 100, np.uint16)
    img[:, 20:] = 4000
    out = nearest4.predict(img, tile=20, overlap=0)
    np.testing.assert_allclose(out[:, :80], 100, atol=0.5)
    np.testing.assert_allclose(out[:, 80:], 4000, atol=0.5)


def test_multichannel_and_rgb_layouts(conv2_rgb):
    rng = np.random.default_rng(0)
    cyx = rng.integers(0, 255, (3, 30, 40), dtype=np.uint8)
    a = conv2_rgb.predict(cyx)
    assert a.shape == (3, 60, 80)
    b = conv2_rgb.predict(np.moveaxis(cyx, 0, -1))  # (Y, X, C) guessed from channel count
    assert b.shape == (60, 80, 3)
    np.testing.assert_allclose(np.moveaxis(b, -1, 0), a, atol=1e-3)


def test_channels_are_normalised_separately(nearest4):
    from sr_engine.model import SRModel
    from sr_engine.testing import nearest_model

    m = SRModel(nearest_model(2, 2))
    img = np.stack([np.linspace(0, 10, 400), np.linspace(1000, 60000, 400)]).reshape(2, 20, 20)
    out = m.predict(img.astype(np.float32))
    np.testing.assert_allclose(out, up(img, 2), rtol=1e-4, atol=1e-3)


def test_stack_is_plane_by_plane_with_one_normalisation(nearest4, conv2):
    stack = np.stack([structured(20, 24, seed=i) for i in range(3)])
    stack[2] //= 4  # a dim plane: with one stack-wide normalisation it stays dim
    out = nearest4.predict(stack)
    assert out.shape == (3, 80, 96)
    np.testing.assert_allclose(out, up(stack, 4), atol=0.05)
    zc = conv2.predict(stack[:, None])
    assert zc.shape == (3, 1, 40, 48)
    np.testing.assert_allclose(zc[:, 0], conv2.predict(stack), atol=1e-4)
    explicit = conv2.predict(stack, axes="ZYX")
    np.testing.assert_array_equal(explicit, conv2.predict(stack))


def test_cyx_vs_zyx_is_decided_by_channel_count_and_axes(conv2_rgb, conv2):
    img = np.ones((3, 16, 16), np.float32)
    assert conv2_rgb.predict(img).shape == (3, 32, 32)  # CYX: model has 3 channels
    assert conv2.predict(img).shape == (3, 32, 32)  # ZYX: model has 1 channel
    with pytest.raises(SrscopeError, match="has 3 channel"):
        conv2.predict(img, axes="CYX")


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((4, 16, 16), np.float32), "expects 3 channels"),
        (np.zeros((16,), np.float32), "1D image"),
        (np.zeros((2, 2, 3, 8, 8), np.float32), "5D image"),
        (np.zeros((0, 16), np.float32), "empty"),
        (np.array([[1.0, np.nan], [0.0, 1.0]], np.float32), "NaN or infinite"),
        (np.array([[1.0, np.inf], [0.0, 1.0]], np.float32), "NaN or infinite"),
        (np.zeros((8, 8), np.complex64), "dtype"),
    ],
)
def test_bad_input_is_a_clear_error(conv2_rgb, conv2, bad, match):
    model = conv2_rgb if bad.ndim == 3 else conv2
    with pytest.raises(SrscopeError, match=match):
        model.predict(bad)


def test_bad_tile_settings(conv2):
    with pytest.raises(SrscopeError, match="larger than twice the overlap"):
        conv2.predict(np.ones((32, 32), np.float32), tile=8, overlap=4)
    with pytest.raises(SrscopeError, match="batch"):
        conv2.predict(np.ones((32, 32), np.float32), batch=0)
    with pytest.raises(SrscopeError, match="outside the image"):
        conv2.predict_region(np.ones((32, 32), np.float32), (0, 40, 0, 8))


def test_auto_tile_follows_memory_budget(conv2):
    small, big = conv2.auto_tile(budget_mb=1), conv2.auto_tile(budget_mb=64)
    assert small < big
    assert small > 2 * conv2.receptive_field


REAL = Path("/work/shared/data/fluorescence/focal_adhesions_488_evolve_t0000.tif")


def test_deep_split_model_tiled_equals_untiled_on_a_real_image():
    """Paper-style generator (residual blocks, BN, pixel shuffle, split tail) on real data."""
    from sr_engine.architectures import paper_generator
    from sr_engine.model import SRModel

    if REAL.is_file():
        import tifffile

        img = tifffile.imread(REAL)[200:290, 150:260]
    else:  # pragma: no cover - shared data not mounted
        img = structured(90, 110, seed=9)
    model = SRModel(paper_generator(blocks=3, features=16, seed=5), split=True)
    assert model.split
    model._split.tail_core = 24  # many tail sub-windows as well
    whole = model.predict(img, tile=200)
    tiled = model.predict(img, tile=2 * model.receptive_field + 20)
    span = float(whole.max() - whole.min())
    assert whole.shape == (360, 440)
    assert np.abs(tiled - whole).max() <= 1e-3 * span


def test_denormalising_a_large_cropped_output_in_bands_is_exact():
    """Live frames: the model's cropped buffer -> a contiguous result, on every core."""
    rng = np.random.default_rng(4)
    y = rng.random((1, 2, 1100, 1030), dtype=np.float32)[..., 7:-5, 3:-11]  # > 1 M values
    norm = Normalizer((10.0, -2.0), (3000.0, 5.0))
    want = (
        y * np.array([2990.0, 7.0], np.float32)[:, None, None]
        + np.array([10.0, -2.0], np.float32)[:, None, None]
    )
    out = norm.after(y, axis=1, out=np.empty(y.shape, np.float32))
    assert out.flags.c_contiguous
    np.testing.assert_allclose(out, want, rtol=1e-6)
    np.testing.assert_allclose(norm.after(y.copy(), axis=1), want, rtol=1e-6)
