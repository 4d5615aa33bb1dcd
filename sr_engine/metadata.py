"""The ``srscope.*`` metadata of a model file (DESIGN.md, "The model file").

One typed model, written into ``onnx.ModelProto.metadata_props`` as JSON strings
so that inference needs no other file. Training's export calls
:func:`attach_metadata`; the engine calls :func:`read_metadata` /
:meth:`ModelMetadata.from_props` and refuses models without the required keys.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from srscope.degradation import DegradationRecord
from srscope.errors import SrscopeError
from srscope.model_base import SrscopeModel, field_error

FORMAT = "1"
PREFIX = "srscope."
REQUIRED_KEYS = (
    "format",
    "scale",
    "channels",
    "normalization",
    "lr_pixel_size_um",
    "hr_pixel_size_um",
)
OPTIONAL_KEYS = ("degradation", "training", "metrics", "name", "description", "receptive_field")


class ModelMetadataError(SrscopeError):
    """The model file lacks or has invalid ``srscope.*`` metadata."""


class _Frozen(SrscopeModel):
    model_config = ConfigDict(frozen=True)


class PercentileNormalization(_Frozen):
    """Map the ``low``/``high`` percentiles of the whole image to 0/1."""

    kind: Literal["percentile"] = "percentile"
    low: float = Field(1.0, ge=0.0, le=100.0)
    high: float = Field(99.8, ge=0.0, le=100.0)

    @model_validator(mode="after")
    def _ordered(self) -> PercentileNormalization:
        if not self.low < self.high:
            raise ValueError(f"percentile low {self.low} must be < high {self.high}")
        return self


class FixedNormalization(_Frozen):
    """Map the fixed camera values ``min``/``max`` to 0/1 (same for every frame)."""

    kind: Literal["fixed"] = "fixed"
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> FixedNormalization:
        if not self.min < self.max:
            raise ValueError(f"fixed min {self.min} must be < max {self.max}")
        return self


Normalization = Annotated[PercentileNormalization | FixedNormalization, Field(discriminator="kind")]


#: model tiers (training presets) from fastest to most faithful
TIERS = ("live", "balanced", "paper")


class ModelMetadata(_Frozen):
    """Everything the engine needs to run a model, plus its provenance."""

    scale: int = Field(ge=2, le=5)
    channels: list[str] = Field(min_length=1)
    normalization: Normalization = PercentileNormalization()
    lr_pixel_size_um: float = Field(gt=0)
    hr_pixel_size_um: float = Field(gt=0)
    degradation: DegradationRecord | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    name: str = ""
    description: str = ""
    # LR pixels of context each output pixel depends on (per side); None: measure it.
    receptive_field: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> ModelMetadata:
        ratio = self.lr_pixel_size_um / self.hr_pixel_size_um
        if abs(ratio - self.scale) > 0.01 * self.scale:
            raise ValueError(
                f"LR/HR pixel size ratio {ratio:.3f} ({self.lr_pixel_size_um} / "
                f"{self.hr_pixel_size_um} µm) is not the scale {self.scale} within 1%"
            )
        if self.degradation is not None and self.degradation.scale != self.scale:
            raise ValueError(
                f"degradation record scale {self.degradation.scale} != model scale {self.scale}"
            )
        return self

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def tier(self) -> str:
        """The training preset (``live``, ``balanced``, ``paper``), or ``""`` when not recorded."""
        return str(self.training.get("config", {}).get("preset", "") or "")

    @property
    def tier_rank(self) -> int:
        """Position of :attr:`tier` in :data:`TIERS`; an unknown tier ranks after them all."""
        return TIERS.index(self.tier) if self.tier in TIERS else len(TIERS)

    # -- metadata_props --------------------------------------------------
    def to_props(self) -> dict[str, str]:
        """``srscope.*`` keys with JSON-string values (``srscope.format`` = ``"1"``)."""
        data = self.model_dump(mode="json")
        props = {PREFIX + "format": FORMAT}
        for key in REQUIRED_KEYS[1:]:
            props[PREFIX + key] = json.dumps(data[key])
        for key in OPTIONAL_KEYS:
            value = data[key]
            if value in (None, "", {}):
                continue
            # name/description are plain strings in the table but stored as JSON for symmetry
            props[PREFIX + key] = json.dumps(value)
        return props

    @classmethod
    def from_props(cls, props: dict[str, str], source: str = "model") -> ModelMetadata:
        """Parse ``srscope.*`` metadata_props; a clear :class:`ModelMetadataError` if bad."""
        missing = [PREFIX + k for k in REQUIRED_KEYS if PREFIX + k not in props]
        if missing:
            raise ModelMetadataError(
                f"{source} is not an srscope model: missing metadata {', '.join(missing)}"
            )
        fmt = _loads(props[PREFIX + "format"], "format", source)
        if str(fmt) != FORMAT:
            raise ModelMetadataError(
                f"{source}: unsupported srscope.format {fmt!r} (this srscope reads {FORMAT!r})"
            )
        data: dict[str, Any] = {}
        for key in (*REQUIRED_KEYS[1:], *OPTIONAL_KEYS):
            if PREFIX + key in props:
                raw = props[PREFIX + key]
                if key in ("name", "description"):
                    try:
                        data[key] = json.loads(raw)
                    except json.JSONDecodeError:
                        data[key] = raw  # a plain string is accepted too
                else:
                    data[key] = _loads(raw, key, source)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            why = field_error(exc, data)
            raise ModelMetadataError(f"{source}: invalid srscope metadata {why}") from None


def _loads(raw: str, key: str, source: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ModelMetadataError(
            f"{source}: srscope.{key} is not valid JSON: {raw[:60]!r}"
        ) from None


def attach_metadata(model: Any, meta: ModelMetadata) -> Any:
    """Write ``meta`` into ``model.metadata_props`` (replacing old ``srscope.*`` keys).

    ``model`` is an ``onnx.ModelProto``; it is modified in place and returned.
    """
    keep = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith(PREFIX)]
    del model.metadata_props[:]
    for key, value in keep:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    for key, value in meta.to_props().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def props_of(model: Any) -> dict[str, str]:
    """``metadata_props`` of an ``onnx.ModelProto`` as a dict."""
    return {p.key: p.value for p in model.metadata_props}


def read_metadata(path: str | os.PathLike) -> ModelMetadata:
    """Metadata of a model file without loading its weights into a session."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelMetadataError(f"model file not found: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError / various on garbage
        raise ModelMetadataError(
            f"{path} is not a readable ONNX model ({type(exc).__name__})"
        ) from None
    return ModelMetadata.from_props(props_of(model), source=str(path))
