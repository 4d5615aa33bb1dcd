"""The seam between the engine and an inference runtime: ``Backend`` and what can run here.

The engine (tiling, normalisation, live frames) only ever calls ``run`` on a
normalised float32 batch, so any runtime that loads ``model.onnx`` can sit
behind it: ONNX Runtime (:mod:`sr_engine.backend_ort`, the fp32 reference) and
OpenVINO (:mod:`sr_engine.backend_openvino`, an optional dependency that reaches
the CPU's bf16 units where there are any, and its int8 units on the graph
:mod:`sr_engine.quantize` makes). :mod:`sr_engine.backend_select`
picks one at model load.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from srscope.errors import SrscopeError

BackendName = Literal["onnxruntime", "openvino"]
Precision = Literal["fp32", "bf16", "int8"]
BACKENDS: tuple[str, ...] = ("onnxruntime", "openvino")
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs with bf16 dot products
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # ... and with int8 dot products
Region = tuple[int, int, int, int]


class BackendUnavailable(SrscopeError):
    """A backend or precision that was asked for explicitly cannot run on this machine."""


@runtime_checkable
class Backend(Protocol):
    """Runs the model graph on a normalised float32 ``(N, C, H, W)`` batch."""

    name: str  # one of BACKENDS
    precision: str  # one of PRECISIONS

    def run(self, batch: np.ndarray, keep: Region | None = None) -> np.ndarray:
        """The model output ``(N, C, s·H, s·W)`` float32, a fresh array the caller may keep.

        Optional ``keep`` ``(y0, y1, x0, x1)``: the LR part of the windows the
        caller keeps; a backend may leave output outside it uncomputed (zero),
        or ignore it.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """Runtime, version and settings, for logs and outputs' provenance."""
        ...


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is not readable)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


@cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 dot products in hardware (AVX512-BF16 or AMX).

    Without them OpenVINO would run bf16 in fp32 anyway (or refuse), so bf16 is
    offered only where it can be faster.
    """
    return bool(cpu_flags() & set(BF16_FLAGS))


@cache
def cpu_has_int8() -> bool:
    """Whether this CPU has int8 dot-product units (VNNI or AMX-INT8).

    Without them an int8 convolution is no faster than fp32 here (measured with
    OpenVINO on an AVX2 CPU), so ``auto`` tries int8 only where they exist; an
    explicit ``--precision int8`` still runs anywhere.
    """
    return bool(cpu_flags() & set(INT8_FLAGS))


@cache
def openvino_available() -> bool:
    """Whether the optional ``openvino`` package imports (a broken install counts as absent)."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def check_request(backend: str, precision: str) -> None:
    """Refuse, with one line, a backend or precision that is unknown or cannot run here.

    ``auto`` never fails here: it falls back silently to what is available.
    """
    if backend not in ("auto", *BACKENDS):
        raise SrscopeError(f"unknown backend {backend!r} (auto, {', '.join(BACKENDS)})")
    if precision not in ("auto", *PRECISIONS):
        raise SrscopeError(f"unknown precision {precision!r} (auto, {', '.join(PRECISIONS)})")
    if backend == "openvino" and not openvino_available():
        raise BackendUnavailable(
            "backend openvino is not installed (pip install openvino, or use --backend auto)"
        )
    if precision == "bf16":
        if backend == "onnxruntime":
            raise BackendUnavailable(
                "ONNX Runtime runs these models in fp32 only; bf16 needs --backend openvino"
            )
        if not cpu_has_bf16():
            raise BackendUnavailable(
                "precision bf16 needs a CPU with avx512_bf16 or amx_bf16; this one has "
                "neither (use --precision fp32 or auto)"
            )
        if not openvino_available():
            raise BackendUnavailable(
                "precision bf16 needs the openvino backend, which is not installed"
            )
    if precision == "int8":
        if backend == "onnxruntime":
            raise BackendUnavailable(
                "int8 runs through --backend openvino (ONNX Runtime's int8 convolutions are "
                "slower than its fp32 ones on CPUs)"
            )
        if not openvino_available():
            raise BackendUnavailable(
                "precision int8 needs the openvino backend, which is not installed"
            )


def candidates(backend: str, precision: str) -> list[tuple[str, str]]:
    """The (backend, precision) pairs a request allows on this machine, reference first."""
    check_request(backend, precision)
    pairs = [("onnxruntime", "fp32")]
    if openvino_available():
        pairs.append(("openvino", "fp32"))
        if cpu_has_bf16():
            pairs.append(("openvino", "bf16"))
        if cpu_has_int8() or precision == "int8":
            pairs.append(("openvino", "int8"))
    return [(b, p) for b, p in pairs if backend in ("auto", b) and precision in ("auto", p)]


__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "Backend",
    "BackendUnavailable",
    "candidates",
    "check_request",
    "cpu_has_bf16",
    "cpu_has_int8",
    "openvino_available",
]
