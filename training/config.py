"""Training configuration: one pydantic model a user can write down and round-trip as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, TypeAdapter, field_validator, model_validator

from srscope.model_base import SrscopeModel

PRESETS = ("paper", "balanced", "live")


class _Generator(SrscopeModel):
    """What every generator has; each kind is its own class with its own fields."""

    features: int = Field(64, ge=1)
    input_skip: bool = True
    # Before the kinds were classes, one config class wrote every field; these are
    # the other kinds' fields at that class's defaults, accepted from old configs
    # (checkpoints, the bundled models' ``srscope.training``) and dropped.
    legacy_defaults: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _drop_legacy(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = cls.legacy_defaults
            data = {k: v for k, v in data.items() if not (k in old and v == old[k])}
        return data

    def kwargs(self) -> dict[str, int | bool]:
        """Keyword arguments of ``training.models.build_generator`` for this kind."""
        return self.model_dump(exclude={"kind"})


class PaperGenerator(_Generator):
    """SRResNet/SRGAN generator: residual blocks at LR resolution, then upsampling."""

    kind: Literal["paper"] = "paper"
    blocks: int = Field(16, ge=0, description="residual blocks")
    legacy_defaults: ClassVar[dict[str, Any]] = {"layers": 3, "linear_skip": False}


class BalancedGenerator(_Generator):
    """The paper's residual net trained MSE-only (its preset: narrower and shallower)."""

    kind: Literal["balanced"] = "balanced"
    blocks: int = Field(16, ge=0, description="residual blocks")
    legacy_defaults: ClassVar[dict[str, Any]] = {"layers": 3, "linear_skip": False}


class LiveGenerator(_Generator):
    """ESPCN-like generator for live view: a few convolutions and a pixel shuffle."""

    kind: Literal["live"] = "live"
    layers: int = Field(3, ge=2, description="conv layers")
    linear_skip: bool = Field(False, description="learned 5×5 linear input path")
    legacy_defaults: ClassVar[dict[str, Any]] = {"blocks": 16}


GeneratorConfig = Annotated[
    PaperGenerator | BalancedGenerator | LiveGenerator, Field(discriminator="kind")
]
_GENERATOR: TypeAdapter[GeneratorConfig] = TypeAdapter(GeneratorConfig)


def _default_kind(data: Any) -> Any:
    """A generator mapping without ``kind`` is the paper's (the old config's default)."""
    if isinstance(data, dict) and "kind" not in data:
        return {"kind": "paper", **data}
    return data


def generator_config(data: Any) -> GeneratorConfig:
    """The generator variant ``data`` describes (a mapping with ``kind``, or a config)."""
    return _GENERATOR.validate_python(_default_kind(data))


class LossConfig(SrscopeModel):
    mse: float = 1.0
    vgg: float = 2e-6
    vgg_layer: str = "relu5_4"
    adversarial: float = 1e-3


class TrainConfig(SrscopeModel):
    """Everything that decides a training run (saved in checkpoints and in the model)."""

    preset: Literal["paper", "balanced", "live"] = "paper"
    scale: int = Field(4, ge=2, le=5)
    patch_lr: int = Field(96, ge=8, description="LR patch size; HR patch = patch_lr × scale")
    batch: int = Field(16, ge=1)
    iterations: int = Field(2000, ge=1)
    epoch_iterations: int = Field(200, ge=1, description="validation + checkpoint period")
    warmup_iterations: int = Field(1000, ge=0, description="MSE-only (SRResNet) iterations first")
    adversarial: bool = True
    lr: float = Field(1e-4, gt=0)
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="cosine: decay to lr/100 over the run (stateless, resumable)"
    )
    ema_decay: float = Field(
        0.999, ge=0.0, lt=1.0, description="EMA of the weights, validated and exported (0: off)"
    )
    generator: GeneratorConfig = PaperGenerator()
    discriminator_base: int = Field(64, ge=1)
    loss: LossConfig = LossConfig()
    vgg_weights: Path | None = None
    init: Path | None = Field(None, description="warm-start from this srscope model.onnx")
    seed: int = 0
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="bf16 autocast where the hardware has bf16 units (auto), else fp32"
    )
    threads: int | None = Field(None, ge=1)
    val_patches: int = Field(32, ge=1)
    val_fraction: float = Field(0.15, gt=0, lt=0.9)
    real_validation: bool = Field(
        True, description="pick the kept checkpoint by held-out real LR captures when present"
    )
    background_keep: float = Field(0.1, ge=0, le=1, description="chance to keep a background patch")
    psf_scale_range: float = Field(
        0.0, ge=0.0, lt=0.9, description="train on PSF widths within ±this fraction (generalists)"
    )
    noise_scale_range: tuple[float, float] = Field(
        (1.0, 1.0), description="noise std factors drawn log-uniformly per patch (generalists)"
    )
    normalization_low: float = 1.0
    normalization_high: float = 99.8
    channel: str | None = Field(None, description="train on this channel of a reference set only")
    stack_channels: bool = Field(False, description="one multi-channel model (vs one per channel)")
    checkpoint_every: int = Field(50, ge=1)

    _generator_kind = field_validator("generator", mode="before")(_default_kind)

    @model_validator(mode="after")
    def _noise_range(self) -> TrainConfig:
        lo, hi = self.noise_scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"noise_scale_range must be 0 < low ≤ high, got {lo}, {hi}")
        return self

    @model_validator(mode="after")
    def _warmup(self) -> TrainConfig:
        if self.warmup_iterations > self.iterations and self.adversarial:
            self.warmup_iterations = self.iterations
        return self

    @property
    def patch_hr(self) -> int:
        return self.patch_lr * self.scale

    @classmethod
    def preset_defaults(cls, preset: str, **overrides: object) -> TrainConfig:
        """A config for a preset: ``paper`` (SRResNet/SRGAN), or the MSE-only ``balanced``
        (residual net at LR resolution) and ``live`` (ESPCN-like)."""
        mse_only = {
            "adversarial": False,
            "warmup_iterations": 0,
            "lr": 1e-3,
            "lr_schedule": "cosine",
            "loss": LossConfig(vgg=0.0, adversarial=0.0),
        }
        generators = {
            "paper": PaperGenerator(),
            "balanced": BalancedGenerator(features=32, blocks=6),
            "live": LiveGenerator(features=8, layers=3, linear_skip=True),
        }
        if preset not in generators:
            raise ValueError(f"unknown preset {preset!r}; one of {PRESETS}")
        base: dict = {"preset": preset, "generator": generators[preset]}
        if preset != "paper":
            base.update(mse_only)
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(base)
