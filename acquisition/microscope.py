"""The :class:`Microscope` facade: the :class:`~acquisition.rig.Rig` plus its jobs.

Snap, stream, move, capture references, scan and run sequences from one object;
each job lives in its own module (:mod:`acquisition.live`,
:mod:`acquisition.references`, :mod:`acquisition.scan`, :mod:`acquisition.sequence`)
and takes the rig, so this module sits above them all and nothing imports it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import useq

from acquisition.live import LiveStream
from acquisition.processor import FrameProcessor
from acquisition.references import capture_references
from acquisition.rig import MAX_EXPOSURE_MS, Rig, check_exposure
from acquisition.scan import ScanPlan, ScanResult, run_scan
from acquisition.sequence import acquire
from srscope.references import ReferenceSet

__all__ = ["MAX_EXPOSURE_MS", "Microscope", "check_exposure"]


class Microscope(Rig):
    """A microscope you can snap, stream, move, scan and capture references with.

    Use :meth:`open` (sim rig by default, or a config file), or wrap an existing
    core. Close it (or use it as a context manager) to unload the devices.
    """

    def live(self, processor: FrameProcessor | None = None) -> LiveStream:
        """A :class:`~acquisition.live.LiveStream` (not started) of this microscope."""
        return LiveStream(self, processor=processor)

    def references(
        self, out_dir: str | Path, positions: Sequence[tuple[float, float]], **kw: Any
    ) -> ReferenceSet:
        """Capture a reference set; see :func:`acquisition.references.capture_references`."""
        return capture_references(self, out_dir, positions, **kw)

    def scan(self, plan: ScanPlan | None, out_dir: str | Path, **kw: Any) -> ScanResult:
        """Run (or resume) a tile scan; see :func:`acquisition.scan.run_scan`."""
        return run_scan(self, plan, out_dir, **kw)

    def acquire(self, sequence: useq.MDASequence | str | Path, output: str | Path, **kw: Any):
        """Run any useq sequence headless; see :func:`acquisition.sequence.acquire`."""
        return acquire(self, sequence, output, **kw)
