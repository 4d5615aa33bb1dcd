"""Export: one self-contained ONNX file, dynamic shapes, full metadata, checked against torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from sr_engine.metadata import REQUIRED_KEYS, ModelMetadata, read_metadata
from sr_engine.model import SRModel
from srscope.degradation import DegradationRecord
from training import export
from training.models import PaperGenerator
from training.pipeline import train_model

from .conftest import tiny_config


def test_train_model_exports_a_complete_model(
    image_folder: Path, record: DegradationRecord, tmp_path: Path
) -> None:
    out = train_model(
        image_folder, record, tmp_path / "m.onnx", tiny_config("paper"),
        progress=False, hr_pixel_size_um=0.325,
    )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["m.onnx"]  # no .onnx.data
    proto = onnx.load(str(out.model))
    keys = {p.key for p in proto.metadata_props}
    for k in (*REQUIRED_KEYS, "degradation", "training", "metrics", "name", "description"):
        assert f"srscope.{k}" in keys
    assert not any(n.op_type == "BatchNormalization" for n in proto.graph.node)
    meta = read_metadata(out.model)
    assert meta.scale == 4 and meta.lr_pixel_size_um == pytest.approx(1.3)
    assert meta.training["losses"]["vgg"].startswith("off")
    assert meta.training["seed"] == 0 and "srscope_version" in meta.training
    assert meta.receptive_field is not None
    model = SRModel(out.model)
    for h, w in ((20, 30), (33, 17)):
        assert model.run(np.random.rand(2, 1, h, w).astype(np.float32)).shape == (
            2,
            1,
            4 * h,
            4 * w,
        )


def test_export_check_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = PaperGenerator(1, 4, features=4, blocks=1).eval()
    meta = ModelMetadata(scale=4, channels=["x"], lr_pixel_size_um=1.3, hr_pixel_size_um=0.325)
    real = export.to_onnx_bytes

    def wrong(model: torch.nn.Module, channels: int, probe: int = 16) -> bytes:
        with torch.no_grad():
            model.tail.bias += 1.0  # the exported graph no longer matches PyTorch
        return real(model, channels, probe)

    monkeypatch.setattr(export, "to_onnx_bytes", wrong)
    with pytest.raises(export.ExportCheckError, match="differs from PyTorch"):
        export.export_model(g, meta, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()
