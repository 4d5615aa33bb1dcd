"""What a tile scan covers: a slide area, a grid around a centre, or wells of a plate."""

from __future__ import annotations

import useq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from srscope.errors import SrscopeError

MAX_TILES = 100_000  # a whole slide at 5x is a few thousand


class ScanPlan(BaseModel):
    """What to scan: a slide area, a grid around a centre, or wells of a plate."""

    model_config = ConfigDict(extra="forbid")

    area_um: tuple[float, float, float, float] | None = Field(
        None, description="slide area to cover, (x0, y0, x1, y1) µm"
    )
    center_um: tuple[float, float] | None = Field(None, description="grid centre (x, y) µm")
    rows: int = Field(3, ge=1)
    columns: int = Field(3, ge=1)
    plate: str | None = Field(None, description="useq plate name, e.g. '96-well'")
    wells: list[str] = Field(default_factory=list, description="e.g. ['A1', 'B3']")
    a1_center_um: tuple[float, float] = (0.0, 0.0)
    channels: list[str] = Field(default_factory=lambda: ["DAPI"])
    objective: str | None = Field(None, description="default: the rig's LR objective")
    exposure_ms: float = Field(10.0, gt=0)
    overlap: float = Field(0.1, ge=0.0, lt=0.9, description="tile overlap fraction")
    z_um: float | None = None

    @model_validator(mode="after")
    def _one_layout(self) -> ScanPlan:
        given = [self.area_um is not None, self.center_um is not None, self.plate is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of area_um, center_um or plate (+ wells)")
        if self.plate is not None and not self.wells:
            raise ValueError("a plate scan needs wells, e.g. ['A1', 'A2']")
        if not self.channels:
            raise ValueError("give at least one channel")
        return self

    def positions(self, fov_w_um: float, fov_h_um: float) -> list[useq.Position]:
        """Tile centres (named; wells prefix their tiles) for this field of view."""
        fov = {"fov_width": fov_w_um, "fov_height": fov_h_um, "overlap": self.overlap * 100.0}
        if self.area_um is not None:
            x0, y0, x1, y1 = self.area_um
            step_w, step_h = fov_w_um * (1 - self.overlap), fov_h_um * (1 - self.overlap)
            tiles = (abs(x1 - x0) / step_w + 1) * (abs(y1 - y0) / step_h + 1)
            if not tiles <= MAX_TILES:  # refuse before useq lays out (and allocates) the grid
                raise SrscopeError(
                    f"--area {x0:g},{y0:g},{x1:g},{y1:g} µm needs about {tiles:.3g} tiles of "
                    f"{fov_w_um:.4g}x{fov_h_um:.4g} µm; at most {MAX_TILES} per scan"
                )
            edges = useq.GridFromEdges(
                top=max(y0, y1), bottom=min(y0, y1), left=min(x0, x1), right=max(x0, x1), **fov
            )
            return [useq.Position(x=p.x, y=p.y, name=f"tile{i:04d}") for i, p in enumerate(edges)]
        grid = useq.GridRowsColumns(rows=self.rows, columns=self.columns, **fov)
        if self.center_um is not None:
            cx, cy = self.center_um
            return [
                useq.Position(x=cx + p.x, y=cy + p.y, name=f"tile{i:04d}")
                for i, p in enumerate(grid)
            ]
        try:
            plate = useq.WellPlatePlan(
                plate=self.plate,
                a1_center_xy=self.a1_center_um,
                selected_wells=well_indices(self.wells),
                well_points_plan=grid,
            )
        except (ValueError, KeyError) as exc:
            raise SrscopeError(f"bad plate plan: {' '.join(str(exc).split())[:200]}") from None
        return [useq.Position(x=p.x, y=p.y, name=p.name) for p in plate]


def well_indices(wells: list[str]) -> tuple[list[int], list[int]]:
    """Row and column indices of well names (``"B3"`` -> row 1, column 2)."""
    rows, cols = [], []
    for w in wells:
        w = w.strip().upper()
        if len(w) < 2 or not w[0].isalpha() or not w[1:].isdigit():
            raise SrscopeError(f"bad well name {w!r}; use e.g. 'A1'")
        rows.append(ord(w[0]) - ord("A"))
        cols.append(int(w[1:]) - 1)
    return rows, cols
