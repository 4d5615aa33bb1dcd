"""The pycromanager ``image_process_fn`` adapter.

Against pycromanager's own ``Acquisition`` with its Python backend (its
``acq_eng_py`` engine driving a pymmcore core in this process) over the
simulated rig: the backend's core is a snake_case subclass of pymmcore's
CMMCore; we give it the same snake_case aliases on a pymmcore-plus UniMMCore,
which loads the simulated rig's Python devices. No Java, no Micro-Manager
install. Skipped when pycromanager is not installed.
"""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

from acquisition.pycromanager_adapter import SRImageProcessFn
from srscope.errors import SrscopeError
from tests.ui.conftest import make_model


@pytest.fixture
def pycromanager_core():
    pytest.importorskip("pycromanager")
    from mmpycorex import launcher
    from pycromanager.acquisition.acq_eng_py.internal.engine import Engine
    from pymmcore_plus.experimental.unicore import UniMMCore

    from acquisition.core import SIM_CONFIG, follow_pixel_size

    aliases = {}
    for name in dir(UniMMCore):
        attr = getattr(UniMMCore, name, None)
        snake = launcher._camel_to_snake(name)
        public = not name.startswith("_") and callable(attr)
        if public and snake != name and not hasattr(UniMMCore, snake):
            aliases[snake] = attr
    core = type("UniMMCoreSnakeCase", (UniMMCore,), aliases)(mm_path=str(SIM_CONFIG.parent))
    core.loadSystemConfiguration(str(SIM_CONFIG))
    follow_pixel_size(core)
    core.setProperty("Camera", "RealTime", "Off")
    core.setROI(448, 448, 128, 128)
    # what mmpycorex.create_core_instance(python_backend=True) adds to its core
    core.get_tagged_image = types.MethodType(launcher.get_tagged_image, core)
    core.pop_next_tagged_image = types.MethodType(launcher.pop_next_tagged_image, core)
    core.TaggedImage = launcher.TaggedImage
    launcher._PYMMCORES.append(core)
    Engine(core)
    try:
        yield core
    finally:
        Engine.get_instance().shutdown()
        del Engine.singleton
        launcher._PYMMCORES.clear()
        core.unloadAllDevices()


def test_sr_beside_a_pycromanager_acquisition(pycromanager_core, tmp_path):
    from pycromanager import Acquisition, multi_d_acquisition_events

    core = pycromanager_core
    lr_px = core.getPixelSizeUm()
    model = make_model(tmp_path / "m.onnx", "FITC", lr_px=lr_px)
    fn = SRImageProcessFn(model, tmp_path / "sr.ome.zarr")
    events = multi_d_acquisition_events(xy_positions=[[0, 0], [30, 0], [0, 30]])
    acq = Acquisition(directory=None, image_process_fn=fn)
    assert type(acq).__name__ == "PythonBackendAcquisition"
    acq.acquire(events)
    acq.mark_finished()
    acq.await_completion()
    assert fn.close(60)
    # raw images stored by pycromanager as usual, unchanged
    dataset = acq.get_dataset()
    raw = np.asarray(dataset.read_image(position=1))
    assert raw.shape == (128, 128)
    assert fn.count == 3 and fn.processor.stats.frames_done == 3
    # SR beside: its own OME-Zarr with the HR pixel size, one plane per raw image
    attrs = json.loads((tmp_path / "sr.ome.zarr" / "zarr.json").read_text())["attributes"]
    scale = attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
    assert scale["scale"][-1] == pytest.approx(lr_px / 4)
    import zarr

    sr = np.asarray(zarr.open_array(tmp_path / "sr.ome.zarr" / "0"))
    assert sr.shape == (3, 512, 512)
    np.testing.assert_array_equal(sr[1, ::4, ::4], raw)  # nearest model: SR of that image


def test_replace_and_both_modes_follow_pycromanagers_contract(tmp_path):
    model = make_model(tmp_path / "m.onnx", "FITC")
    image = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    md = {"PixelSize_um": 1.3, "Width": 64, "Height": 64, "Axes": {"time": 0}}
    sr_img, sr_md = SRImageProcessFn(model, mode="replace")(image, dict(md))
    assert sr_img.shape == (256, 256) and sr_img.dtype == np.uint16
    assert sr_md["PixelSize_um"] == pytest.approx(0.325)
    assert (sr_md["Width"], sr_md["Height"]) == (256, 256)
    both = SRImageProcessFn(model, mode="both")(image, dict(md))
    assert [m["Axes"]["sr"] for _, m in both] == [0, 1]
    assert both[0][0] is image and md["Axes"] == {"time": 0}  # caller's metadata untouched
    with pytest.raises(SrscopeError, match="out_path"):
        SRImageProcessFn(model)
