"""The training configs shipped in examples/ are valid and mean what the README says."""

from __future__ import annotations

from pathlib import Path

from training.config import TrainConfig

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_the_gan_twin_config_fine_tunes_adversarially_without_vgg() -> None:
    cfg = TrainConfig.model_validate_json((EXAMPLES / "gan_twin.json").read_text())
    assert cfg.adversarial and cfg.warmup_iterations == 0
    assert cfg.loss.adversarial == 1e-3 and cfg.loss.vgg == 0.0 and cfg.loss.mse == 1.0
    assert cfg.discriminator_base == 16 and cfg.iterations == 600
