"""Frame rate of the simulated rig's camera at 1024² (target: >= 200 frames/s).

Renders through the real pymmcore-plus core (``UniMMCore`` + the sim devices):
``snapImage`` + ``getImage`` in a loop, and a continuous sequence acquisition
drained by the core's circular buffer. ``python benchmarks/bench_sim.py``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def bench(frames: int, objective: str, channel: str, size: int) -> dict[str, float]:
    from acquisition import Microscope

    with Microscope.open() as scope:
        core = scope.core
        core.setProperty("Camera", "RealTime", "Off")
        if size != 1024:
            scope.set_centered_roi(size)
        scope.snap(objective, channel, 10.0)  # builds the pre-blurred level once
        scope.snap()
        t0 = time.perf_counter()
        for _ in range(frames):
            core.snapImage()
            img = core.getImage()
        snap_fps = frames / (time.perf_counter() - t0)
        assert img.shape == (size, size) and img.dtype == np.uint16

        core.startSequenceAcquisition(frames, 0, True)
        t0 = time.perf_counter()
        got = 0
        while got < frames:
            if core.getRemainingImageCount():
                core.popNextImage()
                got += 1
            elif not core.isSequenceRunning() and not core.getRemainingImageCount():
                break
            else:
                time.sleep(0.0002)  # let the camera thread have the GIL
        seq_fps = got / (time.perf_counter() - t0)
        core.stopSequenceAcquisition()

        # moving stage: every frame at a new position (no cache of the crop)
        t0 = time.perf_counter()
        for i in range(frames // 2):
            core.setXYPosition(13.0 * i, -7.0 * i)
            core.snapImage()
            core.getImage()
        move_fps = (frames // 2) / (time.perf_counter() - t0)
    return {"snap_fps": snap_fps, "sequence_fps": seq_fps, "moving_stage_fps": move_fps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args()
    import os

    if hasattr(os, "getloadavg"):  # these numbers are CPU-bound: say how busy the machine was
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for objective, channel in (("5x", "DAPI"), ("20x", "FITC"), ("20x", "BF")):
        r = bench(args.frames, objective, channel, args.size)
        print(
            f"sim camera {args.size}x{args.size} {objective:>3} {channel:<5}: "
            f"snap {r['snap_fps']:6.1f} fps | sequence {r['sequence_fps']:6.1f} fps | "
            f"moving stage {r['moving_stage_fps']:6.1f} fps"
        )


if __name__ == "__main__":
    main()
