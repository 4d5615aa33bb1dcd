"""``srscope live --headless``: stream frames without a window and print the rates.

Used only when the acquisition part provides no headless ``live`` of its own.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import typer

from srscope.errors import SrscopeError


def run_headless(config: Path | None, frames: int, model: Path | None = None) -> dict[str, float]:
    from acquisition.core import open_core
    from ui.live import LivePipeline, SnapLoopStream

    core = open_core(config)
    done = threading.Event()
    count = 0
    sr = None
    try:
        pipe = LivePipeline(SnapLoopStream(core))
        if model is not None:
            from ui.sr import FrameSR, LoadedModel

            sr = FrameSR(LoadedModel.open(model))
            pipe.sr_sink = sr.submit

        def counted(frame) -> None:
            nonlocal count
            count += 1
            if count >= frames:
                done.set()

        inner = pipe._on_frame

        def on_frame(frame) -> None:
            inner(frame)
            counted(frame)

        pipe._on_frame = on_frame  # type: ignore[method-assign]
        t0 = time.perf_counter()
        pipe.start()
        while not done.wait(0.1):
            err = pipe.errors.take()
            if err is not None:
                raise SrscopeError(err)
        elapsed = time.perf_counter() - t0
        pipe.stop()
        stats = {"frames": float(count), "camera_fps": count / elapsed}
        if sr is not None:
            stats.update(sr.stats())
        typer.echo(" ".join(f"{k}={v:.1f}" for k, v in stats.items()))
        return stats
    finally:
        if sr is not None:
            sr.stop()
        core.unloadAllDevices()
