"""On-the-fly SR must not slow a scan: acquisition time with SR on ≤ 1.05× without.

Runs the same tile scan on the simulated rig (real-time camera: frames take
their exposure) through ``Microscope.scan`` twice, without and with the SR
frame processor (``srscope scan --model``'s path: acquisition.sr_hook, its
worker process fed from the scan's frame callback), alternating, and reports
per run:

- acquisition time: scan start → last raw tile captured (from the progress
  callback, i.e. what the operator waits for at the microscope);
- SR tail: last raw tile → every SR tile written and the SR mosaic stitched.

Usage: ``python benchmarks/bench_onthefly.py [--model live_fluo|FILE] [--grid 8x8]
[--roi 512] [--exposure 20] [--repeats 7] [--yield-ms 10] [--json out.json]``.
Without a bundled live model it uses a random-weight ESPCN-sized live model
(same cost, meaningless output).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def _model(spec: str | None, workdir: Path, lr_px: float) -> Path:
    from sr_engine.bundled import bundled_models, resolve_model

    if spec:
        return Path(resolve_model(spec))
    if "live_fluo" in bundled_models():
        return bundled_models()["live_fluo"]
    from sr_engine.architectures import live_espcn
    from sr_engine.testing import default_metadata, save_model

    meta = default_metadata(
        4, ["DAPI"], name="live (random)", lr_pixel_size_um=lr_px, hr_pixel_size_um=lr_px / 4
    )
    return save_model(live_espcn(1, 4, meta=meta), workdir / "live_random.onnx")


def _one(scope, plan, out: Path, model: Path | None, yield_ms: float = 10.0) -> dict[str, float]:
    from acquisition.sr_hook import SRFrameProcessor

    stamps: list[float] = []
    proc = (
        SRFrameProcessor(
            model,
            out / "sr.ome.zarr",
            mosaic_path=out / "sr_mosaic.ome.zarr",
            yield_ms=yield_ms,
        )
        if model is not None
        else None
    )
    # every run starts from the same state: the previous run's files on disk, not in flight
    os.sync()
    time.sleep(0.5)
    t0 = time.perf_counter()
    result = scope.scan(
        plan,
        out / "scan",
        processor=proc,
        progress=lambda i, total: stamps.append(time.perf_counter()),
        stitch_mosaic=False,
    )
    t_scan_returned = time.perf_counter()
    if proc is not None:
        proc.finish()  # close the SR image, stitch the SR mosaic
        proc.close()
    t_end = time.perf_counter()
    last_tile = stamps[-1] if stamps else t_scan_returned
    row = {
        "tiles": float(result.tiles_captured),
        "acquisition_s": last_tile - t0,
        "sr_tail_s": (t_end - last_tile) if proc is not None else 0.0,
    }
    if proc is not None:
        row["sr_frames"] = float(proc.stats.frames_done)
        row["sr_compute_p50_ms"] = proc.stats.summary()["compute_p50_ms"]
        row["sr_yielded_s"] = proc.stats.yielded_s
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--grid", default="8x8")  # 4x4 lasts 0.4 s: too short to time
    parser.add_argument("--roi", type=int, default=512)
    parser.add_argument("--exposure", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--yield-ms", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from acquisition import Microscope
    from acquisition.scan import GridPlan

    rows, cols = (int(v) for v in args.grid.lower().split("x"))
    workdir = Path(tempfile.mkdtemp(prefix="srscope_bench_onthefly_"))
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    try:
        with Microscope.open() as scope:
            scope.core.setProperty("Camera", "RealTime", "On")
            scope.set_objective("5x")
            scope.set_centered_roi(args.roi)
            lr_px = scope.pixel_size_um
            model = _model(args.model, workdir, lr_px)
            plan = GridPlan(
                center_um=(0.0, 0.0),
                rows=rows,
                columns=cols,
                channels=["DAPI"],
                exposure_ms=args.exposure,
            )
            _one(scope, plan, workdir / "warmup", model)  # model load, page cache
            for k in range(args.repeats):
                for mode in ("off", "on") if k % 2 == 0 else ("on", "off"):
                    out = workdir / f"{mode}{k}"
                    runs[mode].append(
                        _one(scope, plan, out, model if mode == "on" else None, args.yield_ms)
                    )
                    shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    off = statistics.median(r["acquisition_s"] for r in runs["off"])
    on = statistics.median(r["acquisition_s"] for r in runs["on"])
    tail = statistics.median(r["sr_tail_s"] for r in runs["on"])
    report = {
        "grid": args.grid,
        "roi": args.roi,
        "exposure_ms": args.exposure,
        "model": str(model),
        "acquisition_s_sr_off": off,
        "acquisition_s_sr_on": on,
        "ratio": on / off,
        "target_ratio": 1.05,
        "sr_tail_s": tail,
        "sr_compute_p50_ms": statistics.median(r["sr_compute_p50_ms"] for r in runs["on"]),
        "runs": runs,
    }
    print(
        f"scan {args.grid} at 5x, ROI {args.roi}², {args.exposure:g} ms exposure, "
        f"model {Path(model).name}:\n"
        f"  acquisition without SR {off:.2f} s, with SR {on:.2f} s: ratio {on / off:.3f} "
        f"(target ≤ 1.05)\n"
        f"  SR finished {tail:.2f} s after the last raw tile "
        f"(median SR {report['sr_compute_p50_ms']:.0f} ms per tile)"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
