"""How the ``live`` preset was chosen: ONNX Runtime fps of candidate generators on a 512² frame.

    python benchmarks/bench_training.py [--threads 2] [--size 512]

Each candidate is exported exactly as ``srscope train`` exports (BN folded,
dynamic shapes) and timed through ``sr_engine.SRModel.run`` on one normalised
frame; the preset is the largest candidate that keeps ≥ 25 fps on this CPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sr_engine.metadata import ModelMetadata, attach_metadata
from sr_engine.model import SRModel
from training.export import fold_batchnorm, to_onnx_bytes
from training.models import LiveGenerator, PaperGenerator

CANDIDATES = [("live", 8, 3), ("live", 16, 3), ("live", 24, 3), ("live", 32, 3), ("live", 16, 4),
              ("paper", 64, 16)]  # fmt: skip


def fps(kind: str, features: int, depth: int, size: int, threads: int, reps: int) -> float:
    import onnx

    net = (LiveGenerator(1, 4, features, depth) if kind == "live"
           else PaperGenerator(1, 4, features, depth)).eval()  # fmt: skip
    proto = onnx.load_from_string(to_onnx_bytes(fold_batchnorm(net), 1))
    meta = ModelMetadata(scale=4, channels=["x"], lr_pixel_size_um=1.3, hr_pixel_size_um=0.325)
    model = SRModel(attach_metadata(proto, meta).SerializeToString(), threads=threads)
    x = np.random.default_rng(0).random((1, 1, size, size), dtype=np.float32)
    model.run(x)
    t = time.perf_counter()
    for _ in range(reps):
        model.run(x)
    return reps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--reps", type=int, default=10)
    a = ap.parse_args()
    for kind, f, d in CANDIDATES:
        reps = a.reps if kind == "live" else 1
        rate = fps(kind, f, d, a.size, a.threads, reps)
        print(f"{kind:5s} features {f:3d} depth {d:2d}: {rate:7.1f} fps", flush=True)


if __name__ == "__main__":
    main()
