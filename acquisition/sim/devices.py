"""Python device adapters of the simulated rig (pymmcore-plus ``UniMMCore``).

Declared in ``srscope_sim.cfg`` with ``#py pyDevice`` lines and loaded exactly
like hardware. The camera renders what the other devices say: stage position,
focus, objective (turret label ``<mag>x/<NA>``), channel (filter label) and
shutter. Devices of one core find each other through a small registry keyed by
that core's signal object (device adapters only get an emit-only core proxy).

One file on purpose: pymmcore-plus loads every ``#py pyDevice`` class of the config from
one module, and the devices share its registry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymmcore_plus.experimental.unicore import (
    CameraDevice,
    Device,
    ShutterDevice,
    StageDevice,
    StateDevice,
    XYStageDevice,
    pymm_property,
)

from acquisition.sim.imaging import ExposureCache, NoiseBank, make_level, make_volume_level
from acquisition.sim.optics import (
    CameraModel,
    ChannelOptics,
    ObjectiveOptics,
    collection_factor,
)
from acquisition.sim.slide_render import render_slide
from acquisition.sim.specimen import load_specimen
from acquisition.sim.virtual_slide import VirtualSlide, is_slide_name, load_slide
from acquisition.sim.volume import is_volume_name, load_volume
from srscope import logger

DEFAULT_OBJECTIVES = {0: "5x/0.15", 1: "10x/0.30", 2: "20x/0.45"}
DEFAULT_CHANNELS = {0: "DAPI", 1: "FITC", 2: "TRITC", 3: "BF", 4: "BF-R", 5: "BF-G", 6: "BF-B"}
ON_OFF = ("On", "Off")


class SimulatedCameraError(RuntimeError):
    """Raised by the simulated camera when asked to fail (``FailAfterFrames``)."""


# ----------------------------------------------------------------------------- world


@dataclass
class _World:
    """The devices of one core, as the camera needs to see them."""

    xy: SimXYStage | None = None
    focus: SimFocus | None = None
    turret: SimObjectiveTurret | None = None
    filter: SimFilterWheel | None = None
    shutter: SimShutter | None = None
    users: int = 0


_WORLDS: dict[int, tuple[Any, _World]] = {}
_WORLDS_LOCK = threading.Lock()


def _world_key(device: Device) -> tuple[int, Any]:
    sig = device.core.events.propertyChanged  # the core's own signal instance
    return id(sig), sig


def _join(device: Device, slot: str | None) -> _World:
    key, sig = _world_key(device)
    with _WORLDS_LOCK:
        entry = _WORLDS.get(key)
        if entry is None or entry[0] is not sig:
            entry = (sig, _World())
            _WORLDS[key] = entry
        world = entry[1]
        world.users += 1
        if slot:
            setattr(world, slot, device)
    return world


def _leave(device: Device, world: _World | None, slot: str | None) -> None:
    if world is None:
        return
    with _WORLDS_LOCK:
        if slot and getattr(world, slot) is device:
            setattr(world, slot, None)
        world.users -= 1
        if world.users <= 0:
            for key, (_, w) in list(_WORLDS.items()):
                if w is world:
                    del _WORLDS[key]


class _WorldMember:
    _slot: str | None = None
    _world: _World | None = None

    def initialize(self) -> None:
        self._world = _join(self, self._slot)  # type: ignore[arg-type]

    def shutdown(self) -> None:
        _leave(self, self._world, self._slot)  # type: ignore[arg-type]
        self._world = None


def _on(value: Any) -> bool:
    return str(value).strip().lower() in ("on", "1", "true", "yes")


# ----------------------------------------------------------------------------- stages


class SimXYStage(_WorldMember, XYStageDevice):
    """XY stage with a travel range (µm); moves outside it are refused."""

    _slot = "xy"

    def __init__(self) -> None:
        super().__init__()
        self._pos = (0.0, 0.0)  # true position, µm
        self._origin = (0.0, 0.0)  # user origin, µm
        self._limits = {"x": (-100_000.0, 100_000.0), "y": (-100_000.0, 100_000.0)}

    def _limit(self, axis: str, i: int) -> float:
        return self._limits[axis][i]

    def _set_limit(self, axis: str, i: int, value: Any) -> None:
        lim = list(self._limits[axis])
        lim[i] = float(value)
        self._limits[axis] = (lim[0], lim[1])

    @pymm_property
    def XMin_um(self) -> float:
        """Lower end of the x travel range, µm."""
        return self._limit("x", 0)

    @XMin_um.setter
    def XMin_um(self, value: float) -> None:
        self._set_limit("x", 0, value)

    @pymm_property
    def XMax_um(self) -> float:
        return self._limit("x", 1)

    @XMax_um.setter
    def XMax_um(self, value: float) -> None:
        self._set_limit("x", 1, value)

    @pymm_property
    def YMin_um(self) -> float:
        return self._limit("y", 0)

    @YMin_um.setter
    def YMin_um(self, value: float) -> None:
        self._set_limit("y", 0, value)

    @pymm_property
    def YMax_um(self) -> float:
        return self._limit("y", 1)

    @YMax_um.setter
    def YMax_um(self, value: float) -> None:
        self._set_limit("y", 1, value)

    def true_position_um(self) -> tuple[float, float]:
        return self._pos

    def set_position_um(self, x: float, y: float) -> None:
        tx, ty = x + self._origin[0], y + self._origin[1]
        (x0, x1), (y0, y1) = self._limits["x"], self._limits["y"]
        if not (x0 <= tx <= x1 and y0 <= ty <= y1):
            raise ValueError(
                f"XY target ({x:.1f}, {y:.1f}) µm is outside the stage travel "
                f"x [{x0 - self._origin[0]:.0f}, {x1 - self._origin[0]:.0f}], "
                f"y [{y0 - self._origin[1]:.0f}, {y1 - self._origin[1]:.0f}] µm"
            )
        self._pos = (float(tx), float(ty))

    def get_position_um(self) -> tuple[float, float]:
        return self._pos[0] - self._origin[0], self._pos[1] - self._origin[1]

    def set_origin_x(self) -> None:
        self._origin = (self._pos[0], self._origin[1])

    def set_origin_y(self) -> None:
        self._origin = (self._origin[0], self._pos[1])

    def home(self) -> None:
        self._pos = (0.0, 0.0)

    def stop(self) -> None:
        """Moves are instantaneous; nothing to stop."""


class SimFocus(_WorldMember, StageDevice):
    """Focus drive (µm). The specimen is in focus at ``FocusPlane_um``."""

    _slot = "focus"

    def __init__(self) -> None:
        super().__init__()
        self._z = 0.0
        self._focus_plane = 0.0
        self._range = (-10_000.0, 10_000.0)

    @pymm_property
    def FocusPlane_um(self) -> float:
        """Stage z at which the specimen is in focus."""
        return self._focus_plane

    @FocusPlane_um.setter
    def FocusPlane_um(self, value: float) -> None:
        self._focus_plane = float(value)

    def defocus_um(self) -> float:
        return self._z - self._focus_plane

    def set_position_um(self, val: float) -> None:
        lo, hi = self._range
        if not lo <= float(val) <= hi:
            raise ValueError(f"focus target {val:.1f} µm is outside the travel [{lo}, {hi}] µm")
        self._z = float(val)

    def get_position_um(self) -> float:
        return self._z

    def set_origin(self) -> None:
        self._focus_plane -= self._z
        self._z = 0.0

    def home(self) -> None:
        self._z = 0.0

    def stop(self) -> None:
        """Moves are instantaneous; nothing to stop."""


# ----------------------------------------------------------------------------- state devices


class _SimStateDevice(_WorldMember, StateDevice):
    """A state device whose position is a plain integer (no motion, no failure)."""

    _labels: dict[int, str]
    _initial_state = 0

    def __init__(self) -> None:
        super().__init__(self._labels)
        self._state = self._initial_state

    def get_state(self) -> int:
        return self._state

    def set_state(self, position: int) -> None:
        self._state = int(position)

    def current_label(self) -> str:
        return self._state_to_label.get(self._state, "")


class SimObjectiveTurret(_SimStateDevice):
    """Objective turret; each label says its optics (``<mag>x/<NA>``)."""

    _slot = "turret"
    _labels = DEFAULT_OBJECTIVES


class SimFilterWheel(_SimStateDevice):
    """Filter wheel / channel selector; labels are channel names (DAPI, FITC, BF-R, ...)."""

    _slot = "filter"
    _labels = DEFAULT_CHANNELS
    _initial_state = 1


class SimShutter(_WorldMember, ShutterDevice):
    """Illumination shutter: closed means a dark frame (offset + read noise)."""

    _slot = "shutter"

    def __init__(self) -> None:
        super().__init__()
        self._open = True  # lamp on at power-up; see the note in srscope_sim.cfg

    def get_open(self) -> bool:
        return self._open

    def set_open(self, open: bool) -> None:
        self._open = bool(open)


# ----------------------------------------------------------------------------- camera


class SimCamera(_WorldMember, CameraDevice):
    """Scientific camera looking through the simulated microscope.

    Renders the specimen at the stage position through the current objective
    and channel; see :mod:`acquisition.sim.imaging` for the physics.
    """

    _slot = None

    def __init__(self) -> None:
        super().__init__()
        self._exposure = 10.0
        self._camera = CameraModel()
        self._sensor = (1024, 1024)
        self._roi: tuple[int, int, int, int] | None = None
        self._flux = 400.0
        self._specimen = "tissue"
        self._specimen_px = 0.0
        self._specimen_xy = (0.0, 0.0)  # stage position of the specimen image's centre
        self._sheet_um = 0.0  # light-sheet FWHM for volume specimens; 0: widefield
        self._noise_on = True
        self._realtime = True
        self._fail_after = -1
        self._frames_since_arm = 0
        self._noise = NoiseBank()
        self._cache = ExposureCache()
        self._default_objective = DEFAULT_OBJECTIVES[2]
        self._default_channel = DEFAULT_CHANNELS[1]

    # -- mandatory camera API ------------------------------------------------
    def get_exposure(self) -> float:
        return self._exposure

    def set_exposure(self, exposure: float) -> None:
        self._exposure = max(0.0, float(exposure))

    def shape(self) -> tuple[int, int]:
        if self._roi is not None:
            return self._roi[3], self._roi[2]
        return self._sensor

    def dtype(self) -> Any:
        return np.uint8 if self._camera.bit_depth <= 8 else np.uint16

    def get_roi(self) -> tuple[int, int, int, int]:
        if self._roi is not None:
            return self._roi
        return (0, 0, self._sensor[1], self._sensor[0])

    def set_roi(self, x: int, y: int, width: int, height: int) -> None:
        h, w = self._sensor
        if x < 0 or y < 0 or width <= 0 or height <= 0 or x + width > w or y + height > h:
            raise ValueError(f"ROI ({x}, {y}, {width}, {height}) is outside the {w}x{h} sensor")
        self._roi = (int(x), int(y), int(width), int(height))

    def clear_roi(self) -> None:
        self._roi = None

    def start_sequence(
        self, n: int | None, get_buffer: Callable[[Sequence[int], Any], np.ndarray]
    ) -> Iterator[Mapping]:
        shape, dtype = self.shape(), self.dtype()
        limit = n if n is not None else 2**63
        count = 0
        t_next = time.perf_counter()
        while count < limit:
            buf = get_buffer(shape, dtype)
            meta = self.render(buf)
            if self._realtime:  # a real sensor needs the exposure time
                t_next += self._exposure / 1000.0
                if (delay := t_next - time.perf_counter()) > 0:
                    time.sleep(delay)
                else:
                    t_next = time.perf_counter()
            else:
                # hand the GIL to the consumer now, not after the 5 ms switch interval
                time.sleep(0)
            yield meta
            count += 1

    # -- rendering -------------------------------------------------------------
    def optics(self) -> tuple[ObjectiveOptics, ChannelOptics]:
        world = self._world or _World()
        obj = world.turret.current_label() if world.turret else self._default_objective
        ch = world.filter.current_label() if world.filter else self._default_channel
        return ObjectiveOptics.from_label(obj), ChannelOptics.from_label(ch)

    def render(self, out: np.ndarray) -> dict[str, Any]:
        """Fill ``out`` with one exposure of the current field of view."""
        if 0 <= self._fail_after <= self._frames_since_arm:
            raise SimulatedCameraError(
                f"simulated camera failure after {self._frames_since_arm} frames (FailAfterFrames)"
            )
        self._frames_since_arm += 1
        world = self._world or _World()
        objective, channel = self.optics()
        x, y = world.xy.true_position_um() if world.xy else (0.0, 0.0)
        defocus = world.focus.defocus_um() if world.focus else 0.0
        shutter_open = world.shutter.get_open() if world.shutter else True
        cam = self._camera
        pixel_um = cam.pixel_pitch_um / objective.magnification
        h, w = out.shape[:2]
        rx, ry, _, _ = self.get_roi()
        sh, sw = self._sensor
        y0 = y - self._specimen_xy[1] + (ry - (sh - 1) / 2.0) * pixel_um
        x0 = x - self._specimen_xy[0] + (rx - (sw - 1) / 2.0) * pixel_um
        source: Any = None  # what the frame is cut from (kept alive by the cache)
        ident: tuple = ()
        scale = 0.0
        if shutter_open:
            dz = _defocus_bin(defocus, objective, channel)
            scale = self._flux * self._exposure * collection_factor(objective, channel.kind)
            if is_slide_name(self._specimen):  # rendered region by region
                source = load_slide(self._specimen.strip())
                ident = (id(source), objective, channel, dz)
            elif is_volume_name(self._specimen):  # a thick specimen: all planes, each defocused
                volume = load_volume(self._specimen.strip(), self._specimen_px)
                source = make_volume_level(volume, objective, channel, dz, cam, self._sheet_um)
                ident = (id(source),)
            else:  # mirror-tiled: one pre-blurred level, frames are crops of it
                specimen = load_specimen(self._specimen, self._specimen_px)
                source = make_level(specimen, objective, channel, dz, cam)
                ident = (id(source),)
        key = (*ident, round(y0, 6), round(x0, 6), h, w, scale, cam)
        cached = self._cache.get(key)
        if cached is None:
            if source is None:
                electrons = np.zeros((h, w), dtype=np.float32)
            elif isinstance(source, VirtualSlide):
                electrons = render_slide(source, objective, channel, dz, cam, y0, x0, h, w, scale)
            else:
                electrons = source.crop(y0, x0, h, w, scale)
            cached = self._cache.put(key, electrons, cam, owner=source)
        self._cache.expose(*cached, cam, out, self._noise if self._noise_on else None)
        return {
            "SimObjective": objective.label,
            "SimChannel": channel.label,
            "SimStageX_um": f"{x:.3f}",
            "SimStageY_um": f"{y:.3f}",
        }

    # -- standard properties ---------------------------------------------------
    def get_offset(self) -> float:
        return self._camera.offset_adu

    def set_offset(self, value: float) -> None:
        self._update_camera(offset_adu=float(value))

    def _update_camera(self, **kw: Any) -> None:
        self._camera = self._camera.model_copy(update=kw)
        CameraModel.model_validate(self._camera.model_dump())

    # -- sim properties --------------------------------------------------------
    @pymm_property(limits=(0.5, 50.0))
    def PixelPitch_um(self) -> float:
        """Sensor pixel pitch in µm (image pixel = pitch / magnification)."""
        return self._camera.pixel_pitch_um

    @PixelPitch_um.setter
    def PixelPitch_um(self, value: float) -> None:
        self._update_camera(pixel_pitch_um=float(value))

    @pymm_property(limits=(16, 8192))
    def SensorWidth(self) -> int:
        return self._sensor[1]

    @SensorWidth.setter
    def SensorWidth(self, value: int) -> None:
        self._sensor = (self._sensor[0], int(float(value)))
        self._roi = None

    @pymm_property(limits=(16, 8192))
    def SensorHeight(self) -> int:
        return self._sensor[0]

    @SensorHeight.setter
    def SensorHeight(self, value: int) -> None:
        self._sensor = (int(float(value)), self._sensor[1])
        self._roi = None

    @pymm_property(limits=(8, 16))
    def BitDepth(self) -> int:
        return self._camera.bit_depth

    @BitDepth.setter
    def BitDepth(self, value: int) -> None:
        self._update_camera(bit_depth=int(float(value)))

    @pymm_property(limits=(100.0, 1_000_000.0))
    def FullWell_e(self) -> float:
        return self._camera.full_well_e

    @FullWell_e.setter
    def FullWell_e(self, value: float) -> None:
        self._update_camera(full_well_e=float(value))

    @pymm_property(limits=(0.0, 100.0))
    def ReadNoise_e(self) -> float:
        return self._camera.read_noise_e

    @ReadNoise_e.setter
    def ReadNoise_e(self, value: float) -> None:
        self._update_camera(read_noise_e=float(value))

    @pymm_property(limits=(0.01, 100.0))
    def Gain_e_per_ADU(self) -> float:
        return self._camera.gain_e_per_adu

    @Gain_e_per_ADU.setter
    def Gain_e_per_ADU(self, value: float) -> None:
        self._update_camera(gain_e_per_adu=float(value))

    @pymm_property(limits=(0.0, 1e7))
    def PhotonFlux(self) -> float:
        """Photo-electrons per pixel per ms for specimen value 1 through a 20x/0.45."""
        return self._flux

    @PhotonFlux.setter
    def PhotonFlux(self, value: float) -> None:
        self._flux = float(value)

    @pymm_property
    def Specimen(self) -> str:
        """Built-in specimen (tissue, he, usaf1951), a volume (brain, or volume:PATH of a
        Z-stack; in focus at FocusPlane_um ± its depth / 2), a virtual slide (slide_fluo,
        slide_he, optionally :SEED or :SEED:SIZE_MM) or the path of an image file."""
        return self._specimen

    @Specimen.setter
    def Specimen(self, value: str) -> None:
        if is_slide_name(str(value)):
            load_slide(str(value).strip())  # fail now, not at the next snap
        elif is_volume_name(str(value)):
            load_volume(str(value).strip(), self._specimen_px)
        else:
            load_specimen(str(value), self._specimen_px)
        self._specimen = str(value)

    @pymm_property(limits=(0.0, 100.0))
    def SpecimenPixelSize_um(self) -> float:
        """Pixel size of the specimen image in µm; 0 uses the size stored in the file."""
        return self._specimen_px

    @SpecimenPixelSize_um.setter
    def SpecimenPixelSize_um(self, value: float) -> None:
        self._specimen_px = float(value)

    @pymm_property(limits=(-1e6, 1e6))
    def SpecimenX_um(self) -> float:
        """Stage x of the specimen image's centre (the slide repeats it by mirroring)."""
        return self._specimen_xy[0]

    @SpecimenX_um.setter
    def SpecimenX_um(self, value: float) -> None:
        self._specimen_xy = (float(value), self._specimen_xy[1])

    @pymm_property(limits=(-1e6, 1e6))
    def SpecimenY_um(self) -> float:
        """Stage y of the specimen image's centre."""
        return self._specimen_xy[1]

    @SpecimenY_um.setter
    def SpecimenY_um(self, value: float) -> None:
        self._specimen_xy = (self._specimen_xy[0], float(value))

    @pymm_property(limits=(0.0, 1000.0))
    def LightSheet_um(self) -> float:
        """Volume specimens: FWHM of a light sheet in the focal plane, µm (optical sectioning);
        0 is widefield epi-illumination, every plane excited."""
        return self._sheet_um

    @LightSheet_um.setter
    def LightSheet_um(self, value: float) -> None:
        self._sheet_um = float(value)

    @pymm_property(allowed_values=ON_OFF)
    def Noise(self) -> str:
        """Shot and read noise (Off: the expected image, for tests and debugging)."""
        return "On" if self._noise_on else "Off"

    @Noise.setter
    def Noise(self, value: str) -> None:
        self._noise_on = _on(value)

    @pymm_property(allowed_values=ON_OFF)
    def RealTime(self) -> str:
        """Take the exposure time per frame, as a real sensor does (Off: as fast as possible)."""
        return "On" if self._realtime else "Off"

    @RealTime.setter
    def RealTime(self, value: str) -> None:
        self._realtime = _on(value)

    @pymm_property(limits=(-1, 1_000_000_000))
    def FailAfterFrames(self) -> int:
        """Raise a camera error after this many more frames (-1: never). For fault tests."""
        return self._fail_after

    @FailAfterFrames.setter
    def FailAfterFrames(self, value: int) -> None:
        self._fail_after = int(float(value))
        self._frames_since_arm = 0
        if self._fail_after >= 0:
            logger.info("simulated camera will fail after %d frames", self._fail_after)


def _defocus_bin(defocus_um: float, objective: ObjectiveOptics, channel: ChannelOptics) -> float:
    """Quantise defocus to 1/8 of the depth of field (levels are cached per bin)."""
    dof = (channel.wavelength_nm / 1000.0) / objective.na**2
    step = max(dof / 8.0, 0.05)
    return round(defocus_um / step) * step
