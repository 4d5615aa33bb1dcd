"""Headless acquisition of any useq-schema sequence to OME-Zarr or OME-TIFF."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import useq
from pydantic import ValidationError

from acquisition.core import burst_buffer
from acquisition.live import FrameProcessor, ProcessorRelay
from acquisition.models import FrameMeta
from acquisition.scan import _block_sigint, _quiet_cancel, _stop_worker
from srscope import logger
from srscope.atomic import check_output
from srscope.errors import SrscopeError

OUTPUT_SUFFIXES = (".ome.zarr", ".zarr", ".ome.tif", ".ome.tiff", ".tif", ".tiff")


def load_sequence(path: str | Path) -> useq.MDASequence:
    """Read a useq ``MDASequence`` from YAML or JSON; bad files are one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise SrscopeError(f"sequence file not found: {path}")
    text = path.read_text(errors="replace")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        first = " ".join(str(exc).split())[:200]
        raise SrscopeError(f"{path.name} is not valid YAML/JSON: {first}") from None
    if not isinstance(data, dict):
        raise SrscopeError(f"{path.name} does not describe a useq MDASequence (a mapping)")
    unknown = sorted(set(data) - set(useq.MDASequence.model_fields))
    if unknown:  # useq ignores them: a typo would silently change the acquisition
        raise SrscopeError(
            f"{path.name}: unknown key(s) {', '.join(map(repr, unknown))}; an MDASequence has "
            f"{', '.join(sorted(useq.MDASequence.model_fields))}"
        )
    try:
        return useq.MDASequence.model_validate(data)
    except ValidationError as exc:
        errs = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in exc.errors()[:3]
        )
        raise SrscopeError(f"{path.name} is not a valid useq sequence: {errs}") from None


def acquire(
    microscope,
    sequence: useq.MDASequence | str | Path,
    output: str | Path,
    *,
    overwrite: bool = False,
    processor: FrameProcessor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Run ``sequence`` headless and write it with ome-writers (format from the suffix).

    ``processor`` sees every frame on a relay thread (see :class:`ProcessorRelay`).
    """
    if not isinstance(sequence, useq.MDASequence):
        sequence = load_sequence(sequence)
    out = Path(output)
    if not str(out).lower().endswith(OUTPUT_SUFFIXES):
        raise SrscopeError(f"output must end in one of {', '.join(OUTPUT_SUFFIXES)}: {out}")
    check_output(out, overwrite)
    _check_sequence(microscope, sequence)
    core = microscope.core
    total = _count(sequence)
    done = [0]
    relay = ProcessorRelay(processor, "all").start() if processor is not None else None

    def on_frame(img: Any, event: useq.MDAEvent, meta: dict) -> None:
        done[0] += 1
        if relay is not None:
            pos = meta.get("position") or {}
            relay.submit(
                img if relay.inline else img.copy(),
                FrameMeta(
                    pixel_size_um=float(meta.get("pixel_size_um", 0.0)),
                    position_um=(
                        float(pos.get("x", 0.0)),
                        float(pos.get("y", 0.0)),
                        float(pos.get("z", 0.0)),
                    ),
                    objective=microscope.objective_label(),
                    channel=event.channel.config if event.channel else "",
                    exposure_ms=float(meta.get("exposure_ms", 0.0)),
                    index=done[0] - 1,
                    extra={"event_index": dict(event.index)},
                ),
            )
        if progress:
            progress(done[0], total)

    error: list[BaseException] = []

    finished = threading.Event()  # waited on instead of Thread.join (see scan._run_mda)

    def work() -> None:
        _block_sigint()
        try:
            core.mda.run(sequence, output=str(out), overwrite=overwrite)
        except BaseException as exc:
            error.append(exc)
        finally:
            finished.set()

    core.mda.events.frameReady.connect(on_frame)
    worker = threading.Thread(target=work, name="srscope-acquire", daemon=True)
    with burst_buffer(core, total), _quiet_cancel():  # live-size buffer once the run ends
        try:
            worker.start()
            while not finished.wait(0.05):
                pass
        except KeyboardInterrupt:
            _stop_worker(core, finished)
            raise
        finally:
            core.mda.events.frameReady.disconnect(on_frame)
            if relay is not None:
                relay.stop(drain=True)
    if str(out).lower().endswith(".zarr"):
        from acquisition.ome_io import annotate_zarr

        annotate_zarr(
            out,
            {
                "objective": microscope.objective_label(),
                "pixel_size_um": microscope.pixel_size_um,
                "sequence": json.loads(sequence.model_dump_json(exclude_defaults=True)),
            },
        )
    if error:
        msg = " ".join(str(error[0]).split())
        raise SrscopeError(f"acquisition failed after {done[0]} of {total} frames: {msg}")
    if done[0] < total:
        logger.warning("acquired %d of %d frames (some were not delivered)", done[0], total)
    return out


def _count(sequence: useq.MDASequence) -> int:
    return sum(1 for _ in sequence)


def _check_sequence(microscope, sequence: useq.MDASequence) -> None:
    """Refuse what would fail or silently mislead at run time."""
    channels = set(microscope.channels) if microscope.core.isGroupDefined(
        microscope.settings.channel_group
    ) else set()  # fmt: skip
    for ch in sequence.channels:
        group = ch.group or microscope.settings.channel_group
        if not microscope.core.isGroupDefined(group):
            raise SrscopeError(f"sequence uses config group {group!r}, which the config lacks")
        if group == microscope.settings.channel_group and ch.config not in channels:
            raise SrscopeError(
                f"unknown channel {ch.config!r}; available: {', '.join(sorted(channels))}"
            )
        elif ch.config not in microscope.core.getAvailableConfigs(group):
            raise SrscopeError(f"unknown preset {ch.config!r} in group {group!r}")
    from acquisition.scan import _check_reachable

    for pos in sequence.stage_positions:
        if pos.x is not None and pos.y is not None:
            _check_reachable(microscope, pos)
    uses_grid = sequence.grid_plan is not None or any(
        p.sequence is not None and p.sequence.grid_plan is not None
        for p in sequence.stage_positions
    )
    if uses_grid:
        microscope.require_pixel_size()
