"""What the viewer needs from the rig, over a pymmcore-plus core.

Objectives and channels are the core's ``Objective`` / ``Channel`` config
groups, so the viewer works on the simulated rig and on a user's own
Micro-Manager config alike. One lock serialises camera use between the live
loop, snaps and background tasks.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from srscope.errors import SrscopeError
from ui.save import FrameInfo

OBJECTIVE_GROUP = "Objective"
CHANNEL_GROUP = "Channel"


class RigControl:
    """Config groups, exposure, stage and snaps of one core."""

    def __init__(self, core: Any, microscope: Any = None) -> None:
        self.core = core
        self.microscope = microscope
        self.lock = threading.RLock()

    # -- config groups ----------------------------------------------------
    def _presets(self, group: str) -> list[str]:
        if not self.core.isGroupDefined(group):
            return []
        return list(self.core.getAvailableConfigs(group))

    def _current(self, group: str) -> str:
        if not self.core.isGroupDefined(group):
            return ""
        try:
            return self.core.getCurrentConfig(group)
        except Exception:
            return ""

    def _set(self, group: str, preset: str) -> None:
        known = self._presets(group)
        if preset not in known:
            raise SrscopeError(f"unknown {group.lower()} {preset!r} (known: {', '.join(known)})")
        with self.lock:
            if self.microscope is not None and hasattr(self.microscope, f"set_{group.lower()}"):
                getattr(self.microscope, f"set_{group.lower()}")(preset)
            else:
                self.core.setConfig(group, preset)
                self.core.waitForConfig(group, preset)

    def objectives(self) -> list[str]:
        return self._presets(OBJECTIVE_GROUP)

    def channels(self) -> list[str]:
        return self._presets(CHANNEL_GROUP)

    def objective(self) -> str:
        return self._current(OBJECTIVE_GROUP)

    def channel(self) -> str:
        return self._current(CHANNEL_GROUP)

    def set_objective(self, name: str) -> None:
        self._set(OBJECTIVE_GROUP, name)

    def set_channel(self, name: str) -> None:
        self._set(CHANNEL_GROUP, name)

    # -- camera -----------------------------------------------------------
    def exposure(self) -> float:
        return float(self.core.getExposure())

    def set_exposure(self, ms: float) -> None:
        with self.lock:
            self.core.setExposure(float(ms))

    def pixel_size_um(self) -> float:
        return float(self.core.getPixelSizeUm())

    def snap(self) -> np.ndarray:
        with self.lock:
            self.core.snapImage()
            return np.asarray(self.core.getImage())

    # -- stage ------------------------------------------------------------
    def has_stage(self) -> bool:
        return bool(self.core.getXYStageDevice())

    def position(self) -> tuple[float, float, float]:
        x = y = z = 0.0
        if self.has_stage():
            x, y = self.core.getXYPosition()
        if self.core.getFocusDevice():
            z = self.core.getPosition()
        return float(x), float(y), float(z)

    def move_by(self, dx_um: float, dy_um: float) -> None:
        if not self.has_stage():
            raise SrscopeError("the rig has no XY stage")
        with self.lock:
            self.core.setRelativeXYPosition(float(dx_um), float(dy_um))
            self.core.waitForDevice(self.core.getXYStageDevice())

    def frame_info(self) -> FrameInfo:
        return FrameInfo(
            pixel_size_um=self.pixel_size_um(),
            position_um=self.position(),
            objective=self.objective(),
            channel=self.channel(),
            exposure_ms=self.exposure(),
        )
