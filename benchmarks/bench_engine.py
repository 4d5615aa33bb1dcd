"""Engine benchmark, one command: ``python benchmarks/bench_engine.py [--gigapixel] [--json F]``.

Same as ``srscope bench``: MatMul peak of ONNX Runtime on this machine, then for
the paper generator and the live model (random weights with training's
architectures, plus bundled trained models if present): LR Mpx/s, effective
GFLOP/s and ratio to the peak, batching, tiling overhead, PyTorch eager tiled
inference of the same weights, live fps at 512² and 1024², time per frame,
fps and accuracy change per backend/precision (``--backend``, ``--precision``:
which ones; default every one this machine can run), and the time and peak RSS
of a 0.38-gigapixel output (``--gigapixel``: measured; otherwise extrapolated
from a 1024² LR run). ``--quick``: tiny sizes, a smoke test. Results are
printed and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sr_engine.backend import check_request
from sr_engine.bench import BenchConfig, run_bench
from srscope.errors import SrscopeError
from training.torch_reference import eager_tiler


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], help="model file or bundled name")
    ap.add_argument("--threads", type=int, default=None, help="ORT intra-op threads")
    ap.add_argument("--size", type=int, default=512, help="LR side of the throughput image")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gigapixel", action="store_true", help="stream a full 0.38 Gpx output")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    ap.add_argument("--backend", default="auto", help="auto, onnxruntime, openvino")
    ap.add_argument("--precision", default="auto", help="auto, fp32, bf16")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (figures meaningless)")
    ap.add_argument(
        "--only-backends", action="store_true", help="only frame times and accuracy per backend"
    )
    ap.add_argument("--json", type=Path, default=Path("bench_engine.json"))
    args = ap.parse_args()
    try:
        check_request(args.backend, args.precision)
    except SrscopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cfg = BenchConfig(
        models=args.model,
        threads=args.threads,
        size=args.size,
        repeats=args.repeats,
        gigapixel=args.gigapixel,
        torch=not args.no_torch,
        backend=args.backend,
        precision=args.precision,
        quick=args.quick,
        only_backends=args.only_backends,
    )
    results = run_bench(cfg, echo=lambda s: print(s, flush=True), eager=eager_tiler)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
