"""Models shipped inside the package (``sr_engine/models/*.onnx``), by name."""

from __future__ import annotations

from pathlib import Path

from srscope.errors import SrscopeError

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
