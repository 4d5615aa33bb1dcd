"""The on-the-fly SR worker's models: one per channel (seed §2.5, multi-colour SR).

A model learned one channel's PSF, so a DAPI + TRITC acquisition is super-resolved
with a DAPI model and a TRITC model, each frame by its channel's. The parent names
them as ``{channel: model}`` (``""``: every channel not named, e.g. one model for
all); the worker loads each distinct file once (:class:`ChannelModels`). One SR
store has one pixel size, so every model must have the same scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from srscope.errors import SrscopeError

ANY_CHANNEL = ""  # the key of the model for channels no other key names
BRIEF = ("backend", "precision", "how")  # each channel's backend; the first's in full


def model_file(model: Any) -> str:
    """The ONNX file the worker loads: a path, a bundled model's name, or an SRModel's file."""
    from sr_engine.bundled import resolve_model

    source = getattr(model, "source", model)
    path = Path(resolve_model(source))
    if not path.is_file():
        raise SrscopeError(f"model file not found: {path}")
    return str(path)


def model_files(model: Any) -> dict[str, str]:
    """``{channel: ONNX file}`` for one model (every channel) or a ``{channel: model}`` map."""
    models = model if isinstance(model, Mapping) else {ANY_CHANNEL: model}
    if not models:
        raise SrscopeError("on-the-fly SR needs at least one model")
    return {str(channel): model_file(m) for channel, m in models.items()}


class ChannelModels:
    """The worker's loaded models by channel; each file is opened once."""

    def __init__(self, files: Mapping[str, str], threads: int | None = None) -> None:
        from sr_engine.bundled import open_model

        loaded: dict[str, Any] = {}
        for path in dict.fromkeys(files.values()):
            loaded[path] = open_model(path, threads=threads)
        self.by_channel = {channel: loaded[path] for channel, path in files.items()}
        self.distinct = list(loaded.values())
        scales = {f"{m.meta.name or Path(str(m.source)).stem} ×{m.scale}" for m in self.distinct}
        if len({m.scale for m in self.distinct}) > 1:
            raise SrscopeError(
                f"the channels' models have different scales ({', '.join(sorted(scales))}): "
                "one SR store takes one scale"
            )

    @property
    def first(self) -> Any:
        return next(iter(self.by_channel.values()))

    @property
    def meta(self) -> Any:
        return self.first.meta

    @property
    def scale(self) -> int:
        return int(self.first.scale)

    @property
    def receptive_field(self) -> int:
        return max(m.receptive_field for m in self.distinct)

    @property
    def source(self) -> str:
        """The model file, or ``channel: file`` for each channel."""
        if len(self.by_channel) == 1 and ANY_CHANNEL in self.by_channel:
            return str(self.first.source)
        return ", ".join(f"{c or '*'}: {m.source}" for c, m in self.by_channel.items())

    def for_channel(self, channel: str | None) -> Any:
        """The model that super-resolves frames of ``channel``."""
        model = self.by_channel.get(channel or "", self.by_channel.get(ANY_CHANNEL))
        if model is None:
            known = ", ".join(self.by_channel)
            raise SrscopeError(f"no SR model for channel {channel!r} (models for: {known})")
        return model

    def provenance(self) -> dict[str, Any]:
        """What ran: the model (one) or each channel's model (``models``), and its backend."""
        meta = self.meta
        models = {
            channel or "*": {
                "model": str(m.source),
                "model_name": m.meta.name,
                "channels": list(m.meta.channels),
                "backend": {k: v for k, v in m.backend_choice.to_dict().items() if k in BRIEF},
            }
            for channel, m in self.by_channel.items()
        }
        one = len(self.distinct) == 1
        names = ", ".join(f"{c}: {v['model_name']}" for c, v in models.items())
        return {
            "model": str(self.first.source) if one else self.source,
            "model_name": meta.name if one else names,
            "scale": meta.scale,
            "channels": list(meta.channels)
            if one
            else sorted({c for m in self.distinct for c in m.meta.channels}),
            "backend": self.first.backend_choice.to_dict(),  # what ran, and why
            "models": models,  # which model served which channel ("*": any channel)
        }
