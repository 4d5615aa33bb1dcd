"""bf16 autocast where the CPU has bf16 units, fp32 elsewhere; both train."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srscope.degradation import DegradationRecord
from training import precision
from training.images import load_folder
from training.trainer import Trainer

from .conftest import tiny_config


@pytest.mark.parametrize(
    ("flags", "expected"),
    [({"avx2", "avx512_bf16"}, "bf16"), ({"amx_bf16"}, "bf16"), ({"avx2", "fma"}, "fp32")],
)
def test_auto_picks_bf16_only_with_bf16_units(monkeypatch, flags: set, expected: str) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert precision.resolve("auto", torch.device("cpu")) == expected
    assert precision.resolve("fp32", torch.device("cpu")) == "fp32"


@pytest.mark.parametrize("preset", ["live", "paper"])
def test_bf16_training_keeps_fp32_weights_and_learns(
    preset: str, image_folder: Path, record: DegradationRecord, tmp_path: Path
) -> None:
    cfg = tiny_config(preset, precision="bf16", iterations=3, adversarial=preset == "paper")
    t = Trainer(load_folder(image_folder), record, cfg, tmp_path, progress=False)
    before = {k: v.clone() for k, v in t.g.state_dict().items()}
    assert t.precision == "bf16"
    out = t.step()
    assert all(p.dtype == torch.float32 for p in t.g.parameters())  # fp32 master weights
    assert torch.isfinite(torch.tensor(out["loss_g"]))
    assert any(not torch.equal(before[k], v) for k, v in t.g.state_dict().items())
