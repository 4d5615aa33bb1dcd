"""One logging set-up for every command: warnings once and brief on stderr, all in --log-file."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from srscope import logger
from srscope._logger import configure_logging


def test_each_warning_is_shown_once_and_repeats_are_summed_up(capsys) -> None:
    undo = configure_logging()
    for i in range(5):
        logger.warning("SR of frame %d failed: %s", i, "NaN")
    logger.info("not shown without -v")
    undo()
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: SR of frame 0 failed: NaN",
        "warning: 4 repeated warning(s) not shown again",
    ]
    assert not [h for h in logger.handlers if not isinstance(h, logging.NullHandler)]


@pytest.mark.parametrize(
    ("verbose", "shown"),
    [(0, []), (1, ["progress"]), (2, ["debug: detail", "progress"])],
)
def test_verbose_adds_info_then_debug(capsys, verbose: int, shown: list[str]) -> None:
    undo = configure_logging(verbose)
    logger.debug("detail")
    logger.info("progress")
    undo()
    assert capsys.readouterr().err.splitlines() == shown


def test_a_command_warns_once_on_stderr_and_logs_debug_to_the_file(tmp_path: Path) -> None:
    image = tmp_path / "px.ome.tif"  # 2.6 µm pixels: twice the bundled model's LR pixel
    data = (np.random.default_rng(0).random((32, 32)) * 1000).astype(np.uint16)
    tifffile.imwrite(
        image, data, metadata={"axes": "YX", "PhysicalSizeX": 2.6, "PhysicalSizeY": 2.6}
    )
    log = tmp_path / "run.log"
    args = ["--log-file", str(log), "predict", "live_fluo", str(image), str(tmp_path / "o.ome.tif")]
    run = subprocess.run(
        [sys.executable, "-m", "srscope", *args, "--allow-mismatch", "--backend", "onnxruntime"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert len([w for w in warnings if "differs from the model's LR pixel size" in w]) == 1
    assert all("Traceback" not in w and len(w) < 300 for w in warnings)
    text = log.read_text()
    assert " DEBUG " in text and " WARNING " in text and "differs from the model" in text
