"""A scan folder's records: ``scan.json`` (:class:`ScanState`) and the :class:`Journal`.

``scan.json`` is written once, before the first tile: the plan, the tile list,
pixel size and tile shape. The journal gets one fsync'd line per captured tile
(which part holds it, its stage position), after the tile's pixels reached the
disk, so a journaled tile always has pixels; a resume reads both.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from acquisition.scan_plan import ScanPlan
from srscope import logger
from srscope.errors import SrscopeError
from srscope.model_base import SrscopeModel, one_line

SCAN_FORMAT = "srscope-scan/1"

TileKey = tuple[int, int]  # (position index, channel index)


class TilePosition(SrscopeModel):
    """Where one tile of the scan is centred (stage µm)."""

    x: float
    y: float
    name: str = ""


class ScanState(SrscopeModel):
    """``scan.json``: everything a resume needs to capture exactly the missing tiles."""

    format: Literal["srscope-scan/1"] = SCAN_FORMAT
    plan: ScanPlan
    objective: str
    pixel_size_um: float
    tile_shape: tuple[int, int]
    channels: list[str]
    positions: list[TilePosition]
    sequence: dict[str, Any]  # the useq MDASequence, as JSON

    @classmethod
    def load(cls, folder: Path) -> ScanState:
        """The state in ``folder``; a missing or damaged file is a one-line error."""
        path = Path(folder) / "scan.json"
        if not path.is_file():
            raise SrscopeError(f"nothing to resume: no scan.json in {folder}")
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise SrscopeError(f"cannot resume: {path} is unreadable ({one_line(exc)})") from None
        return cls.from_json(text, f"cannot resume: {path} is damaged")

    def save(self, folder: Path) -> Path:
        return self.to_file(Path(folder) / "scan.json")

    def groups(self) -> dict[str, list[int]]:
        """Tile indices per mosaic: one mosaic per well (names 'A1_0003'), else one."""
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(self.positions):
            well = p.name.split("_")[0] if self.plan.kind == "plate" and "_" in p.name else ""
            groups.setdefault(well, []).append(i)
        return groups


class JournalEntry(SrscopeModel):
    """One journal line: a captured tile (or, with ``lost``, one whose pixels never landed)."""

    p: int
    c: int
    part: str
    x: float = 0.0
    y: float = 0.0
    name: str = ""
    lost: bool = False

    @property
    def key(self) -> TileKey:
        return self.p, self.c


class Journal:
    """Append-only record of captured tiles (fsync'd per line), robust to a torn last line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _append(self, record: dict[str, Any]) -> None:
        with self._lock, open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def add(self, key: TileKey, part: str, x: float, y: float, name: str) -> None:
        self._append({"p": key[0], "c": key[1], "part": part, "x": x, "y": y, "name": name})

    def forget_unreadable(self, scan_dir: Path, part: str, wait_s: float = 1.0) -> list[TileKey]:
        """Mark tiles of ``part`` whose pixels never reached the disk as lost.

        A tile in flight when a scan is interrupted can be listed but not written;
        marking it lost keeps "listed" == "readable", and a resume captures it again.
        """
        deadline = time.monotonic() + wait_s
        while True:
            missing = [
                k for k, e in self.latest().items() if e.part == part and not _readable(scan_dir, e)
            ]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for key in missing:
            logger.warning("tile %s was not written completely; a resume captures it again", key)
            self._append({"p": key[0], "c": key[1], "part": part, "lost": True})
        return missing

    def adopt_stored(self, scan_dir: Path, state: ScanState) -> list[TileKey]:
        """Journal the tiles whose pixels are stored but which have no journal line.

        A kill between a tile's write and its journal line leaves such a tile; it is
        kept (not captured again), so the stored data holds every tile once.
        """
        known = self.latest()
        adopted = []
        for part in sorted((scan_dir / "tiles").glob("part*.ome.zarr")):
            for entry in _stored_tiles(scan_dir, part.name, state):
                if entry.key not in known:
                    self.add(entry.key, part.name, entry.x, entry.y, entry.name)
                    known[entry.key] = entry
                    adopted.append(entry.key)
        if adopted:
            logger.info("journaled %d stored tiles a kill left unjournaled", len(adopted))
        return adopted

    def entries(self) -> list[JournalEntry]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(JournalEntry.model_validate_json(line))
            except ValueError:  # a line torn by a crash: that tile counts as missing
                continue
        return out

    def latest(self) -> dict[TileKey, JournalEntry]:
        """The last journal entry per captured tile (tiles marked lost are left out)."""
        last = {e.key: e for e in self.entries()}
        return {k: e for k, e in last.items() if not e.lost}

    def readable_tiles(self, scan_dir: Path) -> set[TileKey]:
        """Tiles in the journal whose pixels are really on disk."""
        return {key for key, e in self.latest().items() if _readable(scan_dir, e)}


def _stored_tiles(scan_dir: Path, part: str, state: ScanState) -> list[JournalEntry]:
    """Every tile with pixels in one part (an unreadable part: none)."""
    found = []
    for i, pos in enumerate(state.positions):
        for c in range(len(state.channels)):
            entry = JournalEntry(p=i, c=c, part=part, x=pos.x, y=pos.y, name=pos.name)
            if _readable(scan_dir, entry):
                found.append(entry)
    return found


def _readable(scan_dir: Path, entry: JournalEntry) -> bool:
    try:
        return bool(np.any(read_tile(scan_dir, entry)))
    except Exception:  # any reader error means: not (completely) on disk
        return False


def read_tile(scan_dir: str | Path, entry: JournalEntry) -> np.ndarray:
    """One captured tile (``(Y, X)``) from its part's OME-Zarr."""
    import zarr

    group = zarr.open_group(Path(scan_dir) / "tiles" / entry.part, mode="r")
    name = entry.name or str(entry.p)
    # one image per position; a single-position sequence is one image at the root
    arr = group[f"{name}/0"] if name in group else group["0"]
    data = arr[...] if arr.ndim == 2 else arr[(entry.c,) + (0,) * (arr.ndim - 3)]
    return np.asarray(data)


def load_tiles(scan_dir: str | Path) -> tuple[ScanState, dict[TileKey, np.ndarray], Journal]:
    """The scan state, every captured tile by (position, channel), and the journal."""
    scan_dir = Path(scan_dir)
    state = ScanState.load(scan_dir)
    journal = Journal(scan_dir / "journal.jsonl")
    tiles = {key: read_tile(scan_dir, e) for key, e in journal.latest().items()}
    return state, tiles, journal
