"""Checkpoint choice on real LR captures: strips aligned to the LR grid, scored, logged, kept."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from srscope.degradation import DegradationRecord
from training.dataset import prepare_sources
from training.evaluation.baselines import bicubic
from training.evaluation.metrics import psnr
from training.images import load_sources
from training.real_validation import real_strips
from training.trainer import Trainer

from .conftest import tiny_config


def test_strips_are_cut_from_the_lr_capture_where_the_held_out_rows_are(
    reference_set: Path, record: DegradationRecord
) -> None:
    sources, _ = load_sources(reference_set)
    prepared = prepare_sources(sources, record, tiny_config("live"))
    strips = real_strips(prepared, record)
    assert [s.name for s in strips] == [p.name for p in prepared]
    for st in strips:
        up = bicubic(st.lr[0], record.scale)
        (y, x), (h, w) = st.offset, st.hr.shape[-2:]
        aligned = psnr(st.hr[0], up[y : y + h, x : x + w], data_range=1.0)
        moved = psnr(st.hr[0], up[y + 3 : y + 3 + h, x + 3 : x + 3 + w], data_range=1.0)
        assert aligned > moved + 2.0, (aligned, moved)


def test_hr_only_sets_fall_back_to_simulated_validation(
    reference_set: Path, record: DegradationRecord
) -> None:
    sources, _ = load_sources(reference_set)
    for s in sources:
        s.meta.pop("lr_file")
    assert real_strips(prepare_sources(sources, record, tiny_config("live")), record) == []


def test_training_logs_and_keeps_the_real_capture_score(
    reference_set: Path, record: DegradationRecord, tmp_path: Path
) -> None:
    sources, _ = load_sources(reference_set)
    cfg = tiny_config("live", iterations=4)
    t = Trainer(sources, record, cfg, tmp_path / "run", progress=False)
    result = t.run()
    with (tmp_path / "run" / "log.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["real_psnr"]]
    assert [int(r["iteration"]) for r in rows] == [2, 4]
    best = max(rows, key=lambda r: float(r["real_psnr"]))
    assert result.metrics["best_iteration"] == int(best["iteration"])
    assert np.isclose(result.metrics["real_psnr"], float(best["real_psnr"]))
    assert result.metrics["real_fields"] == 2
