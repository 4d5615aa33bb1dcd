"""``srscope usaf``: contrast and finest resolved element of LR, SR and HR images of the target.

Sources of images, in order of preference: captures of the simulated rig's
``usaf1951`` specimen (or a real target at known pixel size) given as files; a
built-in explicit simulation (``simulate=True``); or a real target of unknown
pixel size, analysed by triplet detection in pixels.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from srscope.atomic import write_text_atomic
from srscope.errors import ImageError, SettingsError
from srscope.model_base import SrscopeModel
from srscope.pixels import check_finite
from training.evaluation.baselines import bicubic
from training.evaluation.usaf import (
    Triplet,
    UsafResult,
    analyze_usaf,
    contrast_figure,
    detect_triplets,
    simulate_captures,
    triplet_edge_fwhm_px,
    triplet_figure,
)


class UsafReport(SrscopeModel):
    """What ``usaf.json`` holds (``format`` names its version)."""

    format: str = "srscope-usaf/1"
    source: str
    groups: list[int]
    images: dict[str, UsafResult] = Field(default_factory=dict)
    triplets: list[Triplet] = Field(default_factory=list)
    summary: dict[str, dict[str, Any]] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


def read_plane_and_pixel_size(path: Path) -> tuple[np.ndarray, float | None]:
    """One 2-D plane and the OME ``PhysicalSizeX`` (µm) when the file has one."""
    from srscope.images import read_image

    img = np.squeeze(np.asarray(read_image(path), dtype=np.float32))
    if img.ndim != 2:
        raise ImageError(f"{path}: expected one 2-D plane, got shape {img.shape}")
    check_finite(img, str(path))
    px = None
    if path.suffix.lower() in {".tif", ".tiff"}:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            ome = tif.ome_metadata or ""
        m = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', ome)
        if m:
            px = float(m.group(1))
    return img, px


def _summary(res: UsafResult) -> dict[str, Any]:
    return {
        "finest_resolved": res.finest_resolved,
        "lp_per_mm": res.finest_resolved_lp_per_mm,
        "period_um": res.finest_resolved_period_um,
        "edge_fwhm_um": res.edge_fwhm_um,
    }


def run_usaf(
    *,
    image: Path | None = None,
    pixel_size_um: float | None = None,
    hr: Path | None = None,
    hr_pixel_size_um: float | None = None,
    model: Any | None = None,
    simulate: bool = False,
    groups: list[int] | None = None,
    scale: int = 4,
) -> tuple[UsafReport, list[tuple[str, bytes]]]:
    """Analyse LR (and SR, bicubic, HR) images of the target; returns report and figures."""
    groups = groups or [6, 7, 8, 9, 10]
    scale = model.meta.scale if model is not None else scale
    images: dict[str, tuple[np.ndarray, float]] = {}
    notes: list[str] = []
    if simulate:
        lr, hr_img = simulate_captures(groups, scale=scale)
        lr_px = 1.3
        images["LR"] = (lr, lr_px)
        images["HR"] = (hr_img, lr_px / scale)
        source = "simulated (Gaussian-approximated Airy PSFs 5x/0.15, 20x/0.45, 520 nm)"
        notes.append("simulation is independent of the simulated rig and of any calibration")
    elif image is not None:
        lr, file_px = read_plane_and_pixel_size(image)
        lr_px = pixel_size_um or file_px
        source = str(image)
        if not lr_px:
            triplets = detect_triplets(lr)
            if not triplets:
                raise ImageError(f"no bar triplets found in {image}")
            resolved = [t for t in triplets if t.resolved]
            finest = min(resolved, key=lambda t: t.period_px) if resolved else None
            report = UsafReport(
                source=source,
                groups=groups,
                triplets=triplets,
                summary={
                    "image": {
                        "triplets_detected": len(triplets),
                        "finest_resolved_period_px": finest.period_px if finest else None,
                        "finest_resolved_relative_element": finest.relative_element
                        if finest
                        else None,
                        "coarsest_period_px": triplets[0].period_px,
                        "edge_fwhm_px": triplet_edge_fwhm_px(lr, triplets[0]),
                    }
                },
                notes=[
                    "pixel size unknown: periods in pixels; elements numbered relative to the "
                    "coarsest detected triplet (2^(1/6) per element); triplets blurred into one "
                    "blob are not detected, so the finest resolved is an upper bound"
                ],
            )
            return report, [("triplets", triplet_figure(lr, triplets))]
        images["LR"] = (lr, lr_px)
        if hr is not None:
            hr_img, hpx = read_plane_and_pixel_size(hr)
            images["HR"] = (hr_img, hr_pixel_size_um or hpx or lr_px / scale)
    else:
        raise SettingsError("give an image of the target, or --simulate")

    lr, lr_px = images["LR"]
    ordered: dict[str, tuple[np.ndarray, float]] = {"LR": images["LR"]}
    if model is not None or simulate or hr is not None:
        ordered["bicubic"] = (bicubic(lr, scale), lr_px / scale)
    if model is not None:
        name = model.meta.name or "SR"
        ordered[name] = (np.squeeze(model.predict(lr)).astype(np.float32), lr_px / scale)
    if "HR" in images:
        ordered["HR"] = images["HR"]
    results: dict[str, tuple[UsafResult, dict]] = {}
    for name, (img, px) in ordered.items():
        results[name] = analyze_usaf(img, px, groups)
    report = UsafReport(
        source=source,
        groups=groups,
        images={k: v[0] for k, v in results.items()},
        summary={k: _summary(v[0]) for k, v in results.items()},
        notes=notes,
    )
    lr_res = results["LR"][0]
    focus = _focus(lr_res)
    return report, [("contrast", contrast_figure(results, focus))]


def _focus(lr_res: UsafResult) -> list[str]:
    """Three vertical elements around the LR limit: last resolved, next, and a finer one."""
    verts = sorted(
        (e for e in lr_res.elements if e.orientation == "vertical"), key=lambda e: e.lp_per_mm
    )
    idx = next((i for i, e in enumerate(verts) if not e.resolved), len(verts) - 1)
    picks = [max(0, idx - 1), idx, min(len(verts) - 1, idx + 4)]
    return list(dict.fromkeys(verts[i].label for i in picks))


# What write_usaf_report writes into its folder (cleared first by `usaf --overwrite`).
USAF_FILES = ("usaf.json", "usaf.html", "figures/usaf_*.png")


def write_usaf_report(report: UsafReport, figures: list[tuple[str, bytes]], out: Path) -> Path:
    """``usaf.json``, ``figures/usaf_*.png`` and a self-contained ``usaf.html``."""
    from training.evaluation.report import CSS, img_tag

    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    report.to_file(out / "usaf.json")
    for name, data in figures:
        (out / "figures" / f"usaf_{name}.png").write_bytes(data)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td>"
        + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in s.values())
        + "</tr>"
        for k, s in report.summary.items()
    )
    head = "".join(
        f"<th>{html.escape(c)}</th>" for c in ["image", *next(iter(report.summary.values()))]
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>srscope USAF 1951</title>"
        f"<style>{CSS}</style></head><body><h1>USAF 1951 resolution target</h1>"
        f"<p>source: <code>{html.escape(report.source)}</code></p>"
        f"<table><tr>{head}</tr>{rows}</table><ul class=note>{notes}</ul>"
        "<p class=note>Resolved: Michelson contrast of bars vs gaps above background ≥ 0.1 "
        "and both gaps darker than both neighbouring bars, for both bar orientations and "
        "every coarser element. Edge FWHM: erf fit to the first edge of the coarsest element "
        "(optics and pixel together).</p>"
        + "".join(img_tag(d, n) for n, d in figures)
        + "</body></html>"
    )
    return write_text_atomic(out / "usaf.html", page)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return "—" if v is None else str(v)
