"""The specimen the demo scans: a whole virtual slide instead of the mirror-tiled crop.

On the simulated rig the demo's scored fields stay on the ``tissue`` specimen (the
bundled models' held-out region is defined there), while its tile scan moves to
``slide_fluo``, whose mosaic shows tissue without repetition (a mirror-tiled crop
looks like a kaleidoscope, easily taken for a stitching bug).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from acquisition.rig import Rig

SCAN_SPECIMEN = "slide_fluo"
CAMERA = "Camera"


@contextmanager
def scan_specimen(scope: Rig, name: str | None) -> Iterator[None]:
    """Put ``name`` under the simulated rig's objective for a block, then the previous one.

    A real rig, or ``name`` None, is left alone.
    """
    if not name or not scope.is_simulated:
        yield
        return
    before = scope.core.getProperty(CAMERA, "Specimen")
    scope.core.setProperty(CAMERA, "Specimen", name)
    try:
        yield
    finally:
        scope.core.setProperty(CAMERA, "Specimen", before)
