"""Reference sets: HR and LR objective images of each channel at N stage positions.

Written exactly as DESIGN.md defines (``references.json`` via
:class:`srscope.references.ReferenceSet` + OME-TIFF captures). A capture goes into
a hidden folder beside the output and takes the output's place only when it ends:
an error leaves the output as it was, a set there is replaced whole (no file of the
old set stays behind), and a stop or Ctrl-C keeps a valid, smaller set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import Field, model_validator

from acquisition.models import Frame
from acquisition.ome_io import write_ome_tiff
from acquisition.rig import Rig, check_exposure
from srscope import logger
from srscope.errors import DeviceError, OutputError, SettingsError, SrscopeError
from srscope.model_base import SrscopeModel
from srscope.references import REFERENCES_FILE, Capture, ReferenceEntry, ReferenceSet

Area = tuple[float, float, float, float]  # x0, y0, x1, y1 in µm


class ReferencePlan(SrscopeModel):
    """Where and how to capture references (what a user writes down)."""

    positions: list[tuple[float, float]] | None = Field(None, description="explicit (x, y) µm")
    area_um: Area | None = Field(None, description="(x0, y0, x1, y1) µm for random/grid")
    n: int = Field(8, ge=1, description="number of positions for random/grid")
    layout: str = Field("random", pattern="^(random|grid)$")
    seed: int = 0
    channels: list[str] = Field(default_factory=lambda: ["FITC"])
    hr_objective: str = "20x"
    lr_objective: str | None = "5x"
    hr_exposure_ms: float = Field(50.0, gt=0)
    lr_exposure_ms: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _where(self) -> ReferencePlan:
        if self.positions is None and self.area_um is None:
            raise ValueError("give positions or an area")
        return self

    def stage_positions(self) -> list[tuple[float, float]]:
        if self.positions is not None:
            return [(float(x), float(y)) for x, y in self.positions]
        assert self.area_um is not None
        return (random_positions if self.layout == "random" else grid_positions)(
            self.area_um, self.n, seed=self.seed
        )


def random_positions(area_um: Area, n: int, seed: int = 0) -> list[tuple[float, float]]:
    """``n`` uniformly random positions inside ``area_um`` (reproducible with ``seed``)."""
    x0, y0, x1, y1 = _check_area(area_um)
    rng = np.random.default_rng(seed)
    return [
        (float(x), float(y))
        for x, y in zip(rng.uniform(x0, x1, n), rng.uniform(y0, y1, n), strict=True)
    ]


def grid_positions(area_um: Area, n: int, seed: int = 0) -> list[tuple[float, float]]:
    """About ``n`` positions on a regular grid filling ``area_um`` (row by row)."""
    x0, y0, x1, y1 = _check_area(area_um)
    cols = max(1, int(np.ceil(np.sqrt(n * max(x1 - x0, 1e-9) / max(y1 - y0, 1e-9)))))
    rows = max(1, int(np.ceil(n / cols)))
    xs = np.linspace(x0, x1, cols + 2)[1:-1] if cols > 1 else [(x0 + x1) / 2]
    ys = np.linspace(y0, y1, rows + 2)[1:-1] if rows > 1 else [(y0 + y1) / 2]
    return [(float(x), float(y)) for y in ys for x in xs][:n]


def square_area(centre: tuple[float, float], side_um: float) -> Area:
    """The square of side ``side_um`` centred on ``centre`` (x, y), as (x0, y0, x1, y1)."""
    cx, cy = centre
    half = side_um / 2
    return cx - half, cy - half, cx + half, cy + half


def _check_area(area_um: Area) -> Area:
    x0, y0, x1, y1 = area_um
    if x1 < x0 or y1 < y0:
        raise SettingsError(f"area {area_um} must be (x0, y0, x1, y1) with x0 <= x1, y0 <= y1")
    return x0, y0, x1, y1


def capture_references(
    microscope: Rig,
    out_dir: str | Path,
    positions: Sequence[tuple[float, float]],
    *,
    channels: Sequence[str] = ("FITC",),
    hr_objective: str | None = None,
    lr_objective: str | None = "default",
    hr_exposure_ms: float = 50.0,
    lr_exposure_ms: float = 10.0,
    z_um: float | None = None,
    hr_roi: int | None = None,
    lr_roi: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_frame: Callable[[str, Frame], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> ReferenceSet:
    """Capture HR (and LR, unless ``lr_objective=None``) images at each position.

    ``hr_roi`` / ``lr_roi``: a centred square camera ROI (px) for that objective's
    captures (None: the ROI as it is); the ROI is restored afterwards.
    ``progress(done, total)`` after each position, ``on_frame(role, frame)`` after
    each capture (role ``"hr"`` or ``"lr"``). ``stop()`` is checked before each
    position: True ends the capture with the positions so far (a valid, smaller set).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder")
    hr_obj = microscope.resolve_objective(hr_objective or microscope.settings.hr_objective)
    lr_name = microscope.settings.lr_objective if lr_objective == "default" else lr_objective
    lr_obj = microscope.resolve_objective(lr_name) if lr_name else None
    for ch in channels:  # fail before moving anything
        if ch not in microscope.channels:
            raise DeviceError(
                f"unknown channel {ch!r}; available: {', '.join(microscope.channels)}"
            )
    if not positions:
        raise SettingsError("no reference positions given")
    check_exposure(hr_exposure_ms)
    if lr_obj is not None:
        check_exposure(lr_exposure_ms)
    for i, (x, y) in enumerate(positions):  # all of them, before the first capture
        microscope.check_reachable(x, y, f"p{i:03d}")
    px = {}
    for obj in filter(None, (hr_obj, lr_obj)):
        microscope.set_objective(obj)
        px[obj] = microscope.require_pixel_size()
    scale = round(px[lr_obj] / px[hr_obj]) if lr_obj else 4
    if lr_obj and not 2 <= scale <= 5:
        raise SettingsError(
            f"LR/HR pixel sizes {px[lr_obj]} / {px[hr_obj]} µm give scale {scale}; 2 to 5 supported"
        )
    refs = ReferenceSet(scale=scale)
    out.parent.mkdir(parents=True, exist_ok=True)  # only once everything above is valid
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.capturing-"))
    total = len(positions)
    roi = microscope.core.getROI() if hr_roi or lr_roi else None
    try:
        for i, (x, y) in enumerate(positions):
            if stop is not None and stop():
                logger.info("reference capture stopped after %d of %d positions", i, total)
                break
            microscope.move_to(x, y, z_um)
            pos = microscope.position_um
            shots: dict[str, dict[str, Capture]] = {ch: {} for ch in channels}
            for role, obj, exp, side in (
                ("hr", hr_obj, hr_exposure_ms, hr_roi),
                ("lr", lr_obj, lr_exposure_ms, lr_roi),
            ):
                if obj is None:
                    continue
                microscope.set_objective(obj)
                if roi is not None:
                    _set_roi(microscope, roi, side)
                for ch in channels:
                    frame = microscope.snap(obj, ch, exp)
                    fname = f"p{i:03d}_{_safe(ch)}_{role}.ome.tif"
                    write_ome_tiff(work / fname, frame.image, frame.meta, name=fname)
                    shots[ch][role] = Capture(
                        file=fname,
                        objective=frame.meta.objective,
                        pixel_size_um=frame.meta.pixel_size_um,
                        exposure_ms=frame.meta.exposure_ms,
                    )
                    if on_frame is not None:
                        on_frame(role, frame)
            for ch in channels:
                refs.entries.append(
                    ReferenceEntry(
                        position_um=pos, channel=ch, hr=shots[ch]["hr"], lr=shots[ch].get("lr")
                    )
                )
            refs = ReferenceSet.model_validate(refs.model_dump())  # re-check the scale rule
            refs.save(work)
            logger.info("reference position %d/%d at (%.1f, %.1f) µm", i + 1, total, x, y)
            if progress:
                progress(i + 1, total)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) and refs.entries:
            _install(work, out, refs)  # like stop(): the positions so far, a valid set
        else:
            shutil.rmtree(work, ignore_errors=True)  # the output stays as it was
        raise
    finally:
        if roi is not None:
            microscope.set_roi(*roi)
    if not refs.entries:
        shutil.rmtree(work, ignore_errors=True)
        raise SrscopeError("no reference captured")
    _install(work, out, refs)
    return refs


_CAPTURE_NAME = re.compile(r"^p\d{3,}_.+_(hr|lr)\.ome\.tif$")


def _set_files(folder: Path) -> set[str]:
    """The names a reference set in ``folder`` owns: its JSON, the files it lists, and
    captures named as this module names them (a damaged JSON still lists nothing)."""
    names = {p.name for p in folder.iterdir() if _CAPTURE_NAME.match(p.name)}
    try:
        data = json.loads((folder / REFERENCES_FILE).read_text())
        for entry in data.get("entries", []):
            for role in ("hr", "lr"):
                if isinstance(entry.get(role), dict) and isinstance(entry[role].get("file"), str):
                    names.add(entry[role]["file"])
    except (OSError, ValueError, AttributeError):
        pass
    if (folder / REFERENCES_FILE).exists():
        names.add(REFERENCES_FILE)
    return {n for n in names if "/" not in n and (folder / n).is_file()}


def _install(work: Path, out: Path, refs: ReferenceSet) -> None:
    """Put the set captured in ``work`` at ``out``, replacing any set there whole.

    A new or empty ``out``, or one holding only a set, is swapped by renames; files
    a user keeps beside an old set stay, and only the old set's files are removed.
    """
    keep = {REFERENCES_FILE} | {c.file for e in refs.entries for c in (e.hr, e.lr) if c}
    for p in work.iterdir():  # an interrupted position's captures are not in the set
        if p.name not in keep:
            p.unlink()
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(work, 0o777 & ~mask)  # mkdtemp makes 0700; a new folder follows the umask
    if not out.exists() or not any(out.iterdir()):
        os.replace(work, out)  # a rename over an empty folder: atomic
        return
    old = _set_files(out)
    if all(p.name in old for p in out.iterdir()):  # only a set: swap the folders
        trash = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, trash)
        os.replace(work, out)
        shutil.rmtree(trash, ignore_errors=True)
        return
    (out / REFERENCES_FILE).unlink(missing_ok=True)  # no moment with a set naming lost files
    for name in old:
        (out / name).unlink(missing_ok=True)
    for name in sorted(keep - {REFERENCES_FILE}):
        os.replace(work / name, out / name)
    os.replace(work / REFERENCES_FILE, out / REFERENCES_FILE)
    shutil.rmtree(work, ignore_errors=True)


def _set_roi(microscope: Rig, full: list[int], side: int | None) -> None:
    """A centred square ROI of ``side`` px, or back to ``full`` (x, y, w, h)."""
    if side is None:
        microscope.set_roi(*full)
    else:
        microscope.core.clearROI()
        w, h = microscope.core.getImageWidth(), microscope.core.getImageHeight()
        microscope.set_centered_roi(min(side, w, h))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
