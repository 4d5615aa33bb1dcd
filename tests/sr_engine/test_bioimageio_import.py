"""bioimage.io packages as models for ``predict``: mapped, run like the original, or refused."""

from __future__ import annotations

import copy
import hashlib
import io
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tifffile
import yaml

from sr_engine.bioimageio_import import (
    PackageError,
    is_package,
    load_package_model,
    read_package,
)
from sr_engine.metadata import FixedNormalization, PercentileNormalization
from sr_engine.model import SRModel
from sr_engine.testing import nearest_model

from .conftest import structured


def _space(axis, scale, unit="micrometer", **extra):
    return {"id": axis, "type": "space", "scale": scale, "unit": unit, **extra}


def rdf_for(scale=2, channels=("FITC",), lr_um=1.3, pre=None, post=None):
    """A minimal bioimage.io 0.5 model description, as a package would state it."""
    ch = {"type": "channel", "channel_names": list(channels)}
    size = {"min": 16, "step": 1}
    ref = {"tensor_id": "lr"}
    return {
        "format_version": "0.5.4",
        "type": "model",
        "name": "hand-made SR",
        "description": "test package",
        "inputs": [
            {
                "id": "lr",
                "axes": [
                    {"type": "batch"},
                    ch,
                    _space("y", lr_um, size=size),
                    _space("x", lr_um, size=size),
                ],
                "preprocessing": pre
                if pre is not None
                else [
                    {"id": "ensure_dtype", "kwargs": {"dtype": "float32"}},
                    {
                        "id": "scale_range",
                        "kwargs": {"axes": ["y", "x"], "min_percentile": 2, "max_percentile": 99},
                    },
                ],
            }
        ],
        "outputs": [
            {
                "id": "sr",
                "axes": [
                    {"type": "batch"},
                    ch,
                    _space("y", lr_um / scale, size={**ref, "axis_id": "y"}),
                    _space("x", lr_um / scale, size={**ref, "axis_id": "x"}),
                ],
                "postprocessing": post or [],
            }
        ],
        "weights": {"onnx": {"source": "weights.onnx", "opset_version": 17}},
    }


def onnx_bytes(scale=2, channels=1, *, srscope_meta=False, seed=3):
    """A tiny SR graph; without srscope metadata unless asked (a foreign package)."""
    proto = nearest_model(scale, channels, n_conv=2, seed=seed)
    if not srscope_meta:
        keep = [(p.key, p.value) for p in proto.metadata_props if not p.key.startswith("srscope.")]
        del proto.metadata_props[:]
        for k, v in keep:
            e = proto.metadata_props.add()
            e.key, e.value = k, v
    return proto.SerializeToString()


def write_zip(path, rdf, weights, extra=None):
    rdf = copy.deepcopy(rdf)
    if "onnx" in rdf.get("weights", {}):
        rdf["weights"]["onnx"].setdefault("sha256", hashlib.sha256(weights).hexdigest())
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("rdf.yaml", yaml.safe_dump(rdf))
        z.writestr("weights.onnx", weights)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


@pytest.fixture
def no_spec(monkeypatch):
    """As in CI: bioimageio.spec is not installed (import fails)."""
    monkeypatch.setitem(sys.modules, "bioimageio.spec", None)


def test_is_package():
    assert is_package("m.zip") and is_package("dir/rdf.yaml") and is_package("x.bioimageio.yml")
    assert not is_package("m.onnx") and not is_package("live_fluo")


def test_hand_made_package_maps_and_predicts_like_its_weights(tmp_path, no_spec):
    weights = onnx_bytes()
    pkg = write_zip(tmp_path / "m.zip", rdf_for(), weights)
    read = read_package(pkg)
    assert read.validated.startswith("skipped")
    meta = read.meta
    assert meta.scale == 2 and meta.channels == ["FITC"]
    assert meta.normalization == PercentileNormalization(low=2, high=99)
    assert meta.lr_pixel_size_um == pytest.approx(1.3)
    assert meta.hr_pixel_size_um == pytest.approx(0.65)
    model = load_package_model(pkg)
    assert model.source == str(pkg)
    img = structured(61, 83)
    ref = SRModel(weights_with(weights, meta))
    np.testing.assert_allclose(model.predict(img, tile=40), ref.predict(img, tile=40), atol=1e-4)


def weights_with(weights, meta):
    import onnx

    from sr_engine.metadata import attach_metadata

    return attach_metadata(onnx.load_model_from_string(weights), meta)


def test_rdf_yaml_beside_its_files_and_fixed_normalisation(tmp_path, no_spec):
    pre = [{"id": "scale_linear", "kwargs": {"gain": 1 / 4000, "offset": -100 / 4000}}]
    post = [{"id": "scale_linear", "kwargs": {"gain": 4000.0, "offset": 100.0}}]
    rdf = rdf_for(scale=3, lr_um=1300.0, pre=pre, post=post)
    for ax in (*rdf["inputs"][0]["axes"][2:], *rdf["outputs"][0]["axes"][2:]):
        ax["unit"] = "nanometer"
    (tmp_path / "weights.onnx").write_bytes(onnx_bytes(scale=3))
    (tmp_path / "rdf.yaml").write_text(yaml.safe_dump(rdf))
    meta = read_package(tmp_path / "rdf.yaml").meta
    assert meta.scale == 3 and meta.lr_pixel_size_um == pytest.approx(1.3)
    assert meta.normalization == FixedNormalization(min=100.0, max=4100.0)


def _mutate(rdf, where, value):
    node = rdf
    for key in where[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[where[-1]]
    else:
        node[where[-1]] = value


_DELETE = object()
_IN, _OUT = ("inputs", 0), ("outputs", 0)
REFUSED = [
    ("format-04", ("format_version",), "0.4.10", "format 0.4.10"),
    ("not-a-model", ("type",), "dataset", "not a model"),
    ("torch-only", ("weights",), {"pytorch_state_dict": {"source": "w.pt"}}, "no ONNX weights"),
    ("url-weights", ("weights", "onnx", "source"), "https://x.org/w.onnx", "not inside"),
    ("escaping-weights", ("weights", "onnx", "source"), "../w.onnx", "leaves the package"),
    ("bad-sha", ("weights", "onnx", "sha256"), "0" * 64, "sha256"),
    (
        "3d",
        (*_IN, "axes", 2),
        {"id": "z", "type": "space", "size": 8},
        "batch, channel, y, x",
    ),
    ("zmuv", (*_IN, "preprocessing"), [{"id": "zero_mean_unit_variance"}], "no srscope equivalent"),
    (
        "post-sigmoid",
        (*_OUT, "postprocessing"),
        [{"id": "sigmoid"}],
        "cannot also apply",
    ),
    ("fixed-output", (*_OUT, "axes", 2, "size"), 512, "does not follow"),
    ("scale-1", (*_OUT, "axes", 2, "scale"), 1.3, "×2 to ×5"),
    ("no-unit", (*_IN, "axes", 2, "unit"), _DELETE, "no physical unit"),
    ("uint8", (*_IN, "preprocessing", 0, "kwargs", "dtype"), "uint8", "ensure_dtype"),
]


@pytest.mark.parametrize(
    ("where", "value", "match"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_packages_it_cannot_honour_are_refused_in_one_line(tmp_path, no_spec, where, value, match):
    rdf = rdf_for()
    if where[0] == "weights" and where[-1] == "sha256":
        rdf["weights"]["onnx"]["sha256"] = value
    else:
        _mutate(rdf, list(where), value)
    if match == "no physical unit":
        _mutate(rdf, [*_IN, "axes", 3, "unit"], _DELETE)
    pkg = write_zip(tmp_path / "bad.zip", rdf, onnx_bytes())
    with pytest.raises(PackageError, match=match) as err:
        read_package(pkg)
    assert len(str(err.value).splitlines()) == 1


def test_not_a_package(tmp_path, no_spec):
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(PackageError, match="not a readable zip"):
        read_package(tmp_path / "junk.zip")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as z:
        z.writestr("README.md", "hello")
    with pytest.raises(PackageError, match=r"no rdf\.yaml"):
        read_package(tmp_path / "empty.zip")
    (tmp_path / "rdf.yaml").write_text("!!python/object/apply:os.system ['echo hi']")
    with pytest.raises(PackageError, match="not valid YAML"):
        read_package(tmp_path / "rdf.yaml")  # safe_load: tags that run code are an error


def test_cli_refuses_a_package_in_one_line(tmp_path):
    rdf = rdf_for()
    rdf["weights"] = {"torchscript": {"source": "w.pt"}}
    write_zip(tmp_path / "ts.zip", rdf, b"")
    tifffile.imwrite(tmp_path / "img.tif", structured(40, 40))
    before = sorted(p.name for p in tmp_path.iterdir())
    res = subprocess.run(
        [sys.executable, "-m", "srscope_cli", "predict", "ts.zip", "img.tif", "o.ome.zarr"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "ts.zip" in lines[0], res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# -- round trip through srscope's own export (needs the optional bioimageio extra) ----------
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_export_then_predict_from_the_package_equals_the_original(tmp_path):
    pytest.importorskip("bioimageio.spec")
    from sr_engine.bioimageio_export import export_bioimageio
    from sr_engine.stream import predict_file
    from sr_engine.testing import save_model

    src = save_model(nearest_model(4, 1, n_conv=2, seed=5), tmp_path / "tiny.onnx")
    pkg = export_bioimageio(src, tmp_path / "tiny.zip").path
    read = read_package(pkg)
    assert read.validated in ("valid-format", "passed")
    original = SRModel(src)
    assert read.meta.model_dump(exclude={"description", "receptive_field"}) == (
        original.meta.model_dump(exclude={"description", "receptive_field"})
    )
    img = structured(90, 70, seed=4)
    path = tmp_path / "img.ome.tif"
    tifffile.imwrite(path, img, metadata={"axes": "YX", "PhysicalSizeX": 1.3})
    a = predict_file(load_package_model(pkg), path, tmp_path / "a.ome.zarr", tile=48)
    b = predict_file(original, path, tmp_path / "b.ome.zarr", tile=48)
    import zarr

    np.testing.assert_allclose(
        zarr.open_group(str(a.path))["0"][:], zarr.open_group(str(b.path))["0"][:], atol=1e-4
    )
    # the same package read without bioimageio.spec maps to the same model
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "bioimageio.spec", None)
        assert read_package(pkg).meta == read.meta


def test_yaml_reader_limits(tmp_path, no_spec):
    big = io.BytesIO()
    with zipfile.ZipFile(big, "w") as z:
        z.writestr("rdf.yaml", "a: " + "x" * (2 << 20))
    (tmp_path / "big.zip").write_bytes(big.getvalue())
    with pytest.raises(PackageError, match="too large"):
        read_package(tmp_path / "big.zip")
