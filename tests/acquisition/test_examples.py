"""The example files the README uses run as written (real subprocesses on the sim rig)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import zarr
from useq import MDASequence

from acquisition.sequence import count_frames, load_sequence

EXAMPLES = Path(__file__).parents[2] / "examples"
EXAMPLE = EXAMPLES / "sequence.yaml"


def test_the_example_sequence_is_a_useq_sequence() -> None:
    seq = load_sequence(EXAMPLE)
    assert isinstance(seq, MDASequence)
    assert [c.config for c in seq.channels] == ["DAPI", "TRITC"]
    assert count_frames(seq) == 2 * 3 * 3


def test_acquire_runs_the_example_at_the_objective_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "run.ome.zarr"
    run = subprocess.run(
        [sys.executable, "-m", "srscope", "acquire", str(EXAMPLE), "--objective", "5x",
         "--roi", "32", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    attrs = dict(zarr.open_group(str(out), mode="r").attrs)
    assert attrs["srscope"]["objective"].startswith("5x")


def test_the_example_rig_settings_load_and_drive_the_sim(tmp_path: Path) -> None:
    from acquisition.models import RigSettings

    rig = RigSettings.from_file(EXAMPLES / "rig.yaml")
    assert (rig.objective_group, rig.lr_objective, rig.hr_objective) == ("Objective", "5x", "20x")
    out = tmp_path / "snap.ome.tif"
    run = subprocess.run(
        [sys.executable, "-m", "srscope", "snap", "--rig", str(EXAMPLES / "rig.yaml"),
         "--objective", "5x", "--roi", "32", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert out.exists()
