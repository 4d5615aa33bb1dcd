"""srscope.images.read_image: every file kind the parts read, as stored, or one clear error."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

from srscope.errors import SrscopeError
from srscope.images import read_image

IMG = (np.arange(24 * 32) % 4000).astype(np.uint16).reshape(24, 32)


def _tif(path: Path, data: np.ndarray) -> Path:
    tifffile.imwrite(path, data)
    return path


def _png(path: Path, data: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(data).save(path)
    return path


def _zarr(path: Path, data: np.ndarray) -> Path:
    import zarr

    group = zarr.open_group(path, mode="w")
    group.create_array("0", data=data)
    return path


@pytest.mark.parametrize(
    ("write", "name", "data"),
    [
        (_tif, "a.ome.tif", IMG),
        (_png, "a.png", (IMG % 256).astype(np.uint8)),
        (_zarr, "a.ome.zarr", IMG),
    ],
)
def test_pixels_come_back_as_stored(tmp_path, write, name, data):
    out = read_image(write(tmp_path / name, data))
    assert out.dtype == data.dtype
    np.testing.assert_array_equal(out, data)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: d / "missing.tif", "image not found"),
        (lambda d: d, "image not found"),  # a folder that is not OME-Zarr
        (lambda d: _tif(d / "i8.tif", IMG.astype(np.int8)), "int8"),
        (lambda d: (d / "junk.tif").write_bytes(b"not a tiff") and d / "junk.tif", "cannot read"),
    ],
)
def test_unreadable_images_are_one_clear_error(tmp_path, make, match):
    with pytest.raises(SrscopeError, match=match):
        read_image(make(tmp_path))
