"""Pure tile geometry."""

import numpy as np
import pytest

from sr_engine.tiling import TilingError, axis_spans, iter_tiles, read_window, reflect_index


@pytest.mark.parametrize("length", [1, 7, 40, 100, 257])
@pytest.mark.parametrize("aligned", [False, True])
def test_cores_partition_axis_and_windows_have_context(length, aligned):
    spans = axis_spans(length, tile=40, overlap=6, aligned=aligned)
    covered = np.concatenate([np.arange(s.core0, s.core1) for s in spans])
    np.testing.assert_array_equal(covered, np.arange(length))
    assert len({s.size for s in spans}) == 1  # batchable
    for s in spans:
        assert s.size <= 40
        assert s.crop0 >= 6  # at least `overlap` context before the core
        assert s.read0 + s.size - s.core1 >= 6  # and after it


def test_aligned_cores_start_on_a_grid():
    spans = axis_spans(100, tile=40, overlap=8, aligned=True)
    assert [s.core0 for s in spans] == [0, 24, 48, 72, 96]


def test_tile_not_larger_than_overlap_is_refused():
    with pytest.raises(TilingError, match="larger than twice the overlap"):
        axis_spans(100, tile=16, overlap=8)


def test_region_tiles_cover_only_region():
    tiles = list(iter_tiles((50, 60), 20, 3, region=(10, 30, 5, 45)))
    ys = sorted({(t.y.core0, t.y.core1) for t in tiles})
    xs = sorted({(t.x.core0, t.x.core1) for t in tiles})
    assert ys[0][0] == 10 and ys[-1][1] == 30
    assert xs[0][0] == 5 and xs[-1][1] == 45
    with pytest.raises(TilingError, match="outside the image"):
        list(iter_tiles((50, 60), 20, 3, region=(10, 70, 0, 5)))


def test_read_window_equals_reflect_pad():
    a = np.arange(2 * 7 * 9).reshape(2, 7, 9)
    (tile,) = iter_tiles((7, 9), 40, 4)
    padded = np.pad(a, ((0, 0), (4, 4), (4, 4)), mode="reflect")
    np.testing.assert_array_equal(read_window(a, tile.y, tile.x), padded)


def test_reflect_index_matches_numpy_for_long_pads():
    n = 5
    idx = np.arange(-13, n + 13)
    expected = np.pad(np.arange(n), 13, mode="reflect")
    np.testing.assert_array_equal(reflect_index(idx, n), expected)
