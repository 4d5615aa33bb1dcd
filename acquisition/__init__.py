"""Everything that touches a microscope: a pymmcore-plus facade and the simulated rig.

Public API
----------
- :class:`Microscope` (a :class:`Rig` with its jobs) — open the sim rig
  (``Microscope.open()``) or a Micro-Manager config (``Microscope.open("MMConfig.cfg")``);
  ``snap``, ``live``, ``move_to``, ``set_objective``, ``set_channel``, ``references``,
  ``scan``, ``acquire``.
- :class:`Frame`, :class:`FrameMeta` — an image and where/how it was taken.
- :class:`RigSettings` — config group names, LR/HR objectives, ROI.
- :class:`LiveStream`, :class:`FrameProcessor`, :class:`ProcessorRelay` — live frames
  off the acquisition thread (newest wins, counted drops) and the per-frame hook
  (e.g. super-resolution) that never slows acquisition.
- :func:`capture_references` — HR + LR reference sets (DESIGN.md format).
- :class:`ScanPlan`, :func:`run_scan` — resumable tile scans to OME-Zarr + a stitched mosaic.
- :func:`acquire`, :func:`load_sequence` — any useq-schema sequence, headless.
- :func:`stitch` (in :mod:`acquisition.mosaic`) — seam-free mosaics of arbitrary tiles.
- :func:`open_core`, ``SIM_CONFIG`` — the loaded pymmcore-plus core / the sim rig config file.
"""

from __future__ import annotations

from acquisition.core import SIM_CONFIG, open_core
from acquisition.live import LiveStream
from acquisition.microscope import Microscope
from acquisition.models import Frame, FrameMeta, RigSettings
from acquisition.mosaic import stitch
from acquisition.processor import FrameProcessor
from acquisition.processor_relay import ProcessorRelay
from acquisition.references import capture_references
from acquisition.rig import Rig
from acquisition.scan import AreaPlan, GridPlan, PlatePlan, ScanPlan, run_scan, scan_plan
from acquisition.sequence import acquire, load_sequence

__all__ = [
    "SIM_CONFIG",
    "AreaPlan",
    "Frame",
    "FrameMeta",
    "FrameProcessor",
    "GridPlan",
    "LiveStream",
    "Microscope",
    "PlatePlan",
    "ProcessorRelay",
    "Rig",
    "RigSettings",
    "ScanPlan",
    "acquire",
    "capture_references",
    "load_sequence",
    "open_core",
    "run_scan",
    "scan_plan",
    "stitch",
]
