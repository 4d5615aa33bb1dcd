"""The must-show experiment on the simulated rig's two-channel fluorescence specimen.

1. capture references: training fields at y = −150 µm (x = −150, 0, 150), a held-out
   field at (0, +200) µm whose specimen content (and its mirror images) no training
   field contains (training fields cover y ≤ 16 µm, the held-out one y ≥ 34 µm);
2. calibrate the degradation per channel (PSF sigma depends on the wavelength);
3. train models (same seed and iterations): calibrated sigma, sigma × 0.5, sigma × 2;
4. super-resolve the held-out field's real 5x capture and score against its 20x
   capture (``training.evaluation.evaluate``: registration for scoring only),
   together with bicubic and bicubic + Richardson–Lucy (PSF from the calibration).

    python experiments/fluo_experiment.py --work /tmp/srscope-exp --iterations 600

Writes ``results.json`` in the work folder and prints a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from srscope.degradation import DegradationRecord
from srscope.references import ReferenceSet

HERE = Path(__file__).parent
TRAIN_POSITIONS = "-150,-150;0,-150;150,-150"
TEST_POSITIONS = "0,200"


def sh(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True)


def srscope(*args: str) -> None:
    sh(sys.executable, "-m", "srscope", *args)


def channel_subset(refs: Path, channel: str, out: Path) -> Path:
    """A reference set with only ``channel``'s entries (evaluation scores every entry)."""
    rs = ReferenceSet.load(refs)
    out.mkdir(parents=True, exist_ok=True)
    entries = [e for e in rs.entries if e.channel == channel]
    for e in entries:
        for cap in (e.hr, e.lr):
            if cap is not None:
                shutil.copy2(refs / cap.file, out / cap.file)
    ReferenceSet(scale=rs.scale, entries=entries).save(out)
    return out


def scaled_record(src: Path, factor: float, out: Path) -> Path:
    rec = DegradationRecord.load(src)
    psf = rec.psf.model_copy(update={"sigma_hr_px": rec.psf.sigma_hr_px * factor})
    rec.model_copy(update={"psf": psf}).save(out)
    return out


def score(model: Path, refs: Path, record: Path) -> dict:
    from sr_engine.model import SRModel
    from training.evaluation.evaluate import evaluate

    result, _ = evaluate(
        SRModel(model), refs, record=DegradationRecord.load(record), field_size=256
    )
    return {row.method: {"psnr": row.psnr_mean, "ssim": row.ssim_mean, "n": row.n_fields}
            for row in result.table}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/srscope-exp"))
    ap.add_argument("--channel", default="DAPI")
    ap.add_argument("--preset", default="live")
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--patch", type=int, default=48)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--factors", default="1,0.5,2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--capture", choices=["srscope", "script"], default="srscope",
                    help="srscope references, or experiments/capture_references.py")  # fmt: skip
    a = ap.parse_args()
    w = a.work
    w.mkdir(parents=True, exist_ok=True)
    for name, pos in (("refs_train", TRAIN_POSITIONS), ("refs_test", TEST_POSITIONS)):
        if (w / name / "references.json").exists():
            continue
        if a.capture == "srscope":
            srscope("references", "--out", str(w / name), f"--positions={pos}", "-c", "DAPI",
                    "-c", "TRITC", "--hr-exposure", "50", "--lr-exposure", "20")  # fmt: skip
        else:
            sh(
                sys.executable,
                str(HERE / "capture_references.py"),
                str(w / name),
                f"--positions={pos}",
            )
    ch = a.channel
    deg = w / f"degradation_{ch}.json"
    if not deg.exists():
        srscope("calibrate", str(w / "refs_train"), "--channel", ch, "--out", str(deg))
    test = channel_subset(w / "refs_test", ch, w / f"refs_test_{ch}")
    results: dict = {"channel": ch, "preset": a.preset, "iterations": a.iterations,
                     "calibration": json.loads(deg.read_text()), "models": {}}  # fmt: skip
    for f in [float(v) for v in a.factors.split(",")]:
        rec = deg if f == 1 else scaled_record(deg, f, w / f"degradation_{ch}_x{f:g}.json")
        model = w / f"{a.preset}_{ch}_sigma_x{f:g}.onnx"
        t = time.perf_counter()
        if not model.exists():
            srscope(
                "train", str(w / "refs_train"), "--channel", ch, "-d", str(rec), "--preset",
                a.preset, "--out", str(model), "--iterations", str(a.iterations),
                "--epoch-iterations", str(max(a.iterations // 4, 1)), "--patch", str(a.patch),
                "--batch", str(a.batch), "--seed", str(a.seed),
            )  # fmt: skip
        secs = time.perf_counter() - t
        # baselines always use the *calibrated* PSF, so rows are comparable across models
        results["models"][f"sigma_x{f:g}"] = {"model": str(model), "train_s": round(secs, 1),
                                              "scores": score(model, test, deg)}  # fmt: skip
        (w / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nheld-out field {TEST_POSITIONS} µm, channel {ch}, real 5x capture vs 20x capture")
    for name, r in results["models"].items():
        for method, s in r["scores"].items():
            print(
                f"{name:12s} {method:12s} PSNR {s['psnr']:6.2f} dB  "
                f"SSIM {s['ssim']:.4f}  ({s['n']} fields)"
            )


if __name__ == "__main__":
    main()
