"""``srscope evaluate``: SR of real LR captures against HR captures of the same field.

For every reference entry with an LR capture:

1. find the HR field inside the (larger) LR frame (the HR capture degraded to
   LR resolution, located by cross-correlation: ``training.register.locate``);
2. super-resolve only that part of the LR frame (plus a margin), with the
   normalisation decided on the whole frame, as live use does;
3. compute the baselines (bicubic, bicubic + Richardson–Lucy with the
   calibrated PSF) on the same LR pixels;
4. register every output to the HR capture (sub-pixel phase correlation, for
   scoring only), crop all to one common central region, normalise the HR by
   percentiles and map each output onto it with a least-squares gain/offset;
5. score PSNR/SSIM (data range 1) on fields of ``field_size``² HR pixels;
   report mean ± sd over all fields (the paper's Table 1);
6. add decorrelation resolution (LR, SR, HR), the space-bandwidth product and
   the consistency map of the SR against the real LR frame.

Over 400 lines because registration, baselines, scores, resolution and consistency are
computed per entry on the same aligned pixels; the metrics, baselines and report are
modules of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from scipy import ndimage

from sr_engine.consistency import consistency_map
from sr_engine.fidelity import blend
from srscope import logger
from srscope.degradation import DegradationRecord, degrade_noise_free
from srscope.errors import ImageError, SrscopeError
from srscope.model_base import SrscopeModel
from srscope.references import ReferenceEntry, ReferenceSet
from training.evaluation.baselines import bicubic, bicubic_rl
from training.evaluation.metrics import (
    affine_match,
    fields,
    percentile_normalize,
    psnr,
    register,
    ssim,
)
from training.evaluation.resolution import decorrelation_resolution, space_bandwidth_product
from training.images import read_plane

BICUBIC, RL = "bicubic", "bicubic+RL"
LR_MARGIN = 6  # LR pixels of context around the HR footprint


class FieldScore(SrscopeModel):
    entry: int
    field: int
    channel: str
    method: str
    psnr: float
    ssim: float


class TableRow(SrscopeModel):
    method: str
    psnr_mean: float
    psnr_sd: float
    ssim_mean: float
    ssim_sd: float
    n_fields: int


class ResolutionRow(SrscopeModel):
    image: str
    pixel_size_um: float
    resolution_um: float
    sampling_limited: bool
    space_bandwidth_product: float


class EntryReport(SrscopeModel):
    entry: int
    channel: str
    position_um: tuple[float, float, float]
    hr_file: str
    lr_file: str
    hr_in_lr_px: tuple[float, float]
    shifts_px: dict[str, tuple[float, float]]
    scored_shape: tuple[int, int]
    n_fields: int
    resolution: list[ResolutionRow]
    consistency: dict[str, float] | None = None
    notes: list[str] = Field(default_factory=list)


class EvaluationResult(SrscopeModel):
    format: str = "srscope-evaluation/1"
    model: str
    gan_model: str | None = None
    alpha: float | None = None
    references: str
    scale: int
    field_size: int
    rl_iterations: int
    record: dict[str, Any] | None = None
    methods: list[str]
    table: list[TableRow]
    fields: list[FieldScore]
    entries: list[EntryReport]
    notes: list[str] = Field(default_factory=list)


@dataclass
class Panel:
    """Images of one entry for the report (not serialised)."""

    title: str
    images: dict[str, np.ndarray]
    zmap: np.ndarray | None = None
    sr_name: str = ""
    sr_region: np.ndarray | None = None
    threshold: float = 3.0
    decorrelation: dict[str, Any] = field(default_factory=dict)


def _locate_hr(hr: np.ndarray, lr: np.ndarray, scale: int, psf: Any) -> tuple[float, float]:
    """Top-left of the HR field in LR pixels (centred if the LR frame is not larger)."""
    from training.register import locate

    th, tw = hr.shape[0] / scale, hr.shape[1] / scale
    if th <= lr.shape[0] - 2 and tw <= lr.shape[1] - 2:
        return locate(degrade_noise_free(hr, scale, psf), lr)
    return (lr.shape[0] - th) / 2, (lr.shape[1] - tw) / 2


def _overlap(
    offset: tuple[int, int], inner: tuple[int, int], outer: tuple[int, int]
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices of ``inner`` (placed at ``offset`` in ``outer``) and of ``outer`` that overlap."""
    si, so = [], []
    for o, n, m in zip(offset, inner, outer, strict=True):
        a, b = max(o, 0), min(o + n, m)
        if b - a < 32:
            raise ImageError("HR field and LR capture overlap by less than 32 HR pixels")
        si.append(slice(a - o, b - o))
        so.append(slice(a, b))
    return (si[0], si[1]), (so[0], so[1])


def _fits(meta: Any, channel: str) -> bool:
    """The model was made for this channel (or is a generalist of its modality)."""
    from sr_engine.compatibility import ModelMismatch, check_fit

    try:
        check_fit(meta, channel=channel)
    except ModelMismatch:
        return False
    return True


def _stats(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    arr = np.asarray(finite)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


class _Runner:
    """Runs a model (SRModel) on an LR region; a test double needs only ``predict_region``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, lr: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
        out = np.squeeze(np.asarray(self.model.predict_region(lr, region), dtype=np.float32))
        return out


def evaluate(
    model: Any,
    references: str | Path,
    *,
    gan_model: Any | None = None,
    alpha: float = 0.5,
    record: DegradationRecord | None = None,
    field_size: int = 384,
    rl_iterations: int = 10,
    max_entries: int | None = None,
    n_panels: int = 3,
    threshold: float = 3.0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[EvaluationResult, list[Panel]]:
    """Evaluate ``model`` (an ``SRModel``) on a reference set folder.

    ``progress(done, total)``: called before each entry is scored and after the last.
    """
    folder = Path(references)
    refs = ReferenceSet.load(folder)
    meta = model.meta
    if meta.scale != refs.scale:
        raise SrscopeError(f"model scale {meta.scale} != reference set scale {refs.scale}")
    if meta.n_channels != 1:
        raise SrscopeError(
            f"evaluate scores one channel per entry; model has {meta.n_channels} channels"
        )
    record = record or meta.degradation
    notes: list[str] = []
    if record is None:
        notes.append("no degradation record: bicubic+RL and the consistency map were skipped")
    name = meta.name or "SR"
    methods = [BICUBIC] + ([RL] if record else []) + [name]
    if gan_model is not None:
        if gan_model.meta.scale != meta.scale or gan_model.meta.channels != meta.channels:
            raise SrscopeError(
                f"GAN model (×{gan_model.meta.scale}, {gan_model.meta.channels}) does not match "
                f"the model (×{meta.scale}, {meta.channels})"
            )
        gname = gan_model.meta.name or "SR-GAN"
        if gname == name:
            gname = f"{gname} (GAN)"
        methods += [gname, f"blend α={alpha:g}"]
    entries = [(i, e) for i, e in enumerate(refs.entries) if e.lr is not None]
    if not entries:
        raise ImageError(f"reference set {folder} has no entry with an LR capture")
    if len(entries) < len(refs.entries):
        notes.append(f"{len(refs.entries) - len(entries)} entries without an LR capture skipped")
    fitting = [(i, e) for i, e in entries if _fits(meta, e.channel)]
    if fitting:
        if len(fitting) < len(entries):
            notes.append(
                f"{len(entries) - len(fitting)} entries of channels the model was not made "
                f"for ({', '.join(meta.channels)}) skipped"
            )
        entries = fitting
    else:
        notes.append(
            f"model channel(s) {', '.join(meta.channels)} not in the reference set "
            f"({refs.channels}): every channel was evaluated with it"
        )
    if max_entries:
        entries = entries[:max_entries]

    scores: list[FieldScore] = []
    reports: list[EntryReport] = []
    panels: list[Panel] = []
    for k, (i, entry) in enumerate(entries):
        if progress is not None:
            progress(k, len(entries))
        rep, fs, panel = _evaluate_entry(
            i,
            entry,
            folder,
            model,
            gan_model,
            alpha,
            record,
            methods,
            field_size,
            rl_iterations,
            threshold,
            want_panel=k < n_panels,
        )
        reports.append(rep)
        scores.extend(fs)
        if panel is not None:
            panels.append(panel)
        logger.info("evaluated entry %d (%s): %d fields", i, entry.channel, rep.n_fields)
    if progress is not None:
        progress(len(entries), len(entries))

    table = []
    for m in methods:
        ps = [s.psnr for s in scores if s.method == m]
        ss = [s.ssim for s in scores if s.method == m]
        pm, psd = _stats(ps)
        sm, ssd = _stats(ss)
        table.append(
            TableRow(
                method=m, psnr_mean=pm, psnr_sd=psd, ssim_mean=sm, ssim_sd=ssd, n_fields=len(ps)
            )
        )
    small = [r for r in reports if r.scored_shape[0] < field_size or r.scored_shape[1] < field_size]
    if small:
        notes.append(
            f"{len(small)} entries had a common region smaller than {field_size}² HR px: "
            "scored as one smaller field"
        )
    result = EvaluationResult(
        model=str(getattr(model, "source", name)),
        gan_model=str(getattr(gan_model, "source", "")) if gan_model is not None else None,
        alpha=alpha if gan_model is not None else None,
        references=str(folder),
        scale=refs.scale,
        field_size=field_size,
        rl_iterations=rl_iterations,
        record=record.model_dump(mode="json") if record else None,
        methods=methods,
        table=table,
        fields=scores,
        entries=reports,
        notes=notes,
    )
    return result, panels


def _evaluate_entry(
    index: int,
    entry: ReferenceEntry,
    folder: Path,
    model: Any,
    gan_model: Any | None,
    alpha: float,
    record: DegradationRecord | None,
    methods: list[str],
    field_size: int,
    rl_iterations: int,
    threshold: float,
    want_panel: bool,
) -> tuple[EntryReport, list[FieldScore], Panel | None]:
    assert entry.lr is not None
    s = model.meta.scale
    hr = read_plane(folder / entry.hr.file).astype(np.float32)
    lr = read_plane(folder / entry.lr.file).astype(np.float32)
    y0, x0 = _locate_hr(hr, lr, s, record.psf if record else s / 2.0)
    th, tw = hr.shape[0] / s, hr.shape[1] / s
    ry0, rx0 = max(0, math.floor(y0) - LR_MARGIN), max(0, math.floor(x0) - LR_MARGIN)
    ry1 = min(lr.shape[0], math.ceil(y0 + th) + LR_MARGIN)
    rx1 = min(lr.shape[1], math.ceil(x0 + tw) + LR_MARGIN)
    region = (ry0, ry1, rx0, rx1)
    lr_region = lr[ry0:ry1, rx0:rx1]

    outputs: dict[str, np.ndarray] = {}
    # baselines on the region with extra context so their borders are not scored
    cy0, cx0 = max(0, ry0 - 8), max(0, rx0 - 8)
    ctx = lr[cy0 : min(lr.shape[0], ry1 + 8), cx0 : min(lr.shape[1], rx1 + 8)]
    cut = (
        slice((ry0 - cy0) * s, (ry0 - cy0 + ry1 - ry0) * s),
        slice((rx0 - cx0) * s, (rx0 - cx0 + rx1 - rx0) * s),
    )
    outputs[BICUBIC] = bicubic(ctx, s)[cut]
    if record is not None:
        outputs[RL] = bicubic_rl(ctx, s, record, rl_iterations)[cut]
    sr = _Runner(model)(lr, region)
    outputs[methods[2 if record else 1]] = sr
    if gan_model is not None:
        gan = _Runner(gan_model)(lr, region)
        outputs[methods[-2]] = gan
        outputs[methods[-1]] = blend(sr, gan, alpha)

    # the HR field inside the SR region, to the nearest HR pixel (registration refines)
    off = (round((y0 - ry0) * s), round((x0 - rx0) * s))
    (hsl, osl) = _overlap(off, hr.shape, sr.shape)
    hr_c = hr[hsl].astype(np.float64)
    shifts: dict[str, tuple[float, float]] = {}
    aligned: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for m in methods:  # bicubic first: its shift is the fallback
        out = outputs[m][osl].astype(np.float64)
        try:
            shifts[m] = register(hr_c, out, max_shift_px=4 * s).shift_px
        except SrscopeError as exc:
            if m == BICUBIC:
                raise SrscopeError(f"entry {index}: {exc}") from None
            shifts[m] = shifts[BICUBIC]
            notes.append(f"{m}: registration failed ({exc}); bicubic's shift used")
            logger.warning("entry %d, %s: %s", index, m, exc)
        aligned[m] = ndimage.shift(out, shifts[m], order=3, mode="nearest")
    margin = math.ceil(max(max(abs(v) for v in sh) for sh in shifts.values())) + 2
    crop = (slice(margin, hr_c.shape[0] - margin), slice(margin, hr_c.shape[1] - margin))
    hr_n, _, _ = percentile_normalize(hr_c[crop])
    matched = {m: affine_match(aligned[m][crop], hr_n) for m in methods}

    scores: list[FieldScore] = []
    tiles = fields(hr_n.shape, field_size)
    for f, sl in enumerate(tiles):
        for m in methods:
            scores.append(
                FieldScore(
                    entry=index,
                    field=f,
                    channel=entry.channel,
                    method=m,
                    psnr=psnr(hr_n[sl], matched[m][sl], 1.0),
                    ssim=ssim(hr_n[sl], matched[m][sl], 1.0),
                )
            )

    # resolution: LR pixels of the HR field, the SR of it, the HR capture
    hr_px = entry.hr.pixel_size_um
    lr_px = entry.lr.pixel_size_um
    sr_name = methods[2 if record else 1]
    lr_field = lr_region[
        max(0, round(y0 - ry0)) : round(y0 - ry0 + th),
        max(0, round(x0 - rx0)) : round(x0 - rx0 + tw),
    ]
    res_rows: list[ResolutionRow] = []
    decor: dict[str, Any] = {}
    for label, img, px in (
        ("LR", lr_field, lr_px),
        (sr_name, aligned[sr_name][crop], hr_px),
        *(((methods[-2], aligned[methods[-2]][crop], hr_px),) if gan_model is not None else ()),
        ("HR", hr_c[crop], hr_px),
    ):
        if min(img.shape) < 32:
            continue
        d = decorrelation_resolution(img, px)
        decor[label] = d
        res_rows.append(
            ResolutionRow(
                image=label,
                pixel_size_um=px,
                resolution_um=d.resolution_um,
                sampling_limited=d.sampling_limited,
                space_bandwidth_product=space_bandwidth_product(img.shape, px, d.resolution_um),
            )
        )

    cons = None
    zmap = None
    if record is not None:
        cmap = consistency_map(sr, lr_region, record, threshold=threshold)
        cons = cmap.summary()
        zmap = cmap.z
    report = EntryReport(
        entry=index,
        channel=entry.channel,
        position_um=entry.position_um,
        hr_file=entry.hr.file,
        lr_file=entry.lr.file,
        hr_in_lr_px=(float(y0), float(x0)),
        shifts_px=shifts,
        scored_shape=hr_n.shape,
        n_fields=len(tiles),
        resolution=res_rows,
        consistency=cons,
        notes=notes,
    )
    panel = None
    if want_panel:
        lr_up = np.repeat(np.repeat(lr_region, s, 0), s, 1)[osl]
        lr_up = ndimage.shift(lr_up.astype(np.float64), shifts[BICUBIC], order=0, mode="nearest")
        images = {"LR (nearest)": affine_match(lr_up[crop], hr_n)}
        images.update(matched)
        images["HR"] = hr_n
        panel = Panel(
            title=f"entry {index} · {entry.channel} · x, y = "
            f"{entry.position_um[0]:.1f}, {entry.position_um[1]:.1f} µm",
            images={k: v.astype(np.float32) for k, v in images.items()},
            zmap=zmap,
            threshold=threshold,
            decorrelation=decor,
            sr_name=sr_name,
            sr_region=sr.astype(np.float32),
        )
    return report, scores, panel
