"""Writing a snapped LR frame and its SR as OME-TIFF, each with its own pixel size.

The SR image is a separate image (pixel size ``lr / scale``), never a level of
the raw one; the stage position, objective, channel and the model that made the
SR go into the OME metadata and into a JSON sidecar that tools can read
without parsing OME-XML.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from srscope.errors import SrscopeError


@dataclass
class FrameInfo:
    """Where and how a frame was captured."""

    pixel_size_um: float
    position_um: tuple[float, float, float] = (0.0, 0.0, 0.0)
    objective: str = ""
    channel: str = ""
    exposure_ms: float = 0.0
    extra: dict = field(default_factory=dict)


def write_ome_tiff(path: Path, image: np.ndarray, info: FrameInfo, name: str) -> Path:
    """One 2-D OME-TIFF with physical pixel size and stage position."""
    if image.ndim != 2:
        raise SrscopeError(f"expected a 2-D image to save, got shape {image.shape}")
    x, y, z = info.position_um
    metadata = {
        "axes": "YX",
        "Name": name,
        "PhysicalSizeX": info.pixel_size_um,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": info.pixel_size_um,
        "PhysicalSizeYUnit": "µm",
        "Plane": {
            "PositionX": x,
            "PositionXUnit": "µm",
            "PositionY": y,
            "PositionYUnit": "µm",
            "PositionZ": z,
            "PositionZUnit": "µm",
            "ExposureTime": info.exposure_ms,
            "ExposureTimeUnit": "ms",
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tifffile.imwrite(tmp, image, ome=True, metadata=metadata, photometric="minisblack")
    tmp.replace(path)
    return path


def save_snapshot(
    out_dir: Path,
    lr: np.ndarray,
    info: FrameInfo,
    sr: np.ndarray | None = None,
    scale: int | None = None,
    model: str = "",
    stem: str | None = None,
) -> dict[str, Path]:
    """Write ``<stem>_lr.ome.tif``, ``<stem>_sr.ome.tif`` (if given) and ``<stem>.json``."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SrscopeError(f"cannot write to {out_dir}: {exc.strerror}") from None
    stem = stem or time.strftime("snap_%Y%m%d_%H%M%S")
    files = {"lr": write_ome_tiff(out_dir / f"{stem}_lr.ome.tif", lr, info, f"{stem} LR")}
    record: dict = {
        "format": "srscope-snapshot/1",
        "lr": {"file": files["lr"].name, **asdict(info)},
    }
    if sr is not None:
        if not scale:
            raise SrscopeError("saving an SR image needs the model's scale")
        sr_info = FrameInfo(**{**asdict(info), "pixel_size_um": info.pixel_size_um / scale})
        files["sr"] = write_ome_tiff(
            out_dir / f"{stem}_sr.ome.tif", sr.astype(np.float32), sr_info, f"{stem} SR (computed)"
        )
        record["sr"] = {
            "file": files["sr"].name,
            "computed": True,
            "model": model,
            "scale": scale,
            **asdict(sr_info),
        }
    files["json"] = out_dir / f"{stem}.json"
    files["json"].write_text(json.dumps(record, indent=2))
    return files
