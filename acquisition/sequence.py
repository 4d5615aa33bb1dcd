"""Headless acquisition of any useq-schema sequence to OME-Zarr or OME-TIFF."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import useq
from pydantic import BaseModel, ValidationError

from acquisition.core import burst_buffer
from acquisition.mda_thread import run_mda_on_thread
from acquisition.models import FrameMeta
from acquisition.ome_io import annotate_zarr
from acquisition.processor import FrameProcessor
from acquisition.processor_relay import ProcessorRelay
from acquisition.rig import Rig
from srscope import logger
from srscope.atomic import check_output
from srscope.errors import DeviceError, OutputError, SettingsError
from srscope.model_base import field_error, one_line, read_mapping

OUTPUT_SUFFIXES = (".ome.zarr", ".zarr", ".ome.tif", ".ome.tiff", ".tif", ".tiff")


def load_sequence(path: str | Path) -> useq.MDASequence:
    """Read a useq ``MDASequence`` from YAML or JSON; bad files are one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"sequence file not found: {path}")
    data = read_mapping(path)
    if not isinstance(data, dict):
        raise SettingsError(f"{path.name} does not describe a useq MDASequence (a mapping)")
    unknown = sorted(set(data) - set(useq.MDASequence.model_fields))
    if unknown:  # useq ignores them: a typo would silently change the acquisition
        raise SettingsError(
            f"{path.name}: unknown key(s) {', '.join(map(repr, unknown))}; an MDASequence has "
            f"{', '.join(sorted(useq.MDASequence.model_fields))}"
        )
    try:
        seq = useq.MDASequence.model_validate(data)
    except ValidationError as exc:
        why = field_error(exc, data)
        raise SettingsError(f"{path.name} is not a valid useq sequence: {why}") from None
    for key, given in data.items():  # a plan no variant accepts can become another one:
        plan = getattr(seq, key, None)  # grid_plan {rows: -2, ...} ran as one tile
        if isinstance(given, dict) and isinstance(plan, BaseModel):
            fields = type(plan).model_fields
            known = set(fields) | {f.alias for f in fields.values() if f.alias}
            lost = sorted(set(given) - known)
            if lost:
                raise SettingsError(
                    f"{path.name}: {key} {given} is not a valid useq {key} "
                    f"(read as {type(plan).__name__}, which has no {', '.join(lost)})"
                )
    return seq


def acquire(
    rig: Rig,
    sequence: useq.MDASequence | str | Path,
    output: str | Path,
    *,
    overwrite: bool = False,
    processor: FrameProcessor | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> Path:
    """Run ``sequence`` headless and write it with ome-writers (format from the suffix).

    ``processor`` sees every frame on a relay thread (see :class:`ProcessorRelay`);
    ``stop()`` is polled and True ends the run after the current frame.
    """
    if not isinstance(sequence, useq.MDASequence):
        sequence = load_sequence(sequence)
    out = Path(output)
    if not str(out).lower().endswith(OUTPUT_SUFFIXES):
        raise OutputError(f"output must end in one of {', '.join(OUTPUT_SUFFIXES)}: {out}")
    check_output(out, overwrite)
    _check_sequence(rig, sequence)
    core = rig.core
    total = count_frames(sequence)
    done = [0]
    objective = rig.objective_label()
    relay = ProcessorRelay(processor, "all").start() if processor is not None else None

    def on_frame(img: Any, event: useq.MDAEvent, meta: Any) -> None:
        done[0] += 1
        if relay is not None:
            fm = FrameMeta.from_mda(
                event,
                meta,
                objective=objective,
                index=done[0] - 1,
                extra={"event_index": dict(event.index)},
            )
            relay.submit(img if relay.inline else img.copy(), fm)
        if progress:
            progress(done[0], total)

    with burst_buffer(core, total):  # live-size buffer once the run ends
        try:
            outcome = run_mda_on_thread(
                core,
                sequence,
                on_frame=on_frame,
                stop=stop,
                name="srscope-acquire",
                output=str(out),
                overwrite=overwrite,
            )
        finally:
            if relay is not None:
                relay.stop(drain=True)
    if outcome.interrupted:
        raise KeyboardInterrupt
    if str(out).lower().endswith(".zarr"):
        annotate_zarr(
            out,
            {
                "objective": rig.objective_label(),
                "pixel_size_um": rig.pixel_size_um,
                "sequence": json.loads(sequence.model_dump_json(exclude_defaults=True)),
            },
        )
    if outcome.error is not None:
        msg = one_line(outcome.error, None)
        raise DeviceError(f"acquisition failed after {done[0]} of {total} frames: {msg}")
    if done[0] < total:
        logger.warning("acquired %d of %d frames (some were not delivered)", done[0], total)
    return out


def count_frames(sequence: useq.MDASequence) -> int:
    """How many frames ``sequence`` takes."""
    return sum(1 for _ in sequence)


def _check_sequence(microscope: Rig, sequence: useq.MDASequence) -> None:
    """Refuse what would fail or silently mislead at run time."""
    channels = set(microscope.channels) if microscope.core.isGroupDefined(
        microscope.settings.channel_group
    ) else set()  # fmt: skip
    for ch in sequence.channels:
        group = ch.group or microscope.settings.channel_group
        if not microscope.core.isGroupDefined(group):
            raise DeviceError(f"sequence uses config group {group!r}, which the config lacks")
        if group == microscope.settings.channel_group and ch.config not in channels:
            raise DeviceError(
                f"unknown channel {ch.config!r}; available: {', '.join(sorted(channels))}"
            )
        elif ch.config not in microscope.core.getAvailableConfigs(group):
            raise DeviceError(f"unknown preset {ch.config!r} in group {group!r}")
    for pos in sequence.stage_positions:
        if pos.x is not None and pos.y is not None:
            microscope.check_reachable(pos.x, pos.y, pos.name or "")
    uses_grid = sequence.grid_plan is not None or any(
        p.sequence is not None and p.sequence.grid_plan is not None
        for p in sequence.stage_positions
    )
    if uses_grid:
        microscope.require_pixel_size()
