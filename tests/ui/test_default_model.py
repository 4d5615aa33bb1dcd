"""The viewer opened without a model: the LR objective and the bundled model that fits."""

from __future__ import annotations

import pytest

from sr_engine.bundled import bundled_models
from sr_engine.compatibility import ModelMismatch, model_for_channel
from sr_engine.metadata import read_metadata
from ui.sr import check_channel


@pytest.fixture
def bare_rig():
    from ui.app import prepare_rig

    scope = prepare_rig(None, None)
    try:
        yield scope
    finally:
        scope.close()


def test_exact_channel_first_live_tier_first() -> None:
    models = bundled_models()
    assert model_for_channel(models, "DAPI", 1.3) == "live_fluo"
    assert model_for_channel(models, "TRITC", 1.3) == "live_fluo_tritc"
    assert model_for_channel(models, "BF-G", 1.3) == "live_bf"


def test_a_channel_without_its_own_model_gets_the_generalist_of_its_modality() -> None:
    models = bundled_models()
    assert model_for_channel(models, "FITC", 1.3) == "generalist_fluo"
    assert model_for_channel(models, "BF-R", 1.3) == "generalist_bf"  # H&E red and blue
    assert model_for_channel(models, "BF-B", 1.3) == "generalist_bf"
    assert model_for_channel(models, "FITC", 0.325) is None  # the 20x objective: nothing fits
    assert model_for_channel(models, "Cy5-unknown", 1.3) is None
    fit = check_channel(read_metadata(models["generalist_fluo"]), "FITC")
    assert fit.how == "modality"
    with pytest.raises(ModelMismatch, match=r"DAPI.*FITC"):
        check_channel(read_metadata(models["live_fluo"]), "FITC")


def test_default_live_view_goes_to_the_lr_objective_with_a_fitting_model(bare_rig) -> None:
    from ui.app import default_model

    assert bare_rig.objective.startswith("20x")  # the rig's own start
    path = default_model(bare_rig, objective_given=False)
    assert path is not None and path == bundled_models()["generalist_fluo"]
    assert bare_rig.objective.startswith("5x") and bare_rig.channel == "FITC"


def test_an_explicit_objective_is_kept_and_nothing_unfit_is_chosen(bare_rig) -> None:
    from ui.app import default_model

    assert default_model(bare_rig, objective_given=True) is None
    assert bare_rig.objective.startswith("20x")
