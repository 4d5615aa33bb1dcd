"""The simulated rig is physically consistent (real UniMMCore + the sim devices)."""

import numpy as np
import pytest
from pymmcore_plus.experimental.unicore import UniMMCore
from skimage.registration import phase_cross_correlation

from acquisition import SIM_CONFIG


def _mean_of(scope, n=1, **kw):
    return np.mean([scope.snap(**kw).image.astype(np.float64) for _ in range(n)], axis=0)


def test_sim_config_loads_in_plain_unimmcore():
    core = UniMMCore(mm_path=str(SIM_CONFIG.parent))
    core.loadSystemConfiguration(str(SIM_CONFIG))
    try:
        assert set(core.getAvailableConfigGroups()) >= {"Objective", "Channel"}
        assert core.getCameraDevice() == "Camera"
        assert core.getXYStageDevice() == "XY" and core.getFocusDevice() == "Z"
        assert core.getShutterDevice() == "Shutter"
        core.setProperty("Camera", "RealTime", "Off")
        core.snapImage()
        img = core.getImage()
        assert img.shape == (1024, 1024) and img.dtype == np.uint16
        assert img.mean() > 150  # light reaches the camera (offset is 100)
    finally:
        core.unloadAllDevices()


def test_pixel_size_follows_objective(microscope):
    microscope.set_objective("5x")
    assert microscope.pixel_size_um == pytest.approx(1.3)
    assert microscope.core.getCurrentPixelSizeConfig() == "Res5x"
    microscope.set_objective("20x/0.45")
    assert microscope.pixel_size_um == pytest.approx(0.325)
    microscope.core.setProperty("Objective", "Label", "10x/0.30")  # turret moved directly
    assert microscope.pixel_size_um == pytest.approx(0.65)


def test_20x_binned_matches_5x_field(microscope):
    """20x blurred + binned 4x4 correlates with the central 5x region (same field)."""
    microscope.move_to(150.0, -80.0)
    hr = microscope.snap("20x", "DAPI", 50).image.astype(np.float64)  # 1024² = 333 µm
    microscope.set_centered_roi(256)  # 256 px at 1.3 µm = the same 333 µm
    lr = microscope.snap("5x", "DAPI", 50).image.astype(np.float64)
    from scipy.ndimage import gaussian_filter

    binned = gaussian_filter(hr, 2.0).reshape(256, 4, 256, 4).mean(axis=(1, 3))
    c = slice(16, 240)  # central region
    r = np.corrcoef(binned[c, c].ravel(), lr[c, c].ravel())[0, 1]
    assert r >= 0.9, r


@pytest.mark.parametrize(
    ("objective", "px", "d_um"),
    [("5x", 1.3, (26.0, -15.6)), ("20x", 0.325, (6.5, -3.9)), ("5x", 1.3, (17.3, 9.1)),
     ("20x", 0.325, (-4.07, 2.66))],
)  # fmt: skip
def test_stage_move_shifts_image_by_d_over_pixel_size(microscope, objective, px, d_um):
    microscope.set_centered_roi(256)
    microscope.set_objective(objective)
    microscope.core.setProperty("Camera", "Noise", "Off")
    a = microscope.snap(channel="DAPI", exposure_ms=50).image.astype(np.float64)
    dx, dy = d_um
    x, y, _ = microscope.position_um
    microscope.move_to(x + dx, y + dy)
    b = microscope.snap().image.astype(np.float64)
    shift, _, _ = phase_cross_correlation(a, b, upsample_factor=20)
    # content moves opposite to the stage: b[r, c] == a[r + dy/px, c + dx/px]
    np.testing.assert_allclose(shift, [dy / px, dx / px], atol=0.1)


def test_doubling_exposure_doubles_signal(microscope):
    microscope.set_centered_roi(256)
    offset = float(microscope.core.getProperty("Camera", "Offset"))
    s1 = _mean_of(microscope, 2, objective="20x", channel="TRITC", exposure_ms=20).mean() - offset
    s2 = _mean_of(microscope, 2, exposure_ms=40).mean() - offset
    assert s1 > 50
    assert s2 / s1 == pytest.approx(2.0, rel=0.02)


def test_shutter_closed_gives_dark_frame(microscope):
    microscope.set_centered_roi(128)
    microscope.core.setShutterOpen(False)
    img = microscope.snap(exposure_ms=50).image.astype(np.float64)
    assert abs(img.mean() - 100) < 1 and 0.5 < img.std() < 10  # offset + read noise only


def test_defocus_blurs(microscope):
    microscope.set_centered_roi(256)
    microscope.core.setProperty("Camera", "Noise", "Off")
    sharp = microscope.snap("20x", "DAPI", 50).image.astype(np.float64)
    microscope.move_to(z=8.0)
    blurred = microscope.snap().image.astype(np.float64)

    def grad(im):
        return np.mean(np.abs(np.diff(im, axis=1)))

    assert grad(blurred) < 0.6 * grad(sharp)
    assert blurred.mean() == pytest.approx(sharp.mean(), rel=0.05)  # light is conserved


def test_specimen_covers_a_3x3_scan_at_5x_with_real_structure(microscope):
    microscope.set_centered_roi(512)  # sample the full 1331 µm field sparsely
    microscope.snap("5x", "DAPI", 30)
    frames = []
    for iy in range(3):
        for ix in range(3):
            microscope.move_to((ix - 1) * 1331.2, (iy - 1) * 1331.2)
            frames.append(microscope.snap().image.astype(np.float64) - 100)
    for f in frames:
        assert f.std() > 0.3 * f.mean() > 0  # structure everywhere, no empty fields
    assert len({round(f.mean(), 1) for f in frames}) >= 3  # not one field repeated


def test_brightfield_he_specimen_gives_rgb_through_filters(microscope):
    microscope.set_centered_roi(128)
    microscope.core.setProperty("Camera", "Specimen", "he")
    rgb = {
        c: microscope.snap("20x", c, 20).image.astype(np.float64) for c in ("BF-R", "BF-G", "BF-B")
    }
    means = {c: v.mean() for c, v in rgb.items()}
    assert all(m > 1000 for m in means.values())  # transmitted light is bright
    assert means["BF-G"] < means["BF-R"]  # H&E (pink/purple) absorbs green most
    assert np.corrcoef(rgb["BF-R"].ravel(), rgb["BF-B"].ravel())[0, 1] < 0.99


def test_any_image_can_go_under_the_objective(microscope, tmp_path):
    import tifffile

    img = np.zeros((400, 400), np.uint16)
    img[150:250, 150:250] = 60000  # a 100 px square
    path = tmp_path / "square.tif"
    tifffile.imwrite(path, img)
    core = microscope.core
    core.setProperty("Camera", "SpecimenPixelSize_um", 0.5)  # -> a 50 µm square
    core.setProperty("Camera", "Specimen", str(path))
    core.setProperty("Camera", "Noise", "Off")
    microscope.set_centered_roi(256)
    frame = microscope.snap("20x", "FITC", 10).image.astype(np.float64)
    row = frame[128] - 100
    width_px = np.count_nonzero(row > row.max() / 2)
    assert width_px == pytest.approx(50 / 0.325, abs=2)


def test_usaf_target_specimen_loads(microscope):
    microscope.set_centered_roi(128)
    microscope.core.setProperty("Camera", "Specimen", "usaf1951")
    img = microscope.snap("20x", "BF", 10).image
    assert img.std() > 50


def test_bad_specimen_is_refused(microscope):
    from srscope.errors import SrscopeError

    with pytest.raises(SrscopeError, match="specimen file not found"):
        microscope.core.setProperty("Camera", "Specimen", "/no/such/slide.tif")
    assert microscope.core.getProperty("Camera", "Specimen") == "tissue"


def test_specimen_is_placed_in_stage_coordinates(microscope):
    microscope.set_centered_roi(64)
    microscope.core.setProperty("Camera", "Noise", "Off")
    at_origin = microscope.snap("20x", "DAPI", 20).image
    microscope.core.setProperty("Camera", "SpecimenX_um", 250.0)
    microscope.core.setProperty("Camera", "SpecimenY_um", -40.0)
    assert not np.array_equal(microscope.snap().image, at_origin)
    microscope.move_to(250.0, -40.0)
    np.testing.assert_array_equal(microscope.snap().image, at_origin)
