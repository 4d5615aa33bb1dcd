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
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymmcore_plus import CMMCorePlus

from srscope import logger
from srscope.errors import SrscopeError

SIM_CONFIG = Path(__file__).parent / "sim" / "srscope_sim.cfg"


class ConfigError(SrscopeError):
    """The configuration file is missing or does not load."""


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
    core = UniMMCore(mm_path=str(path.parent)) if python_devices else CMMCorePlus()
    msg = ""
    try:
        with _quiet_pymmcore():
            core.loadSystemConfiguration(str(path))
    except Exception as exc:
        msg = " ".join(str(exc).split())
    if msg:
        # Destroy the half-loaded core now: a UniMMCore left to interpreter shutdown
        # after a failed load aborts the process ("exception not rethrown").
        _close_quietly(core)
        del core
        gc.collect()
        raise ConfigError(f"cannot load config {path.name}: {msg}")
    follow_pixel_size(core)
    return core


class _quiet_pymmcore:
    """Silence pymmcore-plus error logs of a failing load; we raise our own message."""

    def __enter__(self) -> None:
        self._log = logging.getLogger("pymmcore-plus")
        self._level = self._log.level
        self._log.setLevel(logging.CRITICAL)

    def __exit__(self, *exc: Any) -> None:
        self._log.setLevel(self._level)


def _close_quietly(core: CMMCorePlus) -> None:
    try:
        core.unloadAllDevices()
    except Exception:  # pragma: no cover - best effort
        logger.debug("unloading devices failed", exc_info=True)


@dataclass(frozen=True)
class _PixelPreset:
    name: str
    settings: tuple[tuple[str, str, str], ...]
    size_um: float
    affine: tuple[float, ...]


class PixelSizeFollower:
    """Keeps the core's pixel size in step with Python-device objective turrets."""

    def __init__(self, core: CMMCorePlus, presets: list[_PixelPreset]) -> None:
        self._core = core
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
        with self._lock:
            match = self._matching()
            name = match.name if match else ""
            if name == self.current:
                return
            if self.current:
                self._core.deletePixelSizeConfig(self.current)
            if match is not None:
                self._core.definePixelSizeConfig(match.name)
                self._core.setPixelSizeUm(match.name, match.size_um)
                if any(match.affine):
                    self._core.setPixelSizeAffine(match.name, list(match.affine))
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
    core._srscope_pixel_follower = follower  # type: ignore[attr-defined]  # keep alive
    return follower
