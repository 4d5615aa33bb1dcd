"""The engine benchmark behind ``srscope bench`` and ``benchmarks/bench_engine.py``.

Every figure is measured in the same process and run: ONNX Runtime's fp32
MatMul peak (2048³) on this machine, then per model: LR megapixels/s through
the tiled engine, effective GFLOP/s (Conv MACs × 2 from the graph) and its ratio
to the peak, the raw session's GFLOP/s on one tile, batching, tiling overhead
(tiled vs one window, same output), PyTorch eager tiled inference of the same
weights (Real-ESRGAN tile mode), live fps/latency at 512² and 1024², per
backend/precision (ONNX Runtime, OpenVINO fp32/bf16: what this machine can run)
the time per 512² frame (and 1024² for live-tier models) with its accuracy change
against ONNX Runtime fp32, and the time and peak RSS of streaming a
0.38-gigapixel output (measured in a child process; extrapolated from a smaller
run unless ``gigapixel`` is set). A progress line starts every section.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sr_engine.bench_backends import bench_backends, format_backends, only_backends
from sr_engine.bench_config import BenchConfig
from sr_engine.bench_stream import GIGAPIXEL_OUT, stream_bench
from sr_engine.bench_timing import (
    LIVE_MAX_FLOP_PER_PX,
    best_time,
    live_fps,
    matmul_peak,
    matmul_peaks,
    test_image,
)

# the PyTorch comparison, given by the caller (``training.torch_reference.eager_tiler``):
# (graph, threads) -> run(normalised (C, H, W), scale, tile core, pad) -> (C, sH, sW)
EagerTiler = Callable[[Any, int | None], Callable[[np.ndarray, int, int, int], np.ndarray]]


def _models(cfg: BenchConfig) -> list[tuple[str, Any]]:
    from sr_engine.architectures import live_espcn, paper_generator, srgan_export
    from sr_engine.bundled import bundled_models, resolve_model

    if cfg.models:
        return [(Path(str(m)).stem, resolve_model(m)) for m in cfg.models]
    bundled = bundled_models()
    out: list[tuple[str, Any]] = [("paper (random weights)", paper_generator())]
    out += [(f"{n} (bundled)", p) for n, p in bundled.items() if "paper" in n]
    out += [("srgan export (9x9 HR tail, random weights)", srgan_export())]
    out += [("live (random weights)", live_espcn())]
    out += [(f"{n} (bundled)", p) for n, p in bundled.items() if "live" in n]
    return out


def _eager_tiled(
    eager: EagerTiler | None,
    proto: Any,
    model: Any,
    img: np.ndarray,
    tile: int,
    threads: int | None,
    repeats: int,
) -> float | str:
    """Seconds of the eager reference on ``img`` (same tiles), or why there is none."""
    if eager is None:
        return "no eager reference given"
    try:
        run = eager(proto, threads)
    except ImportError:
        return "torch not installed"
    except NotImplementedError as exc:
        return str(exc)
    from sr_engine.axes import resolve_layout
    from sr_engine.normalize import fit_normalizer

    layout = resolve_layout(img.shape, model.n_channels)
    pcyx = layout.to_pcyx(img)
    norm = fit_normalizer(model.meta.normalization, pcyx, 1, model.n_channels)
    x = norm.before(pcyx[0], axis=0)
    ov = model.receptive_field
    core = tile - 2 * ov
    run(x[:, :64, :64], model.scale, core, ov)  # warm-up
    return best_time(lambda: run(x, model.scale, core, ov), repeats)


def bench_model(
    name: str,
    spec: Any,
    cfg: BenchConfig,
    peak: float,
    echo: Callable[[str], Any],
    progress: Callable[[str], Any] = lambda s: None,
    eager: EagerTiler | None = None,
    peaks: dict[str, float] | None = None,
) -> dict[str, Any]:
    import onnx

    from sr_engine.flops import flops_per_lr_pixel
    from sr_engine.model import SRModel

    progress(f"{name}: loading (backend {cfg.backend}, precision {cfg.precision})")
    from sr_engine.model import load_proto

    proto = spec if isinstance(spec, onnx.ModelProto) else load_proto(spec)[1]
    model = SRModel(proto, threads=cfg.threads, backend=cfg.backend, precision=cfg.precision)
    fpp = flops_per_lr_pixel(proto, model.n_channels)
    side = cfg.size
    img = test_image(side, model.n_channels)
    rf = model.receptive_field
    tile = model.auto_tile()
    res: dict[str, Any] = {
        "model": name,
        "scale": model.scale,
        "mflop_per_lr_px": round(fpp / 1e6, 4),
        "receptive_field_px": rf,
        "tile": tile,
        "rewrites": model.rewrites,
        "image": [side, side],
        "backend": model.backend_choice.to_dict(),
    }
    progress(f"{name}: throughput on {side}² ({model.backend.name} {model.backend.precision})")
    model.predict(img[..., :64, :64] if img.ndim == 2 else img[:, :64, :64], tile=tile)
    # raw session on one full tile (no tiling, no normalisation): ORT's own efficiency
    x = np.random.default_rng(1).random((1, model.n_channels, tile, tile), dtype=np.float32)
    model.run(x)
    t_raw = best_time(lambda: model.run(x), cfg.repeats)
    res["raw_tile_gflops"] = round(fpp * tile * tile / t_raw / 1e9, 1)
    # engine, tiled, batch 1 and 4
    times = {}
    for b in (1, 4):
        times[b] = best_time(lambda b=b: model.predict(img, tile=tile, batch=b), cfg.repeats)
    best_b = min(times, key=times.get)
    t = times[best_b]
    res["batch_times_s"] = {str(k): round(v, 3) for k, v in times.items()}
    res["best_batch"] = best_b
    res["lr_mpix_per_s"] = round(side * side / t / 1e6, 3)
    res["gflops"] = round(fpp * side * side / t / 1e9, 1)
    res["ratio_of_peak"] = round(res["gflops"] / peak, 3)
    progress(f"{name}: tiling overhead")
    # tiling overhead at equal output: 2x2 tiles vs one window over the whole image
    # (the default tile often covers a 512² image in one window, so force a cut)
    t_one = best_time(lambda: model.predict(img, tile=side + 2 * rf), cfg.repeats)
    t_cut = best_time(lambda: model.predict(img, tile=side // 2 + 2 * rf), cfg.repeats)
    res["untiled_s"] = round(t_one, 3)
    res["tiled_s"] = round(t_cut, 3)
    res["tile_overhead"] = round(t_cut / t_one - 1, 3)
    # and what the default tile costs in extra pixels on a large image (geometry only)
    core = tile - 2 * rf
    res["tile_overhead_geometric"] = round((tile / core) ** 2 - 1, 3)
    if model.split:
        sp = model._split
        tail = ((sp.tail_core + 2 * sp.tail_overlap) / sp.tail_core) ** 2 - 1
        res["tail_window"] = [sp.tail_core, sp.tail_overlap]
        res["tail_overhead_geometric"] = round(tail, 3)
    if cfg.torch and not cfg.quick:
        progress(f"{name}: PyTorch eager tiled")
        tt = _eager_tiled(eager, proto, model, img, tile, cfg.threads, max(1, cfg.repeats - 1))
        if isinstance(tt, float):
            res["torch_eager_tiled_s"] = round(tt, 3)
            res["speedup_vs_torch"] = round(tt / t, 2)
        else:
            res["torch_eager_tiled_s"] = None
            res["torch_note"] = tt
    # live streams only make sense for live-sized models (the paper model needs seconds)
    if cfg.quick or fpp < LIVE_MAX_FLOP_PER_PX:
        sides = (64,) if cfg.quick else (512, 1024)
        progress(f"{name}: live fps at {', '.join(f'{v}²' for v in sides)}")
        res["live_fps"] = {str(s): live_fps(model, s, 0.5 if cfg.quick else 5.0) for s in sides}
    else:
        res["live_fps"] = {}
        res["frame_512_s"] = round(t * (512 / side) ** 2, 2)
    live_tier = fpp < LIVE_MAX_FLOP_PER_PX
    sides = (64,) if cfg.quick else ((512, 1024) if live_tier else (512,))
    res["backends"] = bench_backends(name, proto, cfg, sides, progress, fpp, peaks)
    echo(_format(res, peak))
    return res


def _format(r: dict[str, Any], peak: float) -> str:
    lines = [
        f"== {r['model']}: x{r['scale']}, {r['mflop_per_lr_px']} MFLOP/LR px, "
        f"receptive field {r['receptive_field_px']} px, tile {r['tile']}",
        f"  backend      {r['backend']['backend']} {r['backend']['precision']} "
        f"({r['backend']['how']})",
        f"  throughput   {r['lr_mpix_per_s']} LR Mpx/s on {r['image'][0]}² "
        f"(best batch {r['best_batch']}: {r['batch_times_s']} s)",
        f"  effective    {r['gflops']} GFLOP/s = {100 * r['ratio_of_peak']:.1f}% of the "
        f"MatMul peak {peak:.1f} GFLOP/s (higher of before/after; raw session on one tile: "
        f"{r['raw_tile_gflops']})",
        f"  tiling       {100 * r['tile_overhead']:+.1f}% ({r['tiled_s']} s in 2x2 tiles vs "
        f"{r['untiled_s']} s one window); default tile {r['tile']} adds "
        f"{100 * r['tile_overhead_geometric']:.1f}% pixels"
        + (
            f", tail windows {r['tail_window'][0]}+2x{r['tail_window'][1]} add "
            f"{100 * r['tail_overhead_geometric']:.1f}% on the tail"
            if "tail_window" in r
            else ""
        ),
    ]
    if r.get("torch_eager_tiled_s"):
        lines.append(
            f"  vs PyTorch   eager tiled {r['torch_eager_tiled_s']} s -> "
            f"{r['speedup_vs_torch']}x faster"
        )
    elif "torch_note" in r:
        lines.append(f"  vs PyTorch   skipped: {r['torch_note']}")
    if "frame_512_s" in r:
        lines.append(f"  live         not a live model: {r['frame_512_s']} s per 512² frame")
    for s, v in r["live_fps"].items():
        lines.append(
            f"  live {s}²    {v['fps']} fps, latency p50 {v['latency_p50_ms']} ms "
            f"p95 {v['latency_p95_ms']} ms ({v['dropped']} dropped)"
        )
    lines += format_backends(r.get("backends", []))
    if "gigapixel" in r:
        g = r["gigapixel"]
        lines.append(
            f"  0.38 Gpx     {g['seconds_for_0.38gpx']:.0f} s, peak RSS {g['peak_rss_mb']:.0f} MB "
            f"({g['how']})"
        )
    return "\n".join(lines)


def run_bench(
    cfg: BenchConfig, echo: Callable[[str], Any] = print, eager: EagerTiler | None = None
) -> dict[str, Any]:
    """Every figure of the module docstring; ``eager``: the PyTorch comparison (``cfg.torch``)."""
    import onnxruntime as ort

    from sr_engine.backend import BF16_FLAGS, cpu_flags, openvino_available

    def progress(msg: str) -> None:
        echo(f"  ... {msg}")

    mm_n = 256 if cfg.quick else 2048
    if openvino_available():
        import openvino as ov

        ov_line = f"OpenVINO {ov.get_version()}"
    else:
        ov_line = "OpenVINO not installed"
    bf16 = sorted(cpu_flags() & set(BF16_FLAGS))
    echo(
        f"ONNX Runtime {ort.__version__}, {ov_line}, {os.cpu_count()} logical CPUs, "
        f"threads {cfg.threads or 'ORT default'}, bf16 units: {', '.join(bf16) or 'none'}"
    )
    from sr_engine.backend import candidates

    pairs = candidates(cfg.backend, cfg.precision)
    pairs = [("onnxruntime", "fp32"), *[p for p in pairs if p != ("onnxruntime", "fp32")]]
    progress(f"MatMul peaks ({mm_n}³) of {', '.join(f'{b} {p}' for b, p in pairs)}")
    peaks = matmul_peaks(pairs, cfg.threads, mm_n, 3 if cfg.quick else 7)
    echo("MatMul peaks: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peaks.items()))
    if cfg.only_backends:
        return {
            "matmul_peaks_gflops": {k: round(v, 1) for k, v in peaks.items()},
            "onnxruntime": ort.__version__,
            "openvino": ov_line,
            "bf16_flags": bf16,
            "threads": cfg.threads,
            "cpus": os.cpu_count(),
            "models": [only_backends(name, spec, cfg, echo, progress, peaks) for name, spec in
                       _models(cfg)],
        }  # fmt: skip
    peak = peaks["onnxruntime fp32"]
    results: dict[str, Any] = {
        "matmul_peak_gflops": round(peak, 1),
        "matmul_peaks_gflops": {k: round(v, 1) for k, v in peaks.items()},
        "matmul_n": mm_n,
        "threads": cfg.threads,
        "cpus": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "openvino": ov_line,
        "bf16_flags": bf16,
        "models": [],
    }
    for name, spec in _models(cfg):
        r = bench_model(name, spec, cfg, peak, lambda s: None, progress, eager, peaks)
        progress(f"{name}: MatMul peak again (the machine may be shared)")
        # the machine may be shared: re-measure the peak after the model and compare
        # against the higher of the two (conservative ratio)
        after = matmul_peak(cfg.threads, mm_n, 3 if cfg.quick else 7)
        peak_here = max(peak, after)
        r["matmul_peak_after_gflops"] = round(after, 1)
        r["ratio_of_peak"] = round(r["gflops"] / peak_here, 3)
        r["peak_used_gflops"] = round(peak_here, 1)
        peak = after
        if not cfg.quick:
            kind = "paper" if "paper" in name else "live"
            path = "" if not isinstance(spec, Path) else str(spec)
            scale = r["scale"]
            side = int((GIGAPIXEL_OUT / scale**2) ** 0.5) if cfg.gigapixel else 1024
            progress(f"{name}: streaming {side}² LR to OME-Zarr in a child process")
            r["gigapixel"] = stream_bench(kind, path, side, cfg.threads)
        echo(_format(r, peak_here))
        results["models"].append(r)
    return results
