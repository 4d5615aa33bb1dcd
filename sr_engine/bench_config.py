"""What ``srscope bench`` measures: the one settings model every benchmark section reads."""

from __future__ import annotations

from pydantic import Field

from srscope.model_base import SrscopeModel


class BenchConfig(SrscopeModel):
    """What to benchmark (``models`` empty: random-weight paper and live models)."""

    models: list[str] = Field(default_factory=list)
    threads: int | None = None
    size: int = 512
    repeats: int = 3
    gigapixel: bool = False
    torch: bool = True
    quick: bool = False
    backend: str = "auto"  # what runs the main sections; "auto": chosen at load
    precision: str = "auto"  # the backends section covers every pair these allow
    only_backends: bool = False  # just the per-backend frame times and accuracy (seconds)
