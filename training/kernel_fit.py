"""LR-from-HR kernels by regularised least squares on reference pairs.

Each LR pixel is modelled as ``Σ k[u, v] · blockmean(HR shifted by (u, v))``:
the PSF ``k`` in HR pixels, with the camera's pixel integration (the block
mean) explicit. A pair becomes the normal equations of that regression once
(centred, so a free offset per pair drops out); then any kernel, Gaussian,
Airy or free, is scored by two matrix products, and a free kernel is one
regularised solve. Score = residual sum of squares after the best gain,
relative to the LR variance: the same for every PSF kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srscope.degradation import block_mean
from srscope.errors import SrscopeError


@dataclass(frozen=True)
class NormalEquations:
    """``A = XᵀX``, ``b = Xᵀy``, ``c = yᵀy`` of centred features ``X`` and LR pixels ``y``."""

    a: np.ndarray
    b: np.ndarray
    c: float
    n: int
    radius: int

    def sub(self, radius: int) -> NormalEquations:
        """The equations of a smaller kernel (its shifts are a subset of ours)."""
        idx = _window_index(self.radius, radius)
        return NormalEquations(self.a[np.ix_(idx, idx)], self.b[idx], self.c, self.n, radius)


def _window_index(outer: int, inner: int) -> np.ndarray:
    n = 2 * outer + 1
    grid = np.arange(n * n).reshape(n, n)
    d = outer - inner
    return grid[d : n - d, d : n - d].ravel()


def normal_equations(
    hr_blocks: np.ndarray, lr: np.ndarray, scale: int, margin: int, parts: int = 2
) -> list[NormalEquations]:
    """Normal equations of one aligned pair, in ``parts`` horizontal strips (for cross-validation).

    ``hr_blocks`` covers exactly the LR pixels ``lr`` (whole blocks); a margin
    of ``margin`` LR pixels is left out so every shift stays inside the HR field.
    """
    radius = margin * scale
    ny, nx = lr.shape
    if ny - 2 * margin < 2 * parts or nx - 2 * margin < 2:
        raise SrscopeError(f"HR field of {ny}x{nx} LR px is too small for a kernel fit")
    hr = np.asarray(hr_blocks, dtype=np.float32)
    y_all = np.asarray(lr, dtype=np.float64)[margin : ny - margin, margin : nx - margin]
    h, w = (ny - 2 * margin) * scale, (nx - 2 * margin) * scale
    o = margin * scale
    shifts = [(u, v) for u in range(-radius, radius + 1) for v in range(-radius, radius + 1)]
    x_all = np.empty((y_all.size, len(shifts)), dtype=np.float32)
    for j, (u, v) in enumerate(shifts):  # blurred[y, x] = Σ k[u, v] · hr[y − u, x − v]
        x_all[:, j] = block_mean(hr[o - u : o - u + h, o - v : o - v + w], scale).ravel()
    out = []
    rows = np.array_split(np.arange(y_all.shape[0]), parts)
    for r in rows:
        sel = slice(r[0] * y_all.shape[1], (r[-1] + 1) * y_all.shape[1])
        x = x_all[sel]
        x = x - x.mean(axis=0)
        y = y_all[r].ravel()
        y = y - y.mean()
        a = (x.T @ x).astype(np.float64)
        b = x.T.astype(np.float64) @ y
        out.append(NormalEquations(a, b, float(y @ y), int(y.size), radius))
    return out


def relative_sse(eq: NormalEquations, kernel: np.ndarray) -> float:
    """Residual of the LR pixels after the kernel and the best gain, relative to their variance."""
    r = kernel.shape[0] // 2
    if r > eq.radius:
        raise SrscopeError(f"kernel radius {r} exceeds the fitted window {eq.radius}")
    k = kernel.ravel() if r == eq.radius else _embed(kernel, eq.radius)
    kb = float(k @ eq.b)
    kak = float(k @ eq.a @ k)
    if kak <= 0 or eq.c <= 0:
        return 1.0
    return float(max(1.0 - kb * kb / (kak * eq.c), 0.0))


def _embed(kernel: np.ndarray, radius: int) -> np.ndarray:
    n = 2 * radius + 1
    out = np.zeros((n, n))
    r = kernel.shape[0] // 2
    out[radius - r : radius + r + 1, radius - r : radius + r + 1] = kernel
    return out.ravel()


def _smoothness(radius: int) -> np.ndarray:
    """``DᵀD`` of first differences on the kernel grid (plus the step to zero outside)."""
    n = 2 * radius + 1
    d1 = np.eye(n + 1, n, k=0) - np.eye(n + 1, n, k=-1)  # differences, zero beyond both ends
    eye = np.eye(n)
    dy, dx = np.kron(d1, eye), np.kron(eye, d1)
    return dy.T @ dy + dx.T @ dx


def solve_kernel(eqs: list[NormalEquations], radius: int, lam: float) -> np.ndarray:
    """Smoothness-regularised least-squares kernel (sums to 1: the gain is separate)."""
    subs = [e.sub(radius) for e in eqs]
    a = sum(e.a for e in subs)
    b = sum(e.b for e in subs)
    reg = _smoothness(radius)
    scale = np.trace(a) / np.trace(reg)
    k = np.linalg.solve(a + lam * scale * reg, b)
    total = k.sum()
    if not np.isfinite(total) or total <= 0:
        raise SrscopeError("the kernel fit failed: LR and HR are not positively related")
    n = 2 * radius + 1
    return (k / total).reshape(n, n)


def fit_kernel(
    eqs: list[NormalEquations],
    folds: list[list[int]],
    max_radius: int,
    lambdas: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1),
) -> tuple[np.ndarray, dict]:
    """The kernel's support and regularisation chosen by cross-validation over ``folds``."""
    radii = sorted({max(2, max_radius // 2), max(2, (3 * max_radius) // 4), max_radius})
    best: tuple[float, int, float] | None = None
    table = {}
    for r in radii:
        for lam in lambdas:
            scores = []
            for held in folds:
                train = [e for i, e in enumerate(eqs) if i not in held]
                k = solve_kernel(train, r, lam)
                scores.append(np.mean([relative_sse(eqs[i], k) for i in held]))
            cv = float(np.mean(scores))
            table[f"r{r}_l{lam:g}"] = round(cv, 6)
            if best is None or cv < best[0]:
                best = (cv, r, lam)
    assert best is not None
    cv, r, lam = best
    kernel = solve_kernel(eqs, r, lam)
    return kernel, {
        "cv": cv,
        "radius": r,
        "lambda": lam,
        "method": f"smoothness-regularised least squares, radius {r} HR px and lambda {lam:g} "
        "chosen by cross-validation",
    }
