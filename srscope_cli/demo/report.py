"""The demo's ``report.html``: LR / SR / 20x side by side, scores, timings, the model used.

Figures are PNG files under ``figures/`` beside the page (matplotlib, Agg), so
the report opens in any browser and each figure can be looked at on its own.
Field panels and the score chart come from the evaluation part's report.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from srscope.degradation import DegradationRecord
from srscope_cli.demo.result import DemoResult, environment


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _limits(img: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(img, [0.5, 99.8])
    return float(lo), float(hi if hi > lo else lo + 1)


def _thumb(img: np.ndarray, max_side: int = 1200) -> np.ndarray:
    step = max(1, int(np.ceil(max(img.shape) / max_side)))
    return img[::step, ::step]


def _panel(ax: Any, img: np.ndarray, title: str, limits: tuple[float, float]) -> None:
    """One grey image panel, pixels shown as pixels, no axes."""
    ax.imshow(img, cmap="gray", vmin=limits[0], vmax=limits[1], interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def snap_figure(lr: np.ndarray, sr: np.ndarray, scale: int, path: Path) -> Path:
    """Whole LR frame and its SR, then the same central region zoomed in both."""
    plt = _plt()
    fig, ax = plt.subplots(1, 4, figsize=(16, 4.4))
    h, w = lr.shape
    c = max(16, min(h, w) // 8)
    cy, cx = h // 2, w // 2
    lr_crop = lr[cy - c : cy + c, cx - c : cx + c]
    sr_crop = sr[(cy - c) * scale : (cy + c) * scale, (cx - c) * scale : (cx + c) * scale]
    for a, img, title, ref in (
        (ax[0], lr, f"5x camera frame (LR) {w}×{h}", lr),
        (ax[1], _thumb(sr), f"SR, computed ×{scale}", sr),
        (ax[2], lr_crop, "LR, centre zoomed", lr_crop),
        (ax[3], sr_crop, "SR (computed), centre zoomed", sr_crop),
    ):
        _panel(a, img, title, _limits(ref))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def mosaic_figure(
    lr_mosaic: np.ndarray, sr_mosaic: np.ndarray | None, path: Path, scale: int = 4
) -> Path:
    """Both mosaics whole, and the same central region of each zoomed in."""
    plt = _plt()
    n = 2 if sr_mosaic is not None else 1
    fig, ax = plt.subplots(2, n, figsize=(7 * n, 13), squeeze=False)
    h, w = lr_mosaic.shape
    c = max(16, min(h, w) // 10)
    cy, cx = h // 2, w // 2
    panels = [
        (ax[0, 0], _thumb(lr_mosaic), lr_mosaic, f"LR mosaic (5x) {w}×{h}"),
        (ax[1, 0], lr_mosaic[cy - c : cy + c, cx - c : cx + c], None, "LR mosaic, centre zoomed"),
    ]
    if sr_mosaic is not None:
        sh, sw = sr_mosaic.shape
        sy, sx = sh // 2, sw // 2
        sc = c * scale
        panels += [
            (ax[0, 1], _thumb(sr_mosaic), sr_mosaic, f"SR mosaic, computed {sw}×{sh}"),
            (
                ax[1, 1],
                sr_mosaic[sy - sc : sy + sc, sx - sc : sx + sc],
                None,
                "SR mosaic (computed), centre zoomed",
            ),
        ]
    for a, img, ref, title in panels:
        _panel(a, img, title, _limits(_thumb(ref) if ref is not None else img))
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


CSS = """
body{font-family:system-ui,sans-serif;max-width:1250px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;
text-align:right}th{background:#eee}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #ddd}.note{color:#555;font-size:90%}
.computed{color:#b36b00;font-weight:bold}code{background:#f4f4f4;padding:0 3px}
"""


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str, str]]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label, _, _ in cols)
    body = []
    for row in rows:
        cells = []
        for _, key, fmt in cols:
            value = row.get(key, "")
            numeric = fmt and isinstance(value, (int, float))
            text = format(value, fmt) if numeric else html.escape(str(value))
            cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def write_demo_report(
    demo: DemoResult,
    *,
    lr: np.ndarray,
    sr: np.ndarray,
    lr_mosaic: np.ndarray,
    sr_mosaic: np.ndarray | None,
    panels: list[Any],
    result: Any,
) -> Path:
    out = Path(demo.out)
    figs = out / "figures"
    figs.mkdir(parents=True, exist_ok=True)
    scale = int(demo.model["scale"])
    snap_png = snap_figure(lr, sr, scale, figs / "snap.png")
    mosaic_png = mosaic_figure(lr_mosaic, sr_mosaic, figs / "mosaic.png", scale)
    eval_figs = out / "evaluation" / "figures"
    panel_pngs = sorted(eval_figs.glob("panel_*.png"))
    table_png = eval_figs / "table.png"

    rows = []
    for r in demo.table:
        rows.append(
            {
                "method": r["method"],
                "psnr": f"{r['psnr_mean']:.2f} ± {r['psnr_sd']:.2f}",
                "ssim": f"{r['ssim_mean']:.3f} ± {r['ssim_sd']:.3f}",
                "n": r["n_fields"],
            }
        )
    table_html = _table(
        rows,
        [
            ("method", "method", ""),
            ("PSNR (dB)", "psnr", ""),
            ("SSIM", "ssim", ""),
            ("fields", "n", ""),
        ],
    )
    timing_rows = [{"step": k, "s": v} for k, v in demo.timings_s.items()]
    timing_html = _table(timing_rows, [("step", "step", ""), ("seconds", "s", ".2f")])
    sc = demo.scan_sr
    model = demo.model
    q = demo.quality_model
    env = environment()

    def rel(p: Path) -> str:
        return html.escape(str(Path(p).relative_to(out)))

    def model_html(m: dict[str, Any]) -> str:
        deg = m.get("degradation") or {}
        psf = DegradationRecord.model_validate(deg).psf.describe() if deg else None
        return (
            f"<code>{html.escape(m['name'])}</code> (<code>{html.escape(m['file'])}</code>): "
            f"×{m['scale']}, channels {html.escape(', '.join(m['channels']))}, "
            f"LR {m['lr_pixel_size_um']:.3g} µm → HR {m['hr_pixel_size_um']:.3g} µm"
            + (f", calibrated PSF: {html.escape(psf)}" if psf else "")
            + (f". {html.escape(m['description'])}" if m.get("description") else "")
        )

    files_html = "".join(
        f"<li><code>{html.escape(k)}</code>: <a href='{html.escape(v)}'>{html.escape(v)}</a></li>"
        for k, v in demo.files.items()
    )
    notes_html = "".join(f"<li>{html.escape(n)}</li>" for n in demo.notes)
    body = f"""
<h1>srscope demo report</h1>
<p>Simulated rig, 5x/0.15 camera frames super-resolved ×{scale} and compared with 20x/0.45
captures of the same fields. Images marked <span class=computed>SR, computed</span> are the
model's prediction, not measurements. Total time {demo.timings_s["total"]:.1f} s on
{html.escape(env["cpus"])} CPU(s) ({html.escape(env["platform"])},
Python {html.escape(env["python"])}).</p>
<h2>Models</h2>
<ul><li>Live model (snap, scan): {model_html(model)}</li>
<li>Model scored against 20x: {model_html(q)}</li></ul>
<h2>LR / SR / 20x side by side, and scores</h2>
<p>Each field: the 5x capture (LR), bicubic, bicubic + Richardson–Lucy deconvolution, SR and the
20x capture (HR), registered to HR for scoring only. PSNR/SSIM mean ± sd over fields of up to
384×384 HR pixels (data range 1 after percentile normalisation of HR and a least-squares
gain/offset per method).</p>
{table_html}
{"".join(f"<p><img src='{rel(p)}' alt='field panel'></p>" for p in panel_pngs)}
{f"<p><img src='{rel(table_png)}' alt='scores'></p>" if table_png.exists() else ""}
<p class=note>Full evaluation (resolution by decorrelation analysis, consistency map):
<a href='{html.escape(demo.files.get("evaluation_report", ""))}'>evaluation/report.html</a>.</p>
<h2>Snap: one 5x frame and its SR</h2>
<p><img src='{rel(snap_png)}' alt='snap LR and SR'></p>
<h2>Tile scan with SR on the fly</h2>
<p>{int(sc.get("tiles", 0))} tiles; acquisition {sc.get("acquisition_s", 0):.2f} s; every tile
super-resolved on a relay thread (median {sc.get("compute_p50_ms", 0):.0f} ms per tile), the last
SR tile written {sc.get("tail_s", 0):.2f} s after the last raw frame. Raw tiles, SR tiles (own
OME-Zarr, HR pixel size) and both mosaics are in <code>scan/</code>.</p>
<p><img src='{rel(mosaic_png)}' alt='mosaics'></p>
<h2>Timings</h2>
{timing_html}
<h2>Files</h2><ul>{files_html}</ul>
{f"<h2>Notes</h2><ul class=note>{notes_html}</ul>" if notes_html else ""}
"""
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>srscope demo</title>"
        f"<style>{CSS}</style></head><body>{body}</body></html>"
    )
    path = out / "report.html"
    tmp = path.with_suffix(".html.partial")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
