"""A simulated gigapixel SR slide end to end: tile scan -> on-the-fly SR -> SR pyramid.

Runs ``srscope scan`` of the whole virtual slide ``slide_fluo`` at the LR objective
(5x, 1.3 µm/px) over a square whose ×4 SR mosaic (0.325 µm/px) has about
``--gigapixels`` pixels (0.38: the seed's pathology slide, a 6.3 mm square), with
``--model`` on the fly, and reports wall time, the scan's and the SR worker's
figures, the SR pyramid's size, and the peak resident memory of the whole process
tree (the CLI and its SR worker process; sampled every 0.1 s with psutil, plus the
kernel's per-process maximum), and each process's CPU seconds and lifetime (the SR
worker's are the SR cost; the CLI's line gives the scan's own time). Then opens
every level of ``sr_mosaic.ome.zarr`` (validated as OME-Zarr 0.5 by ``yaozarrs``
when installed) and reads a window of each.

    nice -n 15 .venv/bin/python benchmarks/bench_gigapixel.py            # the 0.38 Gpx run
    nice -n 15 .venv/bin/python benchmarks/bench_gigapixel.py --gigapixels 0.01   # a check
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import zarr

SR_PIXEL_UM = 0.325  # 1.3 µm LR pixel / 4


class TreeMemory:
    """Peak of the summed RSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, period_s: float = 0.1) -> None:
        self.peak_bytes = 0
        self.peak_by_name: dict[str, int] = {}
        self.cpu_by_name: dict[str, float] = {}  # user + system seconds, last seen
        self.alive_by_name: dict[str, float] = {}  # seconds from start to last seen
        self._root = psutil.Process(pid)
        self._names: dict[int, str] = {}  # first seen (an exiting process shows no cmdline)
        self._period = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self._root, *self._root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                    name = self._names.get(proc.pid) or " ".join(proc.cmdline()[1:4])[:50]
                    self._names[proc.pid] = name = name or proc.name()
                    cpu = proc.cpu_times()
                    alive = time.time() - proc.create_time()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += rss
                self.peak_by_name[name] = max(self.peak_by_name.get(name, 0), rss)
                self.cpu_by_name[name] = cpu.user + cpu.system
                self.alive_by_name[name] = alive
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self._period)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def scan_area(gigapixels: float) -> tuple[float, float]:
    """Half side (µm) of the square whose SR mosaic has ``gigapixels`` Gpx, and the side."""
    side = math.sqrt(gigapixels * 1e9) * SR_PIXEL_UM
    return side / 2.0, side


def open_pyramid(path: Path) -> list[dict]:
    """Every level of an OME-Zarr multiscale: shape, chunks, and a read of one window."""
    try:
        import yaozarrs

        yaozarrs.validate_zarr_store(str(path))
        validated = "OME-Zarr 0.5 (yaozarrs)"
    except ImportError:
        validated = "not validated (yaozarrs missing)"
    group = zarr.open_group(str(path), mode="r")
    ome = group.attrs["ome"]
    levels = []
    for ds in ome["multiscales"][0]["datasets"]:
        arr = group[ds["path"]]
        t0 = time.perf_counter()
        window = tuple(slice(max(0, s // 2 - 256), s // 2 + 256) for s in arr.shape)
        block = np.asarray(arr[window])
        levels.append(
            {
                "path": ds["path"],
                "shape": list(arr.shape),
                "chunks": list(arr.chunks),
                "dtype": str(arr.dtype),
                "window_mean": float(block.mean()),
                "read_s": round(time.perf_counter() - t0, 3),
                "scale": ds["coordinateTransformations"][0]["scale"],
            }
        )
    levels[0]["validated"] = validated
    return levels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gigapixels", type=float, default=0.38, help="SR mosaic size (Gpx)")
    ap.add_argument("--model", default="live_fluo")
    ap.add_argument("--channel", default="DAPI")
    ap.add_argument("--specimen", default="slide_fluo")
    ap.add_argument("--out", type=Path, default=None, help="scan folder (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the scan folder")
    args = ap.parse_args(argv)

    half, side = scan_area(args.gigapixels)
    out = args.out or Path(tempfile.mkdtemp(prefix="srscope_gpx_")) / "scan"
    cmd = [
        sys.executable, "-m", "srscope", "scan", "--sim", "--specimen", args.specimen,
        "--out", str(out), "--area", f"{-half:.1f},{-half:.1f},{half:.1f},{half:.1f}",
        "--channel", args.channel, "--model", args.model, "--exposure", "10",
    ]  # fmt: skip
    print("command:", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mem = TreeMemory(proc.pid)
    log, _ = proc.communicate()
    wall = time.perf_counter() - t0
    mem.stop()
    children_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(log[-3000:])
    if proc.returncode != 0:
        print(f"scan failed with exit code {proc.returncode}")
        return proc.returncode

    state = json.loads((out / "scan.json").read_text()) if (out / "scan.json").exists() else {}
    sr_path = out / "sr_mosaic.ome.zarr"
    if not sr_path.exists():
        found = sorted(out.glob("sr_mosaic*.ome.zarr"))
        sr_path = found[0] if found else sr_path
    t1 = time.perf_counter()
    levels = open_pyramid(sr_path)
    open_s = time.perf_counter() - t1
    lvl0 = levels[0]["shape"]
    gpx = math.prod(lvl0[-2:]) / 1e9
    size_bytes = sum(f.stat().st_size for f in sr_path.rglob("*") if f.is_file())
    report = {
        "area_um": [round(side, 1), round(side, 1)],
        "tiles": len(state.get("positions", [])),
        "wall_s": round(wall, 1),
        "scan_line": next((ln for ln in log.splitlines() if " tiles in " in ln), ""),
        "cpu_s_by_process": {k: round(v, 1) for k, v in mem.cpu_by_name.items()},
        "alive_s_by_process": {k: round(v, 1) for k, v in mem.alive_by_name.items()},
        "sr_pyramid": str(sr_path.name),
        "sr_level0_shape": lvl0,
        "sr_level0_gigapixels": round(gpx, 3),
        "sr_levels": len(levels),
        "sr_store_mb": round(size_bytes / 2**20, 1),
        "open_every_level_s": round(open_s, 2),
        "peak_rss_tree_mb": round(mem.peak_bytes / 2**20),
        "peak_rss_by_process_mb": {k: round(v / 2**20) for k, v in mem.peak_by_name.items()},
        "max_rss_one_child_mb (getrusage)": round(children_max / 2**20),
    }
    print(json.dumps({"report": report, "levels": levels}, indent=2))
    if args.out is None and not args.keep:
        shutil.rmtree(out.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
