"""Bad inputs to every subcommand, run as real subprocesses (issue 13, items 4, 5, 7, 8).

Each case is an argv and the files it needs, made in its own folder (the working
directory of the run). Each must end with exit code 2, exactly one non-empty line
on stderr that names the problem, no traceback, and its folder unchanged (names,
sizes and mtimes of every file). Running real processes sees what an in-process
``main()`` call hides: tracebacks printed at exit, crashes at interpreter shutdown,
warnings leaking to stderr.

The cases run two at a time in a thread pool (started by the first test that needs
them) so the table stays quick on a 2-core machine; the slower ones (a model or
PyTorch loaded first) are marked ``soak`` and run with ``pytest -m soak``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tifffile

TIMEOUT_S = 60.0


def run_cli(argv: list[str], cwd: Path, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """``python -m srscope_cli ARGV`` in ``cwd``; a hang is a failure, not a stuck suite."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-m", "srscope_cli", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder``: (size, mtime_ns) for files, (-1, 0) for folders."""
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(folder))] = (-1, 0) if p.is_dir() else (st.st_size, st.st_mtime_ns)
    return out


# ----------------------------------------------------------------------------- inputs


def _tif(path: Path, arr: np.ndarray) -> None:
    tifffile.imwrite(path, arr)


def garbage_tif(d: Path, name: str = "garbage.tif") -> None:
    (d / name).write_bytes(b"II*\x00" + bytes(range(256)) * 8)


def good_tif(d: Path, name: str = "img.tif") -> None:
    rng = np.random.default_rng(0)
    _tif(d / name, rng.integers(100, 4000, (48, 48), dtype=np.uint16))


def truncated_tif(d: Path) -> None:
    good_tif(d, "full.tif")
    data = (d / "full.tif").read_bytes()
    (d / "full.tif").unlink()
    (d / "trunc.tif").write_bytes(data[: len(data) // 3])


def nan_tif(d: Path) -> None:
    a = np.ones((48, 48), np.float32)
    a[5, 7] = np.nan
    _tif(d / "nan.tif", a)


def int8_tif(d: Path) -> None:
    _tif(d / "int8.tif", np.arange(48 * 48, dtype=np.int64).reshape(48, 48).astype(np.int8))


def huge_tif(d: Path) -> None:
    """A small TIFF whose header claims 60000 × 60000 pixels."""
    _tif(d / "huge.tif", np.zeros((16, 16), np.uint16))
    with tifffile.TiffFile(d / "huge.tif", mode="r+b") as tf:
        tags = tf.pages[0].tags
        tags["ImageWidth"].overwrite(60000)
        tags["ImageLength"].overwrite(60000)
        tags["RowsPerStrip"].overwrite(60000)


def file_named(name: str, text: str | bytes) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text)

    return make


MM_CFG = "# Micro-Manager config\nDevice,Camera,DemoCamera,DCam\nProperty,Core,Initialize,1\n"
BAD_JSON = '{"scale": 4, "psf": '
DEGRADATION = {
    "scale": 4,
    "psf": {"sigma_hr_px": 2.0},
    "intensity": {"gain": 0.5, "offset": 100.0},
    "noise": {"std": 3.0},
}
SEQ_YAML = "channels:\n  - config: DAPI\n    exposure: 5\ntime_plan:\n  interval: 0\n  loops: 1\n"


def degradation(d: Path) -> None:
    (d / "deg.json").write_text(json.dumps(DEGRADATION))


def regular_file(d: Path) -> None:
    (d / "file").write_text("I am a file, not a folder\n")


def seq_yaml(d: Path) -> None:
    (d / "seq.yaml").write_text(SEQ_YAML)


def both(*makers: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        for m in makers:
            m(d)

    return make


# The reference sets are made once per session (a 32² capture) and copied.
REFS: dict[str, Path] = {}


def refs(d: Path) -> None:
    shutil.copytree(REFS["good"], d / "refs")


def refs_nan(d: Path) -> None:
    refs(d)
    data = json.loads((d / "refs" / "references.json").read_text())
    hr = d / "refs" / data["entries"][0]["hr"]["file"]
    with tifffile.TiffFile(hr) as tf:
        img = tf.asarray().astype(np.float32)
        desc = tf.pages[0].description
    img[3, 3] = np.nan
    tifffile.imwrite(hr, img, description=desc.encode(), metadata=None)


def refs_bad_json(d: Path) -> None:
    refs(d)
    (d / "refs" / "references.json").write_text(BAD_JSON)


def unwritable(d: Path) -> None:
    (d / "ro").mkdir()
    (d / "ro").chmod(0o500)


# ----------------------------------------------------------------------------- cases


@dataclass
class Case:
    id: str
    argv: list[str]
    expect: str  # a distinctive substring of the one stderr line (case-insensitive)
    setup: Callable[[Path], None] | None = None
    timeout: float = TIMEOUT_S
    needs_unwritable: bool = False
    marks: list = field(default_factory=list)


SIM = ["--roi", "32"]
C = Case
CASES: list[Case] = [
    # --- snap
    C("snap-exposure-negative", ["snap", *SIM, "--exposure", "-5"], "exposure"),
    C("snap-exposure-zero", ["snap", *SIM, "--exposure", "0"], "exposure"),
    C("snap-exposure-nan", ["snap", *SIM, "--exposure", "nan"], "exposure"),
    C("snap-exposure-1e9", ["snap", *SIM, "--exposure", "1e9"], "exposure", timeout=30),
    C("snap-unknown-channel", ["snap", *SIM, "--channel", "NOPE"], "NOPE"),
    C("snap-unknown-objective", ["snap", *SIM, "--objective", "7x"], "7x"),
    C("snap-roi-too-small", ["snap", "--roi", "8"], "--roi"),
    C("snap-roi-absurd", ["snap", "--roi", "100000"], "roi"),
    C("snap-stage-nan", ["snap", *SIM, "--x", "nan"], "x"),
    C(
        "snap-existing-out",
        ["snap", *SIM, "-o", "s.ome.tif"],
        "exists",
        file_named("s.ome.tif", b"old"),
    ),
    C("snap-out-under-file", ["snap", *SIM, "-o", "file/s.ome.tif"], "not a folder", regular_file),
    C(
        "snap-out-unwritable",
        ["snap", *SIM, "-o", "ro/s.ome.tif"],
        "ro",
        unwritable,
        needs_unwritable=True,
    ),
    C("snap-unknown-extension", ["snap", *SIM, "-o", "s.png"], "s.png"),
    C("snap-missing-specimen", ["snap", *SIM, "--specimen", "nothere.png"], "nothere.png"),
    C(
        "snap-config-garbage",
        ["snap", "--config", "x.cfg"],
        "x.cfg",
        file_named("x.cfg", "this is not a config\n"),
    ),
    # --- live --headless
    C(
        "live-exposure-zero",
        ["live", "--headless", *SIM, "--frames", "2", "--exposure", "0"],
        "exposure",
    ),
    C("live-exposure-negative", ["live", "--headless", *SIM, "--exposure", "-1"], "exposure"),
    C("live-frames-zero", ["live", "--headless", *SIM, "--frames", "0"], "--frames"),
    C("live-unknown-channel", ["live", "--headless", *SIM, "--channel", "NOPE"], "NOPE"),
    C(
        "live-missing-model",
        ["live", "--headless", *SIM, "--model", "nothere.onnx"],
        "nothere.onnx",
    ),
    # --- references
    C("refs-n-zero", ["references", "-o", "r", "--n", "0"], "--n"),
    C("refs-area-three-numbers", ["references", "-o", "r", "--area", "1,2,3"], "--area"),
    C("refs-layout-unknown", ["references", "-o", "r", "--layout", "spiral"], "spiral"),
    C("refs-unknown-channel", ["references", *SIM, "-o", "r", "-c", "NOPE"], "NOPE"),
    C(
        "refs-hr-exposure-negative",
        ["references", *SIM, "-o", "r", "--hr-exposure", "-1"],
        "exposure",
    ),
    C("refs-lr-exposure-zero", ["references", *SIM, "-o", "r", "--lr-exposure", "0"], "exposure"),
    C("refs-bad-positions", ["references", *SIM, "-o", "r", "--positions", "1,2;x,y"], "x,y"),
    C(
        "refs-unreachable-position",
        ["references", *SIM, "-o", "r", "--positions", "0,0;1e9,0"],
        "outside the stage travel",
    ),
    C("refs-unknown-hr-objective", ["references", *SIM, "-o", "r", "--hr", "7x"], "7x"),
    C("refs-existing-set", ["references", *SIM, "-o", "refs", "--n", "1"], "exists", refs),
    C(
        "refs-out-under-file",
        ["references", *SIM, "-o", "file/r", "--n", "1"],
        "not a folder",
        regular_file,
    ),
    # --- scan
    C("scan-area-absurd", ["scan", *SIM, "-o", "s", "--area", "0,0,1e9,1e9"], "area"),
    C("scan-rows-zero", ["scan", *SIM, "-o", "s", "--rows", "0"], "--rows"),
    C("scan-overlap-too-big", ["scan", *SIM, "-o", "s", "--overlap", "0.95"], "--overlap"),
    C("scan-exposure-negative", ["scan", *SIM, "-o", "s", "--exposure", "-1"], "exposure"),
    C("scan-unknown-channel", ["scan", *SIM, "-o", "s", "-c", "NOPE"], "NOPE"),
    C("scan-unknown-objective", ["scan", *SIM, "-o", "s", "--objective", "7x"], "7x"),
    C("scan-center-garbage", ["scan", *SIM, "-o", "s", "--center", "a,b"], "--center"),
    C("scan-resume-nothing", ["scan", *SIM, "-o", "s", "--resume"], "resume"),
    C(
        "scan-resume-corrupt-journal",
        ["scan", *SIM, "-o", "s", "--resume"],
        "scan.json",
        file_named("s/scan.json", BAD_JSON),
    ),
    C("scan-out-under-file", ["scan", *SIM, "-o", "file/s"], "not a folder", regular_file),
    C(
        "scan-unknown-plate",
        ["scan", *SIM, "-o", "s", "--plate", "7-well", "--wells", "A1"],
        "7-well",
    ),
    C(
        "scan-unknown-well",
        ["scan", *SIM, "-o", "s", "--plate", "96-well", "--wells", "Z99"],
        "well",
    ),
    C("scan-missing-model", ["scan", *SIM, "-o", "s", "--model", "nothere.onnx"], "nothere.onnx"),
    # --- acquire
    C("acquire-missing-sequence", ["acquire", "nothere.yaml", *SIM], "nothere.yaml"),
    C(
        "acquire-bad-yaml",
        ["acquire", "bad.yaml", *SIM],
        "bad.yaml",
        file_named("bad.yaml", "channels: [unclosed\n  - :"),
    ),
    C(
        "acquire-unknown-keys",
        ["acquire", "seq.yaml", *SIM],
        "bogus_key",
        file_named("seq.yaml", SEQ_YAML + "bogus_key: 3\n"),
    ),
    C(
        "acquire-mm-cfg-as-sequence",
        ["acquire", "mm.cfg", *SIM],
        "mm.cfg",
        file_named("mm.cfg", MM_CFG),
    ),
    C("acquire-unknown-extension", ["acquire", "seq.yaml", *SIM, "-o", "a.png"], "a.png", seq_yaml),
    C(
        "acquire-existing-out",
        ["acquire", "seq.yaml", *SIM, "-o", "a.ome.tif"],
        "exists",
        both(seq_yaml, file_named("a.ome.tif", b"old")),
    ),
    C(
        "acquire-out-under-file",
        ["acquire", "seq.yaml", *SIM, "-o", "file/a.ome.zarr"],
        "not a folder",
        both(seq_yaml, regular_file),
    ),
    C(
        "acquire-unknown-channel",
        ["acquire", "seq.yaml", *SIM, "-o", "a.ome.zarr"],
        "NOPE",
        file_named("seq.yaml", SEQ_YAML.replace("DAPI", "NOPE")),
    ),
    C(
        "acquire-negative-exposure",
        ["acquire", "seq.yaml", *SIM, "-o", "a.ome.zarr"],
        "exposure",
        file_named("seq.yaml", SEQ_YAML.replace("exposure: 5", "exposure: -5")),
    ),
    # --- calibrate
    C("calibrate-missing-refs", ["calibrate", "nothere"], "nothere"),
    C("calibrate-refs-nan", ["calibrate", "refs", "-o", "d.json"], "NaN", refs_nan),
    C(
        "calibrate-refs-bad-json",
        ["calibrate", "refs", "-o", "d.json"],
        "references.json",
        refs_bad_json,
    ),
    C("calibrate-unknown-psf", ["calibrate", "refs", "--psf", "square"], "psf", refs),
    C(
        "calibrate-existing-out",
        ["calibrate", "refs", "-o", "d.json"],
        "exists",
        both(refs, file_named("d.json", "{}")),
    ),
    C(
        "calibrate-out-under-file",
        ["calibrate", "refs", "-o", "file/d.json"],
        "not a folder",
        both(refs, regular_file),
    ),
    C("calibrate-unknown-channel", ["calibrate", "refs", "--channel", "NOPE"], "NOPE", refs),
    # --- degrade
    C(
        "degrade-garbage-tif",
        ["degrade", "garbage.tif", "-d", "deg.json", "-o", "lr.ome.tif"],
        "garbage.tif",
        both(garbage_tif, degradation),
    ),
    C(
        "degrade-bad-json",
        ["degrade", "img.tif", "-d", "bad.json", "-o", "lr.ome.tif"],
        "bad.json",
        both(good_tif, file_named("bad.json", BAD_JSON)),
    ),
    C(
        "degrade-wrong-schema",
        ["degrade", "img.tif", "-d", "w.json", "-o", "lr.ome.tif"],
        "noise",
        both(good_tif, file_named("w.json", json.dumps({**DEGRADATION, "noise": 3}))),
    ),
    C(
        "degrade-mm-cfg-as-record",
        ["degrade", "img.tif", "-d", "mm.cfg", "-o", "lr.ome.tif"],
        "mm.cfg",
        both(good_tif, file_named("mm.cfg", MM_CFG)),
    ),
    C(
        "degrade-nan-image",
        ["degrade", "nan.tif", "-d", "deg.json", "-o", "lr.ome.tif"],
        "NaN",
        both(nan_tif, degradation),
    ),
    C(
        "degrade-int8-image",
        ["degrade", "int8.tif", "-d", "deg.json", "-o", "lr.ome.tif"],
        "int8",
        both(int8_tif, degradation),
    ),
    C(
        "degrade-existing-out",
        ["degrade", "img.tif", "-d", "deg.json", "-o", "lr.ome.tif"],
        "exists",
        both(good_tif, degradation, file_named("lr.ome.tif", b"old")),
    ),
    C(
        "degrade-negative-pixel-size",
        ["degrade", "img.tif", "-d", "deg.json", "-o", "lr.ome.tif", "--hr-pixel-size-um", "-1"],
        "pixel",
        both(good_tif, degradation),
    ),
    # --- train
    C(
        "train-unknown-preset",
        ["train", "refs", "-d", "deg.json", "--preset", "foo"],
        "foo",
        both(refs, degradation),
    ),
    C(
        "train-config-bad-json",
        ["train", "refs", "-d", "deg.json", "--config", "bad.json"],
        "bad.json",
        both(refs, degradation, file_named("bad.json", BAD_JSON)),
    ),
    C(
        "train-config-wrong-schema",
        ["train", "refs", "-d", "deg.json", "--config", "w.json"],
        "batch",
        both(refs, degradation, file_named("w.json", '{"batch": "many"}')),
    ),
    C(
        "train-config-mm-cfg",
        ["train", "refs", "-d", "deg.json", "--config", "mm.cfg"],
        "mm.cfg",
        both(refs, degradation, file_named("mm.cfg", MM_CFG)),
    ),
    C(
        "train-device-cuda",
        ["train", "refs", "-d", "deg.json", "--device", "cuda"],
        "cuda",
        both(refs, degradation),
    ),
    C(
        "train-iterations-negative",
        ["train", "refs", "-d", "deg.json", "--iterations", "-1"],
        "iterations",
        both(refs, degradation),
    ),
    C(
        "train-lr-nan",
        ["train", "refs", "-d", "deg.json", "--lr", "nan"],
        "lr",
        both(refs, degradation),
    ),
    C(
        "train-out-under-file",
        ["train", "refs", "-d", "deg.json", "--patch", "8", "-o", "file/m.onnx"],
        "not a folder",
        both(refs, degradation, regular_file),
    ),
    C(
        "train-refs-nan",
        ["train", "refs", "-d", "deg.json", "--patch", "8", "--iterations", "2"],
        "NaN",
        both(refs_nan, degradation),
    ),
    # --- evaluate
    C(
        "evaluate-max-entries-zero",
        ["evaluate", "live_fluo", "refs", "--max-entries", "0"],
        "--max-entries",
        refs,
    ),
    C(
        "evaluate-field-size-absurd",
        ["evaluate", "live_fluo", "refs", "--field-size", "100000"],
        "field-size",
        refs,
    ),
    C(
        "evaluate-refs-nan",
        ["evaluate", "live_fluo", "refs", "--field-size", "32"],
        "NaN",
        refs_nan,
    ),
    C(
        "evaluate-garbage-model",
        ["evaluate", "m.onnx", "refs"],
        "m.onnx",
        both(refs, file_named("m.onnx", b"not an onnx model")),
    ),
    C(
        "evaluate-out-under-file",
        ["evaluate", "live_fluo", "refs", "-o", "file/ev"],
        "not a folder",
        both(refs, regular_file),
    ),
    C(
        "evaluate-record-bad-json",
        ["evaluate", "live_fluo", "refs", "--record", "bad.json"],
        "bad.json",
        both(refs, file_named("bad.json", BAD_JSON)),
    ),
    C(
        "evaluate-rl-iterations-negative",
        ["evaluate", "live_fluo", "refs", "--rl-iterations", "-1"],
        "rl-iterations",
        refs,
    ),
    # --- usaf
    C("usaf-negative-pixel-size", ["usaf", "img.tif", "--pixel-size-um", "-1"], "pixel", good_tif),
    C(
        "usaf-garbage-tif",
        ["usaf", "garbage.tif", "--pixel-size-um", "1"],
        "garbage.tif",
        garbage_tif,
    ),
    C("usaf-bad-groups", ["usaf", "--simulate", "--groups", "six"], "six"),
    C("usaf-nan-image", ["usaf", "nan.tif", "--pixel-size-um", "1"], "NaN", nan_tif),
    C("usaf-out-under-file", ["usaf", "--simulate", "-o", "file/u"], "not a folder", regular_file),
    # --- predict
    C(
        "predict-truncated-tif",
        ["predict", "live_fluo", "trunc.tif", "o.ome.tif"],
        "trunc.tif",
        truncated_tif,
    ),
    C(
        "predict-huge-header",
        ["predict", "live_fluo", "huge.tif", "o.ome.tif"],
        "huge.tif",
        huge_tif,
    ),
    C(
        "predict-garbage-tif",
        ["predict", "live_fluo", "garbage.tif", "o.ome.tif"],
        "garbage.tif",
        garbage_tif,
    ),
    C("predict-nan-image", ["predict", "live_fluo", "nan.tif", "o.ome.tif"], "NaN", nan_tif),
    C("predict-int8-image", ["predict", "live_fluo", "int8.tif", "o.ome.tif"], "int8", int8_tif),
    C("predict-unknown-extension", ["predict", "live_fluo", "img.tif", "o.png"], "o.png", good_tif),
    C(
        "predict-memory-negative",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--memory-mb", "-1"],
        "memory",
        good_tif,
    ),
    C(
        "predict-batch-zero",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--batch", "0"],
        "batch",
        good_tif,
    ),
    C(
        "predict-dtype-unknown",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--dtype", "int3"],
        "int3",
        good_tif,
    ),
    C(
        "predict-missing-model",
        ["predict", "nothere.onnx", "img.tif", "o.ome.tif"],
        "nothere.onnx",
        good_tif,
    ),
    C(
        "predict-existing-out",
        ["predict", "live_fluo", "img.tif", "o.ome.tif"],
        "exists",
        both(good_tif, file_named("o.ome.tif", b"old")),
    ),
    C(
        "predict-out-under-file",
        ["predict", "live_fluo", "img.tif", "file/o.ome.tif"],
        "file/o.ome.tif",
        both(good_tif, regular_file),
    ),
    C("predict-missing-input", ["predict", "live_fluo", "nothere.tif", "o.ome.tif"], "nothere.tif"),
    C(
        "predict-bad-axes",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--axes", "QQ"],
        "QQ",
        good_tif,
    ),
    # --- bench, models
    C("bench-repeats-negative", ["bench", "--quick", "--repeats", "-1"], "--repeats"),
    C("bench-size-negative", ["bench", "--quick", "--size", "-5"], "--size"),
    C(
        "bench-garbage-model",
        ["bench", "--quick", "--model", "m.onnx"],
        "m.onnx",
        file_named("m.onnx", b"not an onnx model"),
    ),
    C("bench-unknown-backend", ["bench", "--quick", "--backend", "foo"], "foo"),
    C(
        "bench-json-under-file",
        ["bench", "--quick", "--json", "file/b.json"],
        "not a folder",
        regular_file,
    ),
    C("models-unknown-option", ["models", "--bogus"], "--bogus"),
    # --- demo
    C("demo-fields-zero", ["demo", "--fields", "0"], "--fields"),
    C("demo-scan-garbage", ["demo", "--scan", "0x0"], "scan"),
    C("demo-missing-model", ["demo", "--model", "nothere.onnx"], "nothere.onnx"),
    C("demo-out-under-file", ["demo", "--out", "file/demo"], "not a folder", regular_file),
    C("demo-unknown-channel", ["demo", "--channel", "NOPE"], "NOPE"),
    # --- the app itself
    C("unknown-command", ["frobnicate"], "frobnicate"),
]


# ----------------------------------------------------------------------------- more inputs


def inf_tif(d: Path, name: str = "inf.tif") -> None:
    a = np.ones((48, 48), np.float32)
    a[9, 2] = np.inf
    _tif(d / name, a)


def in_folder(folder: str, *makers: Callable[[Path], None]) -> Callable[[Path], None]:
    """Make the files of ``makers`` inside ``folder`` (a plain image folder for train)."""

    def make(d: Path) -> None:
        (d / folder).mkdir()
        for m in makers:
            m(d / folder)

    return make


def empty_folder(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).mkdir()

    return make


def refs_edit(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    """The tiny reference set with its references.json changed by ``edit``."""

    def make(d: Path) -> None:
        refs(d)
        path = d / "refs" / "references.json"
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))

    return make


def _hr_only(data: dict) -> None:
    for e in data["entries"]:
        e["lr"] = None


def _drop_file(data: dict) -> None:
    data["entries"][0]["hr"]["file"] = "gone_hr.ome.tif"


def _wrong_format(data: dict) -> None:
    data["format"] = "something-else/9"


def refs_inf(d: Path) -> None:
    refs(d)
    data = json.loads((d / "refs" / "references.json").read_text())
    lr = d / "refs" / data["entries"][0]["lr"]["file"]
    with tifffile.TiffFile(lr) as tf:
        img = tf.asarray().astype(np.float32)
        desc = tf.pages[0].description
    img[1, 1] = np.inf
    tifffile.imwrite(lr, img, description=desc.encode(), metadata=None)


def record(**changes) -> Callable[[Path], None]:
    """A degradation record ``deg.json`` with top-level or nested (``a__b``) changes."""

    def make(d: Path) -> None:
        rec = json.loads(json.dumps(DEGRADATION))
        for key, value in changes.items():
            *path, last = key.split("__")
            target = rec
            for p in path:
                target = target[p]
            target[last] = value
        (d / "deg.json").write_text(json.dumps(rec))

    return make


SEQ2_YAML = SEQ_YAML.replace(
    "    exposure: 5\n", "    exposure: 5\n  - config: TRITC\n    exposure: 5\n"
)
TWO = ["-c", "DAPI", "-c", "TRITC"]  # scan's two channels (issue 15: a model per channel)
PAIRS = ["--model", "DAPI=live_fluo", "--model", "TRITC=live_fluo_tritc"]
ACQ2 = ["acquire", "seq.yaml", *SIM, "--objective", "5x"]  # with seq2_yaml: DAPI + TRITC


def seq2_yaml(d: Path) -> None:
    (d / "seq.yaml").write_text(SEQ2_YAML)


def x2_tritc_model(d: Path) -> None:
    """A ×2 TRITC model (bundled ones are ×4): one SR store cannot take both scales."""
    from sr_engine.testing import default_metadata, nearest_model, save_model

    save_model(nearest_model(2, meta=default_metadata(2, ["TRITC"])), d / "x2.onnx")


def rgb_tif(d: Path) -> None:
    rng = np.random.default_rng(1)
    _tif(d / "rgb.tif", rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))


MORE_CASES: list[Case] = [
    # --- snap
    C("snap-exposure-inf", ["snap", *SIM, "--exposure", "inf"], "exposure"),
    C("snap-roi-negative", ["snap", "--roi", "-5"], "--roi"),
    C("snap-roi-not-a-number", ["snap", "--roi", "big"], "--roi"),
    C("snap-focus-nan", ["snap", *SIM, "--z", "nan"], "z"),
    C("snap-stage-y-inf", ["snap", *SIM, "--y", "inf"], "y"),
    C("snap-rig-missing", ["snap", *SIM, "--rig", "nothere.yaml"], "nothere.yaml"),
    C(
        "snap-rig-garbage",
        ["snap", *SIM, "--rig", "rig.yaml"],
        "rig.yaml",
        file_named("rig.yaml", "objectives: [unclosed\n  - :"),
    ),
    C("snap-config-missing", ["snap", "--config", "nothere.cfg"], "nothere.cfg"),
    C(
        "snap-existing-out-folder",
        ["snap", *SIM, "-o", "s.ome.tif"],
        "exists",
        empty_folder("s.ome.tif"),
    ),
    C(
        "snap-specimen-garbage",
        ["snap", *SIM, "--specimen", "garbage.tif"],
        "garbage.tif",
        garbage_tif,
    ),
    C("snap-unknown-option", ["snap", "--bogus"], "--bogus"),
    # --- live --headless
    C("live-frames-negative", ["live", "--headless", *SIM, "--frames", "-3"], "--frames"),
    C("live-exposure-nan", ["live", "--headless", *SIM, "--exposure", "nan"], "exposure"),
    C("live-unknown-objective", ["live", "--headless", *SIM, "--objective", "7x"], "7x"),
    C(
        "live-garbage-model",
        ["live", "--headless", *SIM, "--model", "m.onnx"],
        "m.onnx",
        file_named("m.onnx", b"not an onnx model"),
    ),
    C("live-threads-zero", ["live", "--headless", *SIM, "--threads", "0"], "--threads"),
    C("live-roi-too-small", ["live", "--headless", "--roi", "4"], "--roi"),
    # --- references
    C("refs-area-inverted", ["references", *SIM, "-o", "r", "--area", "10,10,0,0"], "area"),
    C("refs-area-garbage", ["references", *SIM, "-o", "r", "--area", "a,b,c,d"], "--area"),
    C("refs-n-negative", ["references", "-o", "r", "--n", "-1"], "--n"),
    C("refs-unknown-lr-objective", ["references", *SIM, "-o", "r", "--lr", "7x"], "7x"),
    C("refs-hr-exposure-nan", ["references", *SIM, "-o", "r", "--hr-exposure", "nan"], "exposure"),
    C(
        "refs-same-objective-twice",
        ["references", *SIM, "-o", "r", "--hr", "5x", "--lr", "5x"],
        "scale",
    ),
    C("refs-positions-empty", ["references", *SIM, "-o", "r", "--positions", ";"], "position"),
    C(
        "refs-out-unwritable",
        ["references", *SIM, "-o", "ro/r", "--n", "1"],
        "ro",
        unwritable,
        needs_unwritable=True,
    ),
    C(
        "refs-out-is-a-file",
        ["references", *SIM, "-o", "file", "--n", "1", "--overwrite"],
        "file",
        regular_file,
    ),
    C("refs-rig-missing", ["references", *SIM, "-o", "r", "--rig", "nothere.yaml"], "nothere"),
    # --- scan
    C("scan-area-nan", ["scan", *SIM, "-o", "s", "--area", "0,0,nan,10"], "area"),
    C("scan-area-two-numbers", ["scan", *SIM, "-o", "s", "--area", "1,2"], "--area"),
    C("scan-cols-zero", ["scan", *SIM, "-o", "s", "--cols", "0"], "--cols"),
    C("scan-overlap-negative", ["scan", *SIM, "-o", "s", "--overlap", "-0.1"], "--overlap"),
    C("scan-exposure-nan", ["scan", *SIM, "-o", "s", "--exposure", "nan"], "exposure"),
    C(
        "scan-existing-scan",
        ["scan", *SIM, "-o", "s"],
        "resume",
        file_named("s/scan.json", "{}"),
    ),
    C(
        "scan-garbage-model",
        ["scan", *SIM, "-o", "s", "--model", "m.onnx"],
        "m.onnx",
        file_named("m.onnx", b"not an onnx model"),
    ),
    C(
        "scan-a1-garbage",
        ["scan", *SIM, "-o", "s", "--plate", "96-well", "--wells", "A1", "--a1", "x"],
        "--a1",
    ),
    C("scan-out-is-a-file", ["scan", *SIM, "-o", "file"], "file", regular_file),
    C(
        "scan-model-pair-unknown-channel",
        ["scan", *SIM, "-o", "s", *TWO, "--model", "FITC=live_fluo"],
        "no channel FITC",
    ),
    C(
        "scan-model-pair-mismatch",
        ["scan", *SIM, "-o", "s", *TWO, "--model", "DAPI=live_fluo", "--model", "TRITC=live_fluo"],
        "the data is TRITC",
    ),
    C(
        "scan-model-pair-twice",
        ["scan", *SIM, "-o", "s", *TWO, *PAIRS, "--model", "DAPI=balanced_fluo"],
        "channel DAPI twice",
    ),
    C(
        "scan-model-two-bare",
        ["scan", *SIM, "-o", "s", *TWO, "--model", "live_fluo", "--model", "auto"],
        "two models",
    ),
    C(
        "scan-model-channel-without-model",
        ["scan", *SIM, "-o", "s", *TWO, "--model", "DAPI=live_fluo"],
        "no model for channel TRITC",
    ),
    C(
        "scan-model-pair-unknown-model",
        ["scan", *SIM, "-o", "s", *TWO, "--model", "DAPI=live_fluo", "--model", "TRITC=nope"],
        "nope",
    ),
    C(
        "scan-model-auto-nothing-fits",
        ["scan", *SIM, "-o", "s", "-c", "DAPI", "--objective", "20x", "--model", "auto"],
        "no bundled model fits channel DAPI",
    ),
    # --- acquire
    C(
        "acquire-empty-sequence",
        ["acquire", "seq.yaml", *SIM],
        "seq.yaml",
        file_named("seq.yaml", ""),
    ),
    C(
        "acquire-bad-json-sequence",
        ["acquire", "seq.json", *SIM],
        "seq.json",
        file_named("seq.json", BAD_JSON),
    ),
    C(
        "acquire-garbage-model",
        ["acquire", "seq.yaml", *SIM, "--model", "m.onnx"],
        "m.onnx",
        both(seq_yaml, file_named("m.onnx", b"not an onnx model")),
    ),
    C(
        "acquire-grid-rows-negative",
        ["acquire", "seq.yaml", *SIM],
        "rows",
        file_named("seq.yaml", SEQ_YAML + "grid_plan:\n  rows: -2\n  columns: 2\n"),
    ),
    C(
        "acquire-axis-order-garbage",
        ["acquire", "seq.yaml", *SIM],
        "axis_order",
        file_named("seq.yaml", SEQ_YAML + "axis_order: QQ\n"),
    ),
    C("acquire-sequence-is-folder", ["acquire", "adir", *SIM], "adir", empty_folder("adir")),
    C(
        "acquire-model-pair-unknown-channel",
        [*ACQ2, *PAIRS, "--model", "Cy5=live_fluo"],
        "no channel Cy5",
        seq2_yaml,
    ),
    C(
        "acquire-model-pair-mismatch",
        [*ACQ2, "--model", "DAPI=live_fluo_tritc", "--model", "TRITC=live_fluo_tritc"],
        "the data is DAPI",
        seq2_yaml,
    ),
    C(
        "acquire-model-pair-twice",
        [*ACQ2, *PAIRS, "--model", "tritc=live_fluo"],
        "channel TRITC twice",
        seq2_yaml,
    ),
    C(
        "acquire-model-scales-differ",
        [*ACQ2, "--model", "DAPI=live_fluo", "--model", "TRITC=x2.onnx"],
        "scales differ",
        both(seq2_yaml, x2_tritc_model),
    ),
    C(
        "acquire-sequence-is-a-list",
        ["acquire", "seq.yaml", *SIM],
        "seq.yaml",
        file_named("seq.yaml", "- 1\n- 2\n"),
    ),
    C(
        "acquire-sequence-binary",
        ["acquire", "seq.yaml", *SIM],
        "seq.yaml",
        file_named("seq.yaml", bytes(range(256))),
    ),
    C(
        "acquire-out-unwritable",
        ["acquire", "seq.yaml", *SIM, "-o", "ro/a.ome.zarr"],
        "ro",
        both(seq_yaml, unwritable),
        needs_unwritable=True,
    ),
    # --- calibrate
    C("calibrate-unknown-noise", ["calibrate", "refs", "--noise", "foo"], "noise", refs),
    C("calibrate-unknown-denoise", ["calibrate", "refs", "--denoise", "foo"], "denoise", refs),
    C("calibrate-refs-is-a-file", ["calibrate", "file"], "file", regular_file),
    C("calibrate-hr-only-set", ["calibrate", "refs"], "LR", refs_edit(_hr_only)),
    C("calibrate-missing-capture", ["calibrate", "refs"], "gone_hr.ome.tif", refs_edit(_drop_file)),
    C("calibrate-wrong-format", ["calibrate", "refs"], "references.json", refs_edit(_wrong_format)),
    C(
        "calibrate-figure-under-file",
        ["calibrate", "refs", "--figure", "file/f.png"],
        "not a folder",
        both(refs, regular_file),
    ),
    C("calibrate-refs-inf", ["calibrate", "refs"], "nan or inf", refs_inf),
    # --- degrade
    C(
        "degrade-missing-image",
        ["degrade", "nothere.tif", "-d", "deg.json", "-o", "lr.ome.tif"],
        "nothere.tif",
        degradation,
    ),
    C(
        "degrade-missing-record",
        ["degrade", "img.tif", "-d", "nothere.json", "-o", "lr.ome.tif"],
        "nothere.json",
        good_tif,
    ),
    C(
        "degrade-out-under-file",
        ["degrade", "img.tif", "-d", "deg.json", "-o", "file/lr.ome.tif"],
        "not a folder",
        both(good_tif, degradation, regular_file),
    ),
    C(
        "degrade-negative-noise",
        ["degrade", "img.tif", "-d", "deg.json", "-o", "lr.ome.tif"],
        "std",
        both(good_tif, record(noise__std=-1.0)),
    ),
    C(
        "degrade-scale-one",
        ["degrade", "img.tif", "-d", "deg.json", "-o", "lr.ome.tif"],
        "scale",
        both(good_tif, record(scale=1)),
    ),
    C(
        "degrade-unknown-psf-kind",
        ["degrade", "img.tif", "-d", "deg.json", "-o", "lr.ome.tif"],
        "psf",
        both(good_tif, record(psf__kind="square")),
    ),
    C(
        "degrade-inf-image",
        ["degrade", "inf.tif", "-d", "deg.json", "-o", "lr.ome.tif"],
        "nan or inf",
        both(inf_tif, degradation),
    ),
    C(
        "degrade-unknown-extension",
        ["degrade", "img.tif", "-d", "deg.json", "-o", "lr.png"],
        "lr.png",
        both(good_tif, degradation),
    ),
    C(
        "degrade-pixel-size-nan",
        ["degrade", "img.tif", "-d", "deg.json", "-o", "lr.ome.tif", "--hr-pixel-size-um", "nan"],
        "pixel",
        both(good_tif, degradation),
    ),
    # --- train
    C(
        "train-folder-nan",
        ["train", "imgs", "-d", "deg.json", "--hr-pixel-size-um", "0.325"],
        "nan.tif",
        both(in_folder("imgs", good_tif, nan_tif), degradation),
    ),
    C(
        "train-folder-inf",
        ["train", "imgs", "-d", "deg.json", "--hr-pixel-size-um", "0.325"],
        "inf.tif",
        both(in_folder("imgs", inf_tif), degradation),
    ),
    C(
        "train-folder-int8",
        ["train", "imgs", "-d", "deg.json", "--hr-pixel-size-um", "0.325"],
        "int8",
        both(in_folder("imgs", int8_tif), degradation),
    ),
    C(
        "train-folder-empty",
        ["train", "imgs", "-d", "deg.json"],
        "imgs",
        both(empty_folder("imgs"), degradation),
    ),
    C("train-missing-data", ["train", "nothere", "-d", "deg.json"], "nothere", degradation),
    C("train-missing-record", ["train", "refs", "-d", "nothere.json"], "nothere.json", refs),
    C(
        "train-patch-zero",
        ["train", "refs", "-d", "deg.json", "--patch", "0"],
        "patch",
        both(refs, degradation),
    ),
    C(
        "train-batch-zero",
        ["train", "refs", "-d", "deg.json", "--batch", "0"],
        "batch",
        both(refs, degradation),
    ),
    C(
        "train-unknown-channel",
        ["train", "refs", "-d", "deg.json", "--channel", "NOPE"],
        "NOPE",
        both(refs, degradation),
    ),
    C(
        "train-noise-range-garbage",
        ["train", "refs", "-d", "deg.json", "--noise-range", "x"],
        "--noise-range",
        both(refs, degradation),
    ),
    C(
        "train-epochs-negative",
        ["train", "refs", "-d", "deg.json", "--epochs", "-2"],
        "epochs",
        both(refs, degradation),
    ),
    C(
        "train-existing-out",
        ["train", "refs", "-d", "deg.json", "--patch", "8", "-o", "m.onnx"],
        "exists",
        both(refs, degradation, file_named("m.onnx", b"old")),
    ),
    C(
        "train-missing-init",
        ["train", "refs", "-d", "deg.json", "--init", "nothere.onnx"],
        "nothere.onnx",
        both(refs, degradation),
    ),
    C(
        "train-features-zero",
        ["train", "refs", "-d", "deg.json", "--features", "0"],
        "features",
        both(refs, degradation),
    ),
    C(
        "train-ema-decay-two",
        ["train", "refs", "-d", "deg.json", "--ema-decay", "2"],
        "ema",
        both(refs, degradation),
    ),
    C(
        "train-device-unknown",
        ["train", "refs", "-d", "deg.json", "--device", "tpu"],
        "tpu",
        both(refs, degradation),
    ),
    # --- evaluate
    C(
        "evaluate-used-out",
        ["evaluate", "live_fluo", "refs", "--field-size", "32"],
        "--overwrite",
        both(refs, file_named("evaluation/figures/panel_7.png", b"old panel")),
    ),
    C("evaluate-alpha-two", ["evaluate", "live_fluo", "refs", "--alpha", "2"], "alpha", refs),
    C("evaluate-missing-refs", ["evaluate", "live_fluo", "nothere"], "nothere"),
    C(
        "evaluate-missing-gan-model",
        ["evaluate", "live_fluo", "refs", "--gan-model", "nothere.onnx"],
        "nothere.onnx",
        refs,
    ),
    C(
        "evaluate-record-wrong-schema",
        ["evaluate", "live_fluo", "refs", "--record", "deg.json"],
        "noise",
        both(refs, record(noise=3)),
    ),
    C("evaluate-unknown-model", ["evaluate", "no_such_model", "refs"], "no_such_model", refs),
    C("evaluate-hr-only-set", ["evaluate", "live_fluo", "refs"], "LR", refs_edit(_hr_only)),
    # --- usaf
    C("usaf-missing-image", ["usaf", "nothere.tif", "--pixel-size-um", "1"], "nothere.tif"),
    C("usaf-groups-reversed", ["usaf", "--simulate", "--groups", "9-6"], "groups"),
    C(
        "usaf-hr-pixel-size-negative",
        ["usaf", "--simulate", "--hr-pixel-size-um", "-1"],
        "pixel",
    ),
    C("usaf-missing-model", ["usaf", "--simulate", "--model", "nothere.onnx"], "nothere.onnx"),
    C(
        "usaf-used-out",
        ["usaf", "--simulate", "-o", "u"],
        "--overwrite",
        file_named("u/usaf.json", "{}"),
    ),
    C("usaf-int8-image", ["usaf", "int8.tif", "--pixel-size-um", "1"], "int8", int8_tif),
    # --- predict
    C(
        "predict-tile-negative",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--tile", "-4"],
        "tile",
        good_tif,
    ),
    C(
        "predict-overlap-negative",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--overlap", "-1"],
        "overlap",
        good_tif,
    ),
    C(
        "predict-threads-zero",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--threads", "0"],
        "--threads",
        good_tif,
    ),
    C(
        "predict-unknown-provider",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--provider", "FooProvider"],
        "FooProvider",
        good_tif,
    ),
    C(
        "predict-unknown-backend",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--backend", "foo"],
        "foo",
        good_tif,
    ),
    C(
        "predict-unknown-precision",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--precision", "fp8"],
        "fp8",
        good_tif,
    ),
    C(
        "predict-workers-zero",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--workers", "0"],
        "workers",
        good_tif,
    ),
    C(
        "predict-output-is-input",
        ["predict", "live_fluo", "img.tif", "img.tif"],
        "exists",
        good_tif,
    ),
    C(
        "predict-empty-file",
        ["predict", "live_fluo", "empty.tif", "o.ome.tif"],
        "empty.tif",
        file_named("empty.tif", b""),
    ),
    C("predict-inf-image", ["predict", "live_fluo", "inf.tif", "o.ome.tif"], "nan or inf", inf_tif),
    C(
        "predict-input-is-folder",
        ["predict", "live_fluo", "adir", "o.ome.tif"],
        "adir",
        empty_folder("adir"),
    ),
    C(
        "predict-axes-wrong-length",
        ["predict", "live_fluo", "img.tif", "o.ome.tif", "--axes", "ZYX"],
        "axes",
        good_tif,
    ),
    C(
        "predict-rgb-into-grey-model",
        ["predict", "live_fluo", "rgb.tif", "o.ome.tif"],
        "channel",
        rgb_tif,
    ),
    # --- bench, models, export-bioimageio
    C("bench-threads-zero", ["bench", "--quick", "--threads", "0"], "--threads"),
    C("bench-size-too-big", ["bench", "--quick", "--size", "100000"], "--size"),
    C("bench-unknown-precision", ["bench", "--quick", "--precision", "fp8"], "fp8"),
    C("bench-missing-model", ["bench", "--quick", "--model", "nothere.onnx"], "nothere.onnx"),
    C(
        "bench-json-unwritable",
        ["bench", "--quick", "--json", "ro/b.json"],
        "ro",
        unwritable,
        needs_unwritable=True,
    ),
    C("models-extra-argument", ["models", "foo"], "foo"),
    C("export-missing-model", ["export-bioimageio", "nothere.onnx", "p.zip"], "nothere.onnx"),
    C(
        "export-garbage-model",
        ["export-bioimageio", "m.onnx", "p.zip"],
        "m.onnx",
        file_named("m.onnx", b"not an onnx model"),
    ),
    C(
        "export-existing-out",
        ["export-bioimageio", "live_fluo", "p.zip"],
        "exists",
        file_named("p.zip", b"old"),
    ),
    C(
        "export-out-under-file",
        ["export-bioimageio", "live_fluo", "file/p.zip"],
        "not a folder",
        regular_file,
    ),
    # --- demo
    C("demo-fields-too-many", ["demo", "--fields", "51"], "--fields"),
    C("demo-roi-too-small", ["demo", "--roi", "10"], "--roi"),
    C("demo-scan-too-big", ["demo", "--scan", "99x99"], "scan"),
    C(
        "demo-garbage-model",
        ["demo", "--model", "m.onnx"],
        "m.onnx",
        file_named("m.onnx", b"not an onnx model"),
    ),
    C(
        "demo-used-out",
        ["demo", "--out", "d"],
        "--overwrite",
        file_named("d/evaluation/figures/panel_9.png", b"old panel"),
    ),
    C("demo-threads-zero", ["demo", "--threads", "0"], "--threads"),
    C("demo-out-is-a-file", ["demo", "--out", "file"], "file", regular_file),
    C(
        "demo-missing-quality-model",
        ["demo", "--quality-model", "nothere.onnx"],
        "nothere.onnx",
    ),
    # --- the app itself
    C("version-extra-argument", ["version", "foo"], "foo"),
    C("root-unknown-option", ["--bogus"], "--bogus"),
    C("unknown-command-typo", ["predcit", "live_fluo"], "predcit"),
]
CASES += MORE_CASES


# Slower cases (a model or PyTorch loaded before the check, many of a kind): `pytest -m soak`.
SOAK = {
    "acquire-bad-yaml",
    "bench-garbage-model",
    "calibrate-existing-out",
    "calibrate-missing-refs",
    "calibrate-out-under-file",
    "calibrate-unknown-channel",
    "calibrate-unknown-psf",
    "degrade-bad-json",
    "degrade-wrong-schema",
    "demo-missing-model",
    "demo-unknown-channel",
    "evaluate-garbage-model",
    "evaluate-out-under-file",
    "live-missing-model",
    "live-unknown-channel",
    "predict-bad-axes",
    "predict-batch-zero",
    "predict-existing-out",
    "predict-garbage-tif",
    "predict-missing-input",
    "predict-missing-model",
    "predict-nan-image",
    "predict-out-under-file",
    "predict-unknown-extension",
    "scan-missing-model",
    "scan-resume-nothing",
    "scan-unknown-plate",
    "scan-unknown-well",
    "snap-stage-nan",
    "train-config-bad-json",
    "train-config-wrong-schema",
    "train-device-cuda",
    "train-iterations-negative",
    "train-lr-nan",
    "train-out-under-file",
    "usaf-nan-image",
    "usaf-out-under-file",
}
# Every case added for the sweep of issue 13 (a subprocess takes 1.5-3 s here, so none is
# quick enough for the default run): the default run keeps its count and its time.
SOAK |= {c.id for c in MORE_CASES}
for _c in CASES:
    if _c.id in SOAK:
        _c.marks.append(pytest.mark.soak)


@pytest.fixture(scope="session")
def reference_set(tmp_path_factory) -> Path:
    """One tiny reference set (a 32² capture at one position) to copy into cases."""
    base = tmp_path_factory.mktemp("refs_src")
    proc = run_cli(["references", *SIM, "--n", "1", "-o", "refs"], base)
    assert proc.returncode == 0, proc.stderr
    REFS["good"] = base / "refs"
    return base / "refs"


@dataclass
class Outcome:
    proc: subprocess.CompletedProcess | None
    before: dict
    after: dict
    error: str = ""
    seconds: float = 0.0


_RESULTS: dict[str, Outcome] = {}


def _run_case(case: Case, folder: Path) -> Outcome:
    folder.mkdir(parents=True)
    if case.setup:
        case.setup(folder)
    before = snapshot(folder)
    t0 = time.monotonic()
    try:
        proc = run_cli(case.argv, folder, case.timeout)
        err = ""
    except subprocess.TimeoutExpired:
        proc, err = None, f"hung: still running after {case.timeout:g} s"
    return Outcome(proc, before, snapshot(folder), err, time.monotonic() - t0)


def _unwritable_is_possible(tmp: Path) -> bool:
    probe = tmp / "probe"
    probe.mkdir()
    probe.chmod(0o500)
    ok = not os.access(probe, os.W_OK)
    probe.chmod(0o700)
    return ok


@pytest.fixture(scope="session")
def outcomes(request, tmp_path_factory, reference_set) -> dict[str, Outcome]:
    """Run every selected case, two at a time, once per session."""
    wanted = []
    for item in request.session.items:
        cs = getattr(item, "callspec", None)
        if cs is not None and isinstance(cs.params.get("case"), Case):
            wanted.append(cs.params["case"])
    base = tmp_path_factory.mktemp("bad_inputs")
    can_unwritable = _unwritable_is_possible(base)
    todo = [
        c for c in wanted if c.id not in _RESULTS and (can_unwritable or not c.needs_unwritable)
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for case, res in zip(
            todo, pool.map(lambda c: _run_case(c, base / c.id), todo), strict=True
        ):
            _RESULTS[case.id] = res
    return _RESULTS


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input(case: Case, outcomes: dict[str, Outcome]) -> None:
    if case.id not in outcomes:
        pytest.skip("running as a user who can write into a 0o500 folder (root)")
    res = outcomes[case.id]
    assert not res.error, res.error
    proc = res.proc
    assert proc is not None
    shown = f"exit {proc.returncode}\nstderr:\n{proc.stderr}\nstdout:\n{proc.stdout}"
    assert "Traceback" not in proc.stderr, shown
    assert proc.returncode == 2, shown
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, shown
    assert case.expect.lower() in lines[0].lower(), shown
    assert res.after == res.before, f"the folder changed: {shown}"


def test_case_table_is_large_and_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) - len(SOAK) >= 60  # in the default run
    assert len(CASES) >= 180  # the sweep of issue 13 (done-when 1), with `-m soak`
    assert set(ids) >= SOAK
    commands = {c.argv[0] for c in CASES}
    for cmd in (
        "snap",
        "live",
        "references",
        "scan",
        "acquire",
        "calibrate",
        "degrade",
        "train",
        "evaluate",
        "usaf",
        "predict",
        "bench",
        "models",
        "demo",
        "export-bioimageio",
        "version",
    ):
        assert cmd in commands, cmd
