"""The shared file contracts: degradation record and reference set."""

import numpy as np
import pytest

from srscope.degradation import DegradationRecord, block_mean
from srscope.errors import SrscopeError
from srscope.references import ReferenceSet


def _record(**kw) -> DegradationRecord:
    data = {
        "scale": 4,
        "psf": {"sigma_hr_px": 2.0},
        "intensity": {"gain": 0.5, "offset": 100.0},
        "noise": {"std": 3.0},
    }
    data.update(kw)
    return DegradationRecord.model_validate(data)


def test_degradation_json_round_trip(tmp_path):
    rec = _record()
    path = rec.save(tmp_path / "degradation.json")
    assert DegradationRecord.load(path) == rec
    assert not list(tmp_path.glob("*.tmp"))


def test_degradation_noise_free_is_gain_offset_of_block_mean():
    hr = np.full((16, 12), 10.0, dtype=np.float32)
    lr = _record().apply(hr, noise=False)
    assert lr.shape == (4, 3)
    np.testing.assert_allclose(lr, 0.5 * 10 + 100, rtol=1e-6)


def test_degradation_noise_has_calibrated_std():
    hr = np.zeros((2048, 2048), dtype=np.float32)
    lr = _record().apply(hr, rng=np.random.default_rng(0))
    assert abs(lr.std() - 3.0) < 0.05


def test_block_mean_averages_blocks():
    img = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_allclose(block_mean(img, 2), [[2.5, 4.5], [10.5, 12.5]])


def test_bad_degradation_file_is_one_line_error(tmp_path):
    bad = tmp_path / "d.json"
    bad.write_text('{"scale": 9}')
    with pytest.raises(SrscopeError, match="invalid degradation record"):
        DegradationRecord.load(bad)


def _refs(lr_px: float) -> dict:
    return {
        "scale": 4,
        "entries": [
            {
                "position_um": [0, 0, 0],
                "channel": "FITC",
                "hr": {
                    "file": "hr.ome.tif",
                    "objective": "20x/0.45",
                    "pixel_size_um": 0.325,
                    "exposure_ms": 50,
                },
                "lr": {
                    "file": "lr.ome.tif",
                    "objective": "5x/0.15",
                    "pixel_size_um": lr_px,
                    "exposure_ms": 10,
                },
            }
        ],
    }


def test_reference_set_round_trip(tmp_path):
    refs = ReferenceSet.model_validate(_refs(1.3))
    refs.save(tmp_path)
    assert ReferenceSet.load(tmp_path) == refs
    assert refs.channels == ["FITC"]


def test_reference_set_refuses_inconsistent_pixel_sizes(tmp_path):
    import json

    (tmp_path / "references.json").write_text(json.dumps(_refs(1.5)))
    with pytest.raises(SrscopeError, match="not the scale 4 within 1%"):
        ReferenceSet.load(tmp_path)


def test_cli_returns_exit_codes(capsys):
    from srscope_cli import main

    assert main(["version"]) == 0
    assert "srscope" in capsys.readouterr().out
    assert main(["no-such-command"]) == 2


def test_atomic_writes_follow_the_umask(tmp_path):
    import os

    from srscope.atomic import write_text_atomic

    old = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "x.json", "{}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
