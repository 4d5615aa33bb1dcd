"""Which axis is which: (Y, X), (C, Y, X), (Z, Y, X), (Z, C, Y, X), (Y, X, C).

``(C, Y, X)`` and ``(Z, Y, X)`` look the same; the model's channel count (or an
explicit ``axes`` string) decides. Everything is viewed as planes ``(P, C, Y, X)``
for the engine and put back in the caller's layout afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srscope.errors import ImageError

PLANE_AXES = "TZ"
VALID = set("TZCYX")


@dataclass(frozen=True)
class Layout:
    """An image layout and how to view it as ``(P, C, Y, X)``."""

    axes: str
    shape: tuple[int, ...]

    @property
    def plane_axes(self) -> str:
        return "".join(a for a in self.axes if a in PLANE_AXES)

    @property
    def n_channels(self) -> int:
        return self.shape[self.axes.index("C")] if "C" in self.axes else 1

    @property
    def n_planes(self) -> int:
        return int(np.prod([self.shape[self.axes.index(a)] for a in self.plane_axes]))

    @property
    def yx(self) -> tuple[int, int]:
        return self.shape[self.axes.index("Y")], self.shape[self.axes.index("X")]

    def _order(self) -> list[int]:
        return [self.axes.index(a) for a in (*self.plane_axes, "C", "Y", "X") if a in self.axes]

    def to_pcyx(self, image):
        """View (no copy for NumPy arrays) as ``(P, C, Y, X)``."""
        arr = image.transpose(self._order()) if self._order() != list(range(image.ndim)) else image
        h, w = self.yx
        return arr.reshape(self.n_planes, self.n_channels, h, w)

    def out_shape(self, scale: int) -> tuple[int, ...]:
        return tuple(
            n * scale if a in "YX" else n for a, n in zip(self.axes, self.shape, strict=True)
        )

    def from_pcyx(self, out: np.ndarray) -> np.ndarray:
        """Put a ``(P, C, sY, sX)`` result back into this layout."""
        planes = [self.shape[self.axes.index(a)] for a in self.plane_axes]
        c = [self.n_channels] if "C" in self.axes else []
        arr = out.reshape(*planes, *c, *out.shape[-2:])
        return arr.transpose(np.argsort(self._order()))


def resolve_layout(shape: tuple[int, ...], n_channels: int, axes: str | None = None) -> Layout:
    """Decide the layout of an image of ``shape`` for a model with ``n_channels``."""
    shape = tuple(int(n) for n in shape)
    if any(n == 0 for n in shape):
        raise ImageError(f"the image is empty (shape {shape})")
    if axes is None:
        axes = _guess(shape, n_channels)
    axes = axes.upper()
    if len(axes) != len(shape):
        raise ImageError(f"axes {axes!r} do not match an image with {len(shape)} dimensions")
    if set(axes) - VALID or len(set(axes)) != len(axes) or not {"Y", "X"} <= set(axes):
        raise ImageError(f"invalid axes {axes!r}: use distinct letters of TZCYX with Y and X")
    layout = Layout(axes, shape)
    if layout.n_channels != n_channels:
        raise ImageError(
            f"the image has {layout.n_channels} channel(s) (axes {axes}, shape {shape}) "
            f"but the model expects {n_channels}"
        )
    return layout


def _guess(shape: tuple[int, ...], n_channels: int) -> str:
    nd = len(shape)
    if nd == 2:
        return "YX"
    if nd == 3:
        if n_channels == 1:
            return "ZYX"
        if shape[0] == n_channels:
            return "CYX"
        if shape[-1] == n_channels:
            return "YXC"
        raise ImageError(
            f"the model expects {n_channels} channels but no axis of the image "
            f"(shape {shape}) has that length"
        )
    if nd == 4:
        if shape[1] == n_channels:
            return "ZCYX"
        if shape[-1] == n_channels:
            return "ZYXC"
        raise ImageError(
            f"the model expects {n_channels} channels but the image (shape {shape}) "
            "is not (Z, C, Y, X) with that many channels"
        )
    raise ImageError(
        f"cannot super-resolve a {nd}D image (shape {shape}): expected (Y, X), (C, Y, X), "
        "(Z, Y, X) or (Z, C, Y, X), or pass axes"
    )
