"""Normalisers that can undo themselves (CSBDeep ``before``/``after`` style).

Decided once per whole image (or stack, or frame) from the model's metadata and
then applied to every tile unchanged: per-tile normalisation makes seams and
flicker. Statistics are per channel.
"""

from __future__ import annotations

import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from sr_engine.metadata import FixedNormalization, Normalization, PercentileNormalization
from srscope.errors import ImageError, SettingsError

# percentiles of at most this many pixels per channel (strided subsample beyond)
MAX_SAMPLES = 1 << 22
_EPS = 1e-6


@dataclass(frozen=True)
class Normalizer:
    """Affine map ``x -> (x - lo) / (hi - lo)`` per channel, and its inverse.

    ``lo``/``hi`` have one value per channel; ``before``/``after`` take arrays whose
    channel axis is ``axis`` (default: third from last, as in ``(C, Y, X)``).
    """

    lo: tuple[float, ...]
    hi: tuple[float, ...]

    def _coef(self, ndim: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
        shape = [1] * ndim
        shape[axis] = len(self.lo)
        lo = np.asarray(self.lo, dtype=np.float32).reshape(shape)
        span = np.asarray(self.hi, dtype=np.float32).reshape(shape) - lo
        return lo, np.maximum(span, np.float32(_EPS))

    def before(self, x: np.ndarray, axis: int = -3) -> np.ndarray:
        """Camera units -> model units (float32)."""
        lo, span = self._coef(x.ndim, axis)
        return (np.asarray(x, dtype=np.float32) - lo) / span

    def after(self, y: np.ndarray, axis: int = -3, out: np.ndarray | None = None) -> np.ndarray:
        """Model units -> camera units (float32), in place when ``y`` is float32.

        ``out`` receives the result instead (e.g. a contiguous buffer for a cropped
        view of the model's output: one pass fewer than denormalise-then-copy).
        Large arrays are done in row bands on every core (NumPy releases the GIL):
        a live 2048² SR frame is otherwise a fifth of the frame time on 2 cores.
        """
        lo, span = self._coef(y.ndim, axis)
        y = np.asarray(y, dtype=np.float32)
        out = y if out is None else out

        def band(rows: slice) -> None:
            part = out[..., rows, :]
            np.multiply(y[..., rows, :], span, out=part)
            part += lo

        n = _pool_size() if y.size >= _PARALLEL_MIN and y.ndim >= 2 else 1
        edges = np.linspace(0, y.shape[-2], n + 1).astype(int)
        bands = [slice(a, b) for a, b in itertools.pairwise(edges)]
        if n == 1:
            band(bands[0])
        else:
            list(_pool().map(band, bands))
        return out


_PARALLEL_MIN = 1 << 20


def _pool_size() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(_pool_size(), thread_name_prefix="srscope-denorm")


def strided_sample(image: np.ndarray, channel_axis: int | None, max_samples: int) -> np.ndarray:
    """A regular subsample with at most ``max_samples`` pixels per channel.

    Strides the two last (spatial) axes and any leading plane axes, so it reads
    the whole extent of a memory-mapped or zarr array without loading it.
    """
    per_channel = image.size // (image.shape[channel_axis] if channel_axis is not None else 1)
    step = 1
    while per_channel / (step * step) > max_samples:
        step += 1
    index = [slice(None)] * image.ndim
    index[-1] = slice(None, None, step)
    index[-2] = slice(None, None, step)
    return np.asarray(image[tuple(index)])


def fit_normalizer(
    norm: Normalization,
    image: np.ndarray,
    channel_axis: int | None,
    n_channels: int,
    max_samples: int = MAX_SAMPLES,
) -> Normalizer:
    """Decide the normalisation for a whole image from the model's metadata."""
    if isinstance(norm, FixedNormalization):
        return Normalizer((float(norm.min),) * n_channels, (float(norm.max),) * n_channels)
    assert isinstance(norm, PercentileNormalization)
    sample = strided_sample(image, channel_axis, max_samples)
    if channel_axis is None:
        per = [sample.reshape(-1)]
    else:
        per = [np.take(sample, c, axis=channel_axis).reshape(-1) for c in range(n_channels)]
    lo, hi = [], []
    for values in per:
        if values.size == 0:
            raise ImageError("cannot normalise an empty image")
        p = np.percentile(values.astype(np.float32, copy=False), [norm.low, norm.high])
        if not np.all(np.isfinite(p)):
            raise ImageError("the image contains NaN or infinite values")
        lo.append(float(p[0]))
        hi.append(float(p[1]))
    return Normalizer(tuple(lo), tuple(hi))


def to_dtype(y: np.ndarray, dtype: np.dtype, *, in_place: bool = False) -> np.ndarray:
    """Float32 camera units -> ``dtype``: rounded and clipped (never wrapped).

    ``in_place``: round and clip inside ``y`` (a buffer the caller no longer needs),
    saving two image-sized allocations per live frame.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return y.astype(dtype, copy=False)
    if dtype.kind not in "ui":
        raise SettingsError(f"unsupported output dtype {dtype}")
    info = np.iinfo(dtype)
    if not (in_place and y.dtype.kind == "f" and y.flags.writeable):
        y = np.array(y, dtype=np.float32)
    np.rint(y, out=y)
    np.clip(y, info.min, info.max, out=y)
    return y.astype(dtype)
