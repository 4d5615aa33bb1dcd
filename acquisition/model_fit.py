"""Before a scan or sequence with ``--model``: does the model fit the frames it will get?

The frames' pixel size comes from the objective the run will use, their channels
from the plan, their colour count from the camera. Checked before anything is
captured or written (``sr_engine.compatibility.check_fit``), so a DAPI model is
never run on TRITC tiles, nor an LR model on 20x frames, without being told to.
"""

from __future__ import annotations

from typing import Any

from sr_engine.bundled import resolve_model
from sr_engine.compatibility import Fit, check_fit
from sr_engine.metadata import read_metadata


def model_fit_on_rig(
    scope: Any,
    model: str,
    channels: list[str],
    objective: str | None = None,
    allow_mismatch: bool = False,
) -> Fit:
    """How ``model`` fits frames of ``channels`` at ``objective`` (None: the current one).

    Switches the rig to ``objective`` (the run is about to use it anyway). Raises
    ``ModelMismatch`` naming the problem unless ``allow_mismatch``.
    """
    meta = read_metadata(resolve_model(model))
    if objective:
        scope.set_objective(objective)
    core = scope.core
    pixel_size = float(core.getPixelSizeUm()) or None
    colours = 3 if core.getNumberOfComponents() > 1 else 1
    name = meta.name or model
    fits = [
        check_fit(
            meta,
            channel=channel,
            pixel_size_um=pixel_size,
            n_channels=colours,
            model_name=name,
            allow_mismatch=allow_mismatch,
        )
        for channel in channels or [""]
    ]
    order = {"exact": 0, "modality": 1, "override": 2}
    worst = max(fits, key=lambda f: order[f.how])
    notes = tuple(dict.fromkeys(n for f in fits for n in f.notes))
    return Fit(worst.how, notes)
