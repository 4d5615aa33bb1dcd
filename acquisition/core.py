"""Opening a pymmcore-plus core: the simulated rig or a user's Micro-Manager config.

Also works around the pixel-size pitfall of pymmcore-plus 0.18: presets keyed on
a property of a Python device never resolve (``getCurrentPixelSizeConfig()`` is
``''``). :func:`follow_pixel_size` records those presets, replaces them by
property-less ones and keeps exactly the one matching the current objective
defined, so the core (and every writer that asks it) reports the right size.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymmcore_plus import CMMCorePlus

from srscope import logger
from srscope.errors import SrscopeError
from srscope.model_base import one_line

SIM_CONFIG = Path(__file__).parent / "sim" / "srscope_sim.cfg"

LIVE_BUFFER_FRAMES = 16
"""Full camera frames the sequence buffer holds: live view pops every frame at once
(newest wins) and scans snap, so a few frames of slack are all either needs."""

BURST_BUFFER_CAP_MB = 1024
"""The most a hardware-sequenced burst (``acquire``) may borrow for its buffer."""


class ConfigError(SrscopeError):
    """The configuration file is missing or does not load."""


@contextmanager
def _psygnal_events() -> Iterator[None]:
    """Cores made here emit psygnal events, even under a running QApplication.

    With Qt events (pymmcore-plus's choice when an app runs) MDA callbacks would be
    queued to the GUI thread: a scan's journal and relays expect them on the
    emitting thread (and Qt emits leak references under PySide6 6.12.0).
    """
    key = "PYMM_SIGNALS_BACKEND"
    old = os.environ.get(key)
    os.environ[key] = "psygnal"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def open_core(config: str | Path | None = None) -> CMMCorePlus:
    """A loaded core: the simulated rig when ``config`` is None, else that file.

    Files with Python devices (``#py`` lines) need ``UniMMCore``; plain
    hardware configs load into ``CMMCorePlus``.
    """
    from pymmcore_plus.experimental.unicore import UniMMCore

    path = SIM_CONFIG if config is None else Path(config).expanduser()
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    python_devices = "#py " in text
    # our Python devices need no Micro-Manager install: skip its discovery (and error log)
    with _quiet_pymmcore(), _psygnal_events():  # CMMCorePlus() logs when it finds no MM
        core = UniMMCore(mm_path=str(path.parent)) if python_devices else CMMCorePlus()
    msg = ""
    try:
        with _quiet_pymmcore():
            core.loadSystemConfiguration(str(path))
    except Exception as exc:  # CMMError (RuntimeError), or a Python device's own error
        msg = one_line(exc, None)
    if not msg and not core.getCameraDevice():
        msg = "it defines no camera (is it a Micro-Manager hardware configuration?)"
    if msg:
        close_core(core)
        del core
        raise ConfigError(f"cannot load config {path.name}: {msg}")
    follow_pixel_size(core)
    size_sequence_buffer(core)
    return core


def full_frame_bytes(core: CMMCorePlus) -> int:
    """Bytes of one full-sensor camera frame (0 without a camera); the ROI is kept."""
    if not core.getCameraDevice():
        return 0
    roi = list(core.getROI())
    core.clearROI()
    try:
        return int(core.getImageWidth() * core.getImageHeight() * core.getBytesPerPixel())
    finally:
        if list(core.getROI()) != roi:
            core.setROI(*roi)


def size_sequence_buffer(core: CMMCorePlus, frames: int = LIVE_BUFFER_FRAMES) -> int:
    """Size the sequence (circular) buffer to ``frames`` full frames; returns its MiB.

    UniMMCore allocates 1 GiB (MMCore 250 MB) whatever the camera; live view cycles
    through all of it, so a long live run's memory grows page by page to the full size.
    """
    frame = full_frame_bytes(core)
    if frame <= 0:
        return 0
    size_mb = max(1, math.ceil(frames * frame / 2**20))
    core.setCircularBufferMemoryFootprint(size_mb)
    logger.debug("sequence buffer: %d MiB (%d frames of %d bytes)", size_mb, frames, frame)
    return size_mb


@contextmanager
def burst_buffer(core: CMMCorePlus, frames: int) -> Iterator[int]:
    """A buffer for a hardware-sequenced burst of ``frames`` while the block runs.

    A burst fills the buffer at the camera's pace and drains at the writer's; when the
    camera is faster the burst stops on overflow. So it gets room for all its frames
    (at most :data:`BURST_BUFFER_CAP_MB`), and the live size comes back afterwards.
    """
    frame = full_frame_bytes(core)
    if frame <= 0:
        yield 0
        return
    needed = min(BURST_BUFFER_CAP_MB * 2**20 // frame, max(frames, LIVE_BUFFER_FRAMES))
    before = int(core.getCircularBufferMemoryFootprint())
    size_mb = size_sequence_buffer(core, needed)
    try:
        yield size_mb
    finally:
        if not core.isSequenceRunning() and before != size_mb:
            core.setCircularBufferMemoryFootprint(before)


def close_core(core: CMMCorePlus) -> None:
    """Tear a core down now, so no MMCore thread calls into Python at interpreter exit.

    MMCore delivers device events (property, stage, exposure...) on a C++ thread through
    the callback pymmcore-plus registers. A core still alive at interpreter shutdown can
    call into a finalizing interpreter, and the process aborts ("FATAL: exception not
    rethrown", exit 134) after a successful run. So: stop acquisitions, detach the pixel
    follower, unload every device, unregister the C++ callback and drop all Python slots.
    The caller then drops its last reference and the C++ core is destroyed at once.
    """
    import pymmcore

    steps = (
        lambda: _stop_acquisitions(core),
        lambda: _detach_follower(core),
        core.unloadAllDevices,
        lambda: pymmcore.CMMCore.registerCallback(core, None),
        lambda: _disconnect_all(core.events),
        lambda: _disconnect_all(core.mda.events),
    )
    for step in steps:
        try:
            step()
        except Exception:  # every step is best effort: a failing device must not stop the rest
            logger.debug("core teardown step failed", exc_info=True)
    gc.collect()  # objects (e.g. MDA engines) that kept a reference in a cycle


def _stop_acquisitions(core: CMMCorePlus) -> None:
    if core.isSequenceRunning():
        core.stopSequenceAcquisition()
    if core.mda.is_running():
        core.mda.cancel()


def _detach_follower(core: CMMCorePlus) -> None:
    follower = core.__dict__.pop("_srscope_pixel_follower", None)
    if follower is not None:
        follower.close()


def _disconnect_all(events: Any) -> None:
    """Disconnect every slot of a psygnal signal group (Qt signalers are left alone)."""
    disconnect = getattr(events, "disconnect", None)
    if callable(disconnect) and not hasattr(events, "blockSignals"):
        disconnect()


class _quiet_pymmcore:
    """Silence pymmcore-plus error logs of a failing load; we raise our own message."""

    def __enter__(self) -> None:
        self._log = logging.getLogger("pymmcore-plus")
        self._level = self._log.level
        self._log.setLevel(logging.CRITICAL)

    def __exit__(self, *exc: Any) -> None:
        self._log.setLevel(self._level)


@dataclass(frozen=True)
class _PixelPreset:
    name: str
    settings: tuple[tuple[str, str, str], ...]
    size_um: float
    affine: tuple[float, ...]


class PixelSizeFollower:
    """Keeps the core's pixel size in step with Python-device objective turrets.

    The core keeps the follower alive; the follower holds the core weakly. A strong
    reference back would make a cycle through the SWIG object's ``__dict__``, which
    Python's cycle collector cannot see: the core would outlive every ``close``.
    """

    def __init__(self, core: CMMCorePlus, presets: list[_PixelPreset]) -> None:
        self._core_ref = weakref.ref(core)
        self._presets = presets
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], str] = {}
        for p in presets:
            for dev, prop, _ in p.settings:
                self._values[(dev, prop)] = str(core.getProperty(dev, prop))
        self.current: str = ""
        for p in presets:
            core.deletePixelSizeConfig(p.name)
        self.update()
        core.events.propertyChanged.connect(self._on_property)

    def close(self) -> None:
        """Stop following (the core is being torn down)."""
        core = self._core_ref()
        if core is not None:
            core.events.propertyChanged.disconnect(self._on_property)

    def _on_property(self, device: str, prop: str, value: Any) -> None:
        # Called while the device's lock is held: use the emitted value, never query.
        if (device, prop) in self._values:
            self._values[(device, prop)] = str(value)
            self.update()

    def _matching(self) -> _PixelPreset | None:
        for p in self._presets:
            if all(self._values.get((d, k)) == v for d, k, v in p.settings):
                return p
        return None

    def update(self) -> None:
        """Define exactly the preset that matches the turret now (or none)."""
        core = self._core_ref()
        if core is None:
            return
        with self._lock:
            match = self._matching()
            name = match.name if match else ""
            if name == self.current:
                return
            if self.current:
                core.deletePixelSizeConfig(self.current)
            if match is not None:
                core.definePixelSizeConfig(match.name)
                core.setPixelSizeUm(match.name, match.size_um)
                if any(match.affine):
                    core.setPixelSizeAffine(match.name, list(match.affine))
            self.current = name
            logger.debug("pixel size preset now %r", name)


def follow_pixel_size(core: CMMCorePlus) -> PixelSizeFollower | None:
    """Install a :class:`PixelSizeFollower` when pixel presets key on Python devices."""
    is_py = getattr(core, "isPyDevice", None)
    if is_py is None or core.getCurrentPixelSizeConfig():
        return None
    presets: list[_PixelPreset] = []
    for name in core.getAvailablePixelSizeConfigs():
        data = core.getPixelSizeConfigData(name)
        settings = tuple((str(d), str(k), str(v)) for d, k, v in data)
        if not settings or not any(is_py(d) for d, _, _ in settings):
            continue
        presets.append(
            _PixelPreset(
                name,
                settings,
                core.getPixelSizeUmByID(name),
                tuple(core.getPixelSizeAffineByID(name)),
            )
        )
    if not presets:
        return None
    follower = PixelSizeFollower(core, presets)
    core._srscope_pixel_follower = follower  # type: ignore[attr-defined]  # core keeps it
    return follower
