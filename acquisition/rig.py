"""The :class:`Rig`: one small API over a pymmcore-plus core (what every job needs).

It works the same on the simulated rig (``UniMMCore`` + Python devices) and on
a user's Micro-Manager config (``CMMCorePlus``): objectives and channels are
config-group presets (group names from :class:`~acquisition.models.RigSettings`),
pixel size comes from the core's pixel-size presets. Every user-fixable problem
becomes an :class:`~srscope.errors.SrscopeError`.

Jobs that drive the rig (live streams, references, scans, sequences) take a
``Rig``; :class:`acquisition.microscope.Microscope` adds them as methods.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal
from pymmcore_plus import CMMCorePlus
from typing_extensions import Self

from acquisition.core import close_core, open_core
from acquisition.models import Frame, FrameMeta, RigSettings
from srscope import logger
from srscope.errors import DeviceError, SettingsError, SrscopeError
from srscope.model_base import one_line

MAX_EXPOSURE_MS = 600_000.0  # 10 min: longer is a typo (and would block a snap for days)


def magnification(objective: str) -> float:
    """``"20x/0.45"`` or ``"20x"`` -> 20.0 (0 when the name carries no magnification)."""
    head = objective.lower().split("x")[0].strip()
    try:
        return float(head)
    except ValueError:
        return 0.0


def check_exposure(exposure_ms: float) -> float:
    """An exposure time in ms a camera can take: > 0 and at most 10 minutes."""
    if not 0 < exposure_ms <= MAX_EXPOSURE_MS:
        raise SettingsError(
            f"exposure must be > 0 and ≤ {MAX_EXPOSURE_MS:g} ms (10 min), got {exposure_ms}"
        )
    return exposure_ms


class Rig:
    """Objectives, channels, camera, stage and pixel size of one core; snaps.

    Use :meth:`open` (sim rig by default, or a config file), or wrap an existing
    core. Close it (or use it as a context manager) to unload the devices.
    ``lock`` serialises camera use between threads that share the rig (a viewer's
    live view, its snaps and its jobs).
    """

    objective_changed = Signal(str)
    channel_changed = Signal(str)
    stage_moved = Signal(float, float, float)

    def __init__(
        self, core: CMMCorePlus, settings: RigSettings | None = None, *, owns_core: bool = False
    ) -> None:
        self._core: CMMCorePlus | None = core
        self.settings = settings or RigSettings()
        self._owns_core = owns_core
        self.lock = threading.RLock()
        if self.settings.roi is not None:
            self.set_roi(*self.settings.roi)

    # -- life cycle -----------------------------------------------------------
    @classmethod
    def open(cls, config: str | Path | None = None, settings: RigSettings | None = None) -> Self:
        """Open the simulated rig (``config=None``) or a Micro-Manager config file."""
        return cls(open_core(config), settings, owns_core=True)

    @property
    def is_simulated(self) -> bool:
        """True on the srscope simulated rig (its camera is our Python device)."""
        camera = self.core.getCameraDevice()
        return bool(camera) and "acquisition.sim" in str(self.core.getDeviceLibrary(camera))

    def close(self) -> None:
        """Stop any acquisition; tear the core down when this object opened it.

        Teardown is deterministic (:func:`~acquisition.core.close_core`): an owned
        core is gone when this returns, so its C++ threads cannot outlive the run.
        """
        core, self._core = self._core, None
        if core is None:
            return
        if self._owns_core:
            close_core(core)
            return
        if core.isSequenceRunning():
            core.stopSequenceAcquisition()
        if core.mda.is_running():
            core.mda.cancel()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def core(self) -> CMMCorePlus:
        if self._core is None:
            raise DeviceError("the microscope is closed")
        return self._core

    # -- objectives and channels --------------------------------------------
    def _presets(self, group: str) -> list[str]:
        if not self.core.isGroupDefined(group):
            raise DeviceError(f"the config has no {group!r} group")
        return list(self.core.getAvailableConfigs(group))

    @property
    def objectives(self) -> list[str]:
        """Objective preset names (e.g. ``5x``, ``20x``)."""
        return self._presets(self.settings.objective_group)

    @property
    def channels(self) -> list[str]:
        """Channel preset names (e.g. ``DAPI``, ``FITC``)."""
        return self._presets(self.settings.channel_group)

    def objective_label(self, preset: str | None = None) -> str:
        """The turret label of an objective preset (``5x`` -> ``5x/0.15``), else the preset."""
        preset = preset or self.objective
        if not preset:
            return ""
        try:
            data = self.core.getConfigData(self.settings.objective_group, preset)
        except Exception:  # any device error: the preset's own name will do
            return preset
        for _dev, prop, value in data:
            if prop == "Label":
                return str(value)
        return preset

    def resolve_objective(self, name: str) -> str:
        """Preset name for a preset or a turret label; unknown names are an error."""
        presets = self.objectives
        if name in presets:
            return name
        for p in presets:
            if self.objective_label(p) == name:
                return p
        raise DeviceError(f"unknown objective {name!r}; available: {', '.join(presets)}")

    @property
    def objective(self) -> str:
        """Current objective preset ('' when the config has no objective group)."""
        return self._current(self.settings.objective_group)

    def _current(self, group: str) -> str:
        if not self.core.isGroupDefined(group):
            return ""
        return str(self.core.getCurrentConfig(group))

    def set_objective(self, name: str) -> None:
        preset = self.resolve_objective(name)
        if preset != self.objective:
            self.core.setConfig(self.settings.objective_group, preset)
            self.core.waitForConfig(self.settings.objective_group, preset)
            self.objective_changed.emit(preset)

    @property
    def channel(self) -> str:
        """Current channel preset ('' when the config has no channel group)."""
        return self._current(self.settings.channel_group)

    def set_channel(self, name: str) -> None:
        channels = self.channels
        if name not in channels:
            raise DeviceError(f"unknown channel {name!r}; available: {', '.join(channels)}")
        if name != self.channel:
            self.core.setConfig(self.settings.channel_group, name)
            self.channel_changed.emit(name)

    # -- camera -------------------------------------------------------------
    @property
    def exposure_ms(self) -> float:
        return float(self.core.getExposure())

    def set_exposure(self, exposure_ms: float) -> None:
        check_exposure(exposure_ms)
        self.core.setExposure(float(exposure_ms))

    def set_roi(self, x: int, y: int, width: int, height: int) -> None:
        """Camera ROI in sensor pixels (centred ROIs keep the field centred on the stage)."""
        try:
            self.core.setROI(int(x), int(y), int(width), int(height))
        except Exception as exc:  # CMMError, or a Python camera's own error
            raise DeviceError(f"cannot set ROI ({x}, {y}, {width}, {height}): {exc}") from None

    def set_centered_roi(self, width: int, height: int | None = None) -> None:
        """A ROI of ``width`` x ``height`` pixels in the middle of the sensor."""
        height = height or width
        self.core.clearROI()
        full_w, full_h = self.core.getImageWidth(), self.core.getImageHeight()
        if width > full_w or height > full_h:
            raise DeviceError(f"ROI {width}x{height} is larger than the {full_w}x{full_h} sensor")
        self.set_roi((full_w - width) // 2, (full_h - height) // 2, width, height)

    @property
    def image_shape(self) -> tuple[int, int]:
        return int(self.core.getImageHeight()), int(self.core.getImageWidth())

    # -- stage ----------------------------------------------------------------
    @property
    def has_stage(self) -> bool:
        """The config has an XY stage."""
        return bool(self.core.getXYStageDevice())

    @property
    def position_um(self) -> tuple[float, float, float]:
        core = self.core
        x, y = core.getXYPosition() if core.getXYStageDevice() else (0.0, 0.0)
        z = core.getPosition() if core.getFocusDevice() else 0.0
        return float(x), float(y), float(z)

    def move_to(
        self, x: float | None = None, y: float | None = None, z: float | None = None
    ) -> None:
        """Move the stage (µm); targets outside the travel range are refused."""
        core = self.core
        try:
            if x is not None or y is not None:
                if not core.getXYStageDevice():
                    raise DeviceError("the config has no XY stage")
                cx, cy = core.getXYPosition()
                core.setXYPosition(float(cx if x is None else x), float(cy if y is None else y))
                core.waitForDevice(core.getXYStageDevice())
            if z is not None:
                if not core.getFocusDevice():
                    raise DeviceError("the config has no focus device")
                core.setPosition(float(z))
                core.waitForDevice(core.getFocusDevice())
        except SrscopeError:
            raise
        except Exception as exc:  # CMMError, or a Python stage's own error
            msg = one_line(exc, None)
            raise DeviceError(f"stage move to x={x}, y={y}, z={z} refused: {msg}") from None
        self.stage_moved.emit(*self.position_um)

    def move_by(self, dx_um: float = 0.0, dy_um: float = 0.0) -> None:
        """Move the XY stage by (dx, dy) µm."""
        x, y, _ = self.position_um
        self.move_to(x + dx_um, y + dy_um)

    def check_reachable(self, x_um: float, y_um: float, name: str = "") -> None:
        """Refuse a stage target outside the travel range (known on the simulated rig)."""
        xy = self.core.getXYStageDevice()
        if not xy or not self.is_simulated:
            return
        core = self.core
        lo_x, hi_x = float(core.getProperty(xy, "XMin_um")), float(core.getProperty(xy, "XMax_um"))
        lo_y, hi_y = float(core.getProperty(xy, "YMin_um")), float(core.getProperty(xy, "YMax_um"))
        if not (lo_x <= x_um <= hi_x and lo_y <= y_um <= hi_y):
            raise DeviceError(
                f"stage position {name} ({x_um:.0f}, {y_um:.0f}) µm is outside the stage "
                f"travel x [{lo_x:.0f}, {hi_x:.0f}], y [{lo_y:.0f}, {hi_y:.0f}] µm"
            )

    # -- pixel size -------------------------------------------------------------
    @property
    def pixel_size_um(self) -> float:
        return float(self.core.getPixelSizeUm())

    def require_pixel_size(self) -> float:
        """The pixel size, or an error when the config does not define one (pitfall)."""
        px = self.pixel_size_um
        if not px > 0:
            raise DeviceError(
                f"pixel size is not set for objective {self.objective!r}: define a pixel size "
                "preset in the config (useq grids would silently assume a 1 µm field)"
            )
        return px

    # -- acquisition ---------------------------------------------------------------
    def frame_meta(self, index: int = 0, extra: dict[str, Any] | None = None) -> FrameMeta:
        return FrameMeta(
            pixel_size_um=self.pixel_size_um,
            position_um=self.position_um,
            objective=self.objective_label(),
            channel=self.channel,
            exposure_ms=self.exposure_ms,
            index=index,
            timestamp_s=time.time(),
            extra=extra or {},
        )

    def snap(
        self,
        objective: str | None = None,
        channel: str | None = None,
        exposure_ms: float | None = None,
    ) -> Frame:
        """Set what is given, take one image, return it with its metadata."""
        if objective is not None:
            self.set_objective(objective)
        if channel is not None:
            self.set_channel(channel)
        if exposure_ms is not None:
            self.set_exposure(exposure_ms)
        meta = self.frame_meta()
        try:
            self.core.snapImage()
            image = np.array(self.core.getImage(), copy=True)
        except Exception as exc:  # CMMError, or a Python camera's own error
            msg = one_line(exc, None)
            raise DeviceError(f"snap failed: {msg}") from None
        logger.debug(
            "snap %s %s %.1f ms at %s",
            meta.objective,
            meta.channel,
            meta.exposure_ms,
            meta.position_um,
        )
        return Frame(image, meta)
