"""Pseudo-colour composites of multi-channel images (NumPy; PNG through Pillow).

Each channel is scaled to [0, 1] between its own low and high percentiles
(computed once per whole channel image), multiplied by the channel's RGB
colour, and the channels are added and clipped to [0, 1]: the usual
fluorescence overlay (seed §2.5, Fig. 6). Colours follow the dye's emission:
DAPI blue, FITC/GFP green, TRITC red, Cy5 magenta; an unknown name takes the
next colour of :data:`FALLBACK`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

# channel name (case-insensitive, first match of the keys in the name) -> hex RGB
CHANNEL_COLORS: dict[str, str] = {
    "dapi": "0000FF",
    "hoechst": "0000FF",
    "fitc": "00FF00",
    "gfp": "00FF00",
    "tritc": "FF0000",
    "rfp": "FF0000",
    "mcherry": "FF0000",
    "cy5": "FF00FF",
    "bf-r": "FF0000",
    "bf-g": "00FF00",
    "bf-b": "0000FF",
    "bf": "FFFFFF",
}
FALLBACK = ("00FF00", "FF00FF", "00FFFF", "FFFF00", "FF0000", "0000FF")


def channel_color(name: str, index: int = 0) -> str:
    """The hex RGB (``RRGGBB``) a channel named ``name`` is shown in."""
    key = name.strip().lower()
    for dye in sorted(CHANNEL_COLORS, key=len, reverse=True):  # "bf-r" before "bf"
        if dye in key:
            return CHANNEL_COLORS[dye]
    return FALLBACK[index % len(FALLBACK)]


def channel_colors(names: Sequence[str]) -> list[str]:
    """Colours for ``names``; unknown names take distinct fallback colours."""
    out: list[str] = []
    spare = 0
    for name in names:
        known = any(dye in name.strip().lower() for dye in CHANNEL_COLORS)
        out.append(channel_color(name, spare))
        spare += 0 if known else 1
    return out


def hex_to_rgb(color: str) -> np.ndarray:
    """``"FF00FF"`` -> ``[1.0, 0.0, 1.0]`` (float32)."""
    c = color.lstrip("#")
    if len(c) != 6:
        raise ValueError(f"not a hex RGB colour: {color!r}")
    return np.array([int(c[i : i + 2], 16) / 255.0 for i in (0, 2, 4)], np.float32)


def percentile_scale(image: np.ndarray, low: float = 0.5, high: float = 99.8) -> np.ndarray:
    """``image`` mapped to [0, 1] between its ``low`` and ``high`` percentiles, clipped.

    A flat image (high == low) maps to zeros; NaNs are ignored and become 0.
    """
    img = np.asarray(image, dtype=np.float32)
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return np.zeros(img.shape, np.float32)
    lo, hi = np.percentile(finite, [low, high])
    if not hi > lo:
        return np.zeros(img.shape, np.float32)
    out = (img - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0).astype(np.float32)


def composite(
    channels: np.ndarray | Sequence[np.ndarray],
    colors: Sequence[str],
    *,
    low: float = 0.5,
    high: float = 99.8,
) -> np.ndarray:
    """``(C, Y, X)`` channels -> ``(Y, X, 3)`` float32 RGB in [0, 1].

    Each channel is percentile-scaled on its own, tinted with its colour, and
    the tints are added and clipped.
    """
    stack = [np.asarray(c) for c in channels]
    if not stack or any(c.ndim != 2 for c in stack):
        raise ValueError("composite needs one or more 2-D channel images")
    if len({c.shape for c in stack}) != 1:
        raise ValueError(f"channel images differ in shape: {[c.shape for c in stack]}")
    if len(colors) != len(stack):
        raise ValueError(f"{len(stack)} channels but {len(colors)} colours")
    rgb = np.zeros((*stack[0].shape, 3), np.float32)
    for img, color in zip(stack, colors, strict=True):
        rgb += percentile_scale(img, low, high)[..., None] * hex_to_rgb(color)
    return np.clip(rgb, 0.0, 1.0)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """[0, 1] float RGB -> uint8 (rounded)."""
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def png_bytes(rgb8: np.ndarray) -> bytes:
    """An 8-bit ``(Y, X, 3)`` RGB image encoded as PNG (Pillow)."""
    import io

    from PIL import Image

    img = np.ascontiguousarray(rgb8, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"PNG needs a (Y, X, 3) uint8 image, got {img.shape}")
    buf = io.BytesIO()
    Image.fromarray(img, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


def write_png(path: str | Path, rgb8: np.ndarray) -> Path:
    """Write ``rgb8`` as a PNG atomically."""
    from srscope.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(png_bytes(rgb8))
    return path
