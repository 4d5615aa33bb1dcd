"""Training configuration: one pydantic model a user can write down and round-trip as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PRESETS = ("paper", "balanced", "live")


class GeneratorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["paper", "balanced", "live"] = "paper"
    features: int = Field(64, ge=1)
    blocks: int = Field(16, ge=0, description="residual blocks (paper generator)")
    layers: int = Field(3, ge=2, description="conv layers (live generator)")
    input_skip: bool = True
    linear_skip: bool = Field(False, description="learned 5×5 linear input path (live generator)")

    def kwargs(self) -> dict[str, int | bool]:
        if self.kind in ("paper", "balanced"):
            return {"features": self.features, "blocks": self.blocks, "input_skip": self.input_skip}
        return {
            "features": self.features,
            "layers": self.layers,
            "input_skip": self.input_skip,
            "linear_skip": self.linear_skip,
        }


class LossConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mse: float = 1.0
    vgg: float = 2e-6
    vgg_layer: str = "relu5_4"
    adversarial: float = 1e-3


class TrainConfig(BaseModel):
    """Everything that decides a training run (saved in checkpoints and in the model)."""

    model_config = ConfigDict(extra="forbid")

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
    generator: GeneratorConfig = GeneratorConfig()
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
            "paper": GeneratorConfig(kind="paper"),
            "balanced": GeneratorConfig(kind="balanced", features=32, blocks=6),
            "live": GeneratorConfig(kind="live", features=8, layers=3, linear_skip=True),
        }
        if preset not in generators:
            raise ValueError(f"unknown preset {preset!r}; one of {PRESETS}")
        base: dict = {"preset": preset, "generator": generators[preset]}
        if preset != "paper":
            base.update(mse_only)
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(base)
