"""Capture a reference set from the simulated rig (HR 20x + LR 5x per position and channel).

A stand-in for ``srscope references`` while that command is not available: it
drives the same simulated rig through ``acquisition.core.open_core`` and writes
the DESIGN.md reference-set format (``references.json`` + OME-TIFF captures).

    python experiments/capture_references.py OUT --positions "-150,-150;150,-150" \
        --channels DAPI,TRITC
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import tifffile

from srscope.references import Capture, ReferenceEntry, ReferenceSet

OBJECTIVES = {"hr": ("20x", "20x/0.45"), "lr": ("5x", "5x/0.15")}


def snap(
    core, objective: str, channel: str, x: float, y: float, exposure_ms: float
) -> tuple[np.ndarray, float]:
    core.setConfig("Objective", objective)
    core.setConfig("Channel", channel)
    core.setExposure(exposure_ms)
    core.setXYPosition(x, y)
    core.snapImage()
    return np.asarray(core.getImage()), float(core.getPixelSizeUm())


def capture(
    out: Path, positions: list[tuple[float, float]], channels: list[str], exposure: dict[str, float]
) -> ReferenceSet:
    from acquisition.core import open_core

    out.mkdir(parents=True, exist_ok=True)
    core = open_core()
    entries = []
    for i, (x, y) in enumerate(positions):
        for ch in channels:
            caps = {}
            for kind, (preset, label) in OBJECTIVES.items():
                t = time.perf_counter()
                img, px = snap(core, preset, ch, x, y, exposure[kind])
                name = f"p{i:03d}_{ch}_{kind}.ome.tif"
                tifffile.imwrite(
                    out / name, img, compression="zlib",
                    metadata={"axes": "YX", "PhysicalSizeX": px, "PhysicalSizeY": px,
                              "Channel": {"Name": ch}},
                )  # fmt: skip
                caps[kind] = Capture(
                    file=name, objective=label, pixel_size_um=px, exposure_ms=exposure[kind]
                )
                print(f"{name}: {img.shape} {img.dtype} px {px} µm median {np.median(img):.0f} "
                      f"max {img.max()} ({time.perf_counter() - t:.1f} s)", flush=True)  # fmt: skip
            entries.append(ReferenceEntry(position_um=(x, y, 0.0), channel=ch, **caps))
    refs = ReferenceSet(scale=4, entries=entries)
    refs.save(out)
    return refs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--positions", default="-150,-150;150,-150", help="x,y;x,y in µm")
    ap.add_argument("--channels", default="DAPI,TRITC")
    ap.add_argument("--hr-exposure", type=float, default=50.0)
    ap.add_argument("--lr-exposure", type=float, default=20.0)
    a = ap.parse_args()
    pos = [tuple(float(v) for v in p.split(",")) for p in a.positions.split(";")]
    capture(a.out, pos, a.channels.split(","), {"hr": a.hr_exposure, "lr": a.lr_exposure})  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
