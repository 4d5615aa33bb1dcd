"""The EMA of the weights: warm-up decay, and it is what training validates and keeps."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from srscope.degradation import DegradationRecord
from training import checkpoint as ckpt
from training.ema import ema_model
from training.images import load_folder
from training.trainer import Trainer

from .conftest import tiny_config


def test_ema_follows_the_warm_up_formula() -> None:
    net = nn.Linear(1, 1, bias=False)
    ema = ema_model(net, decay=0.9)
    expected = None
    for n, value in enumerate([1.0, 3.0, -2.0, 5.0, 4.0] + [0.0] * 40):
        with torch.no_grad():
            net.weight.fill_(value)
        ema.update_parameters(net)
        if expected is None:
            expected = value  # the first update copies
        else:
            d = min(0.9, (1.0 + n) / (10.0 + n))
            expected = expected * d + value * (1 - d)
        assert abs(ema.module.weight.item() - expected) < 1e-5
    assert abs(ema.module.weight.item()) < 0.1  # decays toward the constant 0


def test_best_checkpoint_holds_the_averaged_weights(
    image_folder: Path, record: DegradationRecord, tmp_path: Path
) -> None:
    cfg = tiny_config("live", iterations=6, epoch_iterations=6, ema_decay=0.5)
    t = Trainer(load_folder(image_folder), record, cfg, tmp_path / "run", progress=False)
    t.run()
    best = ckpt.load(t.best_path)["generator"]
    state = ckpt.load(t.checkpoint_path)
    raw = state["generator"]  # the last iterate
    averaged = {k.removeprefix("module."): v for k, v in state["ema"].items()}
    for k in best:
        torch.testing.assert_close(best[k], averaged[k])
    assert any(not torch.equal(best[k], raw[k]) for k in best)  # not the last iterate


def test_ema_off_validates_the_raw_weights(
    image_folder: Path, record: DegradationRecord, tmp_path: Path
) -> None:
    cfg = tiny_config("live", iterations=2, ema_decay=0.0)
    t = Trainer(load_folder(image_folder), record, cfg, tmp_path / "run", progress=False)
    assert t.ema is None and t.averaged is t.g
