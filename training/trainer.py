"""The training loop: MSE warm-up, then adversarial training; checkpoints, resume, validation.

Deterministic for a seed: model init from ``torch.manual_seed``, batches from the
sampler's NumPy generator; both states are checkpointed, so ``resume`` continues
exactly where a killed run stopped.

Over 400 lines because the loop, its checkpoint/resume state and its validation share
one state object; models, losses, EMA, data and real-capture validation live in their
own modules.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srscope import __version__, logger
from srscope.degradation import DegradationRecord
from srscope.errors import SrscopeError
from training import checkpoint as ckpt
from training import precision
from training.config import TrainConfig
from training.dataset import PatchSampler, prepare_sources
from training.ema import ema_model
from training.images import TrainingImage
from training.losses import Losses
from training.models import Discriminator, build_generator
from training.real_validation import RealStrip, real_strips
from training.vgg import VGG19Features

# config fields that may change between a run and its resumption
RESUMABLE_CHANGES = {"iterations", "threads", "device", "checkpoint_every"}
LOG_FIELDS = [
    "iteration",
    "phase",
    "loss_g",
    "mse",
    "vgg",
    "adv",
    "loss_d",
    "val_psnr",
    "val_ssim",
    "real_psnr",
    "real_ssim",
    "bicubic_psnr",
    "bicubic_ssim",
    "seconds",
]


class NonFiniteLoss(SrscopeError):
    """The loss became NaN/inf: training stopped, last good checkpoint kept."""


@dataclass
class TrainResult:
    generator: nn.Module
    iteration: int
    metrics: dict[str, float]
    workdir: Path
    channels: int
    vgg_loss: str
    history: list[dict[str, Any]] = field(default_factory=list)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SrscopeError(f"unknown device {name!r}: use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SrscopeError(f"device {name!r} asked for, but this PyTorch has no CUDA device")
    return device


def _bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    try:
        from training.evaluation.baselines import bicubic
    except ImportError:  # pragma: no cover - evaluation part missing
        from scipy import ndimage

        return ndimage.zoom(lr, (1,) * (lr.ndim - 2) + (scale, scale), order=3)
    return bicubic(lr, scale)


def patch_metrics(hr: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """Mean PSNR/SSIM over patches and channels, data range 1 (normalised units)."""
    from training.evaluation.metrics import psnr, ssim

    ps, ss = [], []
    for i in range(hr.shape[0]):
        for c in range(hr.shape[1]):
            ps.append(psnr(hr[i, c], pred[i, c], data_range=1.0))
            ss.append(ssim(hr[i, c], pred[i, c], data_range=1.0))
    return float(np.mean(ps)), float(np.mean(ss))


def _tensorboard(folder: Path) -> Any:
    """A TensorBoard writer when the ``tensorboard`` package is installed, else None."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(folder / "tensorboard"))


class Trainer:
    """One training run in ``workdir`` (checkpoint.pt, best.pt, log.csv, config.json)."""

    def __init__(
        self,
        sources: list[TrainingImage],
        record: DegradationRecord,
        cfg: TrainConfig,
        workdir: str | Path,
        progress: bool = True,
    ) -> None:
        self.cfg, self.record, self.progress = cfg, record, progress
        self.workdir = Path(workdir)
        torch.set_num_threads(cfg.threads or max(1, min(2, os.cpu_count() or 1)))
        self.device = _device(cfg.device)
        self.precision = precision.resolve(cfg.precision, self.device)
        logger.info("training precision: %s (%s requested)", self.precision, cfg.precision)
        self.sampler = PatchSampler(prepare_sources(sources, record, cfg), record, cfg)
        c = self.sampler.channels
        torch.manual_seed(cfg.seed)
        self.g = build_generator(cfg.generator.kind, c, cfg.scale, **cfg.generator.kwargs()).to(
            self.device
        )
        if cfg.init is not None:
            from training.warmstart import init_model, load_into

            load_into(self.g, init_model(cfg.init)[0], str(cfg.init))
        self.ema = ema_model(self.g, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.d = (
            Discriminator(c, cfg.discriminator_base).to(self.device) if cfg.adversarial else None
        )
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr)
        self.opt_d = (
            torch.optim.Adam(self.d.parameters(), lr=cfg.lr) if self.d is not None else None
        )
        self.vgg_loss = self._vgg_status()
        vgg = None
        if self.vgg_loss.startswith("on"):
            vgg = VGG19Features(cfg.loss.vgg_layer).load_weights(cfg.vgg_weights).to(self.device)  # type: ignore[arg-type]
        self.losses = Losses(cfg.loss, vgg)
        self.iteration = 0
        self.best: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self.val_lr, self.val_hr = self.sampler.validation()
        self.bicubic = patch_metrics(self.val_hr, _bicubic(self.val_lr, cfg.scale))
        self.real: list[RealStrip] = (
            real_strips(self.sampler.prepared, record) if cfg.real_validation else []
        )
        if self.real:
            logger.info(
                "checkpoints chosen on real LR captures: held-out strips of %d field(s)",
                len(self.real),
            )

    # -- state ---------------------------------------------------------------
    def _vgg_status(self) -> str:
        if self.cfg.loss.vgg <= 0 or self.cfg.preset == "live":
            return "off (weight 0)"
        if self.cfg.vgg_weights is None:
            logger.warning(
                "no --vgg-weights given: the VGG19 feature loss is OFF "
                "(the model metadata records it)"
            )
            return "off (no VGG19 weights given)"
        weights = Path(self.cfg.vgg_weights).name
        return f"on ({self.cfg.loss.vgg_layer}, weight {self.cfg.loss.vgg:g}, {weights})"

    @property
    def checkpoint_path(self) -> Path:
        return self.workdir / "checkpoint.pt"

    @property
    def best_path(self) -> Path:
        return self.workdir / "best.pt"

    def _state(self) -> dict[str, Any]:
        return {
            "version": ckpt.CHECKPOINT_VERSION,
            "config": self.cfg.model_dump(mode="json"),
            "degradation": self.record.model_dump(mode="json"),
            "iteration": self.iteration,
            "generator": self.g.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "discriminator": self.d.state_dict() if self.d is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict() if self.opt_d is not None else None,
            "sampler": self.sampler.state(),
            "torch_rng": torch.get_rng_state(),
            "best": self.best,
            "history": self.history,
            "srscope_version": __version__,
        }

    def save_checkpoint(self) -> None:
        ckpt.save_atomic(self._state(), self.checkpoint_path)

    def resume(self) -> None:
        state = ckpt.load(self.checkpoint_path)
        old = TrainConfig.model_validate(state["config"])
        diff = {
            k
            for k in TrainConfig.model_fields
            if k not in RESUMABLE_CHANGES and getattr(old, k) != getattr(self.cfg, k)
        }
        if diff:
            raise SrscopeError(
                "cannot resume: the checkpoint was made with different settings "
                f"({', '.join(sorted(diff))})"
            )
        if DegradationRecord.model_validate(state["degradation"]) != self.record:
            raise SrscopeError(
                "cannot resume: the checkpoint was made with a different degradation record"
            )
        self.g.load_state_dict(state["generator"])
        if self.ema is not None:
            if state.get("ema") is not None:
                self.ema.load_state_dict(state["ema"])
            else:  # a checkpoint from before EMA: average from here on
                self.ema = ema_model(self.g, self.cfg.ema_decay)
        self.opt_g.load_state_dict(state["opt_g"])
        if self.d is not None:
            self.d.load_state_dict(state["discriminator"])
            self.opt_d.load_state_dict(state["opt_d"])  # type: ignore[union-attr]
        self.sampler.set_state(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        self.iteration = int(state["iteration"])
        self.best = dict(state["best"])
        self.history = list(state["history"])
        logger.info("resumed from %s at iteration %d", self.checkpoint_path, self.iteration)

    # -- steps -----------------------------------------------------------------
    def _check_finite(self, value: float, what: str) -> None:
        if not math.isfinite(value):
            last = (
                f"{self.checkpoint_path} (iteration {self._last_saved})"
                if self._last_saved
                else "none yet"
            )
            raise NonFiniteLoss(
                f"{what} became {value} at iteration {self.iteration + 1}: training stopped; "
                f"last good checkpoint kept: {last}. Lower the learning rate or check the data."
            )

    def learning_rate(self) -> float:
        """The schedule's rate at this iteration (a function of the iteration: resumes exactly)."""
        if self.cfg.lr_schedule == "constant":
            return self.cfg.lr
        t = min(self.iteration / max(self.cfg.iterations - 1, 1), 1.0)
        return self.cfg.lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * t)))

    def step(self) -> dict[str, float]:
        """One iteration: D step (adversarial phase), then G step."""
        rate = self.learning_rate()
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups if opt is not None else []:
                group["lr"] = rate
        lr_np, hr_np = self.sampler.batch()
        lr = torch.from_numpy(lr_np).to(self.device)
        hr = torch.from_numpy(hr_np).to(self.device)
        adversarial = self.d is not None and self.iteration >= self.cfg.warmup_iterations
        self.g.train()
        out: dict[str, float] = {"loss_d": float("nan")}
        if adversarial:
            assert self.d is not None and self.opt_d is not None
            self.d.train()
            with torch.no_grad(), precision.autocast(self.precision, self.device):
                fake = self.g(lr)
            with precision.autocast(self.precision, self.device):
                loss_d = self.losses.discriminator(self.d(hr), self.d(fake.float()))
            self._check_finite(float(loss_d.detach()), "discriminator loss")
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            out["loss_d"] = float(loss_d.detach())
        with precision.autocast(self.precision, self.device):
            sr = self.g(lr)
            d_fake = self.d(sr) if adversarial else None  # type: ignore[misc]
        loss = self.losses.generator(sr.float(), hr, None if d_fake is None else d_fake.float())
        self._check_finite(float(loss.total.detach()), "generator loss")
        self.opt_g.zero_grad(set_to_none=True)
        loss.total.backward()
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update_parameters(self.g)
        out.update(loss_g=float(loss.total.detach()), mse=loss.mse, vgg=loss.vgg, adv=loss.adv)
        out["phase"] = "gan" if adversarial else "mse"  # type: ignore[assignment]
        return out

    @property
    def averaged(self) -> nn.Module:
        """The weights that are validated, kept as best and exported (the EMA when on)."""
        return self.ema.module if self.ema is not None else self.g

    @torch.no_grad()
    def predict_patches(self, lr: np.ndarray, batch: int = 8) -> np.ndarray:
        g = self.averaged
        g.eval()
        outs = [
            g(torch.from_numpy(lr[i : i + batch]).to(self.device)).cpu().numpy()
            for i in range(0, len(lr), batch)
        ]
        return np.concatenate(outs)

    def validate(self) -> tuple[float, float]:
        return patch_metrics(self.val_hr, self.predict_patches(self.val_lr))

    @torch.no_grad()
    def validate_real(self) -> tuple[float, float]:
        """Mean PSNR/SSIM of the held-out strips from the real LR captures (NaN: none)."""
        if not self.real:
            return float("nan"), float("nan")
        g = self.averaged
        g.eval()
        ps, ss = [], []
        for strip in self.real:
            out = g(torch.from_numpy(strip.lr[None]).to(self.device)).cpu().numpy()
            (y, x), (h, w) = strip.offset, strip.hr.shape[-2:]
            p, s = patch_metrics(strip.hr[None], out[:, :, y : y + h, x : x + w])
            ps.append(p)
            ss.append(s)
        return float(np.mean(ps)), float(np.mean(ss))

    # -- loop ------------------------------------------------------------------
    def run(self, resume: bool = False) -> TrainResult:
        self._last_saved = 0
        if resume:
            self.resume()
            self._last_saved = self.iteration
        elif self.checkpoint_path.exists():
            raise SrscopeError(
                f"{self.checkpoint_path} exists: pass --resume to continue it, "
                "or use another work folder"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "config.json").write_text(self.cfg.model_dump_json(indent=2))
        log = self._open_log()
        t0 = time.perf_counter()
        last: dict[str, Any] = {}
        try:
            with self._progress() as (bar, task):
                while self.iteration < self.cfg.iterations:
                    last = self.step()
                    self.iteration += 1
                    if bar is not None:
                        bar.update(task, completed=self.iteration, info=self._info(last))
                    end_epoch = self.iteration % self.cfg.epoch_iterations == 0
                    done = self.iteration == self.cfg.iterations
                    if end_epoch or done:
                        self._end_epoch(last, log, time.perf_counter() - t0)
                    elif self.iteration % self.cfg.checkpoint_every == 0:
                        self._write_log(log, last, time.perf_counter() - t0)
                        self.save_checkpoint()
                        self._last_saved = self.iteration
        except KeyboardInterrupt:
            self.save_checkpoint()
            logger.warning("interrupted: checkpoint saved at iteration %d", self.iteration)
            raise
        finally:
            log.close()
            if self._tb is not None:
                self._tb.close()
        return self.result()

    def _end_epoch(self, last: dict[str, Any], log: Any, seconds: float) -> None:
        psnr, ssim = self.validate()
        real_psnr, real_ssim = self.validate_real()
        row = {**last, "val_psnr": psnr, "val_ssim": ssim}
        if self.real:
            row.update(real_psnr=real_psnr, real_ssim=real_ssim)
        self._write_log(log, row, seconds)
        line = (
            f"iteration {self.iteration}/{self.cfg.iterations}: val PSNR {psnr:.2f} dB SSIM "
            f"{ssim:.4f} (bicubic {self.bicubic[0]:.2f} / {self.bicubic[1]:.4f})"
            + (f"; real LR {real_psnr:.2f} dB / {real_ssim:.4f}" if self.real else "")
            + f"; {seconds:.0f} s"
        )
        logger.info("%s", line)
        if self.progress and not sys.stderr.isatty():  # no live bar in a log file: a line
            print(line, file=sys.stderr, flush=True)
        key = "real_psnr" if self.real else "val_psnr"
        if not self.best or row[key] > self.best.get(key, -math.inf):
            self.best = {"val_psnr": psnr, "val_ssim": ssim, "iteration": self.iteration}
            if self.real:
                self.best.update(real_psnr=real_psnr, real_ssim=real_ssim)
            ckpt.save_atomic(
                {
                    "version": ckpt.CHECKPOINT_VERSION,
                    "generator": self.averaged.state_dict(),
                    "best": self.best,
                },
                self.best_path,
            )
        self.save_checkpoint()
        self._last_saved = self.iteration

    def result(self) -> TrainResult:
        """The best generator (by validation PSNR) and its metrics."""
        if self.best_path.is_file():
            self.g.load_state_dict(ckpt.load(self.best_path)["generator"])
        elif self.ema is not None:
            self.g.load_state_dict(self.ema.module.state_dict())
        self.g.eval()
        metrics = {
            "val_psnr": self.best.get("val_psnr", float("nan")),
            "val_ssim": self.best.get("val_ssim", float("nan")),
            "bicubic_psnr": self.bicubic[0],
            "bicubic_ssim": self.bicubic[1],
            "best_iteration": self.best.get("iteration", self.iteration),
            "val_patches": len(self.val_lr),
        }
        if "real_psnr" in self.best:
            metrics.update(
                real_psnr=self.best["real_psnr"],
                real_ssim=self.best["real_ssim"],
                real_fields=len(self.real),
            )
        return TrainResult(
            self.g,
            self.iteration,
            metrics,
            self.workdir,
            self.sampler.channels,
            self.vgg_loss,
            self.history,
        )

    # -- logging -----------------------------------------------------------------
    def _open_log(self) -> Any:
        path = self.workdir / "log.csv"
        new = not path.exists()
        fields = LOG_FIELDS
        if not new:  # a run resumed from an older version keeps its log's columns
            with path.open(newline="") as old:
                fields = next(csv.reader(old), None) or LOG_FIELDS
        fh = path.open("a", newline="")
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        self._tb = _tensorboard(self.workdir)
        if new:
            writer.writeheader()
        fh.writer = writer  # type: ignore[attr-defined]
        return fh

    def _write_log(self, log: Any, row: dict[str, Any], seconds: float) -> None:
        full = {k: row.get(k, "") for k in LOG_FIELDS}
        full.update(
            iteration=self.iteration,
            bicubic_psnr=self.bicubic[0],
            bicubic_ssim=self.bicubic[1],
            seconds=round(seconds, 2),
        )
        log.writer.writerow(full)
        log.flush()
        if self._tb is not None:
            for k, v in full.items():
                if isinstance(v, float) and math.isfinite(v):
                    self._tb.add_scalar(k, v, self.iteration)
        self.history.append({k: v for k, v in full.items() if v != ""})

    @staticmethod
    def _info(last: dict[str, Any]) -> str:
        s = f"{last.get('phase', '')} G {last.get('loss_g', 0):.4g} mse {last.get('mse', 0):.4g}"
        if last.get("phase") == "gan":
            s += f" adv {last.get('adv', 0):.3g} D {last.get('loss_d', 0):.3g}"
        return s

    def _progress(self) -> Any:
        from contextlib import contextmanager

        @contextmanager
        def ctx() -> Any:
            if not self.progress:
                yield None, None
                return
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            with Progress(
                TextColumn("train"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            ) as bar:
                task = bar.add_task(
                    "train", total=self.cfg.iterations, completed=self.iteration, info=""
                )
                yield bar, task

        return ctx()
