"""What ``srscope demo`` produced (``demo.json``), read by the demo and its report."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from srscope.model_base import SrscopeModel


class DemoResult(SrscopeModel):
    """What the demo produced (also written as ``demo.json``)."""

    out: Path
    report: Path
    timings_s: dict[str, float]
    files: dict[str, str]
    model: dict[str, Any]
    quality_model: dict[str, Any]
    table: list[dict[str, Any]]
    scan_sr: dict[str, Any]
    notes: list[str]


def environment() -> dict[str, str]:
    """Machine facts for the report."""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": str(os.cpu_count()),
        "platform": platform.platform(terse=True),
    }
