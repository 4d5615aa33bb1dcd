"""Before a scan or sequence with ``--model``: does each channel's model fit its frames?

The frames' pixel size comes from the objective the run will use, their channels
from the plan, their colour count from the camera. Checked before anything is
captured or written (``sr_engine.compatibility.check_fit``), so a DAPI model is
never run on TRITC tiles, nor an LR model on 20x frames, without being told to.

``--model`` is repeatable (seed §2.5, multi-colour SR): ``NAME`` (every channel),
``CHANNEL=NAME`` (that channel) or ``auto`` (each channel the bundled model the
viewer would pick for it: :func:`sr_engine.compatibility.model_for_channel`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sr_engine.bundled import bundled_models, resolve_model
from sr_engine.compatibility import Fit, check_fit, model_for_channel
from sr_engine.metadata import read_metadata
from srscope.errors import SettingsError

AUTO = "auto"
_ORDER = {"exact": 0, "modality": 1, "override": 2}


def _rig_facts(scope: Any, objective: str | None) -> tuple[float | None, int]:
    """The pixel size and colour count of the frames the run will take."""
    if objective:
        scope.set_objective(objective)
    core = scope.core
    return float(core.getPixelSizeUm()) or None, 3 if core.getNumberOfComponents() > 1 else 1


def _worst(fits: list[Fit]) -> Fit:
    worst = max(fits, key=lambda f: _ORDER[f.how])
    return Fit(worst.how, tuple(dict.fromkeys(n for f in fits for n in f.notes)))


def model_fit_on_rig(
    scope: Any,
    model: str,
    channels: list[str],
    objective: str | None = None,
    allow_mismatch: bool = False,
) -> Fit:
    """How ``model`` fits frames of ``channels`` at ``objective`` (None: the current one).

    Switches the rig to ``objective`` (the run is about to use it anyway). Raises
    ``ModelMismatch`` naming the problem unless ``allow_mismatch``.
    """
    meta = read_metadata(resolve_model(model))
    pixel_size, colours = _rig_facts(scope, objective)
    name = meta.name or model
    return _worst(
        [
            check_fit(
                meta,
                channel=channel,
                pixel_size_um=pixel_size,
                n_channels=colours,
                model_name=name,
                allow_mismatch=allow_mismatch,
            )
            for channel in channels or [""]
        ]
    )


def parse_model_specs(specs: list[str], channels: list[str]) -> dict[str, str]:
    """``--model`` values as ``{channel: model or "auto"}``; ``""``: every channel not named.

    A pair's channel must be one of ``channels`` (case aside); a channel named twice,
    or two values without a channel, is refused.
    """
    wanted: dict[str, str] = {}
    for spec in specs:
        head, sep, tail = spec.partition("=")
        key, value = ("", spec.strip()) if not sep else (head.strip(), tail.strip())
        if not value or (sep and not key):
            raise SettingsError(f"--model {spec!r}: give MODEL, CHANNEL=MODEL or auto")
        if key:
            match = [c for c in channels if c == key] or [
                c for c in channels if c.lower() == key.lower()
            ]
            if not match:
                known = ", ".join(channels) or "none"
                raise SettingsError(f"--model {spec}: no channel {key} in this run ({known})")
            key = match[0]
        if key in wanted:
            what = f"channel {key} twice" if key else "two models for every channel"
            raise SettingsError(f"--model names {what}: give one per channel")
        wanted[key] = value
    return wanted


@dataclass(frozen=True)
class ChannelChoice:
    """Which model super-resolves which channel (``""``: every channel not named), and how
    each fits; :meth:`models` goes to the SR worker, :meth:`provenance` into its stores."""

    by_channel: dict[str, str]
    fits: dict[str, Fit]

    def models(self) -> dict[str, str]:
        return dict(self.by_channel)

    def provenance(self) -> dict[str, object]:
        prov = _worst(list(self.fits.values())).provenance()
        prov["fit_by_channel"] = {c or "*": f.how for c, f in self.fits.items()}
        return prov


def models_on_rig(
    scope: Any,
    specs: list[str],
    channels: list[str],
    objective: str | None = None,
    allow_mismatch: bool = False,
) -> ChannelChoice:
    """Each channel's model for ``--model`` ``specs`` (see :func:`parse_model_specs`),
    fit-checked against its channel's frames at ``objective``.

    Refused (one line, before anything is written): a channel without a model, an
    ``auto`` channel no bundled model fits, a model that does not fit its channel
    (unless ``allow_mismatch``), models of different scales.
    """
    wanted = parse_model_specs(specs, channels)
    pixel_size, colours = _rig_facts(scope, objective)
    by_channel: dict[str, str] = {c: m for c, m in wanted.items() if c and m != AUTO}
    fits: dict[str, Fit] = {}
    default = wanted.get("")
    for channel in channels or [""]:
        model = wanted.get(channel, default)
        if model is None:
            raise SettingsError(
                f"--model: no model for channel {channel} (add {channel}=MODEL, or auto)"
            )
        if model == AUTO:
            found = model_for_channel(bundled_models(), channel, pixel_size)
            if found is None:
                px = f" at {pixel_size:.3g} µm/px" if pixel_size else ""
                raise SettingsError(f"--model auto: no bundled model fits channel {channel}{px}")
            model = by_channel[channel] = found
        meta = read_metadata(resolve_model(model))
        fits[channel] = check_fit(
            meta, channel=channel, pixel_size_um=pixel_size, n_channels=colours,
            model_name=meta.name or model, allow_mismatch=allow_mismatch,
        )  # fmt: skip
    unnamed = [c for c in channels or [""] if not c or c not in wanted]
    if default is not None and default != AUTO and unnamed:
        by_channel[""] = default  # the channels no pair names
    scales = {str(m): read_metadata(resolve_model(m)).scale for m in set(by_channel.values())}
    if len(set(scales.values())) > 1:
        each = ", ".join(f"{m} ×{s}" for m, s in sorted(scales.items()))
        raise SettingsError(
            f"--model: the models' scales differ ({each}); give models of one scale"
        )
    return ChannelChoice(by_channel, fits)


def lr_objective(scope: Any) -> str | None:
    """The objective SR starts on: the lowest-magnification preset (None: no objectives)."""
    from acquisition.rig import magnification

    if not scope.core.isGroupDefined(scope.settings.objective_group):
        return None
    return min(scope.objectives, key=lambda o: magnification(o) or 1e9, default=None)


def start_for_model(
    scope: Any, meta: Any, objective: str | None = None, channel: str | None = None
) -> None:
    """Set the rig where ``meta``'s model sees its frames, as the viewer and live start.

    ``objective``, else the LR objective; ``channel``, else the model's own channel
    when the rig has it (an explicit other channel is left for the fit check to refuse).
    """
    objective = objective or lr_objective(scope)
    if objective:
        scope.set_objective(objective)
    if channel:
        scope.set_channel(channel)
        return
    wanted = {c.lower() for c in meta.channels}
    matches = [c for c in scope.channels if c.lower() in wanted]
    if matches and scope.channel not in matches:
        scope.set_channel(matches[0])
