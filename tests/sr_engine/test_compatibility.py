"""A model meets data: pixel size, channel, channel count; generalists by modality; overrides."""

from __future__ import annotations

import pytest

from sr_engine.compatibility import ModelMismatch, check_fit
from sr_engine.testing import default_metadata


def _meta(channels: list[str], psf_range: float = 0.0):
    return default_metadata(
        channels=channels,
        lr_pixel_size_um=1.3,
        hr_pixel_size_um=0.325,
        training={"config": {"psf_scale_range": psf_range}},
    )


def test_matching_data_fits_exactly() -> None:
    fit = check_fit(_meta(["DAPI"]), channel="dapi", pixel_size_um=1.32, n_channels=1)
    assert fit.how == "exact" and fit.notes == ()


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"pixel_size_um": 0.325}, "1.3 µm LR pixels, the data has 0.325"),
        ({"channel": "TRITC"}, "channel(s) DAPI, the data is TRITC"),
        ({"n_channels": 3}, "takes 1-channel images, the data has 3"),
    ],
)
def test_each_mismatch_is_refused_by_name(kwargs: dict, named: str) -> None:
    with pytest.raises(ModelMismatch, match="allow-mismatch") as err:
        check_fit(_meta(["DAPI"]), model_name="live_fluo", **kwargs)
    assert named in str(err.value) and "live_fluo" in str(err.value)


def test_a_generalist_fits_any_channel_of_its_modality_only() -> None:
    gen = _meta(["DAPI|TRITC"], psf_range=0.3)
    assert check_fit(gen, channel="TRITC").how == "exact"
    fit = check_fit(gen, channel="FITC")
    assert fit.how == "modality" and "FITC" in fit.notes[0]
    with pytest.raises(ModelMismatch):
        check_fit(gen, channel="BF-G")  # brightfield is another modality
    with pytest.raises(ModelMismatch):
        check_fit(_meta(["DAPI|TRITC"], psf_range=0.1), channel="FITC")  # not a generalist


def test_an_override_applies_it_and_says_so() -> None:
    fit = check_fit(_meta(["DAPI"]), channel="FITC", pixel_size_um=0.65, allow_mismatch=True)
    assert fit.how == "override"
    assert fit.provenance()["fit"] == "override"
    assert any("0.65" in n for n in fit.notes) and any("FITC" in n for n in fit.notes)


def test_unknown_facts_are_not_held_against_the_data() -> None:
    assert check_fit(_meta(["DAPI"]), channel="", pixel_size_um=None).how == "exact"
