"""bioimage.io export: the package validates, and bioimageio.core reproduces srscope."""

import io
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from sr_engine.bioimageio_export import export_bioimageio
from sr_engine.testing import nearest_model, save_model

pytest.importorskip("bioimageio.core")
# bioimageio.spec 0.5.12 leaves test-tensor files open (third party)
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _arrays(path):
    z = zipfile.ZipFile(path)
    return (np.load(io.BytesIO(z.read(n))) for n in ("test_input.npy", "test_output.npy"))


def _core_output(path, x):
    from bioimageio.core import predict
    from bioimageio.spec import load_description

    out = predict(model=load_description(path), inputs={"lr": x})
    return np.asarray(out.members["sr"].data)


@pytest.fixture
def tiny(tmp_path):
    return save_model(nearest_model(4, 1, n_conv=2, seed=5), tmp_path / "tiny.onnx")


def test_tiny_model_validates(tmp_path, tiny):
    res = export_bioimageio(tiny, tmp_path / "tiny.zip")
    assert res.status in ("valid-format", "passed")
    x, y = _arrays(res.path)
    assert x.shape == (1, 1, 64, 64) and y.shape == (1, 1, 256, 256)


@pytest.mark.parametrize("which", ["tiny", "live_fluo"])
def test_core_reproduces_srscope(tmp_path, tiny, which):
    res = export_bioimageio(tiny if which == "tiny" else which, tmp_path / f"{which}.zip")
    x, y = _arrays(res.path)
    np.testing.assert_allclose(_core_output(res.path, x), y, rtol=1e-4, atol=1e-4)


def test_cli(tmp_path, tiny):
    out = tmp_path / "m.zip"
    cmd = [sys.executable, "-m", "srscope_cli", "export-bioimageio", str(tiny), str(out)]
    ok = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert out.is_file()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2
    assert len(again.stderr.strip().splitlines()) == 1 and "exists" in again.stderr
