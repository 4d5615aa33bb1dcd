"""Errors say what kind of thing is wrong: a subclass of SrscopeError a library user can catch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from srscope.errors import DeviceError, ImageError, OutputError, SettingsError, SrscopeError


def _existing_output(tmp: Path) -> None:
    from srscope.atomic import check_output

    (tmp / "out.ome.tif").write_bytes(b"x")
    check_output(tmp / "out.ome.tif", overwrite=False)


def _missing_image(tmp: Path) -> None:
    from srscope.images import read_image

    read_image(tmp / "missing.tif")


def _nan_image(tmp: Path) -> None:
    from srscope.pixels import check_finite

    check_finite(np.array([[np.nan]]), "x.tif")


def _bad_axes(tmp: Path) -> None:
    from sr_engine.axes import resolve_layout

    resolve_layout((8, 8), 1, "QX")


def _missing_rig_settings(tmp: Path) -> None:
    from acquisition.models import RigSettings

    RigSettings.from_file(tmp / "rig.yaml")


def _invalid_rig_settings(tmp: Path) -> None:
    from acquisition.models import RigSettings

    (tmp / "rig.yaml").write_text("objective_group: 3\nbogus: 1\n")
    RigSettings.from_file(tmp / "rig.yaml")


def _unknown_channel(tmp: Path) -> None:
    from acquisition import Microscope

    with Microscope.open() as scope:
        scope.set_channel("NoSuchChannel")


CASES: list[tuple[str, Callable[[Path], None], type[SrscopeError]]] = [
    ("output exists", _existing_output, OutputError),
    ("image missing", _missing_image, ImageError),
    ("NaN pixels", _nan_image, ImageError),
    ("bad axes", _bad_axes, ImageError),
    ("settings file missing", _missing_rig_settings, SettingsError),
    ("settings file invalid", _invalid_rig_settings, SettingsError),
    ("unknown channel on the sim rig", _unknown_channel, DeviceError),
]


@pytest.mark.parametrize(("fn", "kind"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_kind_of_problem_raises_its_subclass(
    tmp_path: Path, fn: Callable[[Path], None], kind: type[SrscopeError]
) -> None:
    with pytest.raises(kind) as caught:
        fn(tmp_path)
    assert isinstance(caught.value, SrscopeError) and isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)
