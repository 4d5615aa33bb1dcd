"""Pick the backend and precision at model load: the fastest one that stays accurate.

Every candidate runs the same deterministic reference input: a seeded smooth
random HR image (structure at the LR pixel scale) block-averaged to LR, a few
tiles' worth. Its output is compared with ONNX Runtime fp32 (the reference)
and with the HR image itself; a candidate is accepted when

- its PSNR against the HR image changes by at most ``PSNR_TOLERANCE_DB`` from
  the reference's (what a user would see in an evaluation), and
- no output pixel moves more than ``MAX_ABS_TOLERANCE`` from the reference's
  (normalised units: the model's input and output span about [0, 1]; this
  catches local artefacts a mean cannot show).

Accepted candidates are timed on a frame of a few GFLOP, interleaved over a few
rounds (the machine may be shared); the fastest wins, and a later candidate
must beat the current pick by ``SPEED_MARGIN`` so that timing noise does not
move a model off the reference. Explicit requests skip the timing and keep
their backend even when the check fails (with a warning).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from sr_engine.backend import Backend, candidates
from srscope import logger

PSNR_TOLERANCE_DB = 0.05
MAX_ABS_TOLERANCE = 0.02  # normalised units (2 % of the model's [0, 1] range)
SPEED_MARGIN = 0.05
CHECK_FLOP = 2e9  # per accuracy-check run (sets the reference image's side)
TIME_FLOP = 4e9  # per timed run
TIME_ROUNDS = 3

# auto decisions made in this process, by (graph digest, backend, precision, threads):
# the viewer reopens models when the user switches them, and the answer cannot change
_REMEMBERED: dict[tuple[str, str, str, int | None], BackendChoice] = {}


def forget_choices() -> None:
    """Measure again on the next load (e.g. after the machine's load changed)."""
    _REMEMBERED.clear()


@dataclass(frozen=True)
class CandidateCheck:
    """One backend/precision on the reference input."""

    backend: str
    precision: str
    psnr_db: float | None = None  # output vs the reference HR image
    psnr_change_db: float | None = None  # minus the ONNX Runtime fp32 output's PSNR
    max_abs_err: float | None = None  # vs the ONNX Runtime fp32 output, normalised units
    ms_per_run: float | None = None
    accepted: bool = False
    note: str = ""


@dataclass(frozen=True)
class BackendChoice:
    """What runs the model and why; goes into logs and outputs' provenance."""

    backend: str
    precision: str
    how: str  # "auto" (measured), "requested", "only available"
    runtime: dict[str, Any] = field(default_factory=dict)
    checks: list[CandidateCheck] = field(default_factory=list)
    check_side: int | None = None  # LR side of the reference input
    time_side: int | None = None  # LR side of the timed input
    tolerance: dict[str, float] = field(
        default_factory=lambda: {
            "psnr_change_db": PSNR_TOLERANCE_DB,
            "max_abs_err": MAX_ABS_TOLERANCE,
        }
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        parts = [f"{self.backend} {self.precision} ({self.how})"]
        for c in self.checks:
            if c.backend == "onnxruntime":
                continue
            bits = [f"{c.backend} {c.precision}:"]
            if c.psnr_change_db is not None:
                bits.append(f"ΔPSNR {c.psnr_change_db:+.4f} dB, max err {c.max_abs_err:.2e}")
            if c.ms_per_run is not None:
                bits.append(f"{c.ms_per_run:.1f} ms")
            if c.note:
                bits.append(c.note)
            parts.append(" ".join(bits))
        ref = next((c for c in self.checks if c.backend == "onnxruntime"), None)
        if ref is not None and ref.ms_per_run is not None:
            parts.append(f"onnxruntime fp32: {ref.ms_per_run:.1f} ms")
        return "; ".join(parts)


def reference_pair(
    n_channels: int, scale: int, side: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(lr (1, C, side, side), hr (1, C, s·side, s·side))`` in [0.1, 0.9], deterministic.

    Gaussian-filtered white noise (σ = one LR pixel) has detail right at the
    scale SR restores; LR is its exact block mean.
    """
    rng = np.random.default_rng(seed)
    n = side * scale
    noise = rng.standard_normal((n_channels, n, n))
    ky = np.fft.fftfreq(n)[:, None]
    kx = np.fft.rfftfreq(n)[None, :]
    sigma = float(scale)
    gain = np.exp(-2 * np.pi**2 * sigma**2 * (ky**2 + kx**2))
    hr = np.fft.irfft2(np.fft.rfft2(noise) * gain, s=(n, n))
    lo = hr.min(axis=(1, 2), keepdims=True)
    hi = hr.max(axis=(1, 2), keepdims=True)
    hr = (0.1 + 0.8 * (hr - lo) / np.maximum(hi - lo, 1e-12)).astype(np.float32)
    lr = hr.reshape(n_channels, side, scale, side, scale).mean(axis=(2, 4))
    return lr[None].astype(np.float32), hr[None]


CALIBRATION_SIDE = 64  # LR side of each int8 calibration input


def calibration_inputs(
    n_channels: int, scale: int, side: int = CALIBRATION_SIDE
) -> Iterator[np.ndarray]:
    """Deterministic ``(1, C, side, side)`` inputs spanning what the engine feeds a model.

    Normalised frames are mostly in [0, 1] (percentile normalisation), with a dark
    floor, highlights above 1 and blank fields: the reference input's smooth
    structure, the same stretched past both ends, sparse bright spots, zeros.
    """
    for seed in range(4):
        lr = reference_pair(n_channels, scale, side, seed=seed)[0]
        yield lr
        yield (lr - 0.1) * 1.6 - 0.05
    rng = np.random.default_rng(7)
    spots = np.zeros((1, n_channels, side, side), np.float32)
    idx = rng.integers(0, side, size=(2, side // 2))
    spots[:, :, idx[0], idx[1]] = 1.5
    yield spots
    yield np.zeros_like(spots)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """PSNR in dB, capped at 200 (identical arrays; keeps the record finite JSON)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 200.0 if mse <= data_range**2 * 1e-20 else float(10 * np.log10(data_range**2 / mse))


def _side(flop_per_px: float, budget: float, lo: int, hi: int) -> int:
    side = int((budget / max(flop_per_px, 1.0)) ** 0.5) // 16 * 16
    return int(min(hi, max(lo, side)))


def _time_once(backend: Backend, x: np.ndarray) -> float:
    t0 = time.perf_counter()
    backend.run(x)
    return time.perf_counter() - t0


def make_backend(
    name: str,
    precision: str,
    run_bytes: bytes,
    threads: int | None,
    reference: Backend,
    n_channels: int,
    scale: int,
) -> Backend:
    """A backend other than the reference (which the caller built with its own settings);
    int8 runs the graph :func:`~sr_engine.quantize.quantize_int8` makes."""
    if name == "onnxruntime":
        return reference
    from sr_engine.backend_openvino import OpenVinoBackend

    if precision == "int8":
        from sr_engine.quantize import quantize_int8

        run_bytes = quantize_int8(run_bytes, lambda: calibration_inputs(n_channels, scale))
    return OpenVinoBackend(run_bytes, precision=precision, threads=threads)


def select_backend(
    reference: Backend,
    run_bytes: bytes,
    *,
    n_channels: int,
    scale: int,
    flop_per_px: float,
    backend: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
    source: str = "<model>",
) -> tuple[Backend, BackendChoice]:
    """The backend to run the model with, and the record of how it was chosen.

    ``reference`` is the ONNX Runtime fp32 backend (already built). An explicit
    ``backend``/``precision`` that cannot run here raises
    :class:`~sr_engine.backend.BackendUnavailable`; ``auto`` falls back silently.
    """
    from sr_engine.errors import ModelError

    pairs = candidates(backend, precision)
    if len(pairs) > 1:
        how = "auto"
    elif backend == "auto" and precision in ("auto", "fp32"):
        how = "only available"
    else:
        how = "requested"
    if pairs == [("onnxruntime", "fp32")]:
        choice = BackendChoice("onnxruntime", "fp32", how, reference.describe())
        logger.info("%s: backend %s", source, choice.summary())
        return reference, choice
    memo = (hashlib.sha256(run_bytes).hexdigest(), backend, precision, threads)
    if how == "auto" and memo in _REMEMBERED:
        choice = _REMEMBERED[memo]
        chosen = make_backend(
            choice.backend, choice.precision, run_bytes, threads, reference, n_channels, scale
        )
        logger.info("%s: backend %s (measured earlier)", source, choice.summary())
        return chosen, replace(choice, runtime=chosen.describe())

    built: list[tuple[str, str, Backend | None, str]] = []
    for name, prec in pairs:
        try:
            be = make_backend(name, prec, run_bytes, threads, reference, n_channels, scale)
            built.append((name, prec, be, ""))
        except Exception as exc:  # each runtime has its own error classes
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            if how == "requested" or backend == name:
                raise ModelError(f"{name} cannot load {source}: {first}") from None
            logger.debug("%s: %s %s unavailable (%s)", source, name, prec, first)
            built.append((name, prec, None, f"failed to load: {first}"))

    check_side = _side(flop_per_px, CHECK_FLOP, 32, 128)
    lr, hr = reference_pair(n_channels, scale, check_side)
    ref_out = reference.run(lr)
    ref_psnr = psnr(ref_out, hr)
    checks: dict[tuple[str, str], dict[str, Any]] = {}
    for name, prec, be, note in built:
        c: dict[str, Any] = {"backend": name, "precision": prec, "note": note}
        if be is not None:
            out = ref_out if be is reference else be.run(lr)
            if out.shape != ref_out.shape or not np.all(np.isfinite(out)):
                c["note"] = f"output shape {out.shape} or values are wrong"
            else:
                p = psnr(out, hr)
                c["psnr_db"] = round(float(p), 4)
                c["psnr_change_db"] = round(float(p - ref_psnr), 5)
                c["max_abs_err"] = float(np.abs(out - ref_out).max())
                c["accepted"] = bool(
                    abs(p - ref_psnr) <= PSNR_TOLERANCE_DB and c["max_abs_err"] <= MAX_ABS_TOLERANCE
                )
                if not c["accepted"]:
                    c["note"] = "outside the tolerance"
        checks[(name, prec)] = c

    usable = [(n, p, be) for n, p, be, _ in built if be is not None and checks[(n, p)]["accepted"]]
    time_side = None
    if len(usable) > 1:
        time_side = _side(flop_per_px, TIME_FLOP, 64, 512)
        x = reference_pair(n_channels, scale, time_side, seed=1)[0]
        best: dict[tuple[str, str], float] = {}
        for _, _, be in usable:
            be.run(x)  # warm-up (OpenVINO compiles the shape)
        for _ in range(TIME_ROUNDS):
            for n, p, be in usable:
                t = _time_once(be, x)
                best[(n, p)] = min(best.get((n, p), t), t)
        for key, t in best.items():
            checks[key]["ms_per_run"] = round(1e3 * t, 2)
        pick = usable[0]
        for cand in usable[1:]:
            if best[cand[:2]] < best[pick[:2]] * (1 - SPEED_MARGIN):
                pick = cand
    elif usable:
        pick = usable[0]
    else:  # only explicit requests get here (the reference always passes): keep, with a warning
        pick = next((n, p, be) for n, p, be, _ in built if be is not None)
        logger.warning(
            "%s: %s %s output differs from ONNX Runtime fp32 beyond the tolerance "
            "(ΔPSNR %s dB, max err %s); kept because it was asked for",
            source,
            pick[0],
            pick[1],
            checks[pick[:2]].get("psnr_change_db"),
            checks[pick[:2]].get("max_abs_err"),
        )
    name, prec, chosen = pick
    choice = BackendChoice(
        name,
        prec,
        how,
        chosen.describe(),
        [CandidateCheck(**checks[(n, p)]) for n, p, _, _ in built],
        check_side,
        time_side,
    )
    if how == "auto":
        _REMEMBERED[memo] = choice
    logger.info("%s: backend %s", source, choice.summary())
    return chosen, choice
