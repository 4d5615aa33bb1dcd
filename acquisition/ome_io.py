"""Image files: OME-TIFF with pixel size, stage position, objective and channel;
single computed images as OME-Zarr or OME-TIFF; srscope attributes on OME-Zarr.

OME-TIFF writes go to a temporary file beside the target and are renamed into
place, so a reader (or a resumed run) never sees half a file.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import zarr
from ome_writers import AcquisitionSettings, Dimension, create_stream

from acquisition.models import FrameMeta
from srscope.atomic import atomic_path
from srscope.errors import SrscopeError


def write_ome_tiff(
    path: str | os.PathLike,
    image: np.ndarray,
    meta: FrameMeta | None = None,
    *,
    pixel_size_um: float | None = None,
    channel_names: list[str] | None = None,
    name: str | None = None,
    compression: str | None = "zlib",
) -> Path:
    """Atomically write ``(Y, X)``, ``(C, Y, X)`` or RGB ``(Y, X, 3)`` as OME-TIFF."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.asarray(image)
    px = pixel_size_um if pixel_size_um is not None else (meta.pixel_size_um if meta else None)
    if image.ndim == 2:
        axes = "YX"
    elif image.ndim == 3 and image.shape[-1] in (3, 4) and image.dtype == np.uint8:
        axes = "YXS"
    elif image.ndim == 3:
        axes = "CYX"
    else:
        raise SrscopeError(f"cannot write an image of shape {image.shape} as OME-TIFF")
    md: dict[str, Any] = {"axes": axes}
    if px:
        md.update(
            PhysicalSizeX=px, PhysicalSizeY=px, PhysicalSizeXUnit="µm", PhysicalSizeYUnit="µm"
        )
    if name:
        md["Name"] = name
    channels = channel_names or ([meta.channel] if meta else None)
    if channels and axes != "YXS":
        md["Channel"] = {"Name": channels}
    if meta is not None:
        n_planes = image.shape[0] if axes == "CYX" else 1
        x, y, z = meta.position_um
        md["Plane"] = {
            "PositionX": [x] * n_planes,
            "PositionY": [y] * n_planes,
            "PositionZ": [z] * n_planes,
            "PositionXUnit": ["µm"] * n_planes,
            "PositionYUnit": ["µm"] * n_planes,
            "PositionZUnit": ["µm"] * n_planes,
            "ExposureTime": [meta.exposure_ms] * n_planes,
            "ExposureTimeUnit": ["ms"] * n_planes,
        }
        md["Description"] = json.dumps({"srscope": meta.to_dict()})
    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp,
            image,
            ome=True,
            metadata=md,
            compression=compression,
            photometric="rgb" if axes == "YXS" else "minisblack",
        )
    return path


def read_ome_tiff(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Pixels and what we know of them: ``pixel_size_um``, ``position_um``, srscope metadata."""
    path = Path(path)
    if not path.is_file():
        raise SrscopeError(f"image not found: {path}")
    with tifffile.TiffFile(path) as tif:
        data = tif.series[0].asarray()
        xml = tif.ome_metadata or ""
    info: dict[str, Any] = {}
    if m := re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', xml):
        info["pixel_size_um"] = float(m.group(1))
    pos = [re.search(rf'Position{a}="([0-9.eE+-]+)"', xml) for a in "XYZ"]
    if all(pos):
        info["position_um"] = tuple(float(p.group(1)) for p in pos)  # type: ignore[union-attr]
    if m := re.search(r"<Description>(.*?)</Description>", xml, re.S):
        with contextlib.suppress(ValueError):
            info.update(json.loads(html.unescape(m.group(1))))
    return data, info


def annotate_zarr(path: str | os.PathLike, info: dict[str, Any]) -> None:
    """Add srscope metadata (objective, pixel size, channels, ...) to an OME-Zarr root."""
    path = Path(path)
    if not (path / "zarr.json").is_file():
        return
    group = zarr.open_group(path, mode="r+")
    group.attrs.update({"srscope": json.loads(json.dumps(info, default=str))})


def write_image(path: Path, image: np.ndarray, pixel_size_um: float, name: str) -> Path:
    """A single 2-D image as OME-Zarr (``.zarr``) or OME-TIFF, with its pixel size."""
    h, w = image.shape
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".tif", ".tiff"):
        return write_ome_tiff(path, image, pixel_size_um=pixel_size_um, name=name, compression=None)
    chunk = min(1024, h), min(1024, w)
    settings = AcquisitionSettings(
        root_path=str(path),
        dimensions=[
            Dimension(
                name="y", count=h, chunk_size=chunk[0], scale=pixel_size_um, unit="micrometer"
            ),
            Dimension(
                name="x", count=w, chunk_size=chunk[1], scale=pixel_size_um, unit="micrometer"
            ),
        ],
        dtype=str(image.dtype),
        overwrite=True,
    )
    with create_stream(settings) as stream:
        stream.append(image)
    return path
