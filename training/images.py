"""Reading training images: a reference set's captures or a plain folder of TIFF/PNG/OME-TIFF.

Every image becomes a :class:`TrainingImage`, float32 ``(C, Y, X)`` with channel names,
so multi-channel, RGB and single-channel data go through one code path. Layout
rules are explicit (never guessed from pixel values): ``(Y, X)`` is one
channel; ``(Y, X, 3|4)`` uint8/uint16 is RGB(A) (alpha dropped); ``(C, Y, X)``
with C ≤ 8 is channels; a deeper 3-D stack is Z planes, each its own image.
(Not :class:`sr_engine.sources.Source`, the engine's lazily read input.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srscope.errors import ImageError, SrscopeError
from srscope.images import read_image
from srscope.pixels import check_finite
from srscope.references import REFERENCES_FILE, ReferenceSet

IMAGE_SUFFIXES = (".tif", ".tiff", ".png")
MAX_CHANNELS = 8


@dataclass
class TrainingImage:
    """One HR image to cut patches from (float32 ``(C, Y, X)``)."""

    name: str
    image: np.ndarray
    channels: list[str]
    pixel_size_um: float | None = None
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.image.shape[-2]), int(self.image.shape[-1])


def to_sources(
    name: str, arr: np.ndarray, channels: list[str] | None = None
) -> list[TrainingImage]:
    """Split an array into ``(C, Y, X)`` sources following the layout rules of this module."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        return [TrainingImage(name, arr[None].astype(np.float32), channels or ["ch0"])]
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] > MAX_CHANNELS:
        rgb = np.moveaxis(arr[..., :3], -1, 0).astype(np.float32)
        return [TrainingImage(name, rgb, channels or ["R", "G", "B"], meta={"rgb": True})]
    if arr.ndim == 3 and arr.shape[0] <= MAX_CHANNELS:
        names = channels or [f"ch{i}" for i in range(arr.shape[0])]
        return [TrainingImage(name, arr.astype(np.float32), names)]
    if arr.ndim == 3:
        return [
            TrainingImage(f"{name}[z{z}]", arr[z][None].astype(np.float32), channels or ["ch0"])
            for z in range(arr.shape[0])
        ]
    if arr.ndim == 4 and arr.shape[1] <= MAX_CHANNELS:  # (Z, C, Y, X)
        names = channels or [f"ch{i}" for i in range(arr.shape[1])]
        return [
            TrainingImage(f"{name}[z{z}]", arr[z].astype(np.float32), names)
            for z in range(arr.shape[0])
        ]
    raise ImageError(f"{name}: unsupported image shape {arr.shape}")


def load_folder(folder: str | Path) -> list[TrainingImage]:
    """Every TIFF/PNG image of a folder (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SrscopeError(f"not a folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(f"no TIFF/PNG images in {folder}")
    sources: list[TrainingImage] = []
    for p in files:
        img = read_image(p)
        check_finite(img, str(p))  # before any patch is cut: a NaN would train NaN
        sources.extend(to_sources(p.name, img))
    return sources


def load_reference_hr(
    folder: str | Path, channel: str | None = None, stack_channels: bool = False
) -> tuple[list[TrainingImage], ReferenceSet]:
    """HR captures of a reference set; one single-channel source per entry, or
    one multi-channel source per position with ``stack_channels``."""
    folder = Path(folder)
    refs = ReferenceSet.load(folder)
    entries = [e for e in refs.entries if channel is None or e.channel == channel]
    if not entries:
        what = f" for channel {channel!r} (has {refs.channels})" if channel else ""
        raise SrscopeError(f"reference set {folder} has no entries{what}")
    sizes = {round(e.hr.pixel_size_um, 6) for e in entries}
    if max(sizes) / min(sizes) > 1.01:
        raise SrscopeError(f"reference set {folder}: HR pixel sizes differ: {sorted(sizes)} µm")
    if not stack_channels:
        sources = []
        for i, e in enumerate(entries):
            img = read_plane(folder / e.hr.file)
            src = to_sources(f"{i:03d}_{e.channel}", img, [e.channel])[0]
            src.pixel_size_um = e.hr.pixel_size_um
            src.meta = {"position_um": list(e.position_um), "entry": i}
            if e.lr is not None:
                src.meta["lr_file"] = str(folder / e.lr.file)
            sources.append(src)
        return sources, refs
    by_pos: dict[tuple[float, float, float], dict[str, np.ndarray]] = {}
    for e in entries:
        by_pos.setdefault(tuple(e.position_um), {})[e.channel] = read_plane(folder / e.hr.file)
    names = refs.channels if channel is None else [channel]
    sources = []
    for i, (pos, chans) in enumerate(by_pos.items()):
        if set(chans) != set(names):
            raise SrscopeError(f"position {pos} lacks channels {sorted(set(names) - set(chans))}")
        img = np.stack([chans[c] for c in names]).astype(np.float32)
        sources.append(TrainingImage(f"p{i:03d}", img, list(names), entries[0].hr.pixel_size_um))
    return sources, refs


def _plane(img: np.ndarray, name: str) -> np.ndarray:
    """A single 2-D plane of a capture (squeezing singleton axes)."""
    img = np.squeeze(img)
    if img.ndim != 2:
        raise ImageError(f"{name}: expected one 2-D plane per capture, got shape {img.shape}")
    return img


def read_plane(path: str | Path) -> np.ndarray:
    """The one 2-D plane of a capture file, as stored (refused if it has NaN or Inf)."""
    img = _plane(read_image(path), str(path))
    check_finite(img, str(path))
    return img


def load_sources(
    path: str | Path | list[str | Path], channel: str | None = None, stack_channels: bool = False
) -> tuple[list[TrainingImage], ReferenceSet | None]:
    """A reference set (folder with ``references.json``) or a plain image folder; or several
    of them (many specimens for one model: reference sets must share their HR pixel size)."""
    if isinstance(path, list):
        return _load_many([Path(p) for p in path], channel, stack_channels)
    path = Path(path)
    if (path / REFERENCES_FILE).is_file() or path.name == REFERENCES_FILE:
        folder = path if path.is_dir() else path.parent
        return load_reference_hr(folder, channel, stack_channels)
    return load_folder(path), None


def _load_many(
    paths: list[Path], channel: str | None, stack_channels: bool
) -> tuple[list[TrainingImage], ReferenceSet | None]:
    if len(paths) == 1:
        return load_sources(paths[0], channel, stack_channels)
    sources: list[TrainingImage] = []
    first: ReferenceSet | None = None
    for p in paths:
        srcs, refs = load_sources(p, channel, stack_channels)
        if refs is not None and first is not None:
            a, b = first.entries[0].hr.pixel_size_um, refs.entries[0].hr.pixel_size_um
            if abs(a / b - 1) > 0.01 or refs.scale != first.scale:
                raise SrscopeError(f"{p}: HR pixel size {b} µm ×{refs.scale} differs from "
                                   f"{paths[0]}: {a} µm ×{first.scale}")  # fmt: skip
        first = first or refs
        for s in srcs:
            s.name = f"{p.name}/{s.name}"
        sources.extend(srcs)
    return sources, first
