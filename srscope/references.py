"""The reference set of DESIGN.md: ``references.json`` beside OME-TIFF captures.

Written by ``acquisition`` (``srscope references``), read by ``training``
(calibrate, train) and evaluation. Both captures of an entry are centred on the
same stage position; nothing relies on pixel registration.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from srscope.errors import SettingsError
from srscope.model_base import SrscopeModel

REFERENCES_FORMAT = "srscope-references/1"
REFERENCES_FILE = "references.json"


class Capture(SrscopeModel):
    file: str
    objective: str
    pixel_size_um: float = Field(gt=0)
    exposure_ms: float = Field(ge=0)


class ReferenceEntry(SrscopeModel):
    position_um: tuple[float, float, float]
    channel: str
    hr: Capture
    lr: Capture | None = None


class ReferenceSet(SrscopeModel):
    format: Literal["srscope-references/1"] = REFERENCES_FORMAT
    scale: int = Field(ge=2, le=5)
    entries: list[ReferenceEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_scale(self) -> ReferenceSet:
        for i, e in enumerate(self.entries):
            if e.lr is None:
                continue
            ratio = e.lr.pixel_size_um / e.hr.pixel_size_um
            if abs(ratio - self.scale) > 0.01 * self.scale:
                raise ValueError(
                    f"entry {i}: LR/HR pixel size ratio {ratio:.3f} "
                    f"({e.lr.pixel_size_um} / {e.hr.pixel_size_um} µm) is not the scale "
                    f"{self.scale} within 1%"
                )
        return self

    @property
    def channels(self) -> list[str]:
        return sorted({e.channel for e in self.entries})

    @classmethod
    def load(cls, folder: str | os.PathLike) -> ReferenceSet:
        path = Path(folder)
        if path.is_dir():
            path = path / REFERENCES_FILE
        if not path.is_file():
            raise SettingsError(f"no {REFERENCES_FILE} in {Path(folder)}")
        return cls.from_json(path.read_bytes(), f"invalid reference set {path}")

    def save(self, folder: str | os.PathLike) -> Path:
        return self.to_file(Path(folder) / REFERENCES_FILE)
