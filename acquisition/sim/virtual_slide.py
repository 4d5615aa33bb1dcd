"""A whole virtual slide: real tissue at random places and angles over a slide area.

The mirror-tiled specimens of :mod:`acquisition.sim.specimen` repeat one crop every
~0.6 mm, which a scanned mosaic shows as a kaleidoscope (easily taken for a
stitching bug). A virtual slide instead lays out tissue *sections* (soft-edged
blobs with ragged borders and holes) over a slide area and fills them with
*patches*: discs cut from real images at random source positions, turned by a
random angle, sometimes mirrored, stretched and varied a little in intensity, blended
with narrow seams (each point belongs mostly to the patch whose centre is
nearest relative to its radius). The layout is a few thousand numbers,
deterministic by seed; pixels are composed only for the region a camera frame
needs, at the grid its optics need (:mod:`acquisition.sim.slide_render`), so a
slide of any size costs the same memory.

Names: ``slide_fluo`` (DAPI/TRITC tissue) and ``slide_he`` (H&E), optionally
``NAME:SEED`` or ``NAME:SEED:SIZE_MM`` (default seed 0, a 12 × 12 mm slide).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from acquisition.sim.optics import ChannelOptics
from acquisition.sim.specimen import DATA_DIR, Specimen, load_specimen
from srscope.errors import SrscopeError

# name -> (kind, source files (package data), background per plane, patch radius cap µm)
SLIDE_KINDS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "slide_fluo": (
        "fluorescence",
        ("tissue_dapi_tritc.ome.tif", "slide_fluo_ndpi_b.ome.tif"),
        (0.012, 0.02),  # faint autofluorescence of the glass and mounting medium
    ),
    "slide_he": (
        "brightfield",
        ("he_os1.ome.tif", "slide_he_cmu1.ome.tif"),
        (0.95, 0.95, 0.95),  # bare glass transmits almost everything
    ),
}
DEFAULT_SIZE_MM = 12.0
SPACING = 0.8  # patch centres: a jittered grid, this times the mean patch radius apart
# blending weight exp(-(d² - r²) / SEAM_UM2): a power diagram (bigger patches claim bigger
# cells) whose seams are ~4.4 SEAM_UM2 / (2 · spacing) ≈ 10 µm wide
SEAM_UM2 = 700.0
DROP = 7.0  # weights below e^-DROP of the leading patch's are left out
TAPER = 1.0 - 0.85**2  # weights fade over the outer 15 % of a patch's radius
NOISE_STEP_UM = 300.0  # correlation length of ragged section borders and holes
COARSE_UM = 4.0  # grid on which each patch's region of influence is found


def is_slide_name(name: str) -> bool:
    """Whether ``name`` names a virtual slide (``slide_fluo``, ``slide_he:3`` ...)."""
    return name.strip().split(":")[0].lower() in SLIDE_KINDS


@dataclass(frozen=True, eq=False)  # hashed by identity: caches key on it
class VirtualSlide:
    """Layout of a virtual slide; :meth:`compose` makes pixels of any region on demand."""

    name: str
    kind: str  # "fluorescence" | "brightfield"
    sources: tuple[Specimen, ...] = field(repr=False)
    background: tuple[float, ...]
    size_um: tuple[float, float]  # (height, width), centred on stage (0, 0)
    seed: int
    centre_um: np.ndarray = field(repr=False)  # (n, 2) stage (y, x) of patch centres
    radius_um: np.ndarray = field(repr=False)  # (n,)
    source_index: np.ndarray = field(repr=False)  # (n,)
    source_um: np.ndarray = field(repr=False)  # (n, 2) (y, x) in the source, from its corner
    angle: np.ndarray = field(repr=False)  # (n,) radians
    flip: np.ndarray = field(repr=False)  # (n,) bool: mirror x before turning
    gain: np.ndarray = field(repr=False)  # (n,) intensity (fluorescence) or density factor
    zoom: np.ndarray = field(repr=False)  # (n, 2) stretch in y and x (sections deform)
    sections: np.ndarray = field(repr=False)  # (m, 5): cy, cx, a, b, theta; empty: all tissue
    noise: np.ndarray = field(repr=False)  # smooth field on a NOISE_STEP_UM grid (slide corner)

    @property
    def patches(self) -> int:
        return len(self.radius_um)

    def recipe(self, channel: ChannelOptics) -> tuple[tuple[float, ...], float]:
        """What ``channel`` sees of the planes (the same recipe as a plain specimen)."""
        return self.sources[0].recipe(channel)

    def background_for(self, channel: ChannelOptics) -> float:
        weights, const = self.recipe(channel)
        value = const + sum(w * b for w, b in zip(weights, self.background, strict=False))
        return float(np.clip(value, 0.0, 1.0))

    def coverage(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Tissue (1) or glass (0) at the grid ``ys`` × ``xs`` (µm), soft-edged over ~40 µm."""
        if len(self.sections) == 0:
            return np.ones((len(ys), len(xs)), dtype=np.float32)
        yy, xx = ys[:, None], xs[None, :]
        f = np.full((len(ys), len(xs)), -np.inf, dtype=np.float32)
        for cy, cx, a, b, th in self.sections:
            u = (yy - cy) * math.cos(th) + (xx - cx) * math.sin(th)
            v = -(yy - cy) * math.sin(th) + (xx - cx) * math.cos(th)
            np.maximum(f, (1.0 - (u / a) ** 2 - (v / b) ** 2).astype(np.float32), out=f)
        h, w = self.size_um
        ny = (yy + h / 2) / NOISE_STEP_UM + np.zeros_like(xx)
        nx = (xx + w / 2) / NOISE_STEP_UM + np.zeros_like(yy)
        f += 0.3 * ndimage.map_coordinates(self.noise, [ny, nx], order=1, mode="nearest")
        return np.clip((f - 0.1) / 0.25, 0.0, 1.0).astype(np.float32)

    def compose(
        self, channel: ChannelOptics, y0: float, x0: float, ny: int, nx: int, step: float
    ) -> np.ndarray:
        """What ``channel`` sees on the grid ``y0 + i·step``, ``x0 + j·step`` (µm), 0..1.

        Sources are first band-limited to this grid's Nyquist frequency
        (:func:`source_level`), so a coarse grid does not alias.
        """
        bg = self.background_for(channel)
        ys = y0 + step * np.arange(ny)
        xs = x0 + step * np.arange(nx)
        out = np.full((ny, nx), bg, dtype=np.float32)
        r = self.radius_um
        near = (
            (self.centre_um[:, 0] + r >= ys[0])
            & (self.centre_um[:, 0] - r <= ys[-1])
            & (self.centre_um[:, 1] + r >= xs[0])
            & (self.centre_um[:, 1] - r <= xs[-1])
        )
        cand = np.flatnonzero(near)
        if cand.size == 0:
            return out
        active = list(self._active(cand, ys, xs))
        emin = np.full((ny, nx), np.inf, dtype=np.float32)
        for i, (r0, r1, c0, c1) in active:  # pass 1: the leading patch's power distance
            e, inside = self._power(i, ys[r0:r1], xs[c0:c1])
            np.minimum(emin[r0:r1, c0:c1], np.where(inside, e, np.inf), out=emin[r0:r1, c0:c1])
        num = np.zeros((ny, nx), dtype=np.float32)
        den = np.zeros((ny, nx), dtype=np.float32)
        present = np.zeros((ny, nx), dtype=np.float32)
        brightfield = channel.kind == "brightfield"
        for i, (r0, r1, c0, c1) in active:  # pass 2: blend (weights relative to the leader)
            e, inside = self._power(i, ys[r0:r1], xs[c0:c1])
            d2r = e * np.float32(SEAM_UM2 / self.radius_um[i] ** 2) + 1.0  # (d / r)²
            taper = np.clip((1.0 - d2r) / TAPER, 0.0, 1.0)
            rel = np.minimum(e - emin[r0:r1, c0:c1], DROP, out=e)
            rel[~inside] = DROP
            wgt = np.exp(-rel) * taper
            wgt[rel >= DROP] = 0.0
            vals = self._sample(i, channel, step, ys[r0:r1], xs[c0:c1], wgt > 0)
            if brightfield:  # stain density varies: transmission ** factor
                np.power(np.maximum(vals, 1e-4), np.float32(self.gain[i]), out=vals)
            else:
                vals *= np.float32(self.gain[i])
            num[r0:r1, c0:c1] += wgt * vals
            den[r0:r1, c0:c1] += wgt
            np.maximum(present[r0:r1, c0:c1], taper, out=present[r0:r1, c0:c1])
        tissue = np.divide(num, den, out=np.full_like(num, bg), where=den > 0)
        present *= self._coverage_on(ys, xs)
        out += present * (tissue - bg)
        return np.clip(out, 0.0, 1.0, out=out)

    def _power(self, i: int, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Power distance (d² - r²) / SEAM_UM2 of patch ``i`` on a grid, and its disc."""
        e = _scaled_d2(ys, xs, self.centre_um[i], math.sqrt(SEAM_UM2))
        r2 = np.float32(self.radius_um[i] ** 2 / SEAM_UM2)
        inside = e < r2
        e -= r2
        return e, inside

    def _coverage_on(self, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """:meth:`coverage` on a fine grid, evaluated coarsely and interpolated (it is smooth)."""
        coarse_um = max(COARSE_UM, float(ys[1] - ys[0]) if len(ys) > 1 else COARSE_UM)
        n_cy = max(2, math.ceil((ys[-1] - ys[0]) / coarse_um) + 1)
        n_cx = max(2, math.ceil((xs[-1] - xs[0]) / coarse_um) + 1)
        coarse = self.coverage(np.linspace(ys[0], ys[-1], n_cy), np.linspace(xs[0], xs[-1], n_cx))
        if coarse.min() >= 1.0:
            return np.ones((len(ys), len(xs)), dtype=np.float32)
        zoom = [(n_cy - 1) / max(1, len(ys) - 1), (n_cx - 1) / max(1, len(xs) - 1)]
        return ndimage.affine_transform(
            coarse, zoom, output_shape=(len(ys), len(xs)), order=1, mode="nearest",
            output=np.float32,
        )  # fmt: skip

    def _active(self, cand: np.ndarray, ys: np.ndarray, xs: np.ndarray):
        """Each candidate patch with the index box where its blending weight matters.

        Found on a coarse grid (the leading patch's power distance), so the fine
        grid is only touched near each patch's own cell: little more than the
        frame's area in all, however many patches overlap it.
        """
        step_y = (ys[-1] - ys[0]) / max(1, len(ys) - 1) or 1.0
        step_x = (xs[-1] - xs[0]) / max(1, len(xs) - 1) or 1.0
        coarse = max(COARSE_UM, step_y, step_x)
        n_cy = max(2, math.ceil((ys[-1] - ys[0]) / coarse) + 1)
        n_cx = max(2, math.ceil((xs[-1] - xs[0]) / coarse) + 1)
        cys, cxs = np.linspace(ys[0], ys[-1], n_cy), np.linspace(xs[0], xs[-1], n_cx)
        emin = np.full((n_cy, n_cx), np.inf, dtype=np.float32)
        boxes = []
        for i in cand:  # each patch's disc box on the coarse grid, and its power distance
            cy, cx = self.centre_um[i]
            r = self.radius_um[i]
            a0, a1 = np.searchsorted(cys, [cy - r, cy + r])
            b0, b1 = np.searchsorted(cxs, [cx - r, cx + r])
            if a1 <= a0 or b1 <= b0:
                continue
            e, inside = self._power(i, cys[a0:a1], cxs[b0:b1])
            e[~inside] = np.inf
            np.minimum(emin[a0:a1, b0:b1], e, out=emin[a0:a1, b0:b1])
            boxes.append((i, a0, b0, e))
        # neighbouring coarse points differ by up to 2·d·coarse / SEAM_UM2 in e
        slack = DROP + 4.0 * float(self.radius_um.max()) * coarse / SEAM_UM2
        for i, a0, b0, e in boxes:
            with np.errstate(invalid="ignore"):  # inf - inf outside every disc: not active
                act = e - emin[a0 : a0 + e.shape[0], b0 : b0 + e.shape[1]] < slack
            rows, cols = np.flatnonzero(act.any(axis=1)), np.flatnonzero(act.any(axis=0))
            if rows.size == 0:
                continue
            y_lo, y_hi = cys[max(a0 + rows[0] - 1, 0)], cys[min(a0 + rows[-1] + 1, n_cy - 1)]
            x_lo, x_hi = cxs[max(b0 + cols[0] - 1, 0)], cxs[min(b0 + cols[-1] + 1, n_cx - 1)]
            r0 = max(0, math.floor((y_lo - ys[0]) / step_y))
            r1 = min(len(ys), math.ceil((y_hi - ys[0]) / step_y) + 1)
            c0 = max(0, math.floor((x_lo - xs[0]) / step_x))
            c1 = min(len(xs), math.ceil((x_hi - xs[0]) / step_x) + 1)
            if r1 > r0 and c1 > c0:
                yield int(i), (r0, r1, c0, c1)

    def _sample(
        self,
        i: int,
        channel: ChannelOptics,
        step: float,
        ys: np.ndarray,
        xs: np.ndarray,
        where: np.ndarray,
    ) -> np.ndarray:
        """Patch ``i``'s source seen at stage points ``ys`` × ``xs`` (turned, maybe mirrored).

        Only points with ``where`` set are interpolated (the rest stay 0): the
        spline interpolation is most of a frame's cost.
        """
        coeffs, (py, px) = source_level(self.sources[self.source_index[i]], channel, step)
        jy, jx = np.nonzero(where)
        dy = (ys[jy] - self.centre_um[i, 0]) / self.zoom[i, 0]
        dx = (xs[jx] - self.centre_um[i, 1]) / self.zoom[i, 1]
        if self.flip[i]:
            dx = -dx
        c, s = math.cos(self.angle[i]), math.sin(self.angle[i])
        sy = (c * dy - s * dx + self.source_um[i, 0]) / py - 0.5
        sx = (s * dy + c * dx + self.source_um[i, 1]) / px - 0.5
        out = np.zeros(where.shape, dtype=np.float32)
        out[jy, jx] = ndimage.map_coordinates(
            coeffs, [sy, sx], order=3, mode="mirror", prefilter=False, output=np.float32
        )
        return out


def _scaled_d2(ys: np.ndarray, xs: np.ndarray, centre: np.ndarray, r: float) -> np.ndarray:
    """(distance / radius)² from a patch centre on the grid ``ys`` × ``xs``."""
    inv = np.float32(1.0 / (r * r))
    dy2 = ((ys - centre[0]) ** 2 * inv).astype(np.float32)
    dx2 = ((xs - centre[1]) ** 2 * inv).astype(np.float32)
    return dy2[:, None] + dx2[None, :]


@functools.lru_cache(maxsize=8)
def source_level(
    source: Specimen, channel: ChannelOptics, step: float
) -> tuple[np.ndarray, tuple[float, float]]:
    """Cubic-spline coefficients of what ``channel`` sees of a source, fit for a ``step`` grid.

    A grid finer than the source samples the source itself. A coarser grid gets
    the source band-limited to the grid's Nyquist frequency (cosine spectrum
    truncated, as the mirror-tiled specimens are) and resampled at half the step
    (or kept at its pixel), so cubic interpolation onto the grid is accurate and
    nothing aliases. Returns the coefficients and their pixel size (y, x) in µm.
    """
    plane = source.plane_for(channel)
    px = source.pixel_size_um
    if px < step:
        ny, nx = plane.shape
        out_px = max(px, step / 2.0)
        my, mx = max(2, round(ny * px / out_px)), max(2, round(nx * px / out_px))
        ky = min(ny, my, math.ceil(ny * px / step))  # DCT index u is frequency u / (2L)
        kx = min(nx, mx, math.ceil(nx * px / step))
        coeffs = sfft.dctn(plane, type=2, norm="ortho", workers=-1)
        spec = np.zeros((my, mx), dtype=np.float32)
        spec[:ky, :kx] = coeffs[:ky, :kx]
        plane = sfft.idctn(spec, type=2, norm="ortho", workers=-1)
        plane *= np.float32(math.sqrt((my * mx) / (ny * nx)))
        pixel = (ny * px / my, nx * px / mx)
    else:
        pixel = (px, px)
    spline = ndimage.spline_filter(plane, order=3, mode="mirror", output=np.float32)
    return spline, pixel


def _parse(name: str) -> tuple[str, int, float]:
    parts = name.strip().split(":")
    base = parts[0].lower()
    try:
        seed = int(parts[1]) if len(parts) > 1 and parts[1] else 0
        size_mm = float(parts[2]) if len(parts) > 2 else DEFAULT_SIZE_MM
    except ValueError:
        raise SrscopeError(
            f"virtual slide {name!r}: write it as {base}, {base}:SEED or {base}:SEED:SIZE_MM"
        ) from None
    if len(parts) > 3 or not 0.5 <= size_mm <= 100.0 or seed < 0:
        raise SrscopeError(
            f"virtual slide {name!r}: give {base}:SEED:SIZE_MM with SEED >= 0 and "
            "0.5 <= SIZE_MM <= 100"
        )
    return base, seed, size_mm


@functools.lru_cache(maxsize=4)
def load_slide(name: str) -> VirtualSlide:
    """The virtual slide ``slide_fluo`` / ``slide_he`` (``:SEED``, ``:SEED:SIZE_MM``)."""
    base, seed, size_mm = _parse(name)
    kind, files, background = SLIDE_KINDS[base]
    sources = tuple(load_specimen(str(DATA_DIR / f)) for f in files)
    return make_slide(name.strip(), kind, sources, background, seed, size_mm * 1000.0)


def make_slide(
    name: str,
    kind: str,
    sources: tuple[Specimen, ...],
    background: tuple[float, ...],
    seed: int,
    size_um: float,
) -> VirtualSlide:
    """Lay out sections and patches over a ``size_um`` square slide, deterministically."""
    rng = np.random.default_rng(seed)
    half = size_um / 2.0
    # sections: one around the slide centre (where scans start), more at random
    n_sec = int(rng.integers(3, 6))
    sections = [(0.0, 0.0, 0.36 * size_um, 0.30 * size_um, rng.uniform(0, math.pi))]
    for _ in range(n_sec - 1):
        cy, cx = rng.uniform(-0.35, 0.35, 2) * size_um
        a, b = rng.uniform(0.08, 0.22, 2) * size_um
        sections.append((cy, cx, a, b, rng.uniform(0, math.pi)))
    n_noise = math.ceil(size_um / NOISE_STEP_UM) + 2
    noise = ndimage.gaussian_filter(rng.standard_normal((n_noise, n_noise)), 1.0)
    noise = (noise / (noise.std() or 1.0)).astype(np.float32)
    # patch centres: a jittered grid, kept inside sections (and a rim around them)
    areas = np.array([s.size_um[0] * s.size_um[1] for s in sources])
    cap = np.array([0.48 * min(s.size_um) for s in sources])  # disc radius in the source
    spacing = SPACING * float((areas * cap).sum() / areas.sum())
    n = math.ceil(size_um / spacing)
    g = (np.arange(n) + 0.5) * spacing - half
    cy, cx = np.meshgrid(g, g, indexing="ij")
    jitter = rng.uniform(-0.3, 0.3, (2, n, n)) * spacing
    centres = np.stack([(cy + jitter[0]).ravel(), (cx + jitter[1]).ravel()], axis=1)
    probe = VirtualSlide(
        name, kind, sources, background, (size_um, size_um), seed,
        *(np.empty((0, *s)) for s in ((2,), (), (), (2,), (), (), (), (2,))),
        np.asarray(sections, dtype=np.float64), noise,
    )  # fmt: skip
    keep = _near_cover(probe, centres, spacing)
    centres = centres[keep]
    m = len(centres)
    # sources in proportion to their area; radius as large as the source allows
    src = rng.choice(len(sources), size=m, p=areas / areas.sum())
    zoom = rng.uniform(0.85, 1.15, (m, 2))  # copies of one source region differ in shape
    radius = cap[src] * zoom.min(axis=1)  # on the slide; within radius cap in the source
    lo, hi = cap[src], np.array([min(s.size_um) for s in sources])[src] - cap[src]
    source_um = np.stack([rng.uniform(lo, np.maximum(lo, hi)) for _ in range(2)], axis=1)
    gain = np.exp(rng.normal(0.0, 0.12 if kind == "brightfield" else 0.15, m))
    return VirtualSlide(
        name=name,
        kind=kind,
        sources=sources,
        background=background,
        size_um=(size_um, size_um),
        seed=seed,
        centre_um=centres,
        radius_um=radius,
        source_index=src,
        source_um=source_um,
        angle=rng.uniform(0.0, 2 * math.pi, m),
        flip=rng.random(m) < 0.5,
        gain=gain,
        zoom=zoom,
        sections=np.asarray(sections, dtype=np.float64),
        noise=noise,
    )


def _near_cover(probe: VirtualSlide, centres: np.ndarray, spacing: float) -> np.ndarray:
    """Centres within a patch spacing of tissue, on a coarse map of the whole slide."""
    h, _ = probe.size_um
    step = spacing / 2.0
    grid = np.arange(-h / 2, h / 2 + step, step)
    cov = probe.coverage(grid, grid) > 0
    cov = ndimage.binary_dilation(cov, iterations=2)
    iy = np.clip(np.round((centres[:, 0] + h / 2) / step).astype(int), 0, len(grid) - 1)
    ix = np.clip(np.round((centres[:, 1] + h / 2) / step).astype(int), 0, len(grid) - 1)
    return cov[iy, ix]
