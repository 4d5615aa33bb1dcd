"""The pseudo-colour composite maths (srscope.composite): scaling, colours, clipping, PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from srscope.composite import (
    channel_color,
    channel_colors,
    composite,
    hex_to_rgb,
    percentile_scale,
    png_bytes,
    to_uint8,
    write_png,
)


def test_dyes_take_their_emission_colours() -> None:
    assert channel_color("DAPI") == "0000FF"
    assert channel_color("fitc") == "00FF00"
    assert channel_color("TRITC") == "FF0000"
    assert channel_color("Cy5") == "FF00FF"
    assert channel_color("BF-R") == "FF0000"  # the longer name wins over "bf"
    assert channel_colors(["DAPI", "mystery", "other"]) == ["0000FF", "00FF00", "FF00FF"]


def test_percentile_scale_maps_each_image_to_0_1_and_clips() -> None:
    img = np.arange(1000, dtype=np.float32).reshape(10, 100) * 7 + 100
    out = percentile_scale(img, 1.0, 99.0)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    lo, hi = np.percentile(img, [1.0, 99.0])
    inside = (img > lo) & (img < hi)
    np.testing.assert_allclose(out[inside], (img[inside] - lo) / (hi - lo), atol=1e-5)
    assert not percentile_scale(np.full((4, 4), 5.0)).any()  # flat: zeros, no division by 0
    assert not np.isnan(percentile_scale(np.array([[np.nan, 1.0], [2.0, 3.0]]))).any()


def test_composite_adds_tinted_channels_and_clips() -> None:
    a = np.zeros((2, 2), np.float32)
    a[0, 0] = 1.0
    b = np.zeros((2, 2), np.float32)
    b[0, 0] = b[1, 1] = 1.0
    rgb = composite([a, b], ["FF0000", "FF00FF"], low=0.0, high=100.0)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.float32
    np.testing.assert_array_equal(rgb[0, 0], [1.0, 0.0, 1.0])  # red + magenta, clipped at 1
    np.testing.assert_array_equal(rgb[1, 1], [1.0, 0.0, 1.0])  # magenta alone
    np.testing.assert_array_equal(rgb[0, 1], [0.0, 0.0, 0.0])
    # scaling is per channel: a 1000x brighter channel does not swamp the other
    rgb2 = composite([a * 1000, b], ["0000FF", "00FF00"], low=0.0, high=100.0)
    np.testing.assert_array_equal(rgb2[0, 0], [0.0, 1.0, 1.0])


def test_composite_refuses_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="colours"):
        composite([np.zeros((2, 2))], ["FF0000", "00FF00"])
    with pytest.raises(ValueError, match="shape"):
        composite([np.zeros((2, 2)), np.zeros((3, 2))], ["FF0000", "00FF00"])
    with pytest.raises(ValueError, match="hex"):
        hex_to_rgb("red")


def test_png_round_trips(tmp_path: Path) -> None:
    rgb8 = to_uint8(np.random.default_rng(0).random((5, 7, 3)))
    data = png_bytes(rgb8)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    path = write_png(tmp_path / "c.png", rgb8)
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(path)), rgb8)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), rgb8)
