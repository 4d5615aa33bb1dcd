"""Training speed per preset in fp32 and bf16, and how the ``live`` preset was chosen.

    python benchmarks/bench_training.py [--iterations 60] [--presets live,balanced,paper]
    python benchmarks/bench_training.py --export-fps [--threads 2] [--size 512]

The default prints, for each preset, iterations/s in fp32 and in bf16 autocast
(one run, same data and seed) with their ratio, and the validation PSNR both
reach after the same iterations (bf16 should be within 0.1 dB). Which one
``--precision auto`` picks here is printed too (bf16 only with bf16 CPU units).

``--export-fps``: each candidate generator is exported exactly as ``srscope
train`` exports (BN folded, dynamic shapes) and timed through
``sr_engine.SRModel.run`` on one normalised frame; the live preset is the
largest candidate that keeps ≥ 25 fps on this CPU.
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


def precision_run(preset: str, prec: str, iterations: int, workdir: str) -> tuple[float, float]:
    """Iterations/s and final validation PSNR of a short run on synthetic HR images."""
    from srscope.degradation import DegradationRecord
    from training.config import TrainConfig
    from training.images import TrainingImage
    from training.synthetic import specimen
    from training.trainer import Trainer

    record = DegradationRecord.model_validate(
        {"scale": 4, "psf": {"sigma_hr_px": 2.0}, "intensity": {"gain": 0.5, "offset": 100},
         "noise": {"kind": "poisson-gaussian", "std": 3.0, "poisson_gain": 2.0}}
    )  # fmt: skip
    sources = [TrainingImage(f"s{i}", specimen((512, 512), seed=i)[None], ["x"]) for i in range(3)]
    cfg = TrainConfig.preset_defaults(
        preset, iterations=iterations, epoch_iterations=iterations, precision=prec,
        patch_lr=48 if preset != "paper" else 24, batch=16 if preset != "paper" else 4,
        adversarial=False, warmup_iterations=0, val_patches=16, checkpoint_every=10**6,
    )  # fmt: skip
    t = Trainer(sources, record, cfg, workdir, progress=False)
    t.step()  # warm-up (allocations, oneDNN kernels), not timed
    t.iteration = 1
    start = time.perf_counter()
    while t.iteration < iterations:
        t.step()
        t.iteration += 1
    rate = (iterations - 1) / (time.perf_counter() - start)
    return rate, t.validate()[0]


def precision_table(presets: list[str], iterations: int) -> None:
    import tempfile

    import torch

    from training import precision

    flags = sorted(f for f in precision.cpu_flags() if "bf16" in f or "amx" in f)
    auto = precision.resolve("auto", torch.device("cpu"))
    print(f"CPU bf16 flags: {flags or 'none'}; --precision auto picks {auto}", flush=True)
    for preset in presets:
        res = {}
        for prec in ("fp32", "bf16"):
            with tempfile.TemporaryDirectory() as tmp:
                res[prec] = precision_run(preset, prec, iterations, tmp)
        (r32, p32), (r16, p16) = res["fp32"], res["bf16"]
        print(f"{preset:9s} fp32 {r32:6.2f} it/s  bf16 {r16:6.2f} it/s  ratio {r16 / r32:5.2f}x  "
              f"val PSNR after {iterations} it: fp32 {p32:.2f} dB, bf16 {p16:.2f} dB "
              f"(Δ {p16 - p32:+.2f})", flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--presets", default="live,balanced,paper")
    ap.add_argument("--export-fps", action="store_true")
    a = ap.parse_args()
    if not a.export_fps:
        import torch

        torch.set_num_threads(a.threads)
        precision_table(a.presets.split(","), a.iterations)
        return
    for kind, f, d in CANDIDATES:
        reps = a.reps if kind == "live" else 1
        rate = fps(kind, f, d, a.size, a.threads, reps)
        print(f"{kind:5s} features {f:3d} depth {d:2d}: {rate:7.1f} fps", flush=True)


if __name__ == "__main__":
    main()
