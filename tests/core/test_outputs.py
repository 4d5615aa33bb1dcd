"""Outputs of one run only (issue 13, item 5): report folders and plain image folders."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from srscope.atomic import check_output, check_output_folder, clear_owned
from srscope.errors import SrscopeError


def test_a_used_report_folder_is_refused_without_overwrite(tmp_path):
    out = tmp_path / "eval"
    check_output_folder(out, overwrite=False)  # new: fine
    out.mkdir()
    check_output_folder(out, overwrite=False)  # empty: fine
    (out / "report.html").write_text("old")
    with pytest.raises(SrscopeError, match="not empty; pass --overwrite"):
        check_output_folder(out, overwrite=False)
    check_output_folder(out, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SrscopeError, match="is not a folder"):
        check_output_folder(tmp_path / "file", overwrite=True)
    with pytest.raises(SrscopeError, match="is not a folder"):
        check_output(tmp_path / "file", overwrite=True, folder=True)


def test_clear_owned_removes_what_the_command_wrote_and_nothing_else(tmp_path):
    from training.evaluation.report import REPORT_FILES

    (tmp_path / "figures").mkdir()
    for name in ("evaluation.json", "report.html", "figures/panel_0.png", "figures/panel_7.png",
                 "figures/table.png", "notes.txt", "figures/mine.png"):  # fmt: skip
        (tmp_path / name).write_text("old")
    clear_owned(tmp_path, REPORT_FILES)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == ["figures", "figures/mine.png", "notes.txt"]
    (tmp_path / "figures" / "mine.png").unlink()
    (tmp_path / "figures" / "panel_1.png").write_text("old")
    clear_owned(tmp_path, REPORT_FILES)
    assert not (tmp_path / "figures").exists()  # emptied by the clearing: gone too


def test_demo_clears_its_own_folders(tmp_path):
    from srscope_cli.demo.run import DEMO_FILES

    for name in ("scan/scan.json", "evaluation/figures/panel_9.png", "report.html", "keep.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("old")
    clear_owned(tmp_path, DEMO_FILES)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_plain_training_folder_with_nan_names_the_file(tmp_path):
    from training.images import load_folder

    tifffile.imwrite(tmp_path / "a.tif", np.ones((16, 16), np.uint16))
    bad = np.ones((16, 16), np.float32)
    bad[2, 3] = np.inf
    tifffile.imwrite(tmp_path / "b.tif", bad)
    with pytest.raises(SrscopeError, match=r"b\.tif: the image has NaN or infinite pixels"):
        load_folder(tmp_path)
