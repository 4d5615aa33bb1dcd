"""Shared fixtures. Each part keeps its own tests in tests/<part>/."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


# --- acquisition: the simulated rig (owned by acquisition) ------------------------
import pytest


@pytest.fixture
def microscope():
    """A fresh :class:`acquisition.Microscope` on the simulated rig, closed after the test.

    The camera runs as fast as it can (``RealTime`` off) at its full 1024² frame;
    call ``microscope.set_centered_roi(256)`` for quicker frames.
    """
    from acquisition import Microscope

    scope = Microscope.open()
    scope.core.setProperty("Camera", "RealTime", "Off")
    try:
        yield scope
    finally:
        scope.close()


@pytest.fixture
def sim_core(microscope):
    """The pymmcore-plus ``UniMMCore`` of the ``microscope`` fixture (sim rig loaded)."""
    return microscope.core
