"""Typed settings and metadata of the acquisition part (pydantic v2)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field

from srscope.model_base import SrscopeModel

if TYPE_CHECKING:
    import useq
    from pymmcore_plus.metadata import FrameMetaV1
    from typing_extensions import Self


class RigSettings(SrscopeModel):
    """How srscope finds things in a Micro-Manager config (sim defaults fit most rigs)."""

    objective_group: str = Field("Objective", description="config group of the objectives")
    channel_group: str = Field("Channel", description="config group of the channels")
    lr_objective: str = Field("5x", description="low-resolution objective (preset or label)")
    hr_objective: str = Field("20x", description="high-resolution objective (preset or label)")
    roi: tuple[int, int, int, int] | None = Field(
        None, description="camera ROI (x, y, width, height); None = full frame"
    )

    @classmethod
    def from_file(cls, path: str | os.PathLike, what: str | None = "rig settings") -> Self:
        """Settings from a YAML or JSON file (``objective_group: Objectives`` ...)."""
        return super().from_file(path, what)


@dataclass(frozen=True)
class FrameMeta:
    """What a frame is: where, through which objective and channel, how exposed."""

    pixel_size_um: float
    position_um: tuple[float, float, float]
    objective: str  # objective label, e.g. "20x/0.45"
    channel: str
    exposure_ms: float
    index: int = 0
    timestamp_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mda(
        cls,
        event: useq.MDAEvent,
        meta: FrameMetaV1,
        *,
        objective: str,
        index: int,
        extra: dict[str, Any] | None = None,
    ) -> FrameMeta:
        """An MDA frame's metadata (pymmcore-plus's typed ``FrameMetaV1``) as a FrameMeta."""
        pos = meta.get("position") or {}
        return cls(
            pixel_size_um=float(meta.get("pixel_size_um", 0.0)),
            position_um=(
                float(pos.get("x", event.x_pos or 0.0)),
                float(pos.get("y", event.y_pos or 0.0)),
                float(pos.get("z", event.z_pos or 0.0)),
            ),
            objective=objective,
            channel=event.channel.config if event.channel else "",
            exposure_ms=float(meta.get("exposure_ms", 0.0)),
            index=index,
            extra=extra or {},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pixel_size_um": self.pixel_size_um,
            "position_um": list(self.position_um),
            "objective": self.objective,
            "channel": self.channel,
            "exposure_ms": self.exposure_ms,
            "index": self.index,
            "timestamp_s": self.timestamp_s,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass(frozen=True)
class Frame:
    """An image and its metadata."""

    image: Any  # np.ndarray (Y, X) or (Y, X, S)
    meta: FrameMeta
