"""Long rig jobs shared by the viewer's panels and the demo: tile scan, reference capture.

Plain functions over a pymmcore-plus core with optional callbacks (tile done,
capture done, stop requested), so they run the same headless and on a viewer
worker thread. Scans go through the core's MDA runner (raw data written by
ome-writers) with on-the-fly SR in a worker process (:mod:`acquisition.sr_hook`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from srscope.errors import SrscopeError
from ui.save import FrameInfo, write_ome_tiff

Tile = tuple[np.ndarray, tuple[float, float]]


def set_preset(core: Any, group: str, preset: str) -> None:
    core.setConfig(group, preset)
    core.waitForConfig(group, preset)


def centred_roi(core: Any, side: int | None) -> None:
    """A centred square camera ROI (None: the full sensor)."""
    core.clearROI()
    if side is None:
        return
    w, h = core.getImageWidth(), core.getImageHeight()
    side = min(side, w, h)
    core.setROI((w - side) // 2, (h - side) // 2, side, side)


def snap(core: Any) -> np.ndarray:
    core.snapImage()
    return np.asarray(core.getImage())


def frame_info(core: Any, channel: str) -> FrameInfo:
    x, y = core.getXYPosition() if core.getXYStageDevice() else (0.0, 0.0)
    z = core.getPosition() if core.getFocusDevice() else 0.0
    objective = core.getCurrentConfig("Objective") if core.isGroupDefined("Objective") else ""
    return FrameInfo(
        pixel_size_um=float(core.getPixelSizeUm()),
        position_um=(float(x), float(y), float(z)),
        objective=objective,
        channel=channel,
        exposure_ms=float(core.getExposure()),
    )


def run_scan(
    core: Any,
    folder: Path,
    rows: int,
    columns: int,
    overlap: float = 0.1,
    model: Any = None,
    on_tile: Callable[[int, int, list[Tile]], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Tile scan around the current position at the current objective.

    Raw tiles go to ``raw.ome.zarr``; with a model, each tile's SR goes to
    ``sr.ome.zarr`` (HR pixel size) and the SR mosaic to ``sr_mosaic.ome.zarr``;
    the LR mosaic always to ``lr_mosaic.ome.zarr``.
    """
    import useq

    from acquisition.mosaic import stitch_tiles
    from acquisition.ome_io import write_image
    from acquisition.sr_hook import SRFrameProcessor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    px = float(core.getPixelSizeUm())
    if px <= 0:
        raise SrscopeError("pixel size is not set: a scan would assume a 1 µm field of view")
    seq = useq.MDASequence(
        grid_plan=useq.GridRowsColumns(rows=rows, columns=columns, overlap=overlap * 100)
    )
    total = rows * columns
    raw_tiles: list[Tile] = []

    def keep_raw(img: np.ndarray, event: Any, meta: Any = None) -> None:
        raw_tiles.append((np.array(img, copy=True), (float(event.x_pos), float(event.y_pos))))
        if on_tile is not None:
            on_tile(len(raw_tiles), total, raw_tiles)
        if stop is not None and stop():
            core.mda.cancel()

    proc = (
        SRFrameProcessor(model, folder / "sr.ome.zarr", mosaic_path=folder / "sr_mosaic.ome.zarr")
        if model is not None
        else None
    )
    files = {"scan_raw": folder / "raw.ome.zarr", "scan_lr_mosaic": folder / "lr_mosaic.ome.zarr"}
    core.mda.events.frameReady.connect(keep_raw)
    t0 = time.perf_counter()
    try:
        if proc is not None:
            with proc.attach(core):
                core.mda.run(seq, output=str(files["scan_raw"]), overwrite=True)
                acquired = time.perf_counter() - t0
                if not proc.wait(600):
                    raise SrscopeError("on-the-fly SR did not finish within 10 minutes")
        else:
            core.mda.run(seq, output=str(files["scan_raw"]), overwrite=True)
            acquired = time.perf_counter() - t0
    finally:
        core.mda.events.frameReady.disconnect(keep_raw)
        if proc is not None:
            sr_mosaic = proc.mosaic  # read back before the worker goes
            proc.close()
    if proc is not None and proc.error:
        raise SrscopeError(f"on-the-fly SR failed: {proc.error}")
    if not raw_tiles:
        raise SrscopeError("the scan acquired no tile")
    lr_mosaic = stitch_tiles(raw_tiles, px)
    write_image(files["scan_lr_mosaic"], lr_mosaic, px, "LR mosaic")
    stats: dict[str, Any] = {"acquisition_s": acquired, "tiles": len(raw_tiles)}
    if proc is not None:
        stats.update(proc.stats.summary())
        files["scan_sr"] = folder / "sr.ome.zarr"
        files["scan_sr_mosaic"] = folder / "sr_mosaic.ome.zarr"
    return {
        "lr_mosaic": lr_mosaic,
        "sr_mosaic": sr_mosaic if proc is not None else None,
        "stats": stats,
        "files": files,
        "summary": f"scan done: {len(raw_tiles)} tiles in {acquired:.1f} s → {folder}",
    }


def grid_positions(
    n: int, centre: tuple[float, float], area_um: float, layout: str = "grid", seed: int = 0
) -> list[tuple[float, float]]:
    """``n`` positions inside a square of side ``area_um`` around ``centre``."""
    cx, cy = centre
    if layout == "random":
        rng = np.random.default_rng(seed)
        pts = rng.uniform(-area_um / 2, area_um / 2, size=(n, 2))
        return [(cx + float(x), cy + float(y)) for x, y in pts]
    k = int(np.ceil(np.sqrt(n)))
    step = area_um / k
    out = []
    for i in range(n):
        r, c = divmod(i, k)
        out.append((cx + (c - (k - 1) / 2) * step, cy + (r - (k - 1) / 2) * step))
    return out


def capture_references(
    core: Any,
    positions: list[tuple[float, float]],
    folder: Path,
    *,
    channel: str,
    lr_objective: str,
    hr_objective: str,
    lr_roi: int | None = None,
    hr_roi: int | None = None,
    on_capture: Callable[[int, int, np.ndarray], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> Path:
    """HR and LR captures centred on the same stage positions, as a reference set."""
    from srscope.references import Capture, ReferenceEntry, ReferenceSet

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    pixel = {}
    try:
        for i, (x, y) in enumerate(positions):
            if stop is not None and stop():
                break
            core.setXYPosition(x, y)
            core.waitForDevice(core.getXYStageDevice())
            caps = {}
            info = None
            for kind, obj, roi in (("hr", hr_objective, hr_roi), ("lr", lr_objective, lr_roi)):
                set_preset(core, "Objective", obj)
                centred_roi(core, roi)
                img = snap(core)
                info = frame_info(core, channel)
                pixel[kind] = info.pixel_size_um
                name = f"p{i:03d}_{channel}_{kind}.ome.tif"
                write_ome_tiff(folder / name, img, info, f"position {i} {kind} {obj}")
                caps[kind] = Capture(
                    file=name,
                    objective=obj,
                    pixel_size_um=info.pixel_size_um,
                    exposure_ms=info.exposure_ms,
                )
                if kind == "hr" and on_capture is not None:
                    on_capture(i + 1, len(positions), img)
            assert info is not None
            entries.append(
                ReferenceEntry(
                    position_um=info.position_um, channel=channel, hr=caps["hr"], lr=caps["lr"]
                )
            )
    finally:
        centred_roi(core, None)
    if not entries:
        raise SrscopeError("no reference captured")
    scale = round(pixel["lr"] / pixel["hr"])
    ReferenceSet(scale=scale, entries=entries).save(folder)
    return folder


def montage(images: list[np.ndarray], max_side: int = 256) -> np.ndarray:
    """Thumbnails side by side on a grid (the references panel's preview)."""
    if not images:
        raise SrscopeError("nothing to show")
    thumbs = []
    for img in images:
        step = max(1, int(np.ceil(max(img.shape) / max_side)))
        t = img[::step, ::step].astype(np.float32)
        lo, hi = np.percentile(t, [0.5, 99.8])
        thumbs.append(np.clip((t - lo) / max(hi - lo, 1e-6), 0, 1))
    k = int(np.ceil(np.sqrt(len(thumbs))))
    h = max(t.shape[0] for t in thumbs)
    w = max(t.shape[1] for t in thumbs)
    out = np.zeros((k * h, k * w), np.float32)
    for i, t in enumerate(thumbs):
        r, c = divmod(i, k)
        out[r * h : r * h + t.shape[0], c * w : c * w + t.shape[1]] = t
    return out
