"""In-memory prediction: whole images, stacks and viewport regions, tiled and batched."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sr_engine.axes import Layout, resolve_layout
from sr_engine.normalize import Normalizer, fit_normalizer, to_dtype
from sr_engine.tiling import Tile, TilingError, iter_tiles, read_window
from srscope.errors import SettingsError
from srscope.pixels import check_finite, check_pixel_dtype

if TYPE_CHECKING:
    from sr_engine.metadata import ModelMetadata

Region = tuple[int, int, int, int]


class TiledModel(Protocol):
    """What tiled prediction needs of a model; :class:`sr_engine.model.SRModel` is one."""

    meta: ModelMetadata  # its ``normalization`` decides the one normaliser per image

    @property
    def scale(self) -> int: ...

    @property
    def n_channels(self) -> int: ...

    @property
    def receptive_field(self) -> int:
        """LR pixels of context per side (the default overlap)."""
        ...

    @property
    def split(self) -> bool:
        """Whether output outside ``keep`` may be left uncomputed (see :meth:`run`)."""
        ...

    def auto_tile(self, batch: int = 1) -> int:
        """Tile side (incl. overlap) that fits the model's memory budget at ``batch``."""
        ...

    def run(self, batch: np.ndarray, keep: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Normalised float32 ``(N, C, H, W)`` -> ``(N, C, scale·H, scale·W)``."""
        ...


@dataclass(frozen=True)
class TileConfig:
    """Tile geometry for one run: window side (incl. context), context per side, batch."""

    tile: int
    overlap: int
    batch: int = 1

    @classmethod
    def for_model(
        cls,
        model: TiledModel,
        tile: int | None = None,
        overlap: int | None = None,
        batch: int | None = None,
    ) -> TileConfig:
        ov = model.receptive_field if overlap is None else int(overlap)
        if ov < 0:
            raise TilingError(f"overlap must be >= 0, got {ov}")
        b = 1 if batch is None else int(batch)
        if b < 1:
            raise SettingsError(f"batch must be >= 1, got {b}")
        t = model.auto_tile(b) if tile is None else int(tile)
        if t <= 2 * ov:
            raise TilingError(
                f"tile size {t} must be larger than twice the overlap ({ov} px per side)"
            )
        return cls(t, ov, b)


def run_tiles(
    model: TiledModel,
    plane: Any,
    normalizer: Normalizer,
    tiles: Iterable[Tile],
    batch: int = 1,
    *,
    check: bool = False,
) -> Iterator[tuple[Tile, np.ndarray]]:
    """Yield each tile with its kept HR output ``(C, sy, sx)`` in model units.

    ``plane`` is ``(C, Y, X)`` in camera units (array, memmap or zarr); windows
    are read with reflection at the image border and normalised with the one
    ``normalizer`` of the whole image. ``check`` refuses NaN/inf window by
    window (for streamed inputs that were never checked as a whole).
    """
    s = model.scale
    pending: list[Tile] = []

    def flush() -> Iterator[tuple[Tile, np.ndarray]]:
        windows = [read_window(plane, t.y, t.x) for t in pending]
        if check:
            for win in windows:
                check_finite(win)
        x = normalizer.before(np.stack(windows), axis=1)
        if model.split:  # the tail only where the output is kept
            keep = (
                min(t.y.crop0 for t in pending),
                max(t.y.crop0 + t.y.core1 - t.y.core0 for t in pending),
                min(t.x.crop0 for t in pending),
                max(t.x.crop0 + t.x.core1 - t.x.core0 for t in pending),
            )
            y = model.run(x, keep=keep)
        else:
            y = model.run(x)
        for t, out in zip(pending, y, strict=True):
            yield t, out[(slice(None), *t.crop_slices(s))]
        pending.clear()

    for tile in tiles:
        if pending and (tile.y.size, tile.x.size) != (pending[0].y.size, pending[0].x.size):
            yield from flush()
        pending.append(tile)
        if len(pending) >= batch:
            yield from flush()
    if pending:
        yield from flush()


def _prepare(model: TiledModel, image: Any, axes: str | None) -> tuple[Layout, Any]:
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        image = np.asarray(image)
    check_pixel_dtype(image.dtype)
    layout = resolve_layout(image.shape, model.n_channels, axes)
    check_finite(image)
    return layout, layout.to_pcyx(image)


def predict(
    model: TiledModel,
    image: Any,
    *,
    axes: str | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    batch: int | None = None,
    dtype: Any = None,
    normalizer: Normalizer | None = None,
    region: Region | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Super-resolve ``image``; output in input units, float32 unless ``dtype`` is given.

    ``dtype="input"`` returns the input's dtype (rounded and clipped). Stacks are
    done plane by plane with one normalisation for the whole stack. ``region``
    ``(y0, y1, x0, x1)`` in LR pixels restricts the output to that part of each
    plane (see :func:`predict_region`).
    """
    layout, pcyx = _prepare(model, image, axes)
    cfg = TileConfig.for_model(model, tile, overlap, batch)
    if normalizer is None:
        normalizer = fit_normalizer(model.meta.normalization, pcyx, 1, model.n_channels)
    h, w = layout.yx
    y0, y1, x0, x1 = region if region is not None else (0, h, 0, w)
    s = model.scale
    out = np.empty((layout.n_planes, model.n_channels, s * (y1 - y0), s * (x1 - x0)), np.float32)
    tiles = list(iter_tiles((h, w), cfg.tile, cfg.overlap, region=(y0, y1, x0, x1)))
    if len(tiles) == 1 and layout.n_planes == 1 and progress is None:
        # one window (live frames): keep the model's output buffer, no stitching copy
        ((_, hr),) = run_tiles(model, pcyx[0], normalizer, tiles, 1)
        return _finish(image, layout, normalizer, hr[None], dtype, region)
    total, done = len(tiles) * layout.n_planes, 0
    for p in range(layout.n_planes):
        for t, hr in run_tiles(model, pcyx[p], normalizer, tiles, cfg.batch):
            ys, xs = t.out_slices(s)
            out[
                p, :, ys.start - s * y0 : ys.stop - s * y0, xs.start - s * x0 : xs.stop - s * x0
            ] = hr
            done += 1
            if progress is not None:
                progress(done, total)
    return _finish(image, layout, normalizer, out, dtype, region)


def _finish(
    image: Any,
    layout: Layout,
    normalizer: Normalizer,
    out: np.ndarray,
    dtype: Any,
    region: Region | None,
) -> np.ndarray:
    """Model units -> input units (in place), dtype, caller's layout."""
    # a cropped view of the model's buffer is denormalised into a contiguous one
    dest = None if out.flags.c_contiguous else np.empty(out.shape, np.float32)
    out = normalizer.after(out, axis=1, out=dest)
    if dtype is not None:
        out = to_dtype(out, image.dtype if str(dtype) == "input" else dtype, in_place=True)
    if region is not None:
        y0, y1, x0, x1 = region
        sub = Layout(layout.axes, _with_yx(layout, y1 - y0, x1 - x0))
        return np.ascontiguousarray(sub.from_pcyx(out))
    return np.ascontiguousarray(layout.from_pcyx(out))


def predict_region(model: TiledModel, image: Any, region: Any, **kw: Any) -> np.ndarray:
    """Super-resolve only ``region`` of a frame, equal to that part of the full result.

    ``region`` is ``(y0, y1, x0, x1)`` in LR pixels, or a pair of slices. The
    normalisation is still decided on the whole frame and windows read their
    context from the whole frame, so the result matches ``predict(image)`` there.
    """
    if isinstance(region, tuple) and len(region) == 2 and all(isinstance(r, slice) for r in region):
        (sy, sx) = region
        region = (sy.start or 0, sy.stop, sx.start or 0, sx.stop)
    try:
        y0, y1, x0, x1 = (int(v) for v in region)
    except (TypeError, ValueError):
        raise SettingsError(
            f"region must be (y0, y1, x0, x1) or two slices, got {region!r}"
        ) from None
    return predict(model, image, region=(y0, y1, x0, x1), **kw)


def _with_yx(layout: Layout, h: int, w: int) -> tuple[int, ...]:
    shape = list(layout.shape)
    shape[layout.axes.index("Y")] = h
    shape[layout.axes.index("X")] = w
    return tuple(shape)
