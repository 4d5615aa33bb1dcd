"""Loading and validating model files; ORT session settings; receptive field."""

import numpy as np
import onnx
import pytest

from sr_engine.architectures import live_espcn
from sr_engine.flops import flops_per_lr_pixel
from sr_engine.model import SRModel
from sr_engine.receptive_field import measure_receptive_field
from sr_engine.testing import nearest_model, save_model
from srscope.errors import SrscopeError


def test_loads_file_and_reports_metadata(model_file):
    m = SRModel(model_file, threads=1)
    assert m.scale == 2 and m.n_channels == 1
    assert m.providers == ["CPUExecutionProvider"]
    assert m.session.get_session_options().intra_op_num_threads == 1
    assert "scale=2" in repr(m)


def test_model_without_metadata_is_refused(tmp_path):
    model = nearest_model(2, 1)
    del model.metadata_props[:]
    with pytest.raises(SrscopeError, match="not an srscope model: missing metadata"):
        SRModel(save_model(model, tmp_path / "m.onnx"))


def test_corrupt_and_missing_files_are_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage" * 100)
    with pytest.raises(SrscopeError, match="not a readable ONNX model"):
        SRModel(bad)
    with pytest.raises(SrscopeError, match="not found"):
        SRModel(tmp_path / "nope.onnx")


def test_output_not_scale_times_input_is_refused():
    with pytest.raises(SrscopeError, match="metadata scale 4 needs"):
        SRModel(nearest_model(4, 1, actual_scale=2))


def test_fixed_size_export_is_refused():
    model = nearest_model(2, 1)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = 64, 64
    with pytest.raises(SrscopeError, match="probe input"):
        SRModel(model)


def test_channel_mismatch_between_graph_and_metadata_is_refused():
    from sr_engine.metadata import attach_metadata
    from sr_engine.testing import default_metadata

    model = attach_metadata(nearest_model(2, 1), default_metadata(2, ["a", "b"]))
    with pytest.raises(SrscopeError, match="channels"):
        SRModel(model)


def test_unknown_provider_and_bad_threads_are_refused():
    with pytest.raises(SrscopeError, match="not available"):
        SRModel(nearest_model(2, 1), providers=["NoSuchExecutionProvider"])
    with pytest.raises(SrscopeError, match="threads"):
        SRModel(nearest_model(2, 1), threads=0)


def test_external_data_is_refused(tmp_path):
    model = nearest_model(2, 1, n_conv=1)
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, size_threshold=0)
    with pytest.raises(SrscopeError, match="self-contained"):
        SRModel(path)


@pytest.mark.parametrize("n_conv", [0, 1, 3])
def test_receptive_field_is_measured_from_impulse_response(n_conv):
    m = SRModel(nearest_model(2, 1, n_conv=n_conv, seed=4))
    rf = measure_receptive_field(m, margin=0)
    assert rf == n_conv  # each 3x3 conv adds one LR pixel per side


def test_receptive_field_from_metadata_is_not_measured():
    m = SRModel(nearest_model(2, 1, n_conv=3, receptive_field=9))
    assert m.receptive_field == 9


def test_flop_count_of_known_graph():
    # conv5x5 1->32, conv3x3 32->32, conv3x3 32->16 (x4, 1 channel): MACs per LR pixel
    macs = 25 * 32 + 9 * 32 * 32 + 9 * 32 * 16
    graph = live_espcn(1, 4, features=32, linear_skip=False)
    assert flops_per_lr_pixel(graph) == pytest.approx(2 * macs)


def test_run_batches(conv2):
    x = np.random.default_rng(0).random((3, 1, 10, 12)).astype(np.float32)
    y = conv2.run(x)
    assert y.shape == (3, 1, 20, 24)
    np.testing.assert_allclose(y[1], conv2.run(x[1:2])[0], atol=1e-5)
