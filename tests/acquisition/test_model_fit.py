"""`scan`/`acquire --model` refuse frames the model was not made for, before taking any.

Found by a sweep: `scan -c TRITC --model live_fluo` ran the DAPI model on TRITC tiles and
`acquire --model live_fluo` ran the LR model on the rig's 20x frames, both with exit 0.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import zarr


def _srscope(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "srscope_cli", *args], capture_output=True, text=True, timeout=300
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_scan_of_a_channel_the_model_was_not_made_for_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "scan"
    run = _srscope("scan", "-o", str(out), "--rows", "1", "--cols", "1", "--roi", "64",
                   "-c", "TRITC", "--model", "live_fluo")  # fmt: skip
    assert run.returncode == 2
    assert "TRITC" in _one_line(run.stderr) and "DAPI" in run.stderr
    assert not out.exists()  # nothing captured, nothing written


def test_acquire_at_the_hr_objective_with_an_lr_model_is_refused(tmp_path: Path) -> None:
    seq = tmp_path / "seq.yaml"
    seq.write_text("channels: [DAPI]\n")  # the rig starts at 20x
    out = tmp_path / "a.ome.zarr"
    run = _srscope("acquire", str(seq), "-o", str(out), "--roi", "32", "--model", "live_fluo")
    assert run.returncode == 2
    assert "0.325 µm" in _one_line(run.stderr)
    assert not out.exists() and not (tmp_path / "a_sr.ome.zarr").exists()


def test_an_override_scans_and_the_sr_store_records_it(tmp_path: Path) -> None:
    out = tmp_path / "scan"
    run = _srscope("scan", "-o", str(out), "--rows", "1", "--cols", "1", "--roi", "64",
                   "-c", "TRITC", "--model", "live_fluo", "--allow-mismatch")  # fmt: skip
    assert run.returncode == 0, run.stderr
    attrs = dict(zarr.open_group(str(out / "sr.ome.zarr"), mode="r").attrs)
    prov = attrs.get("srscope") or attrs.get("ome", {}).get("srscope")
    assert prov is not None, attrs.keys()
    assert prov["fit"] == "override" and any("TRITC" in n for n in prov["fit_notes"])
    # the scan's SR ran on the backend auto chose (as predict's does), and says how
    assert prov["backend"]["how"] in ("auto", "only available")
    assert prov["backend"]["backend"] in ("onnxruntime", "openvino")


@pytest.mark.soak  # the same refusal as scan/predict (default run), through a live stream
def test_headless_live_with_a_model_of_another_objective_is_refused() -> None:
    run = _srscope("live", "--headless", "--frames", "3", "--roi", "32", "--model", "live_fluo",
                   "--objective", "20x", "--channel", "DAPI")  # fmt: skip
    assert run.returncode == 2
    assert "0.325 µm" in _one_line(run.stderr)
    ok = _srscope("live", "--headless", "--frames", "3", "--roi", "32", "--model", "live_fluo",
                  "--objective", "5x", "--channel", "DAPI")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
