"""Writing a snapped LR frame and its SR as OME-TIFF, each with its own pixel size.

The SR image is a separate image (pixel size ``lr / scale``), never a level of
the raw one; the stage position, objective, channel and the model that made the
SR go into the OME metadata (the acquisition part's writer) and into a JSON
sidecar that tools can read without parsing OME-XML.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from acquisition.models import FrameMeta
from acquisition.ome_io import write_ome_tiff
from srscope.errors import SrscopeError


def save_snapshot(
    out_dir: Path,
    lr: np.ndarray,
    meta: FrameMeta,
    sr: np.ndarray | None = None,
    scale: int | None = None,
    model: str = "",
    stem: str | None = None,
) -> dict[str, Path]:
    """Write ``<stem>_lr.ome.tif``, ``<stem>_sr.ome.tif`` (if given) and ``<stem>.json``."""
    out_dir = Path(out_dir)
    if lr.ndim != 2:
        raise SrscopeError(f"expected a 2-D image to save, got shape {lr.shape}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SrscopeError(f"cannot write to {out_dir}: {exc.strerror}") from None
    stem = stem or time.strftime("snap_%Y%m%d_%H%M%S")
    lr_path = out_dir / f"{stem}_lr.ome.tif"
    files = {"lr": write_ome_tiff(lr_path, lr, meta, name=f"{stem} LR")}
    record: dict = {"format": "srscope-snapshot/1", "lr": {"file": lr_path.name, **meta.to_dict()}}
    if sr is not None:
        if not scale:
            raise SrscopeError("saving an SR image needs the model's scale")
        sr_meta = dataclasses.replace(meta, pixel_size_um=meta.pixel_size_um / scale)
        sr_path = out_dir / f"{stem}_sr.ome.tif"
        files["sr"] = write_ome_tiff(
            sr_path, sr.astype(np.float32), sr_meta, name=f"{stem} SR (computed)"
        )
        record["sr"] = {
            "file": sr_path.name,
            "computed": True,
            "model": model,
            "scale": scale,
            **sr_meta.to_dict(),
        }
    files["json"] = out_dir / f"{stem}.json"
    files["json"].write_text(json.dumps(record, indent=2))
    return files
