"""Registration-free training pairs: HR patches and LR made on the fly by the degradation.

Normalisation mirrors the engine (``sr_engine.normalize``): per channel, from
the percentiles of the *whole LR image*, decided once per source image. Here the
LR image of a source is simulated once (seeded) to fix ``lo``/``hi``; every LR
patch and its HR target (in LR camera units: ``gain·HR + offset``) are mapped
with those two numbers, so the network learns LR units → same units at HR
resolution, exactly what the engine's ``before``/``after`` expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from srscope import logger
from srscope.degradation import DegradationRecord, add_noise, block_mean
from srscope.errors import ImageError, SrscopeError
from training.config import TrainConfig
from training.images import TrainingImage


@dataclass
class Prepared:
    """A source ready for sampling: HR target in LR units, its blurred copies, lo/hi."""

    name: str
    target: np.ndarray  # gain·HR + offset, (C, Y, X)
    blurred: list[np.ndarray]  # gain·(PSF * HR) + offset, (C, Y, X), one per PSF width
    lo: np.ndarray  # (C,) normalisation levels from the whole simulated LR image
    span: np.ndarray
    train_rows: tuple[int, int]
    val_rows: tuple[int, int] | None
    meta: dict[str, Any] = field(default_factory=dict)  # the source's (e.g. its LR capture)


def _percentiles(lr: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    flat = lr.reshape(lr.shape[0], -1)
    lo = np.percentile(flat, low, axis=1).astype(np.float32)
    hi = np.percentile(flat, high, axis=1).astype(np.float32)
    return lo, np.maximum(hi - lo, 1e-6).astype(np.float32)


def prepare_sources(
    sources: list[TrainingImage], record: DegradationRecord, cfg: TrainConfig
) -> list[Prepared]:
    """Blur once, fix each source's normalisation, and split rows into train/validation."""
    if not sources:
        raise ImageError("no training images")
    if record.scale != cfg.scale:
        raise SrscopeError(f"degradation record scale {record.scale} != training scale {cfg.scale}")
    p = cfg.patch_hr
    usable = [s for s in sources if min(s.shape) >= p]
    small = [s.name for s in sources if min(s.shape) < p]
    if not usable:
        raise ImageError(
            f"all {len(sources)} training images are smaller than the HR patch ({p} px = "
            f"{cfg.patch_lr} LR px × {cfg.scale}); use a smaller --patch"
        )
    if small:
        logger.warning(
            "skipping %d image(s) smaller than the %d px patch: %s", len(small), p, small
        )
    nch = {s.image.shape[0] for s in usable}
    if len(nch) != 1:
        raise ImageError(f"training images have different channel counts: {sorted(nch)}")
    rng = np.random.default_rng(cfg.seed + 7919)
    g, o = record.intensity.gain, record.intensity.offset
    prepared = []
    for s in usable:
        hr = s.image.astype(np.float32)
        blurred = record.blur(hr)
        lr_full = add_noise(g * block_mean(blurred, cfg.scale) + o, record.noise, o, rng)
        variants = [g * blurred + o] + [
            g * record.widened(f).blur(hr) + o for f in psf_factors(cfg) if f != 1.0
        ]
        lo, span = _percentiles(lr_full, cfg.normalization_low, cfg.normalization_high)
        h = s.shape[0]
        strip = max(p, round(cfg.val_fraction * h))
        val = (h - strip, h) if h - strip >= p else None
        train = (0, h - strip) if val else (0, h)
        prepared.append(Prepared(s.name, g * hr + o, variants, lo, span, train, val, s.meta))
    if not any(pr.val_rows for pr in prepared):
        if len(prepared) >= 2:
            last = prepared[-1]
            last.val_rows, last.train_rows = (0, last.target.shape[1]), (0, 0)
            logger.info("validation: held-out image %s", last.name)
        else:
            logger.warning(
                "image too small to hold out a validation strip: validating on training data"
            )
            prepared[0].val_rows = prepared[0].train_rows
    return prepared


def psf_factors(cfg: TrainConfig) -> list[float]:
    """PSF width factors to train on: the calibrated one first, then the range's."""
    r = cfg.psf_scale_range
    return [1.0] if r == 0 else [1.0, 1 - r, 1 - r / 2, 1 + r / 2, 1 + r]


class PatchSampler:
    """Random (LR, HR) patch batches; all randomness from one seeded NumPy generator,
    whose state goes into checkpoints so a resumed run draws the same batches."""

    def __init__(self, prepared: list[Prepared], record: DegradationRecord, cfg: TrainConfig):
        self.prepared, self.record, self.cfg = prepared, record, cfg
        self.rng = np.random.default_rng(cfg.seed)
        self._train = [
            i
            for i, pr in enumerate(prepared)
            if pr.train_rows[1] - pr.train_rows[0] >= cfg.patch_hr
        ]
        if not self._train:
            raise ImageError("no image region left for training after holding out validation")
        areas = np.array(
            [
                (prepared[i].train_rows[1] - prepared[i].train_rows[0])
                * prepared[i].target.shape[2]
                for i in self._train
            ],
            dtype=np.float64,
        )
        self._weights = areas / areas.sum()

    @property
    def channels(self) -> int:
        return int(self.prepared[0].target.shape[0])

    def state(self) -> dict[str, Any]:
        return self.rng.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state

    def _patch(
        self, pr: Prepared, rows: tuple[int, int], rng: np.random.Generator, augment: bool
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        p, s = self.cfg.patch_hr, self.cfg.scale
        y = int(rng.integers(rows[0], rows[1] - p + 1))
        x = int(rng.integers(0, pr.target.shape[2] - p + 1))
        hr = pr.target[:, y : y + p, x : x + p]
        k = int(rng.integers(len(pr.blurred))) if augment and len(pr.blurred) > 1 else 0
        bl = pr.blurred[k][:, y : y + p, x : x + p]
        if augment:
            k = int(rng.integers(4))
            hr, bl = np.rot90(hr, k, axes=(1, 2)), np.rot90(bl, k, axes=(1, 2))
            if rng.random() < 0.5:
                hr, bl = hr[:, :, ::-1], bl[:, :, ::-1]
        lo, span = pr.lo[:, None, None], pr.span[:, None, None]
        blurred_n = (bl - lo) / span
        background = float(np.percentile(blurred_n, 99) - np.percentile(blurred_n, 1)) < 0.05
        noise = self.record.noise
        lo_n, hi_n = self.cfg.noise_scale_range
        if augment and hi_n != lo_n:
            noise = noise.scaled(float(np.exp(rng.uniform(np.log(lo_n), np.log(hi_n)))))
        lr = add_noise(block_mean(bl, s), noise, self.record.intensity.offset, rng)
        return (
            ((lr - lo) / span).astype(np.float32),
            ((hr - lo) / span).astype(np.float32),
            background,
        )

    def batch(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """A training batch ``(lr (n,C,p,p), hr (n,C,P,P))``; background patches mostly skipped."""
        n = n or self.cfg.batch
        lrs, hrs = [], []
        while len(lrs) < n:
            for _attempt in range(50):
                i = self._train[int(self.rng.choice(len(self._train), p=self._weights))]
                pr = self.prepared[i]
                lr, hr, bg = self._patch(pr, pr.train_rows, self.rng, augment=True)
                if not bg or self.rng.random() < self.cfg.background_keep:
                    break
            lrs.append(lr)
            hrs.append(hr)
        return np.stack(lrs), np.stack(hrs)

    def validation(self) -> tuple[np.ndarray, np.ndarray]:
        """A fixed held-out set (same every call: its own seed, no augmentation)."""
        rng = np.random.default_rng(self.cfg.seed + 104729)
        val = [pr for pr in self.prepared if pr.val_rows is not None]
        lrs, hrs = [], []
        tries = 0
        while len(lrs) < self.cfg.val_patches:
            pr = val[len(lrs) % len(val)]
            lr, hr, bg = self._patch(pr, pr.val_rows, rng, augment=False)  # type: ignore[arg-type]
            tries += 1
            if bg and tries < 10 * self.cfg.val_patches:
                continue
            lrs.append(lr)
            hrs.append(hr)
        return np.stack(lrs), np.stack(hrs)
