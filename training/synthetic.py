"""Synthetic specimens and reference pairs with a known degradation (tests, sanity checks)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from srscope.degradation import DegradationRecord
from training.calibrate import Pair


def specimen(
    shape: tuple[int, int], seed: int = 0, n_spots: int | None = None, background: float = 2000.0
) -> np.ndarray:
    """Cells-like scene with fine detail: spots of 0.7–3 px, filaments, a smooth background."""
    rng = np.random.default_rng(seed)
    h, w = shape
    img = np.zeros(shape, dtype=np.float64)
    n = n_spots or max(h * w // 400, 10)
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    img[ys, xs] = rng.uniform(200, 1000, n)
    fine = ndimage.gaussian_filter(img, 0.7) * 4
    coarse = np.zeros(shape)
    m = n // 4
    coarse[rng.integers(0, h, m), rng.integers(0, w, m)] = rng.uniform(2000, 6000, m)
    coarse = ndimage.gaussian_filter(coarse, 3.0) * 10
    fil = np.zeros(shape)
    for _ in range(max(n // 20, 2)):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        ang = rng.uniform(0, np.pi)
        t = np.arange(-w / 3, w / 3)
        yy = np.clip((y + t * np.sin(ang)).astype(int), 0, h - 1)
        xx = np.clip((x + t * np.cos(ang)).astype(int), 0, w - 1)
        fil[yy, xx] = 300
    fil = ndimage.gaussian_filter(fil, 0.8)
    bg = ndimage.gaussian_filter(rng.uniform(0, 1, shape), 30) * background
    return (fine + coarse + fil + bg + 50).astype(np.float32)


def make_pairs(
    record: DegradationRecord,
    n: int = 3,
    hr_shape: tuple[int, int] = (384, 384),
    lr_factor: float = 2.0,
    hr_noise_std: float = 1.0,
    seed: int = 0,
    background: float = 2000.0,
) -> list[Pair]:
    """Pairs like a two-objective rig: the LR field is ``lr_factor`` times larger than
    the HR field, which sits near its centre at a random sub-pixel offset."""
    rng = np.random.default_rng(seed)
    s = record.scale
    pairs = []
    for i in range(n):
        big = (int(hr_shape[0] * lr_factor) // s * s, int(hr_shape[1] * lr_factor) // s * s)
        scene = specimen(big, seed=seed * 100 + i, background=background)
        lr = record.apply(scene, rng=rng)
        cy = (big[0] - hr_shape[0]) // 2 + int(rng.integers(-s * 3, s * 3))
        cx = (big[1] - hr_shape[1]) // 2 + int(rng.integers(-s * 3, s * 3))
        hr = scene[cy : cy + hr_shape[0], cx : cx + hr_shape[1]]
        hr = hr + rng.standard_normal(hr.shape).astype(np.float32) * hr_noise_std
        pairs.append(Pair(f"syn{i}", hr.astype(np.float64), lr.astype(np.float64)))
    return pairs
