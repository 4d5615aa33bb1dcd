"""Writes an evaluation as JSON, CSV and one self-contained HTML page (embedded PNGs).

Figures are matplotlib (Agg backend, no display needed) and are also written as
separate PNG files under ``figures/`` so they can be looked at or reused.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from srscope.atomic import write_text_atomic
from training.evaluation.evaluate import EvaluationResult, Panel


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (100 dpi, tight); the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def table_figure(result: EvaluationResult) -> bytes:
    """PSNR and SSIM, mean ± sd over fields, one bar per method."""
    plt = pyplot()
    rows = result.table
    names = [r.method for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(2.0 + 1.3 * len(rows), 3.4))
    for ax, key, unit in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ssim", "SSIM")):
        means = [getattr(r, f"{key}_mean") for r in rows]
        sds = [getattr(r, f"{key}_sd") for r in rows]
        ax.bar(range(len(rows)), means, yerr=sds, capsize=4, color="C0")
        ax.set_xticks(range(len(rows)), names, rotation=30, ha="right")
        ax.set_ylabel(unit)
        lo = min(m - s for m, s in zip(means, sds, strict=True))
        hi = max(m + s for m, s in zip(means, sds, strict=True))
        if np.isfinite(lo) and np.isfinite(hi):
            pad = 0.15 * (hi - lo + 1e-6)
            ax.set_ylim(max(0.0, lo - pad) if key == "ssim" else lo - pad, hi + pad)
    fig.suptitle(f"mean ± sd over {rows[0].n_fields if rows else 0} fields")
    fig.tight_layout()
    return png_bytes(fig)


def panel_figure(panel: Panel) -> bytes:
    """All methods side by side at one display range, a zoomed centre, and the z-map."""
    plt = pyplot()
    names = list(panel.images)
    n = len(names) + (1 if panel.zmap is not None else 0)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 4.9), squeeze=False)
    ref = panel.images.get("HR", next(iter(panel.images.values())))
    lo, hi = np.percentile(ref, [0.5, 99.8])
    h, w = ref.shape
    z = max(24, min(h, w) // 10)
    zy, zx = slice(h // 2 - z, h // 2 + z), slice(w // 2 - z, w // 2 + z)
    for j, name in enumerate(names):
        img = panel.images[name]
        axes[0, j].imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        axes[0, j].set_title(name, fontsize=9)
        axes[1, j].imshow(img[zy, zx], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        axes[1, j].set_title("centre, zoomed", fontsize=8)
    if panel.zmap is not None:
        lim = max(5.0, panel.threshold + 1)
        im = axes[0, -1].imshow(panel.zmap, cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[0, -1].set_title("consistency z (LR px)", fontsize=9)
        fig.colorbar(im, ax=axes[0, -1], fraction=0.046)
        flagged = np.abs(panel.zmap) > panel.threshold
        s = panel.sr_region.shape[0] // panel.zmap.shape[0] if panel.sr_region is not None else 1
        base = panel.sr_region if panel.sr_region is not None else panel.zmap
        b_lo, b_hi = np.percentile(base, [0.5, 99.8])
        axes[1, -1].imshow(base, cmap="gray", vmin=b_lo, vmax=b_hi, interpolation="nearest")
        over = np.zeros((*flagged.shape, 4), dtype=np.float32)
        over[flagged] = (1.0, 0.1, 0.1, 0.6)
        over = np.repeat(np.repeat(over, s, 0), s, 1)
        axes[1, -1].imshow(over, interpolation="nearest")
        axes[1, -1].set_title(
            f"{panel.sr_name}, |z| > {panel.threshold:g} red: {flagged.mean():.2%}", fontsize=8
        )
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(panel.title, fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def resolution_figure(result: EvaluationResult, panels: Sequence[Panel]) -> bytes:
    """Decorrelation curves of the first entry and resolution per image over all entries."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    if panels and panels[0].decorrelation:
        for label, d in panels[0].decorrelation.items():
            axes[0].plot(d.radii, d.d0, label=f"{label}: {d.resolution_um:.2f} µm")
            axes[0].axvline(d.k_c, ls=":", color=axes[0].lines[-1].get_color())
        axes[0].set_xlabel("normalised frequency (1 = Nyquist of each image)")
        axes[0].set_ylabel("decorrelation d(r)")
        axes[0].legend(fontsize=8)
        axes[0].set_title("decorrelation (first entry), dotted: k_c", fontsize=9)
    labels: list[str] = []
    for e in result.entries:
        for r in e.resolution:
            if r.image not in labels:
                labels.append(r.image)
    vals = [
        [r.resolution_um for e in result.entries for r in e.resolution if r.image == lab]
        for lab in labels
    ]
    axes[1].bar(
        range(len(labels)),
        [np.mean(v) for v in vals],
        yerr=[np.std(v) for v in vals],
        capsize=4,
        color="C1",
    )
    axes[1].set_xticks(range(len(labels)), labels, rotation=20)
    axes[1].set_ylabel("resolution (µm), lower is finer")
    axes[1].set_title("decorrelation resolution, mean ± sd over entries", fontsize=9)
    fig.tight_layout()
    return png_bytes(fig)


def write_csv(result: EvaluationResult, out: Path) -> tuple[Path, Path]:
    """``evaluation.csv`` (the table) and ``fields.csv`` (every field and method)."""
    table = out / "evaluation.csv"
    with table.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method", "psnr_mean", "psnr_sd", "ssim_mean", "ssim_sd", "n_fields"])
        for r in result.table:
            w.writerow(
                [
                    r.method,
                    f"{r.psnr_mean:.4f}",
                    f"{r.psnr_sd:.4f}",
                    f"{r.ssim_mean:.5f}",
                    f"{r.ssim_sd:.5f}",
                    r.n_fields,
                ]
            )
    per_field = out / "fields.csv"
    with per_field.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["entry", "field", "channel", "method", "psnr", "ssim"])
        for s in result.fields:
            w.writerow([s.entry, s.field, s.channel, s.method, f"{s.psnr:.4f}", f"{s.ssim:.5f}"])
    return table, per_field


def img_tag(data: bytes, alt: str) -> str:
    """An HTML ``<img>`` holding the PNG ``data`` inline (a report is one file)."""
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _table_html(result: EvaluationResult) -> str:
    head = "<tr><th>method</th><th>PSNR (dB)</th><th>SSIM</th><th>fields</th></tr>"
    rows = "".join(
        f"<tr><td>{html.escape(r.method)}</td><td>{r.psnr_mean:.2f} ± {r.psnr_sd:.2f}</td>"
        f"<td>{r.ssim_mean:.3f} ± {r.ssim_sd:.3f}</td><td>{r.n_fields}</td></tr>"
        for r in result.table
    )
    return f"<table>{head}{rows}</table>"


def _entries_html(result: EvaluationResult) -> str:
    head = (
        "<tr><th>entry</th><th>channel</th><th>scored (HR px)</th><th>shift SR (px)</th>"
        "<th>resolution µm (SBP)</th><th>consistency: |z|&gt;t (rms z)</th></tr>"
    )
    rows = []
    for e in result.entries:
        sr_shift = list(e.shifts_px.values())[-1]
        res = "; ".join(
            f"{html.escape(r.image)} {r.resolution_um:.2f}{'*' if r.sampling_limited else ''}"
            f" ({r.space_bandwidth_product:.3g})"
            for r in e.resolution
        )
        c = e.consistency
        cons = f"{c['flagged_fraction']:.2%} ({c['rms_z']:.2f})" if c else "—"
        rows.append(
            f"<tr><td>{e.entry}</td><td>{html.escape(e.channel)}</td>"
            f"<td>{e.scored_shape[0]}×{e.scored_shape[1]}</td>"
            f"<td>{sr_shift[0]:+.2f}, {sr_shift[1]:+.2f}</td><td>{res}</td><td>{cons}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;
text-align:right}th{background:#eee}td:first-child{text-align:left}img{max-width:100%}
.note{color:#555;font-size:90%}
"""


# What write_report writes into its folder (cleared first by `evaluate --overwrite`).
REPORT_FILES = (
    "evaluation.json",
    "evaluation.csv",
    "fields.csv",
    "report.html",
    "figures/table.png",
    "figures/panel_*.png",
    "figures/resolution.png",
)


def write_report(
    result: EvaluationResult, panels: Sequence[Panel], out: str | Path, extra_html: str = ""
) -> dict[str, Path]:
    """Write ``evaluation.json``, ``evaluation.csv``, ``fields.csv``, ``report.html``, figures."""
    out = Path(out)
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    paths["json"] = write_text_atomic(out / "evaluation.json", result.model_dump_json(indent=2))
    paths["csv"], paths["fields_csv"] = write_csv(result, out)

    pngs: list[tuple[str, bytes]] = [("table", table_figure(result))]
    pngs += [(f"panel_{k}", panel_figure(p)) for k, p in enumerate(panels)]
    pngs.append(("resolution", resolution_figure(result, panels)))
    for name, data in pngs:
        (figs / f"{name}.png").write_bytes(data)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    body = [
        "<h1>srscope evaluation</h1>",
        f"<p>model <code>{html.escape(result.model)}</code>"
        + (
            f", GAN model <code>{html.escape(result.gan_model)}</code>, blend α = {result.alpha}"
            if result.gan_model
            else ""
        )
        + f"; references <code>{html.escape(result.references)}</code>; ×{result.scale}.</p>",
        "<h2>Quality against HR captures (Table 1)</h2>",
        _table_html(result),
        f"<p class=note>Fields of {result.field_size}×{result.field_size} HR pixels. "
        "Each output is registered to the HR capture (sub-pixel phase correlation, scoring "
        "only), all are cropped to one common region, HR is percentile-normalised (0.1–99.9) "
        "and each output mapped onto it by a least-squares gain/offset; PSNR/SSIM with data "
        f"range 1. Richardson–Lucy: {result.rl_iterations} iterations, calibrated Gaussian PSF "
        "combined with the LR pixel box.</p>",
        img_tag(pngs[0][1], "PSNR and SSIM per method"),
        f"<ul class=note>{notes}</ul>" if notes else "",
        "<h2>Entries: resolution and consistency</h2>",
        _entries_html(result),
        "<p class=note>Resolution: decorrelation analysis (Descloux et al. 2019); * = no peak "
        "inside the band, the pixel grid limits (2 px). It measures the finest detail above "
        "the noise, not whether the detail is true: invented texture or pixelation also scores "
        "as fine resolution, so read SR values together with the consistency column. "
        "SBP: field area / (resolution/2)². "
        "Consistency: SR degraded with the calibrated record vs the real LR frame, in units of the "
        "calibrated noise; fraction of LR pixels with |z| above the threshold, and rms z (≈1 when "
        "the record explains the residual; below 1 is normal, since the SR was made from this LR "
        "frame and carries part of its noise).</p>",
        img_tag(pngs[-1][1], "resolution"),
        "<h2>Image panels</h2>",
        *(img_tag(data, name) for name, data in pngs[1:-1]),
        extra_html,
    ]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>srscope evaluation</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    )
    paths["html"] = write_text_atomic(out / "report.html", page)
    return paths
