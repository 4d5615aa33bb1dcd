"""What a tile scan covers: one class per layout, as useq-schema's ``_grid.py`` has.

:class:`AreaPlan` tiles a slide area, :class:`GridPlan` lays rows × columns around a
centre, :class:`PlatePlan` does that in each chosen well of a plate. ``ScanPlan``
is their union, told apart by ``kind``. A mapping without ``kind`` (a ``scan.json``
written before the layouts were classes, or command-line flags) names its layout
by which one of ``area_um``, ``center_um`` or ``plate`` it sets; the fields the
single class of old wrote for the other layouts are dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import useq
from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError

from srscope.errors import SrscopeError
from srscope.model_base import SrscopeModel, field_error, one_line

MAX_TILES = 100_000  # a whole slide at 5x is a few thousand


class _Plan(SrscopeModel):
    """What every layout has: channels, objective, exposure, overlap, focus."""

    channels: list[str] = Field(default_factory=lambda: ["DAPI"], min_length=1)
    objective: str | None = Field(None, description="default: the rig's LR objective")
    exposure_ms: float = Field(10.0, gt=0)
    overlap: float = Field(0.1, ge=0.0, lt=0.9, description="tile overlap fraction")
    z_um: float | None = None

    def _fov(self, fov_w_um: float, fov_h_um: float) -> dict[str, float]:
        return {"fov_width": fov_w_um, "fov_height": fov_h_um, "overlap": self.overlap * 100.0}

    def _grid(self, fov_w_um: float, fov_h_um: float) -> useq.GridRowsColumns:
        rows, columns = self.rows, self.columns  # type: ignore[attr-defined]
        return useq.GridRowsColumns(rows=rows, columns=columns, **self._fov(fov_w_um, fov_h_um))


class AreaPlan(_Plan):
    """Tiles covering a slide area ``(x0, y0, x1, y1)`` µm."""

    kind: Literal["area"] = "area"
    area_um: tuple[float, float, float, float] = Field(description="(x0, y0, x1, y1) µm")

    def positions(self, fov_w_um: float, fov_h_um: float) -> list[useq.Position]:
        """Tile centres (``tile0000``...) for this field of view."""
        x0, y0, x1, y1 = self.area_um
        step_w, step_h = fov_w_um * (1 - self.overlap), fov_h_um * (1 - self.overlap)
        tiles = (abs(x1 - x0) / step_w + 1) * (abs(y1 - y0) / step_h + 1)
        if not tiles <= MAX_TILES:  # refuse before useq lays out (and allocates) the grid
            raise SrscopeError(
                f"--area {x0:g},{y0:g},{x1:g},{y1:g} µm needs about {tiles:.3g} tiles of "
                f"{fov_w_um:.4g}x{fov_h_um:.4g} µm; at most {MAX_TILES} per scan"
            )
        edges = useq.GridFromEdges(
            top=max(y0, y1),
            bottom=min(y0, y1),
            left=min(x0, x1),
            right=max(x0, x1),
            **self._fov(fov_w_um, fov_h_um),
        )
        return [useq.Position(x=p.x, y=p.y, name=f"tile{i:04d}") for i, p in enumerate(edges)]


class GridPlan(_Plan):
    """``rows`` × ``columns`` tiles around ``center_um``."""

    kind: Literal["grid"] = "grid"
    center_um: tuple[float, float] = Field(description="grid centre (x, y) µm")
    rows: int = Field(3, ge=1)
    columns: int = Field(3, ge=1)

    def positions(self, fov_w_um: float, fov_h_um: float) -> list[useq.Position]:
        """Tile centres (``tile0000``...) for this field of view."""
        cx, cy = self.center_um
        grid = self._grid(fov_w_um, fov_h_um)
        return [
            useq.Position(x=cx + p.x, y=cy + p.y, name=f"tile{i:04d}") for i, p in enumerate(grid)
        ]


class PlatePlan(_Plan):
    """``rows`` × ``columns`` tiles in each of ``wells`` of a useq plate."""

    kind: Literal["plate"] = "plate"
    plate: str = Field(description="useq plate name, e.g. '96-well'")
    wells: list[str] = Field(min_length=1, description="e.g. ['A1', 'B3']")
    a1_center_um: tuple[float, float] = (0.0, 0.0)
    rows: int = Field(3, ge=1)
    columns: int = Field(3, ge=1)

    def positions(self, fov_w_um: float, fov_h_um: float) -> list[useq.Position]:
        """Tile centres, named by well (``A1_0003``), for this field of view."""
        try:
            plate = useq.WellPlatePlan(
                plate=self.plate,
                a1_center_xy=self.a1_center_um,
                selected_wells=well_indices(self.wells),
                well_points_plan=self._grid(fov_w_um, fov_h_um),
            )
        except (ValueError, KeyError) as exc:
            raise SrscopeError(f"bad plate plan: {one_line(exc)}") from None
        return [useq.Position(x=p.x, y=p.y, name=p.name) for p in plate]


_LAYOUTS: dict[str, tuple[str, type[_Plan]]] = {
    "area": ("area_um", AreaPlan),
    "grid": ("center_um", GridPlan),
    "plate": ("plate", PlatePlan),
}


def _layout_from_fields(data: Any) -> Any:
    """A mapping without ``kind``: its layout is the one of area_um / center_um / plate set."""
    if not isinstance(data, dict) or "kind" in data:
        return data
    given = [k for k, (key, _) in _LAYOUTS.items() if data.get(key) is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of area_um, center_um or plate (+ wells)")
    kind = given[0]
    fields = _LAYOUTS[kind][1].model_fields
    return {"kind": kind, **{k: v for k, v in data.items() if k in fields}}


ScanPlan = Annotated[
    Annotated[AreaPlan | GridPlan | PlatePlan, Field(discriminator="kind")],
    BeforeValidator(_layout_from_fields),
]
_SCAN_PLAN: TypeAdapter[ScanPlan] = TypeAdapter(ScanPlan)


def scan_plan(**fields: Any) -> AreaPlan | GridPlan | PlatePlan:
    """The plan ``fields`` describe: with ``kind``, or by which layout field is set.

    ``scan_plan(center_um=(0, 0), rows=2)`` is a :class:`GridPlan`; a field of
    another layout (``rows`` of an area scan) is dropped when ``kind`` is not given,
    refused when it is. Invalid fields are one :class:`SrscopeError` line naming one.
    """
    try:
        return _SCAN_PLAN.validate_python(fields)
    except ValidationError as exc:
        try:
            data = _layout_from_fields(fields)
        except ValueError:
            data = fields
        raise SrscopeError(f"bad scan plan: {field_error(exc, data)}") from None


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
