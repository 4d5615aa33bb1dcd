"""Whole-process SR of one image: ``srscope predict`` vs PyTorch eager tiled inference.

Issue 12's done-when 3: a standard SRGAN export (9×9 head, PReLU, 16 residual
blocks of 64 maps, PReLU after each pixel shuffle, a 9×9 single-channel HR tail;
``sr_engine.architectures.srgan_export``) on a 1024² image. Each side is a fresh
Python process that reads the TIFF, super-resolves it and writes the result, timed
from the outside (interpreter start, imports, model load, I/O included):

- ``srscope predict MODEL IN OUT.ome.tif --backend onnxruntime`` (the engine), and
- the same weights in PyTorch eager mode, tiled like Real-ESRGAN's ``tile_process``
  (tile 512, pad 16; ``training.torch_reference``), output written with tifffile.

The two alternate over ``--rounds`` rounds (the machine may be shared); the best
round of each counts. Usage: ``python benchmarks/bench_process.py [--side 1024]
[--rounds 2] [--threads N] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EAGER = """
import sys, numpy as np, onnx, tifffile
from training.torch_reference import eager_tiler
model, src, dst, tile, pad, threads = sys.argv[1:7]
img = tifffile.imread(src).astype(np.float32)
lo, hi = np.percentile(img, (0.2, 99.8))
x = ((img - lo) / (hi - lo))[None].astype(np.float32)
run = eager_tiler(onnx.load(model), int(threads))
out = run(x, 4, int(tile), int(pad))[0] * (hi - lo) + lo
tifffile.imwrite(dst, np.clip(np.rint(out), 0, 65535).astype(np.uint16))
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--pad", type=int, default=16)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import tifffile

    from sr_engine.architectures import srgan_export
    from sr_engine.testing import save_model

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_distributed import scene

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    srscope = [sys.executable, "-m", "srscope"]
    with tempfile.TemporaryDirectory(prefix="srscope-bench-") as tmp:
        work = Path(tmp)
        model = save_model(srgan_export(1), work / "srgan.onnx")
        src = work / "lr.tif"
        tifffile.imwrite(src, scene(args.side))
        times: dict[str, list[float]] = {"srscope predict": [], "pytorch eager tiled": []}
        for r in range(args.rounds):
            for name in times:
                out = work / f"{name.split()[0]}_{r}.ome.tif"
                print(f"round {r + 1}/{args.rounds}: {name} ...", file=sys.stderr, flush=True)
                if name == "srscope predict":
                    cmd = [*srscope, "predict", str(model), str(src), str(out),
                           "--backend", "onnxruntime", "--threads", str(args.threads)]  # fmt: skip
                else:
                    cmd = [sys.executable, "-c", EAGER, str(model), str(src), str(out),
                           str(args.tile), str(args.pad), str(args.threads)]  # fmt: skip
                times[name].append(timed(cmd, env))
    best = {k: min(v) for k, v in times.items()}
    result = {
        "side": args.side,
        "threads": args.threads,
        "seconds": times,
        "best_s": best,
        "speedup": round(best["pytorch eager tiled"] / best["srscope predict"], 2),
    }
    for name, t in best.items():
        print(f"{name:20s} {t:7.1f} s (best of {args.rounds}, whole process)")
    print(f"srscope predict is {result['speedup']}x PyTorch eager tiled ({args.side}² image)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
