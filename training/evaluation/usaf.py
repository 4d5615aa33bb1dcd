"""Line profiles across USAF 1951 bars: contrast per element, finest resolved element, FWHM.

Two modes:

- **Known geometry** (the simulated rig's ``usaf1951`` specimen, or any image of
  :func:`srscope.usaf_target.usaf1951_target` at a known pixel size): the
  target is located in the image by cross-correlation with a drawing of it,
  and every bar set fully inside the image gets a profile across its bars
  (averaged over the middle 60 % of the bar length), the Michelson contrast
  of bars against gaps above the background, and "resolved" when the contrast
  is at least ``MIN_CONTRAST`` and both gaps are darker than both neighbouring
  bars. The edge of the coarsest element gives the edge-spread FWHM (erf fit).
- **Unknown geometry** (a real target of unknown magnification): bright bar
  triplets are detected (threshold, connected components, three equal
  parallel bars at a period of two widths), and reported in pixels; elements
  are numbered relative to the coarsest detected one from the 2^(1/6) ratio of
  their periods. Triplets that the optics blur into one blob are not
  detected at all, so "finest resolved" there means "finest detected and
  resolved": an upper bound on the resolution, not a measurement of it.

Over 400 lines because the two modes share the profile and contrast code; the figures
are in ``usaf_report``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import ndimage, optimize, signal
from scipy.special import erf

from srscope.errors import SrscopeError
from srscope.model_base import SrscopeModel
from srscope.usaf_target import DEFAULT_GROUPS, BarSet, usaf1951_layout, usaf1951_target

MIN_CONTRAST = 0.1  # Michelson; Rayleigh's 26 % dip corresponds to about 0.15


class ElementContrast(SrscopeModel):
    label: str
    group: int
    element: int
    orientation: str
    lp_per_mm: float
    period_um: float
    contrast: float
    resolved: bool


class UsafResult(SrscopeModel):
    pixel_size_um: float
    origin_px: tuple[float, float]
    polarity: int
    background: float
    bright: float
    elements: list[ElementContrast]
    finest_resolved: str | None
    finest_resolved_lp_per_mm: float | None
    finest_resolved_period_um: float | None
    edge_fwhm_um: float | None


def locate_target(
    image: np.ndarray, pixel_size_um: float, groups: Iterable[int] = DEFAULT_GROUPS
) -> tuple[tuple[float, float], int]:
    """Pixel position of the layout's origin in ``image``, and the polarity (+1 bright bars).

    Cross-correlation (FFT, zero-padded) of the mean-free image with a drawing of
    the target at the same pixel size; the strongest peak of either sign wins.
    """
    img = np.asarray(image, dtype=np.float64)
    tpl = usaf1951_target(pixel_size_um, groups).astype(np.float64)
    img = img - img.mean()
    tpl = tpl - tpl.mean()
    cc = signal.fftconvolve(img, tpl[::-1, ::-1], mode="full")
    k = int(np.argmax(np.abs(cc)))
    iy, ix = np.unravel_index(k, cc.shape)
    polarity = 1 if cc[iy, ix] > 0 else -1
    # parabolic sub-pixel refinement
    sub = []
    for axis, i in ((0, iy), (1, ix)):
        if 0 < i < cc.shape[axis] - 1:
            idx = [iy, ix]
            idx[axis] = i - 1
            a = abs(cc[tuple(idx)])
            idx[axis] = i + 1
            c = abs(cc[tuple(idx)])
            b = abs(cc[iy, ix])
            den = a - 2 * b + c
            sub.append(0.5 * (a - c) / den if den != 0 else 0.0)
        else:
            sub.append(0.0)
    oy = iy - (tpl.shape[0] - 1) + sub[0]
    ox = ix - (tpl.shape[1] - 1) + sub[1]
    return (float(oy), float(ox)), polarity


def _to_px(um: float, origin: float, pixel_size_um: float) -> float:
    """Layout µm to pixel-centre coordinates (pixel j covers [j·p, (j+1)·p) µm)."""
    return origin + um / pixel_size_um - 0.5


def bar_profile(
    image: np.ndarray, pixel_size_um: float, bars: BarSet, origin_px: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Profile across the bars (µm along the profile, intensity); None if not inside."""
    x0, y0, x1, y1 = bars.bbox_um
    w = bars.width_um
    across = (x0 - w, x1 + w) if bars.orientation == "vertical" else (y0 - w, y1 + w)
    along = (y0, y1) if bars.orientation == "vertical" else (x0, x1)
    length = along[1] - along[0]
    along = (along[0] + 0.2 * length, along[1] - 0.2 * length)
    step = min(pixel_size_um, w) / 4
    t = np.arange(across[0], across[1] + step / 2, step)
    n_along = max(3, math.ceil((along[1] - along[0]) / pixel_size_um))
    u = np.linspace(along[0], along[1], n_along)
    oy, ox = origin_px
    if bars.orientation == "vertical":
        xs = _to_px(t, ox, pixel_size_um)[None, :].repeat(n_along, 0)
        ys = _to_px(u, oy, pixel_size_um)[:, None].repeat(len(t), 1)
    else:
        ys = _to_px(t, oy, pixel_size_um)[None, :].repeat(n_along, 0)
        xs = _to_px(u, ox, pixel_size_um)[:, None].repeat(len(t), 1)
    h, wd = image.shape
    if xs.min() < 0 or ys.min() < 0 or xs.max() > wd - 1 or ys.max() > h - 1:
        return None
    vals = ndimage.map_coordinates(np.asarray(image, np.float64), [ys, xs], order=1)
    return t - across[0] - w, vals.mean(axis=0)


def michelson(
    t: np.ndarray, profile: np.ndarray, width: float, background: float, polarity: int = 1
) -> tuple[float, bool]:
    """Contrast of bars vs gaps above ``background`` at the known bar/gap centres."""
    p = polarity * (profile - background)
    bar_c = [width * (2 * i + 0.5) for i in range(3)]
    gap_c = [width * (2 * i + 1.5) for i in range(2)]
    bars = np.interp(bar_c, t, p)
    gaps = np.interp(gap_c, t, p)
    imax, imin = bars.mean(), gaps.mean()
    c = (imax - imin) / (imax + imin) if imax + imin > 0 else 0.0
    dips = all(gaps[i] < min(bars[i], bars[i + 1]) for i in range(2))
    return float(c), bool(dips and c >= MIN_CONTRAST)


def edge_fwhm(t: np.ndarray, profile: np.ndarray, width: float) -> float | None:
    """FWHM of the line-spread function from the first bar's leading edge (erf fit)."""
    sel = (t > -width) & (t < 0.5 * width)
    if sel.sum() < 6:
        return None
    x, y = t[sel], profile[sel]

    def model(x, a, b, x0, s):
        return a + b * 0.5 * (1 + erf((x - x0) / (math.sqrt(2) * s)))

    p0 = (float(y.min()), float(np.ptp(y)), 0.0, width / 10)
    try:
        with np.errstate(all="ignore"):
            popt, _ = optimize.curve_fit(model, x, y, p0=p0, maxfev=4000)
    except (RuntimeError, optimize.OptimizeWarning):
        return None
    s = abs(float(popt[3]))
    return 2 * math.sqrt(2 * math.log(2)) * s if s < width else None


def analyze_usaf(
    image: np.ndarray,
    pixel_size_um: float,
    groups: Iterable[int] = DEFAULT_GROUPS,
    origin_px: tuple[float, float] | None = None,
    polarity: int | None = None,
) -> tuple[UsafResult, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Contrast of every bar set inside ``image``; returns the result and the profiles."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise SrscopeError(f"USAF analysis needs a 2-D image, got shape {img.shape}")
    groups = list(groups)
    if origin_px is None or polarity is None:
        found, pol = locate_target(img, pixel_size_um, groups)
        origin_px = origin_px or found
        polarity = polarity or pol
    background = float(np.median(img))
    sets, _ = usaf1951_layout(groups)
    elements: list[ElementContrast] = []
    profiles: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for bs in sets:
        prof = bar_profile(img, pixel_size_um, bs, origin_px)
        if prof is None:
            continue
        c, ok = michelson(*prof, bs.width_um, background, polarity)
        profiles[bs.label] = prof
        elements.append(
            ElementContrast(
                label=bs.label,
                group=bs.group,
                element=bs.element,
                orientation=bs.orientation,
                lp_per_mm=bs.lp_per_mm,
                period_um=bs.period_um,
                contrast=c,
                resolved=ok,
            )
        )
    if not elements:
        raise SrscopeError("no USAF element lies fully inside the image")
    # finest element with both orientations resolved and every coarser element resolved too
    finest = None
    by_el: dict[tuple[int, int], list[ElementContrast]] = {}
    for e in elements:
        by_el.setdefault((e.group, e.element), []).append(e)
    for key in sorted(by_el, key=lambda k: line_pairs(k)):
        if all(e.resolved for e in by_el[key]):
            finest = by_el[key][0]
        else:
            break
    coarse = min(elements, key=lambda e: e.lp_per_mm)
    t, p = profiles[coarse.label]
    fwhm = edge_fwhm(t, polarity * p, coarse.period_um / 2)
    result = UsafResult(
        pixel_size_um=pixel_size_um,
        origin_px=origin_px,
        polarity=polarity,
        background=background,
        bright=float(np.percentile(img, 99.5 if polarity > 0 else 0.5)),
        elements=elements,
        finest_resolved=f"G{finest.group}E{finest.element}" if finest else None,
        finest_resolved_lp_per_mm=finest.lp_per_mm if finest else None,
        finest_resolved_period_um=finest.period_um if finest else None,
        edge_fwhm_um=fwhm,
    )
    return result, profiles


def line_pairs(key: tuple[int, int]) -> float:
    return 2.0 ** (key[0] + (key[1] - 1) / 6.0)


# -- unknown geometry: detect bar triplets ------------------------------------------


class Triplet(SrscopeModel):
    orientation: str
    centre_px: tuple[float, float]
    width_px: float
    period_px: float
    length_px: float
    contrast: float
    resolved: bool
    relative_element: int = 0
    relative_residual: float = 0.0


def _bars(mask: np.ndarray, min_width_px: float) -> list[tuple]:
    """Bar-like connected components: rectangular, 3–8 times longer than wide."""
    from skimage.measure import label, regionprops

    bars = []
    for r in regionprops(label(mask)):
        y0, x0, y1, x1 = r.bbox
        h, w = y1 - y0, x1 - x0
        long, short = max(h, w), min(h, w)
        if short < min_width_px or long < 3 * short or long > 8 * short:
            continue
        if r.area < 0.6 * h * w:
            continue
        bars.append(("vertical" if h > w else "horizontal", r.centroid, short, long))
    return bars


def _group_triplets(bars: list[tuple]) -> list[tuple[str, float, float, float, float]]:
    """(orientation, cy, cx, period, length) of three equal, parallel, evenly spaced bars."""
    out = []
    used: set[int] = set()
    for i, (o, c, s, ln) in enumerate(bars):
        if i in used:
            continue
        ax = 1 if o == "vertical" else 0  # across-bar axis
        mates = [
            j
            for j, (o2, c2, _s2, l2) in enumerate(bars)
            if j != i
            and j not in used
            and o2 == o
            and abs(l2 - ln) <= 0.25 * ln
            and abs(c2[1 - ax] - c[1 - ax]) <= 0.25 * ln
            and 0 < abs(c2[ax] - c[ax]) <= 5.5 * s
        ]
        group = sorted([i, *mates], key=lambda j: bars[j][1][ax])
        if len(group) != 3:
            continue
        pos = np.array([bars[j][1][ax] for j in group])
        gaps = np.diff(pos)
        period = float(gaps.mean())
        if abs(gaps[0] - gaps[1]) > 0.25 * period:
            continue
        used.update(group)
        cy = float(np.mean([bars[j][1][0] for j in group]))
        cx = float(np.mean([bars[j][1][1] for j in group]))
        out.append((o, cy, cx, period, float(ln)))
    return out


def detect_triplets(image: np.ndarray, min_width_px: float = 1.0, levels: int = 8) -> list[Triplet]:
    """Bright bar triplets in an image of a (negative) USAF target, coarse to fine.

    The background is flattened (large Gaussian), then the image is thresholded at
    ``levels`` levels from Otsu's up to the 99.5th percentile: fine bars separate
    only at high levels, coarse ones at any. Detections of one triplet at several
    levels are merged.
    """
    from skimage.filters import threshold_otsu

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise SrscopeError(f"triplet detection needs a 2-D image, got shape {img.shape}")
    flat = img - ndimage.gaussian_filter(img, max(img.shape) / 8)
    smooth = ndimage.gaussian_filter(flat, 0.7)
    lo = threshold_otsu(smooth)
    hi = np.percentile(smooth, 99.5)
    found: list[tuple[str, float, float, float, float]] = []
    for level in np.linspace(lo, hi, levels, endpoint=False):
        for cand in _group_triplets(_bars(smooth > level, min_width_px)):
            o, cy, cx, period, _ = cand
            if not any(f[0] == o and math.hypot(f[1] - cy, f[2] - cx) < period for f in found):
                found.append(cand)
    triplets = []
    for o, cy, cx, period, ln in found:
        contrast, ok = _triplet_contrast(img, o, (cy, cx), period, ln)
        triplets.append(
            Triplet(
                orientation=o,
                centre_px=(cy, cx),
                width_px=period / 2,
                period_px=period,
                length_px=ln,
                contrast=contrast,
                resolved=ok,
            )
        )
    if triplets:
        ref = max(t.period_px for t in triplets)
        for t in triplets:
            rel = 6 * math.log2(ref / t.period_px)
            t.relative_element = round(rel)
            t.relative_residual = float(rel - round(rel))
    return sorted(triplets, key=lambda t: -t.period_px)


def triplet_edge_fwhm_px(img: np.ndarray, t: Triplet) -> float | None:
    """Edge-spread FWHM (pixels) at the first edge of a detected triplet (erf fit)."""
    w = t.width_px
    ts = np.arange(-3.5 * w, 3.5 * w + 0.01, 0.25)
    img = np.asarray(img, np.float64)
    prof = _triplet_profile(img, t.orientation, t.centre_px, ts, t.length_px)
    return edge_fwhm(ts + 2.5 * w, prof, w)


def _triplet_profile(
    img: np.ndarray, orientation: str, centre: tuple[float, float], t: np.ndarray, length: float
) -> np.ndarray:
    u = np.linspace(-0.3 * length, 0.3 * length, 7)
    cy, cx = centre
    if orientation == "vertical":
        xs, ys = cx + t[None, :] + 0 * u[:, None], cy + u[:, None] + 0 * t[None, :]
    else:
        ys, xs = cy + t[None, :] + 0 * u[:, None], cx + u[:, None] + 0 * t[None, :]
    return ndimage.map_coordinates(img, [ys, xs], order=1, mode="nearest").mean(axis=0)


def _triplet_contrast(
    img: np.ndarray, orientation: str, centre: tuple[float, float], period: float, length: float
) -> tuple[float, bool]:
    """Michelson contrast across a detected triplet, above the local background."""
    w = period / 2
    t = np.arange(-3.5 * w, 3.5 * w + 0.01, 0.25)
    prof = _triplet_profile(img, orientation, centre, t, length)
    flanks = float(np.median(np.concatenate([prof[t < -2.75 * w], prof[t > 2.75 * w]])))
    gaps = np.interp([-w, w], t, prof)
    # a flank may touch a neighbouring digit or bar: never put the background above the gaps
    return michelson(t + 2.5 * w, prof, w, min(flanks, float(gaps.min())), 1)


# -- simulation and figures ---------------------------------------------------------


def simulate_captures(
    groups: Iterable[int] = DEFAULT_GROUPS,
    *,
    lr_pixel_um: float = 1.3,
    scale: int = 4,
    lr_na: float = 0.15,
    hr_na: float = 0.45,
    wavelength_um: float = 0.52,
    photons: float = 1000.0,
    read_noise: float = 5.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """LR and HR captures of the target with Gaussian-approximated Airy PSFs and noise.

    PSF FWHM = 0.51 λ/NA (Airy core); pixels integrate (block mean of a 3× finer
    drawing); Poisson shot noise at ``photons`` for a bright bar, Gaussian read
    noise, offset 100. Independent of the simulated rig: a quick, explicit
    stand-in when no rig captures exist. Both have the target at the same
    place: LR pixel (i, j) covers HR pixels [i·s, (i+1)·s).
    """
    hr_px = lr_pixel_um / scale
    fine_px = hr_px / 3
    tgt = usaf1951_target(fine_px, groups)
    pad = 12 * scale
    tgt = np.pad(tgt, ((pad, pad + 12 * scale), (pad, pad + 12 * scale)))
    rng = np.random.default_rng(seed)
    out = []
    for na, block in ((lr_na, 3 * scale), (hr_na, 3)):
        sigma = 0.51 * wavelength_um / na / 2.3548 / fine_px
        blurred = ndimage.gaussian_filter(tgt, sigma)
        h, w = (tgt.shape[0] // (3 * scale)) * 3 * scale, (tgt.shape[1] // (3 * scale)) * 3 * scale
        img = blurred[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))
        expected = photons * np.clip(img, 0, None) + 2.0
        img = rng.poisson(expected).astype(np.float32)
        img += rng.normal(0, read_noise, img.shape).astype(np.float32) + 100.0
        out.append(img)
    return out[0], out[1]


def contrast_figure(results: dict[str, tuple[UsafResult, dict]], focus: list[str]) -> bytes:
    """The paper's Fig. 5: contrast vs lp/mm per image, and profiles across chosen elements."""
    from training.evaluation.report import png_bytes, pyplot

    plt = pyplot()
    n = len(focus)
    fig, axes = plt.subplots(1, 1 + n, figsize=(4.2 + 3.0 * n, 3.4), squeeze=False)
    ax = axes[0, 0]
    for name, (res, _) in results.items():
        els = sorted(
            (e for e in res.elements if e.orientation == "vertical"), key=lambda e: e.lp_per_mm
        )
        ax.plot([e.lp_per_mm for e in els], [e.contrast for e in els], "o-", ms=3, label=name)
    ax.axhline(MIN_CONTRAST, color="k", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("line pairs / mm (vertical bars)")
    ax.set_ylabel("Michelson contrast")
    ax.legend(fontsize=8)
    for k, label in enumerate(focus):
        a = axes[0, 1 + k]
        for name, (res, profiles) in results.items():
            if label in profiles:
                t, p = profiles[label]
                span = (res.bright - res.background) or 1.0
                a.plot(t, (p - res.background) / span, label=name)
        a.set_title(label, fontsize=9)
        a.set_xlabel("µm across bars")
        a.set_ylabel("(I - background) / (bright - background)", fontsize=7)
    fig.tight_layout()
    return png_bytes(fig)


def triplet_figure(image: np.ndarray, triplets: list[Triplet]) -> bytes:
    """The real target with detected triplets marked (green resolved, red not)."""
    from training.evaluation.report import png_bytes, pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    axes[0].imshow(image, cmap="gray")
    for t in triplets:
        axes[0].plot(t.centre_px[1], t.centre_px[0], "+", color="lime" if t.resolved else "red")
        axes[0].annotate(
            str(t.relative_element),
            (t.centre_px[1] + 3, t.centre_px[0]),
            color="yellow",
            fontsize=7,
        )
    axes[0].set_title("detected triplets (label: elements finer than the coarsest)", fontsize=9)
    for o, m in (("vertical", "o"), ("horizontal", "s")):
        ts = [t for t in triplets if t.orientation == o]
        axes[1].plot([t.period_px for t in ts], [t.contrast for t in ts], m, label=o)
    axes[1].axhline(MIN_CONTRAST, color="k", ls=":", lw=1)
    axes[1].set_xscale("log")
    axes[1].invert_xaxis()
    axes[1].set_xlabel("period (pixels), finer →")
    axes[1].set_ylabel("Michelson contrast")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return png_bytes(fig)
