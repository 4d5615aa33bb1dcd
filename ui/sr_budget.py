"""The live view's frame budget: when a higher-fidelity model may run on the zoomed view.

The rule, in one sentence a user can check: the live model on the whole frame
sets the budget (its FLOPs per LR pixel × the frame's pixels); when the view is
zoomed in, the higher-fidelity model runs on the visible region instead if its
FLOPs per LR pixel × the region's pixels fit that budget, so a live frame costs
no more than it did before the zoom. Pure functions: no Qt, no model runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from sr_engine.metadata import TIERS, ModelMetadata

# (x0, y0, x1, y1) in LR pixels, as the viewer's panes give it
Region = tuple[int, int, int, int]


def tier_of(meta: ModelMetadata) -> str:
    """The model's tier (``live``, ``balanced``, ``paper``), or ``""`` when not recorded."""
    return meta.tier


def tier_rank(tier: str) -> int:
    """Position of ``tier`` in :data:`~sr_engine.metadata.TIERS`; an unknown tier ranks
    below ``live`` (a model without a recorded preset is never the higher-fidelity one)."""
    return TIERS.index(tier) if tier in TIERS else -1


@dataclass(frozen=True)
class BudgetPlan:
    """What the live processor runs on the next frame, and why."""

    hifi: bool  # True: the higher-fidelity model on ``region``; False: live model, full frame
    region: Region | None  # the visible region (None: not zoomed in)
    cost_flops: float  # FLOPs of what runs
    budget_flops: float  # the live model on the whole frame
    reason: str
    hifi_cost_flops: float | None = None  # the hifi model on the region (None: not zoomed)

    def describe(self) -> str:
        if self.hifi_cost_flops is None:
            return f"{self.reason} ({self.budget_flops / 1e9:.2f} GFLOP per frame)"
        return (
            f"{self.reason}: {self.hifi_cost_flops / 1e9:.2f} GFLOP on the view vs budget "
            f"{self.budget_flops / 1e9:.2f} GFLOP per frame"
        )


def plan_frame(
    live_flops_px: float,
    hifi_flops_px: float | None,
    frame_shape: tuple[int, int],
    region: Region | None,
    *,
    enabled: bool = True,
) -> BudgetPlan:
    """The higher-fidelity model on ``region`` when its cost fits the full-frame budget.

    ``live_flops_px`` / ``hifi_flops_px``: each model's FLOPs per LR pixel
    (:func:`sr_engine.flops.flops_per_lr_pixel`); ``hifi_flops_px`` None when no
    higher-fidelity model fits the channel. ``frame_shape``: (height, width) of
    the LR frame; ``region``: the visible part (x0, y0, x1, y1), None when none.
    """
    h, w = frame_shape[:2]
    budget = float(live_flops_px) * h * w
    full = BudgetPlan(False, None, budget, budget, "live model on the whole frame")
    if not enabled:
        return BudgetPlan(False, None, budget, budget, "higher fidelity when zoomed is off")
    if hifi_flops_px is None:
        return BudgetPlan(False, None, budget, budget, "no higher-fidelity model for this channel")
    if region is None:
        return full
    x0, y0, x1, y1 = region
    region_px = max(0, x1 - x0) * max(0, y1 - y0)
    if region_px == 0 or region_px >= h * w:
        return full
    cost = float(hifi_flops_px) * region_px
    if cost <= budget:
        return BudgetPlan(True, region, cost, budget, "zoomed in: higher-fidelity model fits", cost)
    return BudgetPlan(
        False,
        region,
        budget,
        budget,
        "zoomed in, but the higher-fidelity model exceeds the budget",
        cost,
    )


def max_region_side(live_flops_px: float, hifi_flops_px: float, frame_px: int) -> int:
    """The side of the largest square view (LR px) on which the hifi model fits the budget."""
    if hifi_flops_px <= 0:
        return math.isqrt(frame_px)
    return math.isqrt(int(live_flops_px * frame_px / hifi_flops_px))


def pick_higher_fidelity(
    candidates: dict[str, tuple[ModelMetadata, str]], live: ModelMetadata
) -> str | None:
    """The model to run on the zoomed view instead of ``live``, or None.

    ``candidates``: ``{name: (metadata, fit)}`` of the offered models that fit the
    rig's channel (``fit`` is ``exact`` or ``modality``, as
    :func:`sr_engine.compatibility.check_fit` says). Eligible: a tier above the
    live model's, the same scale and LR pixel size. The lowest such tier wins (the
    one most likely to fit the budget: ``balanced`` before ``paper``), then a
    model made for the channel before a generalist of its modality.
    """
    rank = tier_rank(tier_of(live))
    found: list[tuple[int, int, str]] = []
    for name, (meta, fit) in candidates.items():
        r = tier_rank(tier_of(meta))
        if r <= rank or r < 0 or meta.scale != live.scale:
            continue
        if not math.isclose(meta.lr_pixel_size_um, live.lr_pixel_size_um, rel_tol=0.05):
            continue
        found.append((r, 0 if fit == "exact" else 1, name))
    return min(found)[2] if found else None


_FLOPS: dict[tuple[str, float], float] = {}


def model_flops_per_px(path: Path, n_channels: int | None = None) -> float:
    """FLOPs per LR pixel of the model file (cached by path and modification time)."""
    import onnx

    from sr_engine.flops import flops_per_lr_pixel

    path = Path(path)
    key = (str(path.resolve()), path.stat().st_mtime)
    if key not in _FLOPS:
        _FLOPS[key] = flops_per_lr_pixel(onnx.load(str(path)), n_channels)
    return _FLOPS[key]
