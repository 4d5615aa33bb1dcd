"""``srscope predict`` scaling on Dask distributed: one process vs 1 and 2 local workers.

Makes a seeded camera-like LR image (default 2048², uint16, 1.3 µm/px), then
streams it through a bundled model into OME-Zarr: in this process
(``predict_file``), and on a local cluster of 1 and 2 worker processes
(``DaskRunner``; each worker's ONNX Runtime gets cores / workers threads). The
cluster start is timed apart from the run. Every output is checked against the
single-process one (max |difference| as a fraction of its range).

Usage: ``python benchmarks/bench_distributed.py [--model live_fluo] [--side 2048]
[--workers 1 2] [--tile N] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def scene(side: int, seed: int = 0) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    img = np.zeros((side, side))
    n = side * side // 60
    img[rng.integers(0, side, n), rng.integers(0, side, n)] = rng.uniform(300, 3000, n)
    img = ndimage.gaussian_filter(img, 1.2) * 6 + ndimage.gaussian_filter(rng.random(img.shape), 16)
    return np.clip(rng.poisson(img * 300 + 100), 0, 65535).astype(np.uint16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="live_fluo")
    ap.add_argument("--side", type=int, default=2048)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--tile", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import tifffile
    import zarr

    from sr_engine.bundled import resolve_model
    from sr_engine.distributed import ClusterSpec, DaskRunner, open_client
    from sr_engine.model import SRModel
    from sr_engine.stream import predict_file

    class Clock:
        """Wall time until the last tile is written (the rest: pyramid and metadata)."""

        def __init__(self) -> None:
            self.t0 = time.perf_counter()
            self.tiles_s = 0.0

        def __call__(self, done: int, total: int) -> None:
            if done == total:
                self.tiles_s = time.perf_counter() - self.t0

    work = Path(tempfile.mkdtemp(prefix="srscope-bench-dist-"))
    try:
        src = work / "lr.ome.tif"
        meta = {"axes": "YX", "PhysicalSizeX": 1.3, "PhysicalSizeY": 1.3}
        tifffile.imwrite(src, scene(args.side), tile=(256, 256), metadata=meta)
        cores = os.cpu_count() or 1
        model = SRModel(resolve_model(args.model), threads=cores)
        kw = {"tile": args.tile, "allow_mismatch": True}
        rows = []
        clock = Clock()
        ref = predict_file(model, src, work / "one.ome.zarr", progress=clock, **kw)
        single = time.perf_counter() - clock.t0
        ref_arr = zarr.open_group(str(ref.path))["0"][:]
        span = float(ref_arr.max() - ref_arr.min())
        rows.append({"run": "one process", "s": single, "tiles_s": clock.tiles_s})
        n_tiles = ref.tiles_computed
        print(f"one process: {single:.2f} s ({clock.tiles_s:.2f} s tiles), {n_tiles} tiles")
        for n in args.workers:
            t0 = time.perf_counter()
            spec = ClusterSpec(workers=n)
            with open_client(spec) as client:
                client.wait_for_workers(n)
                started = time.perf_counter() - t0
                runner = DaskRunner(client, threads=spec.worker_threads())
                clock = Clock()
                out = work / f"w{n}.ome.zarr"
                res = predict_file(model, src, out, runner=runner, progress=clock, **kw)
                run = time.perf_counter() - clock.t0
            arr = zarr.open_group(str(res.path))["0"][:]
            err = float(np.abs(arr - ref_arr).max()) / span
            rows.append(
                {
                    "run": f"{n} workers",
                    "s": run,
                    "cluster_start_s": started,
                    "tiles_s": clock.tiles_s,
                    "max_err_of_range": err,
                }
            )
            print(
                f"{n} workers: {run:.2f} s ({clock.tiles_s:.2f} s tiles) + {started:.1f} s cluster "
                f"start; max |diff| {err:.1e} of range"
            )
        if args.json:
            args.json.write_text(json.dumps({"side": args.side, "model": args.model, "rows": rows}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
