"""Training precision: bf16 autocast where the CPU has bf16 units, fp32 elsewhere.

bf16 matrix units (AVX512-BF16, AMX-BF16) make PyTorch's bf16 convolutions
several times faster than fp32; without them bf16 is emulated and slower. So
``auto`` reads the CPU flags once per machine and picks; fp32 master weights
are kept either way (autocast only changes the compute type of the ops).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import torch

Precision = Literal["auto", "fp32", "bf16"]
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def resolve(precision: Precision, device: torch.device) -> Literal["fp32", "bf16"]:
    """``auto`` → bf16 on a CUDA device or a CPU with bf16 units, else fp32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if any(f in cpu_flags() for f in BF16_FLAGS) else "fp32"


def autocast(precision: Literal["fp32", "bf16"], device: torch.device) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
