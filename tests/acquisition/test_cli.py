"""The acquisition CLI: commands work, bad input is one line + exit 2, scans resume."""

import json
import subprocess
import sys

import pytest
import tifffile

from acquisition import SIM_CONFIG
from srscope_cli import main


def run(args, capsys):
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("cmd", ["snap", "live", "references", "scan", "acquire"])
def test_help(cmd, capsys):
    rc, out, _ = run([cmd, "--help"], capsys)
    assert rc == 0 and "--config" in out and "--sim" in out


def test_snap_writes_ome_tiff(tmp_path, capsys):
    out = tmp_path / "s.ome.tif"
    rc, text, _ = run(["snap", "--objective", "5x", "--channel", "DAPI", "--roi", "64",
                       "--x", "13", "-o", str(out)], capsys)  # fmt: skip
    assert rc == 0 and "1.3 µm/px" in text
    with tifffile.TiffFile(out) as tif:
        assert tif.series[0].shape == (64, 64)
        assert 'PhysicalSizeX="1.3"' in tif.ome_metadata and 'PositionX="13.0"' in tif.ome_metadata


def test_live_headless_prints_fps_and_drops(capsys):
    rc, text, _ = run(
        ["live", "--headless", "--frames", "20", "--no-realtime", "--roi", "64"], capsys
    )
    assert rc == 0
    assert "frames=" in text and "fps=" in text and "display_drops=" in text


def test_references_cli(tmp_path, capsys):
    rc, text, _ = run(["references", "-o", str(tmp_path), "--n", "2", "-c", "DAPI",
                       "--roi", "64", "--layout", "grid"], capsys)  # fmt: skip
    assert rc == 0, text
    data = json.loads((tmp_path / "references.json").read_text())
    assert data["scale"] == 4 and len(data["entries"]) == 2


def _cfg(tmp_path, extra="", drop=()):
    lines = [ln for ln in SIM_CONFIG.read_text().splitlines() if not any(d in ln for d in drop)]
    path = tmp_path / "rig.cfg"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def _one_line_error(rc, err, match):
    assert rc == 2
    assert "Traceback" not in err
    err = err.strip()  # a finished progress bar may leave a blank line
    assert err.count("\n") == 0, err
    assert err.startswith("error: ") and match in err, err


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    broken = tmp_path / "broken.cfg"
    broken.write_text("Device,Cam,NoSuchAdapter,NoSuchDevice\nProperty,Core,Initialize,1\n")
    bad_yaml = tmp_path / "seq.yaml"
    bad_yaml.write_text("channels: [DAPI\n  - :")
    cases = [
        (["snap", "--config", str(tmp_path / "missing.cfg")], "config file not found"),
        (["snap", "--config", str(broken)], "cannot load config broken.cfg"),
        (["snap", "--objective", "63x", "--roi", "32"], "unknown objective '63x'"),
        (["snap", "--channel", "Cy9", "--roi", "32"], "unknown channel 'Cy9'"),
        (["snap", "--x", "1e9", "--roi", "32"], "outside the stage travel"),
        (["acquire", str(bad_yaml)], "not valid YAML/JSON"),
        (["acquire", str(tmp_path / "none.yaml")], "sequence file not found"),
        (["scan", "-o", str(tmp_path / "s"), "--area", "1,2,3"], "--area must be 4 numbers"),
        (["scan", "-o", str(tmp_path / "none"), "--resume"], "nothing to resume"),
        (["snap", "--no-sim"], "give --config FILE"),
    ]
    for args, match in cases:
        rc, _, err = run(args, capsys)
        _one_line_error(rc, err, match)


def test_scan_refuses_a_config_without_pixel_size(tmp_path, capsys):
    cfg = _cfg(tmp_path, drop=("PixelSize",))
    rc, _, err = run(
        ["scan", "--config", str(cfg), "-o", str(tmp_path / "s"), "--roi", "32"], capsys
    )
    _one_line_error(rc, err, "pixel size is not set")


def test_scan_camera_failure_then_resume(tmp_path, capsys):
    out = tmp_path / "scan"
    failing = _cfg(tmp_path, extra="#py Property,Camera,FailAfterFrames,3\n")
    args = ["scan", "-o", str(out), "--rows", "2", "--cols", "2", "--roi", "64"]
    rc, _, err = run([*args, "--config", str(failing)], capsys)
    _one_line_error(rc, err, "stopped after 3 of 4 tiles")
    rc, text, err = run(["scan", "-o", str(out), "--resume", "--roi", "64"], capsys)
    assert rc == 0, err
    assert "4/4 tiles" in text
    lines = [json.loads(x) for x in (out / "journal.jsonl").read_text().splitlines()]
    assert sorted(e["p"] for e in lines) == [0, 1, 2, 3]
    assert (out / "mosaic.ome.zarr" / "zarr.json").is_file()


def test_acquire_cli(tmp_path, capsys):
    seq = tmp_path / "seq.yaml"
    seq.write_text("channels: [DAPI, FITC]\ntime_plan: {interval: 0, loops: 2}\n")
    out = tmp_path / "a.ome.zarr"
    rc, text, err = run(["acquire", str(seq), "-o", str(out), "--roi", "32"], capsys)
    assert rc == 0, err
    assert "4 frames" in text and out.is_dir()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("objective_group: 3\n", "objective_group: Input should be a valid string"),
        ("bogus: 1\n", "bogus: Extra inputs are not permitted"),
        ("objective_group: [\n", "is not valid YAML/JSON"),
    ],
)
def test_rig_settings_file_errors_name_the_field(tmp_path, capsys, text, message):
    rig = tmp_path / "rig.yaml"
    rig.write_text(text)
    rc, _, err = run(["snap", "--rig", str(rig), "-o", str(tmp_path / "s.ome.tif")], capsys)
    assert rc == 2 and message in err


def _valid_05(path) -> dict:
    """``path`` is OME-Zarr 0.5 at every level; its ``ome`` attributes."""
    import numpy as np
    import zarr

    pytest.importorskip("yaozarrs").validate_zarr_store(str(path))
    root = zarr.open_group(str(path), mode="r")
    ome = root.attrs["ome"]
    for d in ome["multiscales"][0]["datasets"]:
        assert np.asarray(root[d["path"]]).size > 0
    return ome


def test_scan_cli_writes_ome_zarr_mosaic_and_ome_tiff_export(tmp_path, capsys):
    out = tmp_path / "scan"
    args = ["scan", "-o", str(out), "--rows", "2", "--cols", "2", "--roi", "64", "--ome-tiff"]
    rc, text, err = run(args, capsys)
    assert rc == 0, err
    assert "mosaic mosaic.ome.zarr" in text
    ome = _valid_05(out / "mosaic.ome.zarr")
    assert ome["omero"]["channels"][0]["label"] == "DAPI"
    with tifffile.TiffFile(out / "mosaic.ome.tif") as tf:
        assert tf.is_ome and tf.series[0].shape[-2:] == (122, 122)


def test_acquire_cli_with_model_names_and_writes_its_sr_mosaic(tmp_path, capsys):
    seq = tmp_path / "grid.yaml"
    seq.write_text("channels: [DAPI]\ngrid_plan: {rows: 2, columns: 2, overlap: 10}\n")
    out = tmp_path / "run.ome.zarr"
    args = ["acquire", str(seq), "-o", str(out), "--roi", "32", "--objective", "5x"]
    args += ["--model", "live_fluo"]
    rc, text, err = run(args, capsys)
    assert rc == 0, err
    mosaic = tmp_path / "run_sr_mosaic.ome.zarr"
    assert f"SR mosaic {mosaic}" in text  # acquire names the mosaic it writes
    ome = _valid_05(mosaic)
    scale = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale[-1] == pytest.approx(1.3 / 4)  # the HR pixel size
    assert not (tmp_path / "run_sr_mosaic.ome.zarr.partial").exists()


def test_live_headless_with_a_model_starts_where_the_model_fits():
    """As the viewer does: the LR objective and the model's channel (DAPI for live_fluo),
    not the rig's current FITC, unless told otherwise."""
    args = ["live", "--headless", "--frames", "20", "--no-realtime", "--roi", "64"]
    run = subprocess.run(
        [sys.executable, "-m", "srscope", *args, "--model", "live_fluo"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr  # no model/frame mismatch refused
    assert int(run.stdout.split("frames=")[1].split()[0]) >= 20
