"""A long full-sensor live run with SR keeps its memory flat (issue: 356 MB -> 1.4 GB).

Run with ``pytest -m soak tests/acquisition/test_live_soak.py``; ``SRSCOPE_SOAK_S``
sets the length (default 600 s); the first minute (at least 30 s) is warm-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SECONDS = float(os.environ.get("SRSCOPE_SOAK_S", "600"))


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@pytest.mark.soak
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_full_sensor_live_with_sr_keeps_memory_flat():
    frames = int(SECONDS * 200)  # more than the camera can deliver in that time
    proc = subprocess.Popen(
        [sys.executable, "-m", "srscope_cli", "live", "--headless", "--frames", str(frames),
         "--objective", "5x", "--channel", "DAPI", "--exposure", "10", "--model", "live_fluo"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    warm_up = min(60.0, max(30.0, SECONDS / 10))
    samples: list[tuple[float, float]] = []
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < SECONDS and proc.poll() is None:
            rss = _rss_mb(proc.pid)
            if rss is not None:
                samples.append((time.monotonic() - t0, rss))
            time.sleep(1.0)
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=60)
    assert samples and samples[-1][0] > 0.9 * SECONDS, f"live ended early: {err[-2000:]}"
    after = [rss for t, rss in samples if t >= warm_up]
    growth = max(after) - after[0]
    print(f"RSS at warm-up {after[0]:.0f} MB, max after {max(after):.0f} MB, "
          f"growth {growth:.0f} MB over {samples[-1][0]:.0f} s")  # fmt: skip
    assert growth < 100, f"RSS grew {growth:.0f} MB after warm-up"
