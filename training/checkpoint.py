"""Atomic checkpoints: written to a temporary file, then renamed over the old one.

A kill at any moment leaves either the previous or the new checkpoint, never a
half-written one; a corrupt file is reported, never deleted. Checkpoints hold only
tensors and plain Python values and are read with ``weights_only=True``: a
crafted file in a work folder cannot run code on ``--resume``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from srscope.atomic import atomic_path
from srscope.errors import SettingsError

CHECKPOINT_VERSION = 1


def save_atomic(obj: dict[str, Any], path: Path) -> Path:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SettingsError(f"no checkpoint to resume from: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises various on a damaged file
        raise SettingsError(
            f"checkpoint {path} is corrupt, unreadable or holds more than weights "
            f"({type(exc).__name__}); it was left as is: delete it to start over, or restore "
            "a copy"
        ) from None
    if not isinstance(obj, dict) or obj.get("version") != CHECKPOINT_VERSION:
        raise SettingsError(
            f"{path} is not an srscope training checkpoint (version {CHECKPOINT_VERSION})"
        )
    return obj
