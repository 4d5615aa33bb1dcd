"""The sim-to-real gap of a model: its gain over bicubic on simulated vs real LR of held-out fields.

For each held-out entry, the LR capture is replaced by the degradation record
applied to the entry's own HR capture (the training pairs' maths), so both
scores are of the same specimen content: a gap near 0 dB means the
degradation model matches the optics; a large gap means training pairs do not
look like real captures.

    python experiments/sim_to_real.py MODEL REFS [-d degradation.json] [--channel DAPI]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import tifffile

from sr_engine.model import SRModel
from srscope.degradation import DegradationRecord
from srscope.references import ReferenceSet
from training.evaluation.evaluate import evaluate
from training.images import read_plane


def simulated_copy(refs: Path, record: DegradationRecord, out: Path, seed: int = 0) -> Path:
    """A copy of ``refs`` whose LR captures are the record applied to their HR captures."""
    ref_set = ReferenceSet.load(refs)
    rng = np.random.default_rng(seed)
    for e in ref_set.entries:
        shutil.copy(refs / e.hr.file, out / e.hr.file)
        if e.lr is not None:
            lr = record.apply(read_plane(refs / e.hr.file).astype(np.float32), rng=rng)
            tifffile.imwrite(out / e.lr.file, lr)
    ref_set.save(out)
    return out


def subset(refs: Path, channel: str, out: Path) -> Path:
    """A copy of ``refs`` (images linked) holding only the entries of ``channel``."""
    ref_set = ReferenceSet.load(refs)
    entries = [e for e in ref_set.entries if e.channel == channel]
    for e in entries:
        for c in (e.hr, e.lr):
            if c is not None and not (out / c.file).exists():
                (out / c.file).symlink_to((refs / c.file).resolve())
    ref_set.model_copy(update={"entries": entries}).save(out)
    return out


def gains(model: SRModel, refs: Path, record: DegradationRecord) -> dict[str, float]:
    """PSNR/SSIM of the model and both baselines, and the model's gain over bicubic."""
    result, _ = evaluate(model, refs, record=record, n_panels=0)
    rows = {r.method: r for r in result.table}
    name = result.methods[-1]
    out = {f"{m}_psnr": round(r.psnr_mean, 3) for m, r in rows.items()}
    out |= {f"{m}_ssim": round(r.ssim_mean, 4) for m, r in rows.items()}
    out["gain_over_bicubic"] = round(rows[name].psnr_mean - rows["bicubic"].psnr_mean, 3)
    out["gain_over_rl"] = round(rows[name].psnr_mean - rows["bicubic+RL"].psnr_mean, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("refs", type=Path)
    ap.add_argument("-d", "--degradation", type=Path, help="default: the model's own record")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--channel", help="score only the entries of this channel")
    ap.add_argument("--real-only", action="store_true", help="skip the simulated copy")
    args = ap.parse_args()
    model = SRModel(args.model)
    record = (
        DegradationRecord.load(args.degradation) if args.degradation else model.meta.degradation
    )
    with tempfile.TemporaryDirectory() as sub:
        refs = subset(args.refs, args.channel, Path(sub)) if args.channel else args.refs
        report: dict = {"real": gains(model, refs, record)}
        if not args.real_only:
            with tempfile.TemporaryDirectory() as tmp:
                sim = gains(model, simulated_copy(refs, record, Path(tmp)), record)
            report["simulated"] = sim
            report["gap_db"] = round(
                sim["gain_over_bicubic"] - report["real"]["gain_over_bicubic"], 3
            )
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
