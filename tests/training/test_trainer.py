"""Training loop: determinism, resume after a kill, NaN stop, corrupt checkpoint, configs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from srscope.degradation import DegradationRecord
from srscope.errors import SrscopeError
from training.config import TrainConfig
from training.images import load_folder
from training.trainer import NonFiniteLoss, Trainer

from .conftest import tiny_config


def _weights(t: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in t.g.state_dict().items()}


@pytest.mark.parametrize("preset", ["live", "balanced", "paper"])
def test_resume_after_interrupt_equals_uninterrupted(
    preset: str, image_folder: Path, record: DegradationRecord, tmp_path: Path
) -> None:
    sources = load_folder(image_folder)
    full = Trainer(
        sources, record, tiny_config(preset, iterations=4), tmp_path / "a", progress=False
    )
    full.run()

    killed = Trainer(
        sources, record, tiny_config(preset, iterations=4), tmp_path / "b", progress=False
    )
    step = killed.step

    def interrupted_after_two() -> dict:
        if killed.iteration == 2:
            raise KeyboardInterrupt  # Ctrl-C during iteration 3
        return step()

    killed.step = interrupted_after_two  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        killed.run()
    resumed = Trainer(
        sources, record, tiny_config(preset, iterations=4), tmp_path / "b", progress=False
    )
    resumed.run(resume=True)

    assert resumed.iteration == 4
    a, b = _weights(full), _weights(resumed)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    ea, eb = full.averaged.state_dict(), resumed.averaged.state_dict()
    for k in ea:  # the weight average resumes exactly too
        torch.testing.assert_close(ea[k], eb[k], rtol=0, atol=0)
    with (tmp_path / "b" / "log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]


def test_keyboard_interrupt_saves_a_checkpoint(
    image_folder: Path, record: DegradationRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = Trainer(
        load_folder(image_folder),
        record,
        tiny_config(iterations=10, checkpoint_every=100, epoch_iterations=100),
        tmp_path,
        progress=False,
    )
    real_step = t.step

    def step() -> dict:
        if t.iteration == 3:
            raise KeyboardInterrupt
        return real_step()

    monkeypatch.setattr(t, "step", step)
    with pytest.raises(KeyboardInterrupt):
        t.run()
    again = Trainer(
        load_folder(image_folder),
        record,
        tiny_config(iterations=10, checkpoint_every=100, epoch_iterations=100),
        tmp_path,
        progress=False,
    )
    again.resume()
    assert again.iteration == 3


def test_nan_loss_stops_and_keeps_last_good_checkpoint(
    image_folder: Path, record: DegradationRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = Trainer(
        load_folder(image_folder), record, tiny_config(iterations=6), tmp_path, progress=False
    )
    real_batch = t.sampler.batch

    def batch(n: int | None = None):  # data goes bad at iteration 4
        lr, hr = real_batch(n)
        if t.iteration >= 3:
            lr[:] = float("nan")
        return lr, hr

    monkeypatch.setattr(t.sampler, "batch", batch)
    with pytest.raises(NonFiniteLoss, match=r"iteration 4.*last good checkpoint kept"):
        t.run()
    state = torch.load(t.checkpoint_path, weights_only=True)
    assert state["iteration"] == 3
    assert all(
        torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point()
    )


def test_corrupt_checkpoint_is_reported_not_deleted(
    image_folder: Path, record: DegradationRecord, tmp_path: Path
) -> None:
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00garbage")
    t = Trainer(load_folder(image_folder), record, tiny_config(), tmp_path, progress=False)
    with pytest.raises(SrscopeError, match="corrupt, unreadable"):
        t.run(resume=True)
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"\x00garbage"
    with pytest.raises(SrscopeError, match="pass --resume"):
        t.run()


def test_resume_refuses_changed_settings(
    image_folder: Path, record: DegradationRecord, tmp_path: Path
) -> None:
    sources = load_folder(image_folder)
    Trainer(sources, record, tiny_config(iterations=2), tmp_path, progress=False).run()
    other = Trainer(sources, record, tiny_config(iterations=4, lr=0.5), tmp_path, progress=False)
    with pytest.raises(SrscopeError, match="different settings \\(lr\\)"):
        other.run(resume=True)


def test_vgg_loss_runs_with_weights_and_is_recorded_off_without(
    image_folder: Path, record: DegradationRecord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from training.vgg import make_features

    torch.save(
        {f"features.{k}": v for k, v in make_features().state_dict().items()}, tmp_path / "vgg.pth"
    )
    cfg = tiny_config("paper", iterations=3, vgg_weights=tmp_path / "vgg.pth")
    cfg.loss.vgg_layer = "relu2_2"
    t = Trainer(load_folder(image_folder), record, cfg, tmp_path / "on", progress=False)
    t.run()
    assert t.vgg_loss.startswith("on (relu2_2")
    assert t.history and any(float(h.get("vgg", 0) or 0) > 0 for h in t.history)

    off = Trainer(
        load_folder(image_folder), record, tiny_config("paper"), tmp_path / "off", progress=False
    )
    assert off.vgg_loss.startswith("off (no VGG19 weights")
    assert "feature loss is OFF" in caplog.text


def test_validation_reports_bicubic_baseline(
    image_folder: Path, record: DegradationRecord, tmp_path: Path
) -> None:
    res = Trainer(load_folder(image_folder), record, tiny_config(), tmp_path, progress=False).run()
    for k in ("val_psnr", "val_ssim", "bicubic_psnr", "bicubic_ssim"):
        assert res.metrics[k] == res.metrics[k]  # not NaN
    assert (tmp_path / "best.pt").is_file()


def test_config_round_trips_through_json(tmp_path: Path) -> None:
    cfg = TrainConfig.preset_defaults("paper", iterations=7, vgg_weights=tmp_path / "v.pth")
    again = TrainConfig.model_validate_json(cfg.model_dump_json())
    assert again == cfg
    live = TrainConfig.preset_defaults("live")
    assert live.generator.kind == "live" and not live.adversarial
    with pytest.raises(ValueError, match="unknown preset"):
        TrainConfig.preset_defaults("huge")


class _Payload:
    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(_Payload.marker),))


def test_a_crafted_checkpoint_cannot_run_code(tmp_path: Path) -> None:
    from srscope.errors import SrscopeError
    from training import checkpoint as ckpt

    _Payload.marker = str(tmp_path / "pwned")
    evil = tmp_path / "checkpoint.pt"
    torch.save({"version": 1, "x": _Payload()}, evil)
    with pytest.raises(SrscopeError, match="holds more than weights"):
        ckpt.load(evil)
    assert not (tmp_path / "pwned").exists()
