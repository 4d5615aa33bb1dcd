"""Backends: ONNX Runtime stays the default, OpenVINO matches it, ``auto`` chooses and records."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
import zarr

from sr_engine import backend as backend_mod
from sr_engine import backend_select
from sr_engine.architectures import live_espcn, paper_generator
from sr_engine.backend import Backend, BackendUnavailable, candidates, cpu_flags
from sr_engine.backend_select import reference_pair
from sr_engine.model import SRModel
from sr_engine.stream import predict_file
from sr_engine.testing import nearest_model, save_model
from srscope.errors import SrscopeError

from .conftest import structured


@pytest.fixture(autouse=True)
def _fresh_choices():
    """Each test measures its own candidates (auto remembers per graph in a process)."""
    backend_select.forget_choices()
    yield
    backend_select.forget_choices()


# -- without OpenVINO: the seam, the request rules, the acceptance rule ------------


def test_default_is_onnxruntime_fp32_without_checks():
    m = SRModel(nearest_model(2, 1, n_conv=2, seed=3))
    assert isinstance(m.backend, Backend)
    assert (m.backend.name, m.backend.precision) == ("onnxruntime", "fp32")
    assert m.backend_choice.how == "requested" and m.backend_choice.checks == []
    assert m.providers == ["CPUExecutionProvider"]


def test_reference_input_is_deterministic_and_lr_is_the_block_mean():
    lr, hr = reference_pair(2, 3, 16)
    again, _ = reference_pair(2, 3, 16)
    assert lr.shape == (1, 2, 16, 16) and hr.shape == (1, 2, 48, 48)
    np.testing.assert_array_equal(lr, again)
    np.testing.assert_allclose(lr[0], hr[0].reshape(2, 16, 3, 16, 3).mean(axis=(2, 4)), atol=1e-6)
    assert hr.min() >= 0.1 and hr.max() <= 0.9 + 1e-6


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu avx2 amx_bf16 amx_tile\n")
    assert {"avx2", "amx_bf16"} <= cpu_flags(info)
    assert cpu_flags(tmp_path / "missing") == set()


@pytest.mark.parametrize(
    ("backend", "precision", "match"),
    [
        ("tensorrt", "auto", "unknown backend"),
        ("auto", "int4", "unknown precision"),
        ("onnxruntime", "bf16", "fp32 only"),
        ("onnxruntime", "int8", "--backend openvino"),
    ],
)
def test_bad_requests_are_refused(backend, precision, match):
    with pytest.raises(SrscopeError, match=match):
        candidates(backend, precision)


def test_requests_follow_what_the_machine_has(monkeypatch):
    monkeypatch.setattr(backend_mod, "openvino_available", lambda: False)
    monkeypatch.setattr(backend_mod, "cpu_has_bf16", lambda: False)
    assert candidates("auto", "auto") == [("onnxruntime", "fp32")]
    with pytest.raises(BackendUnavailable, match="not installed"):
        candidates("openvino", "auto")
    with pytest.raises(BackendUnavailable, match="avx512_bf16 or amx_bf16"):
        candidates("auto", "bf16")
    monkeypatch.setattr(backend_mod, "openvino_available", lambda: True)
    assert candidates("auto", "auto") == [("onnxruntime", "fp32"), ("openvino", "fp32")]
    monkeypatch.setattr(backend_mod, "cpu_has_bf16", lambda: True)
    assert candidates("openvino", "auto") == [("openvino", "fp32"), ("openvino", "bf16")]
    assert candidates("auto", "bf16") == [("openvino", "bf16")]


def test_auto_tries_int8_only_on_cpus_with_int8_units(monkeypatch):
    monkeypatch.setattr(backend_mod, "openvino_available", lambda: True)
    monkeypatch.setattr(backend_mod, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(backend_mod, "cpu_has_int8", lambda: False)
    assert ("openvino", "int8") not in candidates("auto", "auto")
    assert candidates("auto", "int8") == [("openvino", "int8")]  # asked for: runs anyway
    monkeypatch.setattr(backend_mod, "cpu_has_int8", lambda: True)
    assert candidates("auto", "auto")[-1] == ("openvino", "int8")


class _Offset:
    """A fake second backend: the reference's output plus a constant."""

    name, precision = "openvino", "fp32"

    def __init__(self, reference, offset):
        self.reference, self.offset = reference, offset

    def run(self, batch, keep=None):
        return self.reference.run(batch, keep) + self.offset

    def describe(self):
        return {"backend": self.name, "offset": self.offset}


@pytest.mark.parametrize(("offset", "accepted"), [(1e-4, True), (0.05, False)])
def test_auto_keeps_only_candidates_within_the_tolerance(monkeypatch, offset, accepted):
    monkeypatch.setattr(backend_mod, "openvino_available", lambda: True)
    monkeypatch.setattr(backend_mod, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(
        backend_select, "make_backend", lambda n, p, b, t, ref, *_: ref if n == "onnxruntime" else
        _Offset(ref, offset),
    )  # fmt: skip
    m = SRModel(nearest_model(2, 1, n_conv=2, seed=3), backend="auto")
    choice = m.backend_choice
    assert choice.how == "auto"
    ort, other = choice.checks
    assert (ort.backend, ort.accepted, ort.psnr_change_db) == ("onnxruntime", True, 0.0)
    assert other.accepted is accepted
    assert other.max_abs_err == pytest.approx(offset, rel=1e-3)
    if not accepted:
        assert choice.backend == "onnxruntime" and "tolerance" in other.note
    json.dumps(choice.to_dict())  # provenance must be plain JSON


def test_open_model_chooses_once_per_model_in_a_process(monkeypatch, tmp_path):
    """The viewer reopens models on every switch: auto measures a graph only once."""
    from sr_engine.bundled import open_model

    monkeypatch.setattr(backend_mod, "openvino_available", lambda: True)
    monkeypatch.setattr(backend_mod, "cpu_has_bf16", lambda: False)
    made: list[str] = []

    def make(n, p, b, t, ref, *_):
        made.append(n)
        return ref if n == "onnxruntime" else _Offset(ref, 1e-4)

    monkeypatch.setattr(backend_select, "make_backend", make)
    path = save_model(nearest_model(2, 1, n_conv=2, seed=11), tmp_path / "m.onnx")
    first = open_model(path, threads=1)
    assert first.backend_choice.how == "auto" and len(first.backend_choice.checks) == 2
    timed = len(made)
    again = open_model(str(path), threads=1)
    assert again.backend_choice.checks == first.backend_choice.checks
    assert again.backend.name == first.backend.name
    assert len(made) == timed + 1  # only the chosen backend is built, nothing is re-measured


def test_an_explicit_backend_outside_the_tolerance_is_kept_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(backend_mod, "openvino_available", lambda: True)
    monkeypatch.setattr(
        backend_select, "make_backend", lambda n, p, b, t, ref, *_: _Offset(ref, 0.05)
    )  # fmt: skip
    m = SRModel(nearest_model(2, 1, n_conv=2, seed=3), backend="openvino", precision="fp32")
    assert m.backend_choice.how == "requested" and m.backend.name == "openvino"
    assert "beyond the tolerance" in caplog.text


# -- subprocesses: what a user sees ---------------------------------------------


@pytest.fixture
def cli_files(tmp_path):
    model = save_model(nearest_model(2, 1, n_conv=2, seed=3), tmp_path / "m.onnx")
    src = tmp_path / "lr.tif"
    tifffile.imwrite(src, structured(40, 48))
    return model, src


def _srscope(args, tmp_path, hide_openvino=False):
    env = None
    if hide_openvino:  # a module named openvino that fails to import shadows the real one
        shim = tmp_path / "shim"
        shim.mkdir(exist_ok=True)
        (shim / "openvino.py").write_text("raise ModuleNotFoundError('hidden', name='openvino')\n")
        import os

        env = {**os.environ, "PYTHONPATH": str(shim)}
    return subprocess.run(
        [sys.executable, "-m", "srscope_cli", *args],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def _one_line(run, match):
    assert run.returncode == 2, run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and match in lines[0], run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("extra", "hide", "match"),
    [
        (["--backend", "tensorrt"], False, "unknown backend"),
        (["--backend", "openvino"], True, "openvino is not installed"),
        (["--precision", "bf16"], True, "bf16"),
    ],
)
def test_an_explicit_backend_that_cannot_run_is_one_line_and_exit_2(
    cli_files, tmp_path, extra, hide, match
):
    model, src = cli_files
    out = tmp_path / "o.ome.zarr"
    run = _srscope(["predict", str(model), str(src), str(out), *extra], tmp_path, hide)
    _one_line(run, match)
    assert not out.exists()


@pytest.mark.skipif(backend_mod.cpu_has_bf16(), reason="this CPU has bf16 units")
def test_bf16_without_bf16_units_is_one_line_and_exit_2(cli_files, tmp_path):
    model, _ = cli_files
    run = _srscope(["bench", "--model", str(model), "--quick", "--precision", "bf16"], tmp_path)
    _one_line(run, "avx512_bf16 or amx_bf16")


def test_auto_falls_back_silently_without_openvino(cli_files, tmp_path):
    model, src = cli_files
    out = tmp_path / "o.ome.zarr"
    run = _srscope(["predict", str(model), str(src), str(out)], tmp_path, hide_openvino=True)
    assert run.returncode == 0, run.stderr
    record = zarr.open_group(str(out), mode="r").attrs["srscope"]["backend"]
    assert (record["backend"], record["how"]) == ("onnxruntime", "only available")


# -- OpenVINO itself ------------------------------------------------------------


@pytest.fixture(scope="module")
def ov():
    return pytest.importorskip("openvino")


@pytest.mark.parametrize(
    "proto",
    [
        nearest_model(2, 1, n_conv=3, seed=1),
        live_espcn(1, 4),
        paper_generator(2, blocks=2, features=16, seed=5),
    ],
    ids=["conv-nearest", "live", "paper-small"],
)
def test_openvino_fp32_equals_onnxruntime(ov, proto):
    ort = SRModel(proto)
    vino = SRModel(proto, backend="openvino", precision="fp32")
    assert vino.backend.name == "openvino" and vino.backend.precision == "fp32"
    assert vino.backend.describe()["inference_precision"] == "f32"
    x = np.random.default_rng(0).random((2, ort.n_channels, 23, 31), dtype=np.float32)
    a, b = ort.run(x), vino.run(x)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1e-4 * (a.max() - a.min())


@pytest.mark.parametrize(
    "proto",
    [live_espcn(1, 4), paper_generator(1, blocks=2, features=16, seed=5)],
    ids=["live", "paper-small"],
)
def test_tiled_equals_untiled_on_openvino(ov, proto):
    m = SRModel(proto, backend="openvino", precision="fp32")
    img = structured(70, 90)
    rf = m.receptive_field
    whole = m.predict(img, tile=128 + 2 * rf)
    tiled = m.predict(img, tile=24 + 2 * rf, batch=3)
    assert np.abs(whole - tiled).max() <= 1e-3 * (whole.max() - whole.min())


def test_auto_choice_is_made_and_recorded_in_the_outputs(ov, tmp_path):
    m = SRModel(live_espcn(1, 4), backend="auto")
    choice = m.backend_choice
    assert choice.how == "auto" and (m.backend.name, m.backend.precision) == (
        choice.backend,
        choice.precision,
    )
    by = {(c.backend, c.precision): c for c in choice.checks}
    assert {("onnxruntime", "fp32"), ("openvino", "fp32")} <= set(by)
    assert all(c.accepted and c.ms_per_run > 0 for c in by.values())
    assert abs(by[("openvino", "fp32")].psnr_change_db) < 1e-3
    img = structured(40, 48)
    zout = predict_file(m, img, tmp_path / "o.ome.zarr").path
    record = zarr.open_group(str(zout), mode="r").attrs["srscope"]["backend"]
    assert record["backend"] == m.backend.name and record["checks"]
    tout = predict_file(m, img, tmp_path / "o.ome.tif").path
    with tifffile.TiffFile(tout) as tf:
        assert '"backend"' in tf.ome_metadata.replace("&quot;", '"')


def test_cli_records_an_explicit_openvino_backend(ov, cli_files, tmp_path):
    from srscope_cli import main

    model, src = cli_files
    out = tmp_path / "o.ome.zarr"
    assert main(["predict", str(model), str(src), str(out), "--backend", "openvino"]) == 0
    record = zarr.open_group(str(out), mode="r").attrs["srscope"]["backend"]
    assert (record["backend"], record["precision"], record["how"]) == (
        "openvino",
        "fp32",
        "requested",
    )


@pytest.mark.skipif(not backend_mod.cpu_has_bf16(), reason="no bf16 units on this CPU")
def test_bf16_stays_close_and_tiles_exactly(ov):
    proto = live_espcn(1, 4)
    m = SRModel(proto, backend="openvino", precision="bf16")
    (check,) = m.backend_choice.checks
    assert check.max_abs_err is not None and check.max_abs_err < 0.05
    img = structured(70, 90)
    rf = m.receptive_field
    whole = m.predict(img, tile=128 + 2 * rf)
    tiled = m.predict(img, tile=24 + 2 * rf, batch=3)
    assert np.abs(whole - tiled).max() <= 1e-3 * (whole.max() - whole.min())


def test_int8_graph_is_quantised_once_and_stays_close_and_tiles_exactly(ov):
    proto = live_espcn(1, 4)
    m = SRModel(proto, backend="openvino", precision="int8")
    assert (m.backend.name, m.backend.precision) == ("openvino", "int8")
    assert m.backend.describe()["fake_quantize_ops"] > 0  # really an int8 graph
    assert SRModel(proto, backend="openvino").backend.describe()["fake_quantize_ops"] == 0
    (check,) = m.backend_choice.checks
    assert check.max_abs_err is not None and 0 < check.max_abs_err < 0.1
    img = structured(70, 90)
    rf = m.receptive_field
    whole = m.predict(img, tile=128 + 2 * rf)
    tiled = m.predict(img, tile=24 + 2 * rf, batch=3)
    assert np.abs(whole - tiled).max() <= 1e-3 * (whole.max() - whole.min())
    reference = SRModel(proto).predict(img)
    assert np.abs(whole - reference).max() <= 0.1 * (reference.max() - reference.min())


def test_bench_reports_every_backend_with_speed_and_accuracy(tmp_path):
    from sr_engine.bench import BenchConfig, run_bench

    path = save_model(live_espcn(1, 2, features=8), tmp_path / "live.onnx")
    cfg = BenchConfig(models=[str(path)], size=64, repeats=1, quick=True, torch=False)
    lines: list[str] = []
    (entry,) = run_bench(cfg, echo=lines.append)["models"]
    rows = {(r["backend"], r["precision"]): r for r in entry["backends"]}
    assert set(rows) == set(candidates("auto", "auto"))
    for r in rows.values():
        frame = r["frames"]["64"]
        assert frame["ms"] > 0 and frame["fps"] > 0 and frame["speedup_vs_ort_fp32"] > 0
        assert abs(r["psnr_change_db"]) <= 0.05 and frame["frame_max_abs_err"] <= 0.02
        # GFLOP/s against the fp32 MatMul peak and the pair's own peak, measured in this run
        assert frame["gflops"] > 0 and frame["ratio_of_fp32_peak"] > 0
        assert frame["ratio_of_own_peak"] > 0
    result = run_bench(cfg.model_copy(update={"only_backends": True}), echo=lines.append)
    assert set(result["matmul_peaks_gflops"]) == {f"{b} {p}" for b, p in rows}
    assert all(v > 0 for v in result["matmul_peaks_gflops"].values())
    assert sum(ln.startswith("  ... ") for ln in lines) >= 5  # a progress line per section
    assert any("onnxruntime fp32" in ln and "fps" in ln for ln in lines)
