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

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from srscope.model_base import SrscopeModel

# the PyTorch comparison, given by the caller (``training.torch_reference.eager_tiler``):
# (graph, threads) -> run(normalised (C, H, W), scale, tile core, pad) -> (C, sH, sW)
EagerTiler = Callable[[Any, int | None], Callable[[np.ndarray, int, int, int], np.ndarray]]

GIGAPIXEL_OUT = 0.38e9  # output pixels of the paper's slide
LIVE_MAX_FLOP_PER_PX = 0.5e6  # models cheaper than this get live fps figures


class BenchConfig(SrscopeModel):
    """What to benchmark (``models`` empty: random-weight paper and live models)."""

    models: list[str] = Field(default_factory=list)
    threads: int | None = None
    size: int = 512
    repeats: int = 3
    gigapixel: bool = False
    torch: bool = True
    quick: bool = False
    backend: str = "auto"  # what runs the main sections; "auto": chosen at load
    precision: str = "auto"  # the backends section covers every pair these allow
    only_backends: bool = False  # just the per-backend frame times and accuracy (seconds)


def _best(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _matmul_model(n: int) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    b = numpy_helper.from_array(rng.random((n, n), dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
        initializer=[b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def matmul_peak_openvino(
    precision: str, threads: int | None, n: int = 2048, repeats: int = 5
) -> float:
    """GFLOP/s of OpenVINO's MatMul at ``precision`` (bf16: the machine's bf16 units).

    The ceiling a backend/precision pair can reach here, to set its model's
    GFLOP/s against (a bf16 model compared with the fp32 peak looks > 100 %).
    """
    import openvino as ov

    from sr_engine.backend_openvino import compile_config

    core = ov.Core()
    model = core.read_model(_matmul_model(n).SerializeToString())
    compiled = core.compile_model(model, "CPU", compile_config(precision, threads))
    req = compiled.create_infer_request()
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    req.infer([a])
    return 2 * n**3 / _best(lambda: req.infer([a]), repeats) / 1e9


def matmul_peaks(
    pairs: list[tuple[str, str]], threads: int | None, n: int, repeats: int
) -> dict[str, float]:
    """MatMul GFLOP/s per backend/precision in ``pairs`` (``"onnxruntime fp32"``: ...)."""
    peaks: dict[str, float] = {}
    for backend, precision in pairs:
        if backend == "onnxruntime":
            peaks[f"{backend} {precision}"] = matmul_peak(threads, n, repeats)
        else:
            peaks[f"{backend} {precision}"] = matmul_peak_openvino(precision, threads, n, repeats)
    return peaks


def matmul_peak(threads: int | None, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of ORT's fp32 MatMul ``(n×n)·(n×n)`` in a session like the engine's."""
    import onnxruntime as ort

    model = _matmul_model(n)
    rng = np.random.default_rng(0)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    a = rng.random((n, n), dtype=np.float32)
    sess.run(None, {"a": a})
    return 2 * n**3 / _best(lambda: sess.run(None, {"a": a}), repeats) / 1e9


def test_image(side: int, channels: int, seed: int = 0) -> np.ndarray:
    """Camera-like uint16 LR frame with structure everywhere."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side].astype(np.float32)
    img = 800 + 400 * np.sin(yy / 5.3) * np.cos(xx / 7.1) + 300 * ((yy // 11 + xx // 9) % 2)
    img = img[None] + rng.normal(0, 40, (channels, side, side)).astype(np.float32)
    img = np.clip(img, 0, 4095).astype(np.uint16)
    return img[0] if channels == 1 else img


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


def live_fps(model: Any, side: int, seconds: float) -> dict[str, float]:
    """Push frames as fast as possible into a LiveProcessor for ``seconds``; its stats."""
    from sr_engine.live import LiveProcessor

    frame = test_image(side, model.n_channels)
    proc = LiveProcessor(model, copy=False)
    proc.push(frame)
    with proc:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            proc.push(frame)
            time.sleep(0.001)
    s = proc.stats()
    return {
        "fps": round(s.fps, 2),
        "latency_p50_ms": round(s.latency_p50_ms, 1),
        "latency_p95_ms": round(s.latency_p95_ms, 1),
        "compute_p50_ms": round(s.compute_p50_ms, 1),
        "processed": s.processed,
        "dropped": s.dropped,
    }


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
    return _best(lambda: run(x, model.scale, core, ov), repeats)


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
    t_raw = _best(lambda: model.run(x), cfg.repeats)
    res["raw_tile_gflops"] = round(fpp * tile * tile / t_raw / 1e9, 1)
    # engine, tiled, batch 1 and 4
    times = {}
    for b in (1, 4):
        times[b] = _best(lambda b=b: model.predict(img, tile=tile, batch=b), cfg.repeats)
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
    t_one = _best(lambda: model.predict(img, tile=side + 2 * rf), cfg.repeats)
    t_cut = _best(lambda: model.predict(img, tile=side // 2 + 2 * rf), cfg.repeats)
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
                best[i] = min(best[i], _best(lambda m=m, img=img: m.predict(img), 1))
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
                frame.update(_peak_ratios(flop_per_px * side * side / t / 1e9, row, peaks or {}))
            row["frames"][str(side)] = frame
    return rows


def _peak_ratios(gflops: float, row: dict[str, Any], peaks: dict[str, float]) -> dict[str, Any]:
    """A frame's GFLOP/s, its share of the fp32 MatMul peak and of its own pair's peak."""
    out: dict[str, Any] = {"gflops": round(gflops, 1)}
    fp32 = peaks.get("onnxruntime fp32")
    own = peaks.get(f"{row['backend']} {row['precision']}")
    if fp32:
        out["ratio_of_fp32_peak"] = round(gflops / fp32, 3)
    if own:
        out["ratio_of_own_peak"] = round(gflops / own, 3)
    return out


def _format_backends(rows: list[dict[str, Any]]) -> list[str]:
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
    lines += _format_backends(r.get("backends", []))
    if "gigapixel" in r:
        g = r["gigapixel"]
        lines.append(
            f"  0.38 Gpx     {g['seconds_for_0.38gpx']:.0f} s, peak RSS {g['peak_rss_mb']:.0f} MB "
            f"({g['how']})"
        )
    return "\n".join(lines)


# -- streaming a (giga)pixel image in a child process ---------------------------
def _write_input(path: Path, side: int, channels: int) -> None:
    import tifffile

    t = 256

    def tiles():
        for c in range(channels):
            for y in range(0, side, t):
                for x in range(0, side, t):
                    yy, xx = np.mgrid[y : y + t, x : x + t].astype(np.float32)
                    block = 800 + 400 * np.sin(yy / 5.3) * np.cos(xx / 7.1) + 50 * c
                    yield block.astype(np.uint16)

    shape = (channels, side, side) if channels > 1 else (side, side)
    tifffile.imwrite(path, tiles(), shape=shape, dtype=np.uint16, tile=(t, t),
                     photometric="minisblack", bigtiff=True)  # fmt: skip


def stream_worker(kind: str, spec: str, lr_side: int, threads: int | None, workdir: str) -> dict:
    """Run in a child process: stream an ``lr_side``² image; time and this process's peak RSS."""
    import onnx

    from sr_engine.architectures import live_espcn, paper_generator
    from sr_engine.model import SRModel
    from sr_engine.stream import predict_file

    proto = {"paper": paper_generator, "live": live_espcn}[kind]() if not spec else onnx.load(spec)
    model = SRModel(proto, threads=threads)
    src = Path(workdir) / f"lr_{lr_side}.tif"
    if not src.exists():
        _write_input(src, lr_side, model.n_channels)
    out = Path(workdir) / f"sr_{kind}_{lr_side}.ome.zarr"
    t0 = time.perf_counter()
    res = predict_file(model, src, out, dtype="input", overwrite=True)
    dt = time.perf_counter() - t0
    rss = _peak_rss_mb()
    return {"seconds": dt, "peak_rss_mb": rss, "out_pixels": int(np.prod(res.shape[-2:]))}


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would include the parent's, kept over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stream_bench(kind: str, spec: str, lr_side: int, threads: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="srscope-bench-") as tmp:
        cmd = [sys.executable, "-m", "sr_engine.bench", "--stream-worker", kind, spec or "",
               str(lr_side), str(threads or 0), tmp]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"stream worker failed: {proc.stderr.strip()[-400:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
    r["seconds_for_0.38gpx"] = r["seconds"] * GIGAPIXEL_OUT / r["out_pixels"]
    r["how"] = (
        "measured"
        if r["out_pixels"] >= 0.99 * GIGAPIXEL_OUT
        else f"extrapolated from {r['out_pixels'] / 1e6:.0f} Mpx"
    )
    return r


def _only_backends(
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
    echo("\n".join([f"== {name}: {r['mflop_per_lr_px']} MFLOP/LR px", *_format_backends(
        r["backends"])]))  # fmt: skip
    return r


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
            "models": [_only_backends(name, spec, cfg, echo, progress, peaks) for name, spec in
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


if __name__ == "__main__":  # child process of stream_bench
    if len(sys.argv) == 7 and sys.argv[1] == "--stream-worker":
        _, _, kind, spec, side, threads, workdir = sys.argv
        out = stream_worker(kind, spec, int(side), int(threads) or None, workdir)
        print(json.dumps(out))
    else:
        print("usage: python -m sr_engine.bench --stream-worker KIND SPEC SIDE THREADS DIR")
        sys.exit(2)
