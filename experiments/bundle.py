"""Install a trained model as a bundled one (``sr_engine/models/NAME.onnx``).

Only the ``srscope.name``/``srscope.description`` metadata change; weights,
training provenance and metrics stay as ``srscope train`` wrote them. Refuses
files over 10 MB.

    python experiments/bundle.py /tmp/srscope-exp/live_DAPI_sigma_x1.onnx live_fluo \
        "live preset, DAPI channel of the simulated rig's tissue specimen"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import onnx

from sr_engine.metadata import ModelMetadata, attach_metadata, props_of
from sr_engine.model import SRModel
from srscope.atomic import atomic_path

MODELS = Path(__file__).parents[1] / "sr_engine" / "models"
MAX_BYTES = 10 * 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("name")
    ap.add_argument("description")
    ap.add_argument(
        "--results", type=Path, help="fluo_experiment results.json: add real-capture scores"
    )
    ap.add_argument("--key", default="sigma_x1", help="model key in --results")
    ap.add_argument(
        "--evaluation", type=Path, help="srscope evaluate's evaluation.json: add its table"
    )
    ap.add_argument(
        "--references",
        default="sim rig, tissue specimen, field (0, 200) µm, not used in training",
        help="what the held-out evaluation scored",
    )
    a = ap.parse_args()
    proto = onnx.load(str(a.model))
    meta = ModelMetadata.from_props(props_of(proto), str(a.model))
    metrics = dict(meta.metrics)
    if a.results:
        res = json.loads(a.results.read_text())
        metrics["held_out_real_5x_vs_20x"] = {
            "references": "sim rig, tissue specimen, field (0, 200) µm, not used in training",
            "channel": res["channel"],
            "scores": res["models"][a.key]["scores"],
        }
    if a.evaluation:
        ev = json.loads(a.evaluation.read_text())
        metrics["held_out_real_5x_vs_20x"] = {
            "references": a.references,
            "table": ev["table"],
        }
    update = {"name": a.name, "description": a.description, "metrics": metrics}
    meta = meta.model_copy(update=update)
    data = attach_metadata(proto, meta).SerializeToString()
    if len(data) > MAX_BYTES:
        raise SystemExit(f"{a.model} is {len(data) / 2**20:.1f} MB > 10 MB: not bundled")
    out = MODELS / f"{a.name}.onnx"
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    SRModel(out)  # the engine loads it
    print(f"{out}: {len(data) / 2**20:.2f} MB, channels {meta.channels}, scale {meta.scale}")


if __name__ == "__main__":
    main()
