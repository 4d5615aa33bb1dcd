"""Models shipped inside the package (``sr_engine/models/*.onnx``), by name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from srscope.errors import SrscopeError

if TYPE_CHECKING:
    from sr_engine.model import SRModel

MODELS_DIR = Path(__file__).parent / "models"


def bundled_models() -> dict[str, Path]:
    """``{name: path}`` of every ``*.onnx`` in ``sr_engine/models/`` (name = file stem)."""
    if not MODELS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(MODELS_DIR.glob("*.onnx"))}


def bundled_model(name: str) -> Path:
    """Path of the bundled model ``name`` (e.g. ``"live_fluo"``)."""
    models = bundled_models()
    if name not in models:
        known = ", ".join(models) or "none installed"
        raise SrscopeError(f"no bundled model {name!r} (bundled: {known})")
    return models[name]


def resolve_model(spec: str | Path) -> Path:
    """A file path, or the name of a bundled model."""
    path = Path(spec)
    if path.exists() or path.suffix == ".onnx" or "/" in str(spec):
        return path
    return bundled_model(str(spec))


def open_model(
    spec: str | Path,
    *,
    threads: int | None = None,
    backend: str = "auto",
    precision: str = "auto",
) -> SRModel:
    """Load a bundled model by name or a model file, on the fastest backend that
    matches ONNX Runtime fp32 (``auto``; see :mod:`sr_engine.backend_select`).

    The one way the live view, viewport SR, scans and evaluation open a model, so
    that all of them run what ``predict`` runs and record the same choice.
    """
    from sr_engine.model import SRModel

    return SRModel(resolve_model(spec), threads=threads, backend=backend, precision=precision)
