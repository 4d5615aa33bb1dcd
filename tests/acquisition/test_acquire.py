"""Headless useq sequences to OME-Zarr / OME-TIFF, and bad sequence files."""

import numpy as np
import pytest
import zarr

from acquisition.sequence import acquire, load_sequence
from srscope.errors import SrscopeError

SEQ_YAML = """
axis_order: tpcz
channels:
  - {config: DAPI, exposure: 10}
  - {config: TRITC, exposure: 20}
z_plan: {range: 4.0, step: 2.0}
stage_positions:
  - {x: 0, y: 0}
"""


def test_yaml_sequence_to_ome_zarr(microscope, tmp_path):
    microscope.set_centered_roi(64)
    seq_file = tmp_path / "seq.yaml"
    seq_file.write_text(SEQ_YAML)
    seen = []
    out = acquire(
        microscope, seq_file, tmp_path / "run.ome.zarr", progress=lambda i, n: seen.append(n)
    )
    assert len(seen) == 6 and seen[-1] == 6
    group = zarr.open_group(out, mode="r")
    arr = (
        np.asarray(group["0"]) if "0" in group else np.asarray(group[next(iter(group.keys()))]["0"])
    )
    assert arr.shape[-2:] == (64, 64) and arr.size == 6 * 64 * 64
    assert arr.mean() > 100
    assert group.attrs["srscope"]["objective"] == "20x/0.45"


def test_json_sequence_to_ome_tiff(microscope, tmp_path):
    microscope.set_centered_roi(32)
    seq_file = tmp_path / "seq.json"
    seq_file.write_text('{"channels": ["FITC"], "time_plan": {"interval": 0, "loops": 2}}')
    out = acquire(microscope, seq_file, tmp_path / "run.ome.tif")
    assert out.exists()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("channels: [DAPI\n  - :", "not valid YAML/JSON"),
        ("- just\n- a list", "does not describe a useq MDASequence"),
        ("z_plan: {range: -3, step: banana}", "not a valid useq sequence"),
    ],
)
def test_bad_sequence_files_are_one_line_errors(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(SrscopeError, match=match) as info:
        load_sequence(f)
    assert "\n" not in str(info.value)


def test_unknown_channel_in_sequence_is_refused(microscope, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("channels: [Cy9]")
    with pytest.raises(SrscopeError, match="unknown channel 'Cy9'"):
        acquire(microscope, f, tmp_path / "o.ome.zarr")
    assert not (tmp_path / "o.ome.zarr").exists()


def test_sequence_outside_the_stage_travel_is_refused(microscope, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("stage_positions: [{x: 0, y: 0}, {x: 5.0e6, y: 0}]")
    with pytest.raises(SrscopeError, match="outside the stage travel"):
        acquire(microscope, f, tmp_path / "o.ome.zarr")
