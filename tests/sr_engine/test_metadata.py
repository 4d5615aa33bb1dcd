"""Model metadata: JSON round trip, required keys, consistency checks."""

import json

import onnx
import pytest

from sr_engine.bundled import bundled_model, bundled_models
from sr_engine.metadata import (
    FixedNormalization,
    ModelMetadata,
    ModelMetadataError,
    attach_metadata,
    props_of,
    read_metadata,
)
from sr_engine.testing import default_metadata, nearest_model, save_model
from srscope.degradation import DegradationRecord
from srscope.errors import SrscopeError


def test_props_round_trip_with_degradation_and_fixed_normalization():
    meta = default_metadata(
        4,
        ["FITC", "TRITC"],
        normalization=FixedNormalization(min=100, max=4095),
        degradation=DegradationRecord(scale=4, psf={"sigma_hr_px": 2.1}),
        training={"epochs": 3},
        metrics={"psnr": 30.1},
        description="a test",
    )
    props = meta.to_props()
    assert props["srscope.format"] == "1"
    assert json.loads(props["srscope.scale"]) == 4
    assert json.loads(props["srscope.normalization"]) == {"kind": "fixed", "min": 100, "max": 4095}
    assert all(isinstance(v, str) for v in props.values())
    assert ModelMetadata.from_props(props) == meta


def test_file_round_trip_keeps_foreign_props(tmp_path):
    model = nearest_model(2, 1)
    entry = model.metadata_props.add()
    entry.key, entry.value = "producer.note", "keep me"
    meta = default_metadata(3, 1)
    attach_metadata(model, meta)
    assert props_of(model)["producer.note"] == "keep me"
    assert read_metadata(save_model(model, tmp_path / "m.onnx")) == meta


def test_missing_keys_are_named(tmp_path):
    model = nearest_model(2, 1)
    del model.metadata_props[:]
    path = save_model(model, tmp_path / "bare.onnx")
    with pytest.raises(ModelMetadataError, match=r"missing metadata srscope\.format.*scale"):
        read_metadata(path)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("srscope.scale", "7", "scale"),
        ("srscope.scale", "{oops", "not valid JSON"),
        ("srscope.format", '"2"', "unsupported srscope.format"),
        ("srscope.hr_pixel_size_um", "0.5", "not the scale 4 within 1%"),
        ("srscope.normalization", '{"kind": "zscore"}', "normalization"),
    ],
)
def test_invalid_values_are_refused(key, value, match):
    props = default_metadata(4, 1).to_props()
    props[key] = value
    with pytest.raises(ModelMetadataError, match=match):
        ModelMetadata.from_props(props)


def test_corrupt_file_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not an onnx file at all" * 10)
    with pytest.raises(SrscopeError, match="not a readable ONNX model"):
        read_metadata(bad)


def test_bundled_models_lists_onnx_files():
    models = bundled_models()
    assert all(p.suffix == ".onnx" and p.is_file() for p in models.values())
    for name, path in models.items():
        assert bundled_model(name) == path
    with pytest.raises(SrscopeError, match="no bundled model"):
        bundled_model("definitely-not-a-model")


def test_test_model_is_valid_onnx():
    onnx.checker.check_model(nearest_model(4, 2, n_conv=2), full_check=True)
