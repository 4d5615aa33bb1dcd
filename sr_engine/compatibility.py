"""Does a model fit the data it is about to be applied to? Pixel size, channel, modality.

A model learned one objective's pixels (its LR pixel size) and one channel's PSF.
Applied to another objective it makes a confident, wrong image; applied to another
channel, a subtly wrong one. Every entry point that runs a model on data asks
:func:`check_fit` first. A generalist (trained on a range of PSF widths, e.g.
``generalist_fluo``) fits any channel of its modality; anything else that does not
fit is refused unless the user overrides it, and the override is written down.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sr_engine.metadata import ModelMetadata, read_metadata
from srscope.errors import SrscopeError
from srscope.optics import KNOWN_CHANNELS

PIXEL_SIZE_TOLERANCE = 0.10  # relative: objectives' nominal pixel sizes are this far apart at least
GENERALIST_PSF_RANGE = 0.2  # a model trained on PSF widths ±this or more adapts to a channel

Modality = Literal["fluorescence", "brightfield"]


class ModelMismatch(SrscopeError):
    """The data is not what the model was made for (pixel size, channel, channels)."""


@dataclass(frozen=True)
class Fit:
    """How the model fits: ``exact``, by ``modality`` (a generalist), or ``override``."""

    how: Literal["exact", "modality", "override"]
    notes: tuple[str, ...] = ()

    def provenance(self) -> dict[str, object]:
        return {"fit": self.how, "fit_notes": list(self.notes)}


def _norm(name: str) -> str:
    return name.strip().upper()


def model_channels(meta: ModelMetadata) -> set[str]:
    """Every channel name the model was made for (``"DAPI|TRITC"`` counts as both)."""
    return {_norm(part) for c in meta.channels for part in c.split("|") if part.strip()}


def channel_modality(name: str) -> Modality | None:
    """Fluorescence or brightfield for a well-known channel name (``BF-*``, R/G/B: brightfield)."""
    key = _norm(name)
    if key in KNOWN_CHANNELS:
        return KNOWN_CHANNELS[key][1]
    if key.startswith("BF") or key in ("R", "G", "B"):
        return "brightfield"
    return None


def modality_of(channels: list[str]) -> Modality | None:
    """The one modality of all these channel names (``"DAPI|TRITC"`` counts as both), else None."""
    kinds = {channel_modality(p) for c in channels for p in c.split("|") if p.strip()}
    return kinds.pop() if len(kinds) == 1 else None


def model_modality(meta: ModelMetadata) -> Modality | None:
    """The one modality of all the model's channels, else None."""
    return modality_of(list(meta.channels))


def is_generalist(meta: ModelMetadata) -> bool:
    """Trained on a range of PSF widths wide enough to cover the channels of its modality."""
    config = meta.training.get("config", {}) if isinstance(meta.training, dict) else {}
    try:
        return float(config.get("psf_scale_range", 0.0)) >= GENERALIST_PSF_RANGE
    except (TypeError, ValueError):
        return False


def check_fit(
    meta: ModelMetadata,
    *,
    channel: str | None = None,
    pixel_size_um: float | None = None,
    n_channels: int | None = None,
    model_name: str = "the model",
    allow_mismatch: bool = False,
) -> Fit:
    """How ``meta``'s model fits data of ``channel`` at ``pixel_size_um`` with ``n_channels``.

    Unknown facts (None, empty channel) are not held against the data. Raises
    :class:`ModelMismatch` naming every problem, unless ``allow_mismatch``.
    """
    problems: list[str] = []
    notes: list[str] = []
    how: Literal["exact", "modality", "override"] = "exact"
    if n_channels is not None and n_channels != meta.n_channels:
        problems.append(
            f"{model_name} takes {meta.n_channels}-channel images, the data has {n_channels}"
        )
    if pixel_size_um:
        want = meta.lr_pixel_size_um
        if abs(pixel_size_um / want - 1.0) > PIXEL_SIZE_TOLERANCE:
            problems.append(
                f"{model_name} was made for {want:.3g} µm LR pixels, the data has "
                f"{pixel_size_um:.3g} µm (another objective?)"
            )
    if channel and channel.strip() and _norm(channel) not in model_channels(meta):
        kind = channel_modality(channel)
        if is_generalist(meta) and kind is not None and kind == model_modality(meta):
            how = "modality"
            notes.append(
                f"{model_name} ({'|'.join(meta.channels)}) is a {kind} generalist: "
                f"applied to {channel}"
            )
        else:
            problems.append(
                f"{model_name} was made for channel(s) {', '.join(meta.channels)}, "
                f"the data is {channel}"
            )
    if problems and not allow_mismatch:
        raise ModelMismatch("; ".join(problems) + " (--allow-mismatch applies it anyway)")
    if problems:
        how = "override"
        notes.extend(f"applied anyway: {p}" for p in problems)
    return Fit(how, tuple(notes))


def model_for_channel(
    models: dict[str, Path], channel: str, pixel_size_um: float | None = None
) -> str | None:
    """The fastest of ``models`` that fits ``channel`` (and the pixel size), or None.

    The PSF differs per wavelength, so a model made for the channel comes first;
    a generalist of the channel's modality (``generalist_fluo`` for FITC) next.
    Live-tier models come first within each. The one choice the viewer (a model
    for the rig's channel) and ``scan``/``acquire --model auto`` (one per channel) make.
    """
    found: list[tuple[int, int, str]] = []
    for name, path in models.items():
        try:
            meta = read_metadata(path)
            fit = check_fit(meta, channel=channel, pixel_size_um=pixel_size_um)
        except SrscopeError:
            continue
        found.append((0 if fit.how == "exact" else 1, meta.tier_rank, name))
    return min(found)[2] if found else None
