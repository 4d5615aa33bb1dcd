"""Training configs: generator kinds as a discriminated union; old records still load."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from pydantic import ValidationError

from training.config import (
    BalancedGenerator,
    LiveGenerator,
    PaperGenerator,
    TrainConfig,
    generator_config,
)

MODELS = sorted((Path(__file__).resolve().parents[2] / "sr_engine" / "models").glob("*.onnx"))


def _recorded_config(path: Path) -> dict:
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return json.loads(props["srscope.training"])["config"]


@pytest.mark.parametrize("model", MODELS, ids=[p.stem for p in MODELS])
def test_every_bundled_models_recorded_config_still_validates(model: Path) -> None:
    made = _recorded_config(model)
    cfg = TrainConfig.model_validate(made)
    assert cfg.generator.kind == made["generator"]["kind"] == cfg.preset
    assert generator_config(made["generator"]) == cfg.generator
    assert cfg.generator.features == made["generator"]["features"]


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"kind": "paper", "blocks": 4}, PaperGenerator),
        ({"kind": "balanced", "features": 32, "blocks": 6}, BalancedGenerator),
        ({"kind": "live", "layers": 4, "linear_skip": True}, LiveGenerator),
        ({"features": 16}, PaperGenerator),  # no kind: the old default
        # the single class of old wrote every field; the other kinds' at their defaults
        (
            {
                "kind": "live",
                "features": 8,
                "blocks": 16,
                "layers": 3,
                "input_skip": True,
                "linear_skip": True,
            },
            LiveGenerator,
        ),
        ({"kind": "balanced", "blocks": 6, "layers": 3, "linear_skip": False}, BalancedGenerator),
    ],
)
def test_generator_kinds(data: dict, kind: type) -> None:
    gen = generator_config(data)
    assert type(gen) is kind
    assert type(TrainConfig.model_validate({"generator": data}).generator) is kind


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "live", "blocks": 4}, "generator.blocks"),
        ({"kind": "paper", "layers": 5}, "generator.layers"),
        ({"kind": "esrgan"}, "generator"),
    ],
)
def test_a_field_of_another_kind_is_refused_naming_it(data: dict, field: str) -> None:
    from srscope.errors import SrscopeError

    raw = {"generator": data}
    with pytest.raises(SrscopeError, match=rf"^cfg: {field}\b"):
        TrainConfig.validated(raw, "cfg")
    with pytest.raises(ValidationError):
        generator_config(data)


@pytest.mark.parametrize("preset", ["paper", "balanced", "live"])
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_preset_configs_round_trip_through_files(tmp_path: Path, preset: str, suffix: str) -> None:
    cfg = TrainConfig.preset_defaults(preset)
    path = cfg.to_file(tmp_path / f"train{suffix}")
    assert TrainConfig.from_file(path) == cfg
    assert cfg.generator.kwargs() == cfg.generator.model_dump(exclude={"kind"})
