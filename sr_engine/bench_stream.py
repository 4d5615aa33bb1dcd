"""The benchmark's streaming section: time and peak RSS of streaming a (giga)pixel image
through ``predict_file``, in a child process so that its peak RSS is its own."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

GIGAPIXEL_OUT = 0.38e9  # output pixels of the paper's slide


def write_input(path: Path, side: int, channels: int) -> None:
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
        write_input(src, lr_side, model.n_channels)
    out = Path(workdir) / f"sr_{kind}_{lr_side}.ome.zarr"
    t0 = time.perf_counter()
    res = predict_file(model, src, out, dtype="input", overwrite=True)
    dt = time.perf_counter() - t0
    rss = peak_rss_mb()
    return {"seconds": dt, "peak_rss_mb": rss, "out_pixels": int(np.prod(res.shape[-2:]))}


def peak_rss_mb() -> float:
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
        cmd = [sys.executable, "-m", "sr_engine.bench_stream", "--stream-worker", kind, spec or "",
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


if __name__ == "__main__":  # child process of stream_bench
    if len(sys.argv) == 7 and sys.argv[1] == "--stream-worker":
        _, _, kind, spec, side, threads, workdir = sys.argv
        out = stream_worker(kind, spec, int(side), int(threads) or None, workdir)
        print(json.dumps(out))
    else:
        print("usage: python -m sr_engine.bench_stream --stream-worker KIND SPEC SIDE THREADS DIR")
        sys.exit(2)
