"""The benchmark's per-backend section: each backend/precision on the same frames, its
time, fps, GFLOP/s against the MatMul peaks and its accuracy change against ONNX Runtime fp32."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from sr_engine.bench_timing import LIVE_MAX_FLOP_PER_PX, best_time, test_image

if TYPE_CHECKING:
    from sr_engine.bench_config import BenchConfig


def bench_backends(
    name: str,
    proto: Any,
    cfg: BenchConfig,
    sides: tuple[int, ...],
    progress: Callable[[str], Any] = lambda s: None,
    flop_per_px: float | None = None,
    peaks: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Per backend/precision this machine can run: time per frame, fps, accuracy change,
    and (given ``flop_per_px`` and MatMul ``peaks`` from :func:`matmul_peaks`) GFLOP/s
    against the fp32 peak and against the pair's own peak (bf16 against bf16 units).

    Frames go through the whole engine (normalisation, tiles at the backend's
    default size); the backends take turns in each timing round so that load
    from other processes hits them alike, and the best round counts. The
    accuracy figures are the load-time check's (reference input vs ONNX
    Runtime fp32) plus the largest difference on the benchmark frame itself,
    in normalised units.
    """
    from sr_engine.axes import resolve_layout
    from sr_engine.backend import candidates
    from sr_engine.model import SRModel
    from sr_engine.normalize import fit_normalizer

    pairs = candidates(cfg.backend, cfg.precision)
    if ("onnxruntime", "fp32") not in pairs:
        pairs = [("onnxruntime", "fp32"), *pairs]  # the accuracy reference
    progress(f"{name}: loading {', '.join(f'{b} {p}' for b, p in pairs)}")
    models = [SRModel(proto, threads=cfg.threads, backend=b, precision=p) for b, p in pairs]
    rows: list[dict[str, Any]] = []
    for (backend, precision), model in zip(pairs, models, strict=True):
        check = next(
            (c for c in model.backend_choice.checks if (c.backend, c.precision) == (backend,
             precision)), None,
        )  # fmt: skip
        rows.append({
            "backend": backend,
            "precision": precision,
            "psnr_change_db": 0.0 if check is None else check.psnr_change_db,
            "max_abs_err": 0.0 if check is None else check.max_abs_err,
            "frames": {},
        })  # fmt: skip
    for side in sides:
        progress(f"{name}: {side}² frames, {cfg.repeats} rounds over {len(models)} backends")
        img = test_image(side, models[0].n_channels)
        outs = [m.predict(img) for m in models]  # warm-up: shapes compiled, tiles settled
        best = [float("inf")] * len(models)
        for _ in range(max(1, cfg.repeats)):
            for i, m in enumerate(models):
                best[i] = min(best[i], best_time(lambda m=m, img=img: m.predict(img), 1))
        layout = resolve_layout(img.shape, models[0].n_channels)
        norm = fit_normalizer(models[0].meta.normalization, layout.to_pcyx(img), 1,
                              models[0].n_channels)  # fmt: skip
        span = float(max(h - lo for lo, h in zip(norm.lo, norm.hi, strict=True)))
        for row, out, t in zip(rows, outs, best, strict=True):
            err = float(np.abs(out - outs[0]).max()) / span
            frame = {
                "ms": round(1e3 * t, 1),
                "fps": round(1 / t, 2),
                "frame_max_abs_err": float(f"{err:.3g}"),
                "speedup_vs_ort_fp32": round(best[0] / t, 2),
            }
            if flop_per_px:
                frame.update(peak_ratios(flop_per_px * side * side / t / 1e9, row, peaks or {}))
            row["frames"][str(side)] = frame
    return rows


def peak_ratios(gflops: float, row: dict[str, Any], peaks: dict[str, float]) -> dict[str, Any]:
    """A frame's GFLOP/s, its share of the fp32 MatMul peak and of its own pair's peak."""
    out: dict[str, Any] = {"gflops": round(gflops, 1)}
    fp32 = peaks.get("onnxruntime fp32")
    own = peaks.get(f"{row['backend']} {row['precision']}")
    if fp32:
        out["ratio_of_fp32_peak"] = round(gflops / fp32, 3)
    if own:
        out["ratio_of_own_peak"] = round(gflops / own, 3)
    return out


def format_backends(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for b in rows:
        frames = ", ".join(
            f"{side}² {f['ms']} ms = {f['fps']} fps ({f['speedup_vs_ort_fp32']}x"
            + (f", {f['gflops']} GFLOP/s" if "gflops" in f else "")
            + (f" = {100 * f['ratio_of_fp32_peak']:.0f}% of fp32 peak"
               if "ratio_of_fp32_peak" in f else "")
            + (f", {100 * f['ratio_of_own_peak']:.0f}% of its own"
               if "ratio_of_own_peak" in f and b["precision"] != "fp32" else "")
            + ")"
            for side, f in b["frames"].items()
        )  # fmt: skip
        worst = max((f["frame_max_abs_err"] for f in b["frames"].values()), default=0.0)
        lines.append(
            f"  {b['backend']:<11} {b['precision']}  {frames}; ΔPSNR "
            f"{b['psnr_change_db']:+.4f} dB, max err {b['max_abs_err']:.1e} (reference input), "
            f"{worst:.1e} (frame)"
        )
    return lines


def only_backends(
    name: str,
    spec: Any,
    cfg: BenchConfig,
    echo: Callable[[str], Any],
    progress: Callable[[str], Any],
    peaks: dict[str, float],
) -> dict[str, Any]:
    """The per-backend section alone (512² frames, and 1024² for live-tier models)."""
    import onnx

    from sr_engine.flops import flops_per_lr_pixel

    proto = spec if isinstance(spec, onnx.ModelProto) else onnx.load(str(spec))
    fpp = flops_per_lr_pixel(proto)
    live_tier = fpp < LIVE_MAX_FLOP_PER_PX
    sides = (64,) if cfg.quick else ((512, 1024) if live_tier else (512,))
    r = {"model": name, "mflop_per_lr_px": round(fpp / 1e6, 4)}
    r["backends"] = bench_backends(name, proto, cfg, sides, progress, fpp, peaks)
    echo("\n".join([f"== {name}: {r['mflop_per_lr_px']} MFLOP/LR px", *format_backends(
        r["backends"])]))  # fmt: skip
    return r
