"""Write a crop of a specimen image as an OME-TIFF the simulated rig can load (``--specimen``).

Used to make specimens no bundled model has seen: e.g. the part of the shared NDPI
tissue scan outside the built-in ``tissue`` crop (rows 1600:4160, cols 500:3060)::

    python experiments/crop_specimen.py \
        ../shared/data/fluorescence/ndpi_stritt_tissue_dapi_tritc_40x.tif \
        --rows 0:1600 --cols 400:3968 --out /tmp/srscope-exp/ndpi_top.ome.tif
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import tifffile

from acquisition.sim.specimen import _read_image


def _span(text: str) -> slice:
    a, b = (int(v) for v in text.split(":"))
    return slice(a, b)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path)
    ap.add_argument("--rows", type=_span, required=True, help="a:b (pixels)")
    ap.add_argument("--cols", type=_span, required=True, help="a:b (pixels)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.out.exists():
        print(f"error: {args.out} exists", file=sys.stderr)
        return 2
    data, px, axes = _read_image(args.image)
    if px is None:
        print(f"error: {args.image} does not store its pixel size", file=sys.stderr)
        return 2
    crop = data[..., args.rows, args.cols] if axes.endswith("YX") else data[args.rows, args.cols]
    tifffile.imwrite(
        args.out,
        crop,
        ome=True,
        compression="zlib",
        metadata={"axes": axes, "PhysicalSizeX": px, "PhysicalSizeY": px},
    )
    print(f"{args.out}: {crop.shape} {axes}, {px:.5f} µm/px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
