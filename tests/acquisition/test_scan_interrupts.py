"""Ctrl-C and kill -9 during `srscope scan` (real processes), then --resume.

What counts is the stored data, not only the journal: after the resume every
(position, channel) has pixels in exactly one part of the scan, and with --model
the SR store holds every tile and the SR mosaic is written.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from acquisition.scan import GridPlan, Journal, ScanInterrupted, run_scan

ROWS, COLS, ROI = 3, 3, 32


def scan_args(out: Path, *extra: str, rows: int = ROWS, cols: int = COLS) -> list[str]:
    grid = ["--rows", str(rows), "--cols", str(cols), "--roi", str(ROI)]
    return [sys.executable, "-m", "srscope_cli", "scan", "-o", str(out), *grid, *extra]


def interrupt(
    args: list[str], out: Path, after_tiles: int, sig: int, delay_s: float = 0.0
) -> subprocess.CompletedProcess:
    """Start a scan; once ``after_tiles`` are journaled (+ ``delay_s``) send ``sig``.

    SIGINT goes to the process group, as a terminal's Ctrl-C does (the SR worker too);
    SIGKILL to the scan process only, so an SR worker is orphaned as after a kill -9.
    """
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    journal = out / "journal.jsonl"
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if journal.is_file() and len(journal.read_text().splitlines()) >= after_tiles:
                time.sleep(delay_s)
                if proc.poll() is None:
                    os.killpg(proc.pid, sig) if sig == signal.SIGINT else proc.send_signal(sig)
                break
            time.sleep(0.005)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:  # the test failed on the way: no scan is left running
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def resume(out: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "srscope_cli", "scan", "-o", str(out), "--resume",
            "--roi", str(ROI), *extra]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def stored_tiles(out: Path) -> dict[tuple[int, int], list[str]]:
    """Every (position, channel) with pixels in the stored data -> the parts holding it."""
    state = json.loads((out / "scan.json").read_text())
    found: dict[tuple[int, int], list[str]] = {}
    for part in sorted((out / "tiles").glob("part*.ome.zarr")):
        group = zarr.open_group(part, mode="r")
        for i, pos in enumerate(state["positions"]):
            arr = group[f"{pos['name']}/0"] if pos["name"] in group else group["0"]
            data = np.asarray(arr[...])
            for c in range(len(state["channels"])):
                if np.any(data[c]):
                    found.setdefault((i, c), []).append(part.name)
    return found


def assert_stored_once(out: Path, n_tiles: int) -> None:
    stored = stored_tiles(out)
    twice = {k: v for k, v in stored.items() if len(v) > 1}
    assert not twice, f"stored more than once: {twice}"
    assert sorted(stored) == [(i, 0) for i in range(n_tiles)]
    journal = Journal(out / "journal.jsonl").latest()
    assert {k: e.part for k, e in journal.items()} == {k: v[0] for k, v in stored.items()}
    assert (out / "mosaic.ome.zarr" / "zarr.json").is_file()


def _level0(path: Path) -> np.ndarray:
    """One channel's level 0 of an OME-Zarr 0.5 mosaic, checked valid at every level."""
    yaozarrs = pytest.importorskip("yaozarrs")
    yaozarrs.validate_zarr_store(str(path))
    return np.asarray(zarr.open_group(path, mode="r")["0"])[0]


def assert_sr_complete(out: Path, n_tiles: int) -> None:
    root = zarr.open_group(out / "sr.ome.zarr", mode="r")
    axes = root.attrs["ome"]["multiscales"][0]["axes"]
    assert axes[0] == {"name": "p", "type": "other"}  # tiles on a position axis, not time
    sr = np.asarray(root["0"][...])
    assert sr.shape[0] == n_tiles and sr.shape[-1] == 4 * ROI
    assert all(np.any(sr[i]) for i in range(n_tiles))
    mosaic = _level0(out / "sr_mosaic.ome.zarr")
    raw = _level0(out / "mosaic.ome.zarr")
    assert mosaic.shape == pytest.approx(tuple(4 * s for s in raw.shape), abs=8)
    assert np.count_nonzero(mosaic) > 0.99 * mosaic.size


def assert_one_resume_line(err: str, out: Path, captured_max: int) -> str:
    """Ctrl-C prints one srscope line that says how to resume; returns that command."""
    line = err.strip()
    assert "\n" not in line and "Traceback" not in err and "MDA Canceled" not in err, err
    head, _, command = line.partition(": resume with ")
    assert head.startswith("interrupted after ") and head.endswith(f"/{ROWS * COLS} tiles")
    assert int(head.split()[2].split("/")[0]) <= captured_max
    assert command.startswith(f"srscope scan --out {out} --resume --roi {ROI}"), line
    return command


# ----------------------------------------------------------------------------- default suite


def test_ctrl_c_prints_how_to_resume_and_the_resume_stores_each_tile_once(tmp_path):
    out = tmp_path / "scan"
    proc = interrupt(scan_args(out), out, 3, signal.SIGINT)
    assert proc.returncode == 130
    command = assert_one_resume_line(proc.stderr, out, ROWS * COLS - 1)
    assert stored_tiles(out).keys() == Journal(out / "journal.jsonl").latest().keys()
    done = subprocess.run(
        [sys.executable, "-m", "srscope_cli", *shlex.split(command)[1:]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert_stored_once(out, ROWS * COLS)


def test_kill_9_then_resume_stores_each_tile_once(tmp_path):
    out = tmp_path / "scan"
    proc = interrupt(scan_args(out), out, 4, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    resume(out)
    assert_stored_once(out, ROWS * COLS)


@pytest.mark.soak  # Ctrl-C/resume without a model and kill -9 with one run by default
def test_ctrl_c_with_model_then_resume_completes_sr_and_its_mosaic(tmp_path):
    out = tmp_path / "scan"
    rows = cols = 2
    proc = interrupt(scan_args(out, "--model", "live_fluo", rows=rows, cols=cols), out, 2,
                     signal.SIGINT)  # fmt: skip
    assert proc.returncode == 130 and "--model live_fluo" in proc.stderr
    assert not (out / "sr_mosaic.ome.zarr").exists()  # no mosaic of part of a scan
    resume(out, "--model", "live_fluo")
    assert_sr_complete(out, rows * cols)
    stored = stored_tiles(out)
    assert sorted(stored) == [(i, 0) for i in range(rows * cols)]
    assert all(len(parts) == 1 for parts in stored.values())


# ----------------------------------------------------------------------------- in process


@pytest.fixture
def scope(microscope):
    microscope.set_centered_roi(ROI)
    return microscope


PLAN = GridPlan(center_um=(0.0, 0.0), rows=2, columns=3, channels=["DAPI"])


def test_ctrl_c_while_a_tile_is_in_flight_journals_it(scope, tmp_path):
    """The in-flight tile is stored *and* journaled (a Ctrl-C inside Thread.join used
    to end the wait early: its frame was written after the journal had stopped)."""
    out = tmp_path / "s"

    def ctrl_c(event):
        if event.index.get("p") == 2:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the tile is still in flight when the main thread sees it

    scope.core.mda.events.eventStarted.connect(ctrl_c)
    try:
        with pytest.raises(ScanInterrupted, match=r"interrupted after 3/6 tiles"):
            run_scan(scope, PLAN, out)
    finally:
        scope.core.mda.events.eventStarted.disconnect(ctrl_c)
    assert sorted(stored_tiles(out)) == sorted(Journal(out / "journal.jsonl").latest())
    run_scan(scope, None, out, resume=True)
    assert_stored_once(out, 6)


def test_a_tile_stored_but_not_journaled_is_kept_not_captured_again(scope, tmp_path):
    """A kill between a tile's write and its journal line: the resume adopts the tile."""
    out = tmp_path / "s"
    scope.core.setProperty("Camera", "FailAfterFrames", 3)
    with pytest.raises(Exception, match="after 3 of 6"):
        run_scan(scope, PLAN, out)
    journal = out / "journal.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:-1]) + "\n")  # tile 2's line never made it
    (out / "tiles" / "part000.ome.zarr" / "torn.partial").write_bytes(b"\0" * 10)
    scope.core.setProperty("Camera", "FailAfterFrames", -1)
    result = run_scan(scope, None, out, resume=True)
    assert result.complete and result.tiles_captured == 6
    assert Journal(journal).latest()[(2, 0)].part == "part000.ome.zarr"
    assert not list(out.glob("tiles/**/*.partial"))
    assert_stored_once(out, 6)


# ----------------------------------------------------------------------------- slow loops


@pytest.mark.soak
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_random_interrupts_then_resume(sig, tmp_path):
    """Interrupts at random moments (also during the resume itself)."""
    rng = random.Random(int(os.environ.get("SRSCOPE_KILL_SEED", "13")))
    n = ROWS * COLS
    for trial in range(int(os.environ.get("SRSCOPE_KILL_TRIALS", "6"))):
        out = tmp_path / f"scan{trial}"
        interrupt(scan_args(out), out, rng.randint(0, n - 2), sig, rng.uniform(0, 0.15))
        if (out / "scan.json").is_file():
            args = [sys.executable, "-m", "srscope_cli", "scan", "-o", str(out), "--resume",
                    "--roi", str(ROI)]  # fmt: skip
            interrupt(args, out, rng.randint(0, n), sig, rng.uniform(0, 0.15))
            resume(out)
            assert_stored_once(out, n)


@pytest.mark.soak
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_random_interrupts_with_model_then_resume(sig, tmp_path):
    rng = random.Random(int(os.environ.get("SRSCOPE_KILL_SEED", "13")))
    rows = cols = 2
    for trial in range(int(os.environ.get("SRSCOPE_KILL_TRIALS_SR", "2"))):
        out = tmp_path / f"scan{trial}"
        args = scan_args(out, "--model", "live_fluo", rows=rows, cols=cols)
        interrupt(args, out, rng.randint(0, rows * cols - 1), sig, rng.uniform(0, 0.15))
        if (out / "scan.json").is_file():
            resume(out, "--model", "live_fluo")
            assert_sr_complete(out, rows * cols)
            assert_stored_once(out, rows * cols)
