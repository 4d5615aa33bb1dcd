"""USAF 1951 geometry, line-profile analysis, and triplet detection on the real target."""

from pathlib import Path

import numpy as np
import pytest

from srscope.usaf_target import (
    bar_width_um,
    line_pairs_per_mm,
    usaf1951_layout,
    usaf1951_target,
)
from training.evaluation.baselines import bicubic
from training.evaluation.usaf import analyze_usaf, detect_triplets, simulate_captures

REAL = Path("/work/shared/data/target/usaf1951_labumk_test3.tif")


def test_published_frequencies():
    assert line_pairs_per_mm(0, 1) == 1.0
    assert line_pairs_per_mm(7, 6) == pytest.approx(228.07, abs=0.01)  # standard table value
    assert line_pairs_per_mm(9, 1) == 512.0
    assert bar_width_um(6, 1) == pytest.approx(1000 / 128)
    with pytest.raises(ValueError):
        line_pairs_per_mm(6, 7)


@pytest.mark.parametrize(("group", "element"), [(6, 1), (7, 4), (8, 2)])
def test_drawn_element_has_its_line_pairs_per_mm(group, element):
    """Measure the drawn period from the rising edges of a profile across the bars."""
    px = 0.05
    img = usaf1951_target(px, groups=[6, 7, 8])
    sets, _ = usaf1951_layout([6, 7, 8])
    vert = next(
        s for s in sets if (s.group, s.element, s.orientation) == (group, element, "vertical")
    )
    x0, y0, x1, y1 = vert.bbox_um
    row = img[int((y0 + y1) / 2 / px)]
    x = (np.arange(row.size) + 0.5) * px
    sel = (x > x0 - vert.width_um) & (x < x1 + vert.width_um)
    xs, ys = x[sel], row[sel]
    rising = [
        np.interp(0.5, [ys[i], ys[i + 1]], [xs[i], xs[i + 1]])
        for i in range(len(ys) - 1)
        if ys[i] < 0.5 <= ys[i + 1]
    ]
    assert len(rising) == 3
    period_um = float(np.mean(np.diff(rising)))
    assert 1000.0 / period_um == pytest.approx(line_pairs_per_mm(group, element), rel=0.01)
    # bars are 5 widths long: count covered pixels along the bar
    col = img[
        int((y0 - vert.width_um) / px) : int((y1 + vert.width_um) / px),
        int((rising[0] + vert.width_um / 2) / px),
    ]
    assert col.sum() * px == pytest.approx(5 * vert.width_um, rel=0.02)
    # horizontal set: same frequency along y
    horiz = next(
        s for s in sets if (s.group, s.element, s.orientation) == (group, element, "horizontal")
    )
    assert horiz.period_um == pytest.approx(vert.period_um)
    assert horiz.bars[1][1] - horiz.bars[0][1] == pytest.approx(vert.period_um)


def test_drawing_is_area_integrated():
    px = 0.37  # not a divisor of any bar width
    img = usaf1951_target(px, groups=[7])
    sets, _ = usaf1951_layout([7])
    area = sum((b[2] - b[0]) * (b[3] - b[1]) for s in sets for b in s.bars)
    assert img.sum() * px * px == pytest.approx(area, rel=1e-4)
    assert img.min() >= 0.0 and img.max() <= 1.0


def test_profiles_order_lr_bicubic_hr():
    lr, hr = simulate_captures([7, 8, 9])
    r_lr, _ = analyze_usaf(lr, 1.3, [7, 8, 9])
    r_hr, _ = analyze_usaf(hr, 0.325, [7, 8, 9])
    r_bic, _ = analyze_usaf(bicubic(lr, 4), 0.325, [7, 8, 9])
    # found where it was drawn: padded by 48 drawing px = 16 HR px = 4 LR px
    assert r_lr.origin_px == pytest.approx((4.0, 4.0), abs=0.3)
    assert r_hr.origin_px == pytest.approx((16.0, 16.0), abs=0.3)
    # LR (≈1.8 µm optics on 1.3 µm pixels) resolves group 8, not group 9; HR resolves group 9
    assert r_lr.finest_resolved is not None and r_lr.finest_resolved.startswith("G8")
    assert r_hr.finest_resolved_lp_per_mm > 2 * r_lr.finest_resolved_lp_per_mm
    assert r_bic.finest_resolved_lp_per_mm <= 1.2 * r_lr.finest_resolved_lp_per_mm
    assert r_hr.edge_fwhm_um < 0.5 * r_lr.edge_fwhm_um
    assert 0.5 < r_hr.edge_fwhm_um < 0.9  # 0.59 µm optics with 0.325 µm pixels


@pytest.mark.skipif(not REAL.is_file(), reason="shared data not present")
def test_real_target_triplets_follow_the_sixth_root_of_two():
    import tifffile

    triplets = detect_triplets(tifffile.imread(REAL))
    assert len(triplets) >= 15
    good = [t for t in triplets if abs(t.relative_residual) < 0.35]
    assert len(good) >= 0.8 * len(triplets)
    assert all(0 <= t.contrast <= 1 for t in triplets)
    coarse = [t.contrast for t in triplets if t.relative_element <= 3]
    fine = [t.contrast for t in triplets if t.relative_element >= 9]
    assert np.mean(fine) < np.mean(coarse)


def test_dark_bars_on_bright_background_are_found_and_resolved():
    """A positive chrome target in transmission: dark bars, bright glass."""
    from scipy import ndimage

    from srscope.usaf_target import usaf1951_target

    img = usaf1951_target(0.325, [7, 8], foreground=100.0, background=1000.0)
    img = ndimage.gaussian_filter(np.pad(img, 10, constant_values=1000.0), 1.0)
    res, _ = analyze_usaf(img, 0.325, [7, 8])
    assert res.polarity == -1
    assert res.origin_px == pytest.approx((10.0, 10.0), abs=0.3)
    coarse = [e for e in res.elements if e.group == 7 and e.element == 1]
    assert all(e.resolved and e.contrast > 0.5 for e in coarse)


def test_edge_fwhm_of_a_known_gaussian_blur():
    from scipy import ndimage

    from srscope.usaf_target import usaf1951_target

    px, fwhm = 0.1, 1.2
    img = ndimage.gaussian_filter(usaf1951_target(px, [6]), fwhm / 2.3548 / px)
    res, _ = analyze_usaf(img, px, [6], origin_px=(0.0, 0.0), polarity=1)
    assert res.edge_fwhm_um == pytest.approx(fwhm, rel=0.1)
