"""Successful commands exit 0, every time, as real processes (an exit-time crash is seen).

MMCore's callback thread calling into a finalizing interpreter used to abort a run that
had written its output ("FATAL: exception not rethrown", exit 134) about one time in
five; in-process tests cannot see how the process ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

RUNS = int(os.environ.get("SRSCOPE_EXIT_RUNS", "25"))


def _sequence(folder: Path) -> Path:
    path = folder / "seq.yaml"
    path.write_text("channels: [DAPI, FITC]\ntime_plan: {interval: 0, loops: 2}\n")
    return path


COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "snap": lambda d: ["snap", "--roi", "64", "--channel", "DAPI", "-o", str(d / "s.ome.tif")],
    "references": lambda d: ["references", "--out", str(d / "refs"), "--positions=0,0",
                             "-c", "DAPI", "--roi", "128", "--lr-exposure", "20"],
    "scan": lambda d: ["scan", "-o", str(d / "scan"), "--rows", "2", "--cols", "2",
                       "--roi", "64"],
    "acquire": lambda d: ["acquire", str(_sequence(d)), "-o", str(d / "a.ome.zarr"),
                          "--roi", "32"],
}  # fmt: skip


def run_ok(cmd: str, folder: Path) -> None:
    """Run one command in a fresh folder; it must exit 0 with nothing fatal on stderr."""
    folder.mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, "-m", "srscope_cli", *COMMANDS[cmd](folder)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, f"{cmd} exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert "FATAL" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("cmd", list(COMMANDS))
def test_command_exits_0(cmd, tmp_path):
    run_ok(cmd, tmp_path / "run0")


@pytest.mark.soak
@pytest.mark.parametrize("cmd", list(COMMANDS))
def test_command_exits_0_every_time(cmd, tmp_path):
    """RUNS runs each (SRSCOPE_EXIT_RUNS); before the fix ~1 in 5 `references` aborted."""
    for i in range(RUNS):
        run_ok(cmd, tmp_path / f"run{i}")
