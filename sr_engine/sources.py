"""Inputs that may not fit in memory: NumPy arrays, TIFF / OME-TIFF, OME-Zarr.

Files are opened lazily (``tifffile`` as a zarr store, or zarr itself) and read
window by window, so memory does not grow with the image.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sr_engine.axes import Layout, resolve_layout
from srscope import logger
from srscope.errors import ImageError, SrscopeError
from srscope.pixels import check_pixel_dtype

# tifffile axis codes -> ours (S: samples/RGB; I, Q: unnamed image sequence)
_TIFF_AXES = {"S": "C", "I": "Z", "Q": "Z", "T": "T", "Z": "Z", "C": "C", "Y": "Y", "X": "X"}


@dataclass
class Source:
    """A lazily readable image: ``array[...]`` slices read only what is asked for."""

    array: Any
    layout: Layout
    pixel_size_um: float | None = None
    name: str = "<array>"
    channels: list[str] | None = None  # channel names the file states (OME), if any
    # stage (x, y) µm of the top-left pixel's centre, where the file states it (OME-Zarr
    # translation): an SR output keeps the physical place of the image it came from
    origin_um: tuple[float, float] | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)
    _close: Callable[[], None] | None = None

    def plane(self, p: int) -> LazyPlane:
        return LazyPlane(self, p)

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LazyPlane:
    """Plane ``p`` of a source viewed as ``(C, Y, X)``; slicing reads from the source."""

    def __init__(self, source: Source, p: int) -> None:
        layout = source.layout
        self._src = source
        self._axes = layout.axes
        plane_shape = [layout.shape[layout.axes.index(a)] for a in layout.plane_axes]
        self._plane_index = dict(
            zip(
                layout.plane_axes,
                np.unravel_index(p, plane_shape) if plane_shape else (),
                strict=True,
            )
        )
        self.shape = (layout.n_channels, *layout.yx)
        self.dtype = source.array.dtype
        self.ndim = 3

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if key and key[0] is Ellipsis:
            key = (slice(None),) * (4 - len(key)) + key[1:]
        key = key + (slice(None),) * (3 - len(key))
        kc, ky, kx = key
        index = []
        for a in self._axes:
            index.append({"C": kc, "Y": ky, "X": kx}.get(a, int(self._plane_index.get(a, 0))))
        data = np.asarray(self._src.array[tuple(index)])
        kept = [a for a in self._axes if a in "CYX"]
        data = data.transpose([kept.index(a) for a in "CYX" if a in kept])
        return data if "C" in kept else data[None]


def open_source(
    src: str | os.PathLike | np.ndarray, n_channels: int, axes: str | None = None
) -> Source:
    """Open an array, a TIFF / OME-TIFF file or an OME-Zarr folder for streaming."""
    if isinstance(src, np.ndarray) or (hasattr(src, "shape") and hasattr(src, "dtype")):
        arr = src
        layout = resolve_layout(arr.shape, n_channels, axes)
        return Source(
            arr, layout, None, "<array>", {"shape": list(arr.shape), "dtype": str(arr.dtype)}
        )
    path = Path(src)
    if not path.exists():
        raise ImageError(f"input not found: {path}")
    try:
        if path.is_dir() or path.suffix == ".zarr":
            source = _open_zarr(path, n_channels, axes)
        else:
            source = _open_tiff(path, n_channels, axes)
    except SrscopeError:
        raise
    except Exception as exc:  # tifffile and zarr raise various on damaged files
        raise ImageError(
            f"cannot read {path} as TIFF or OME-Zarr ({type(exc).__name__}: {str(exc)[:120]})"
        ) from None
    st = path.stat()
    source.fingerprint = {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
    }
    return source


def _open_tiff(path: Path, n_channels: int, axes: str | None) -> Source:
    import tifffile
    import zarr

    tf = tifffile.TiffFile(path)
    try:
        series = tf.series[0]
        _check_tiff_data(tf, path)
        check_pixel_dtype(series.dtype, str(path))
        tiff_axes = "".join(_TIFF_AXES.get(a, "Z") for a in series.axes)
        arr = zarr.open(series.aszarr(level=0), mode="r")
        shape = tuple(arr.shape)
        tiff_axes = _squeeze_axes(tiff_axes, shape, n_channels)
        layout = resolve_layout(shape, n_channels, axes or tiff_axes)
        px = _ome_pixel_size(tf.ome_metadata) if tf.is_ome else _resolution_pixel_size(tf)
        channels = _ome_channel_names(tf.ome_metadata) if tf.is_ome else None
    except Exception:  # close the file whatever went wrong, and re-raise
        tf.close()
        raise
    return Source(arr, layout, px, str(path), channels=channels, _close=tf.close)


def _check_tiff_data(tf, path: Path) -> None:
    """Refuse a TIFF whose pixel data is not all in the file (truncated, or a lying header)."""
    size = path.stat().st_size
    for page in (tf.pages[0], tf.pages[-1]) if len(tf.pages) > 1 else (tf.pages[0],):
        ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts, strict=False)]
        if ends and max(ends) > size:
            raise ImageError(f"{path} is truncated: its pixel data ends past the end of the file")
        if page.compression == 1 and sum(page.databytecounts) < page.nbytes:
            raise ImageError(
                f"{path} is damaged: its header claims {page.shape} pixels "
                f"({page.nbytes} bytes) but it holds {sum(page.databytecounts)} bytes"
            )


def _squeeze_axes(axes: str, shape: tuple[int, ...], n_channels: int) -> str:
    """Unique axis letters: repeated plane letters (e.g. 'ZZ' from 'IQ') become T, Z."""
    out = []
    for a in axes:
        if a in out and a == "Z" and "T" not in out:
            a = "T"
        out.append(a)
    if "C" not in out and n_channels > 1 and len(shape) == 3 and shape[0] == n_channels:
        out[0] = "C"
    return "".join(out)


def _ome_pixel_size(xml: str | None) -> float | None:
    if not xml:
        return None
    m = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', xml)
    unit = re.search(r'PhysicalSizeXUnit="([^"]+)"', xml)
    if not m:
        return None
    value = float(m.group(1))
    factor = {"nm": 1e-3, "mm": 1e3, "m": 1e6}.get(unit.group(1) if unit else "µm", 1.0)
    return value * factor


def _ome_channel_names(xml: str | None) -> list[str] | None:
    """Names of the first image's channels in OME-XML, if every channel has one."""
    if not xml:
        return None
    image = xml.split("</Image>", 1)[0]
    channels = re.findall(r"<Channel\b[^>]*>|<Channel\b[^>]*/>", image)
    names = [re.search(r'\bName="([^"]*)"', c) for c in channels]
    if not names or not all(names):
        return None
    return [m.group(1) for m in names if m is not None]


def _resolution_pixel_size(tf: Any) -> float | None:
    page = tf.pages[0]
    tag = page.tags.get("XResolution")
    unit = page.tags.get("ResolutionUnit")
    if tag is None or unit is None:
        return None
    num, den = tag.value
    if not num:
        return None
    per = {2: 25400.0, 3: 10000.0}.get(int(unit.value))  # inch, cm in µm
    if tf.is_imagej and (tf.imagej_metadata or {}).get("unit") in ("micron", "um", "µm"):
        return den / num
    return per * den / num if per else None


def _open_zarr(path: Path, n_channels: int, axes: str | None) -> Source:
    import zarr

    node = zarr.open(str(path), mode="r")
    px = None
    channels = None
    origin: tuple[float, float] | None = None
    if isinstance(node, zarr.Array):
        arr, zaxes = node, None
    else:
        attrs = dict(node.attrs)
        ms = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
        if not ms:
            raise ImageError(f"{path} is a zarr group without OME-Zarr multiscales metadata")
        ms0 = ms[0]
        ds0 = ms0["datasets"][0]
        arr = node[ds0["path"]]
        names = [a["name"] if isinstance(a, dict) else a for a in ms0.get("axes", [])]
        zaxes = "".join(n.upper() for n in names) if names else None
        for tr in ds0.get("coordinateTransformations", []):
            if tr.get("type") == "scale":
                px = float(tr["scale"][-1])
            if tr.get("type") == "translation" and len(tr.get("translation", [])) >= 2:
                origin = (float(tr["translation"][-1]), float(tr["translation"][-2]))
        omero = attrs.get("omero") or attrs.get("ome", {}).get("omero") or {}
        labels = [c.get("label") for c in omero.get("channels", []) if isinstance(c, dict)]
        channels = labels if labels and all(labels) else None
    layout = resolve_layout(tuple(arr.shape), n_channels, axes or zaxes)
    return Source(arr, layout, px, str(path), channels=channels, origin_um=origin)


def describe(source: Source) -> str:
    px = f"{source.pixel_size_um:g} µm/px" if source.pixel_size_um else "pixel size unknown"
    return f"{source.name}: {source.layout.axes} {source.layout.shape} {source.array.dtype}, {px}"


__all__ = ["LazyPlane", "Source", "describe", "logger", "open_source"]
