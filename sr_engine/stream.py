"""Super-resolve images larger than memory into OME-Zarr 0.5 or pyramidal OME-TIFF, resumably.

The input is read window by window; each aligned tile's output is exactly one
output chunk, written then logged in ``<OUT>.partial/.srscope/tiles.done``. An
interrupted run leaves only ``<OUT>.partial`` (never ``OUT``); running the same
command again resumes from the log with the same normalisation (stored in the
run record) and gives the same result as an uninterrupted run. ``OUT`` appears
by an atomic rename when everything, pyramid included, is written.

Over 400 lines because prepare / write tile / finish share the run record and journal
that make resume exact; who computes the tiles (this process, Dask) is a pluggable
runner elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sr_engine.compatibility import Fit, check_fit
from sr_engine.normalize import Normalizer, fit_normalizer, strided_sample, to_dtype
from sr_engine.predict import TileConfig, run_tiles
from sr_engine.sources import Source, open_source
from sr_engine.tiling import Tile, iter_tiles
from sr_engine.writers import pyramid_to_ome_tiff
from srscope import logger
from srscope.atomic import write_text_atomic
from srscope.errors import SrscopeError
from srscope.ome_zarr import build_pyramid, create_image, pyramid_shapes, write_metadata
from srscope.pixels import check_pixel_dtype

if TYPE_CHECKING:
    from sr_engine.model import SRModel

RUN_FORMAT = "srscope-predict-run/2"  # 2: Zarr v3 / OME-Zarr 0.5 store
PARTIAL = ".partial"
STREAM_SAMPLES = 1 << 22
MAX_CHUNK = 2048  # HR pixels per output chunk side


@dataclass(frozen=True)
class StreamResult:
    path: Path
    shape: tuple[int, ...]
    axes: str
    pixel_size_um: float
    tiles_computed: int
    tiles_resumed: int


def output_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".zarr", ".ome.zarr")):
        return "zarr"
    if name.endswith((".tif", ".tiff")):
        return "tiff"
    raise SrscopeError(f"output {path} must end in .ome.zarr / .zarr or .ome.tif / .tif")


def predict_file(
    model: SRModel,
    src: str | os.PathLike | np.ndarray,
    out: str | os.PathLike,
    *,
    axes: str | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    batch: int | None = None,
    dtype: Any = None,
    resume: bool = True,
    overwrite: bool = False,
    levels: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    allow_mismatch: bool = False,
    runner: TileRunner | None = None,
) -> StreamResult:
    """Stream ``src`` (TIFF, OME-TIFF, OME-Zarr or array) through ``model`` into ``out``.

    The image's stated pixel size and channel must fit the model (``check_fit``)
    unless ``allow_mismatch``; how it fits goes into the output's provenance.
    ``runner`` computes the tiles (default: this process, :func:`run_local`; a
    :class:`sr_engine.distributed.DaskRunner` spreads them over a Dask cluster).
    Either way the store, normalisation and journal are the same, so a run
    interrupted under one resumes under the other.
    """
    out = Path(out)
    fmt = output_format(out)
    if out.exists() and not overwrite:
        raise SrscopeError(f"output {out} already exists (use --overwrite to replace it)")
    with open_source(src, model.n_channels, axes) as source:
        check_pixel_dtype(source.array.dtype)
        one_channel = source.channels[0] if source.channels and len(source.channels) == 1 else None
        fit = check_fit(
            model.meta,
            channel=one_channel if model.n_channels == 1 else None,
            pixel_size_um=source.pixel_size_um,
            model_name=model.meta.name or "the model",
            allow_mismatch=allow_mismatch,
        )
        for note in fit.notes:
            logger.warning("%s", note)
        cfg = TileConfig.for_model(model, tile, overlap, batch)
        out_dtype = np.dtype(source.array.dtype if str(dtype) == "input" else (dtype or np.float32))
        plan = prepare(model, source, out, fmt, cfg, out_dtype, resume, levels, fit)
        return _run(model, source, plan, overwrite, progress, runner)


@dataclass
class StreamPlan:
    """A prepared run: its store (``OUT.partial``), geometry, normalisation and journal.

    Made by :func:`prepare`; the tiles in :meth:`todo` are then computed by anyone
    (this process in :func:`predict_file`, Dask workers in :mod:`sr_engine.distributed`),
    each written with :func:`write_tile` and journalled with :meth:`journal`; :func:`finish`
    builds the pyramid and renames the store to ``OUT``.
    """

    out: Path
    work: Path
    fmt: str
    cfg: TileConfig
    out_dtype: np.dtype
    out_axes: str
    out_shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shapes: list[tuple[int, ...]]
    hr_px: float
    norm: Normalizer
    done: set[tuple[int, int, int]]
    record: dict[str, Any]
    fit: Fit
    tiles: list[Tile]
    prefixes: list[tuple[Any, ...]]  # per plane: the output index before Y, X

    @property
    def array_path(self) -> Path:
        """Level 0 of the store (Zarr v3, :mod:`srscope.ome_zarr`): where tiles are written."""
        return self.work / "0"

    @property
    def log_file(self) -> Path:
        return self.work / ".srscope" / "tiles.done"

    @property
    def total(self) -> int:
        return len(self.tiles) * len(self.prefixes)

    def todo(self) -> list[tuple[int, Tile]]:
        """``(plane, tile)`` not yet journalled, in plane then row-major order."""
        return [
            (p, t)
            for p in range(len(self.prefixes))
            for t in self.tiles
            if (p, *t.index) not in self.done
        ]

    def journal(self, log: Any, p: int, t: Tile) -> None:
        """Record one written tile (``log``: the journal opened for appending)."""
        log.write(f"{p} {t.index[0]} {t.index[1]}\n")
        log.flush()


def write_tile(
    level0: Any,
    prefix: tuple[Any, ...],
    t: Tile,
    hr: np.ndarray,
    scale: int,
    norm: Normalizer,
    dtype: np.dtype,
) -> None:
    """Model-unit output of tile ``t`` -> output units and ``dtype`` -> its own chunk(s).

    ``prefix``: the plane's index before Y, X (:attr:`StreamPlan.prefixes`). Aligned
    tiles cover whole chunks, so concurrent writers of different tiles never touch
    the same chunk.
    """
    ys, xs = t.out_slices(scale)
    values = to_dtype(norm.after(hr[None], axis=1)[0], dtype, in_place=True)
    level0[(*prefix, ys, xs)] = values


class TileRunner(Protocol):
    """Computes and writes the tiles ``plan.todo()`` into ``plan.array_path``.

    It calls ``done(plane, tile)`` after each tile's chunks are written (in the
    calling thread): that journals it and reports progress. :func:`run_local` is the
    in-process one; :class:`sr_engine.distributed.DaskRunner` runs them on a cluster.
    """

    def __call__(
        self,
        model: SRModel,
        source: Source,
        plan: StreamPlan,
        done: Callable[[int, Tile], None],
    ) -> None: ...


def run_local(
    model: SRModel, source: Source, plan: StreamPlan, done: Callable[[int, Tile], None]
) -> None:
    """This process computes the tiles, plane by plane, batched."""
    import zarr

    level0 = zarr.open_array(str(plan.array_path), mode="r+", zarr_format=3)
    todo = plan.todo()
    for p, prefix in enumerate(plan.prefixes):
        tiles = [t for q, t in todo if q == p]
        if not tiles:
            continue
        plane = source.plane(p)
        for t, hr in run_tiles(model, plane, plan.norm, tiles, plan.cfg.batch, check=True):
            write_tile(level0, prefix, t, hr, model.scale, plan.norm, plan.out_dtype)
            done(p, t)


def prepare(
    model: SRModel,
    source: Source,
    out: Path,
    fmt: str,
    cfg: TileConfig,
    out_dtype: np.dtype,
    resume: bool,
    levels: int | None,
    fit: Fit,
) -> StreamPlan:
    """Create ``OUT.partial`` (level 0, run record, empty journal) or reopen it to resume.

    The normalisation is decided here, once for the whole image, and stored in the
    run record: a resumed run (in this process or on a cluster) reuses it.
    """

    work = Path(str(out) + PARTIAL)
    layout = source.layout
    s = model.scale
    if cfg.tile - 2 * cfg.overlap > MAX_CHUNK // s:
        # one tile = one output chunk: keep chunks (and their compression buffers) small
        cfg = TileConfig(MAX_CHUNK // s + 2 * cfg.overlap, cfg.overlap, cfg.batch)
    h, w = layout.yx
    pa = layout.plane_axes
    out_axes = ("T" if "T" in pa else "") + "C" + ("Z" if "Z" in pa else "") + "YX"
    dims = {a: layout.shape[layout.axes.index(a)] for a in pa}
    lead = [dims["T"]] if "T" in pa else []
    lead += [model.n_channels] + ([dims["Z"]] if "Z" in pa else [])
    out_shape = (*lead, s * h, s * w)
    core = cfg.tile - 2 * cfg.overlap
    chunks = tuple([1] * (len(lead)) + [s * core, s * core])
    chunks = tuple(min(c, n) for c, n in zip(chunks, out_shape, strict=True))
    shapes = pyramid_shapes(out_shape, levels)
    hr_px = _hr_pixel_size(model, source)

    fingerprint = {
        "format": RUN_FORMAT,
        "model_sha256": model.sha256,
        "input": source.fingerprint or _array_fingerprint(source),
        "tile": cfg.tile,
        "overlap": cfg.overlap,
        "dtype": out_dtype.str,
        "shape": list(out_shape),
        "levels": len(shapes),
        "output": fmt,
    }
    meta_dir = work / ".srscope"
    run_file, log_file = meta_dir / "run.json", meta_dir / "tiles.done"
    norm, done, record = _resume_state(work, run_file, log_file, fingerprint, resume)
    # which backends computed tiles: a resumed run may have picked another one
    this_backend = {"backend": model.backend.name, "precision": model.backend.precision}
    try:
        if norm is None:
            norm = _fit(model, source)
            work.mkdir(parents=True, exist_ok=False)
            create_image(work, out_shape, out_dtype, chunks, out_axes, overwrite=True)
            meta_dir.mkdir()
            log_file.touch()
            record = {"fingerprint": fingerprint, "lo": list(norm.lo), "hi": list(norm.hi)}
            record["place"] = _place(model, source)
            record["backends"] = [this_backend]
            write_text_atomic(run_file, json.dumps(record, indent=1))
        elif this_backend not in record.setdefault("backends", []):
            record["backends"].append(this_backend)
            write_text_atomic(run_file, json.dumps(record, indent=1))
    except PermissionError as exc:
        raise SrscopeError(f"cannot write output next to {out}: {exc.strerror}") from None
    except OSError as exc:
        if isinstance(exc, FileExistsError):
            raise
        raise SrscopeError(f"cannot write output {work}: {exc.strerror or exc}") from None
    tiles = list(iter_tiles((h, w), cfg.tile, cfg.overlap, aligned=True))
    prefixes = [_out_prefix(p, layout, out_axes) for p in range(layout.n_planes)]
    return StreamPlan(
        out, work, fmt, cfg, out_dtype, out_axes, out_shape, chunks, shapes, hr_px, norm,
        done, record, fit, tiles, prefixes,
    )  # fmt: skip


def _run(
    model: SRModel,
    source: Source,
    plan: StreamPlan,
    overwrite: bool,
    progress: Callable[[int, int], None] | None,
    runner: TileRunner | None,
) -> StreamResult:
    total, resumed = plan.total, len(plan.done)
    computed = 0
    if resumed:
        logger.info("resuming %s: %d of %d tiles already done", plan.work, resumed, total)
    if progress is not None:
        progress(resumed, total)
    with open(plan.log_file, "a") as log:

        def done(p: int, t: Tile) -> None:
            nonlocal computed
            plan.journal(log, p, t)
            computed += 1
            if progress is not None:
                progress(resumed + computed, total)

        (runner or run_local)(model, source, plan, done)
    return finish(model, plan, overwrite, computed)


def finish(model: SRModel, plan: StreamPlan, overwrite: bool, computed: int) -> StreamResult:
    """Pyramid, OME metadata and provenance, then the atomic rename to ``OUT``."""
    import zarr

    out, work, norm, shapes = plan.out, plan.work, plan.norm, plan.shapes
    group = zarr.open_group(str(work), mode="r+", zarr_format=3)
    build_pyramid(group, shapes, plan.chunks)
    place = plan.record.get("place", {})
    channels = place.get("channels") or list(model.meta.channels)
    name = model.meta.name or "srscope"
    windows = list(zip(norm.lo, norm.hi, strict=True))
    hr_px, out_axes = plan.hr_px, plan.out_axes
    origin = place.get("origin_um")
    provenance: dict[str, Any] = {
        "scale": model.scale,
        "lr_pixel_size_um": hr_px * model.scale,
        "model": name,
        "normalization": {"lo": list(norm.lo), "hi": list(norm.hi)},
        "backend": model.backend_choice.to_dict(),  # what ran, and the check that chose it
        **plan.fit.provenance(),  # exact, by modality (a generalist), or an override: and why
    }
    if len(plan.record.get("backends", [])) > 1:
        provenance["backends_used"] = plan.record["backends"]
    if "distributed" in plan.record:
        provenance["distributed"] = plan.record["distributed"]
    write_metadata(
        group, out_axes, hr_px, channels, name, windows=windows, provenance=provenance,
        origin_um=None if origin is None else (origin[0], origin[1]),
    )  # fmt: skip
    if out.exists() and overwrite:
        _remove(out)
    if plan.fmt == "zarr":
        shutil.rmtree(work / ".srscope")
        os.replace(work, out)
    else:
        tmp = Path(str(out) + ".partial.tif")
        annotations = {"srscope": json.dumps(provenance)}
        pyramid_to_ome_tiff(group, len(shapes), tmp, out_axes, hr_px, channels, annotations)
        os.replace(tmp, out)
        shutil.rmtree(work)
    resumed = len(plan.done)
    return StreamResult(out, plan.out_shape, out_axes, hr_px, computed, resumed)


def _resume_state(
    work: Path, run_file: Path, log_file: Path, fingerprint: dict, resume: bool
) -> tuple[Normalizer | None, set[tuple[int, int, int]], dict[str, Any]]:
    """The resumed run's normalisation, finished tiles and run record (None, {}, {}: new)."""
    if not work.exists():
        return None, set(), {}
    if resume and run_file.is_file() and (work / "0").exists():
        try:
            record = json.loads(run_file.read_text())
        except ValueError:
            record = {}
        if record.get("fingerprint") == fingerprint:
            done = set()
            for line in log_file.read_text().splitlines() if log_file.exists() else []:
                parts = line.split()
                if len(parts) == 3:  # a torn last line is simply redone
                    done.add((int(parts[0]), int(parts[1]), int(parts[2])))
            return Normalizer(tuple(record["lo"]), tuple(record["hi"])), done, record
        logger.warning("%s is from a different run; starting again", work)
    _remove(work)
    return None, set(), {}


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _fit(model: SRModel, source: Source) -> Normalizer:
    """One normalisation for the whole input, from a strided subsample."""
    layout = source.layout
    planes = layout.n_planes
    # sample every k-th plane, then stride Y and X, so the read stays bounded
    pstep = max(1, planes // 16)
    samples = []
    for p in range(0, planes, pstep):
        plane = source.plane(p)
        h, w = layout.yx
        budget = max(1, STREAM_SAMPLES // max(1, planes // pstep))
        step = max(1, int(np.ceil(np.sqrt(h * w / budget))))
        samples.append(plane[:, ::step, ::step])
    sample = np.stack(samples)
    if sample.dtype.kind == "f" and not np.isfinite(sample).all():
        raise SrscopeError("the image contains NaN or infinite values")
    return fit_normalizer(model.meta.normalization, sample, 1, model.n_channels)


def _array_fingerprint(source: Source) -> dict[str, Any]:
    arr = source.array
    sample = strided_sample(np.asarray(arr[..., ::64, ::64]), None, 1 << 16)
    digest = hashlib.sha256(np.ascontiguousarray(sample).tobytes()).hexdigest()
    return {"shape": list(arr.shape), "dtype": str(arr.dtype), "sample_sha256": digest}


def _place(model: SRModel, source: Source) -> dict[str, Any]:
    """Where the SR image lies and what its channels are: the source's, where it states them.

    The SR grid covers the same area as the LR one: its first pixel centre sits
    ``(s - 1) / (2 s)`` of an LR pixel before the LR one's (a scan mosaic's SR keeps
    its stage coordinates). A generalist's output is labelled with the data's channel.
    """
    place: dict[str, Any] = {}
    if source.channels and len(source.channels) == model.n_channels:
        place["channels"] = list(source.channels)
    if source.origin_um is not None and source.pixel_size_um:
        back = source.pixel_size_um * (model.scale - 1) / (2 * model.scale)
        place["origin_um"] = [source.origin_um[0] - back, source.origin_um[1] - back]
    return place


def _hr_pixel_size(model: SRModel, source: Source) -> float:
    meta = model.meta
    lr = source.pixel_size_um
    if lr is None:
        return meta.hr_pixel_size_um
    if abs(lr - meta.lr_pixel_size_um) > 0.1 * meta.lr_pixel_size_um:
        logger.warning(
            "input pixel size %.4g µm differs from the model's LR pixel size %.4g µm",
            lr,
            meta.lr_pixel_size_um,
        )
    return lr / meta.scale


def _out_prefix(p: int, layout: Any, out_axes: str) -> tuple[Any, ...]:
    pa = layout.plane_axes
    shape = [layout.shape[layout.axes.index(a)] for a in pa]
    idx = dict(zip(pa, np.unravel_index(p, shape) if shape else (), strict=True))
    prefix: list[Any] = []
    for a in out_axes[:-2]:
        prefix.append(slice(None) if a == "C" else int(idx[a]))
    return tuple(prefix)


IMAGE_SUFFIXES = (".tif", ".tiff")


def is_image_folder(path: Path) -> bool:
    """A folder of images (not itself a Zarr store or OME-Zarr image)."""
    path = Path(path)
    return (
        path.is_dir()
        and path.suffix != ".zarr"
        and not any((path / m).exists() for m in ("zarr.json", ".zgroup", ".zarray"))
    )


def folder_jobs(src: Path, out: Path) -> list[tuple[Path, Path]]:
    """``(image, OUT/<name>.ome.zarr)`` for each TIFF / OME-Zarr image directly in ``src``."""
    src, out = Path(src), Path(out)
    if out.suffix.lower() in (".zarr", ".tif", ".tiff") or out.is_file():
        raise SrscopeError(f"input {src} is a folder of images: the output must be a folder too")
    images = sorted(
        p
        for p in src.iterdir()
        if (p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        or (p.is_dir() and p.suffix.lower() == ".zarr")
    )
    if not images:
        raise SrscopeError(f"no TIFF or OME-Zarr images in folder {src}")
    jobs = []
    for p in images:
        stem = p.name
        for suffix in (".ome.tiff", ".ome.tif", ".ome.zarr", ".tiff", ".tif", ".zarr"):
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        jobs.append((p, out / f"{stem}.ome.zarr"))
    names = [o.name for _, o in jobs]
    if len(set(names)) != len(names):
        raise SrscopeError(f"images in {src} would share an output name (e.g. a.tif and a.zarr)")
    return jobs
