"""The virtual slides: deterministic, unrepeated, same physics as the mirror-tiled specimens."""

import tracemalloc

import numpy as np
import pytest
from scipy import ndimage
from skimage.feature import match_template
from skimage.registration import phase_cross_correlation

from acquisition.sim.imaging import make_level
from acquisition.sim.optics import CameraModel, ChannelOptics, ObjectiveOptics
from acquisition.sim.slide_render import clear_cache, render_slide
from acquisition.sim.specimen import Specimen, load_specimen
from acquisition.sim.virtual_slide import VirtualSlide, load_slide, make_slide

DAPI = ChannelOptics.from_label("DAPI")
FITC = ChannelOptics.from_label("FITC")
CAM = CameraModel()


def repetition_score(image: np.ndarray, block: int = 64) -> float:
    """Best normalised cross-correlation of a few blocks with *other* places of the image.

    Each block is matched against the image and its three mirror images; the
    block's own place (within one block) is left out. A mirror-tiled specimen
    finds its copies at close to 1; the virtual slides score 0.45-0.65 (the same
    source structures recur, turned, mirrored and stretched: resemblance, not copies).
    """
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape
    best = 0.0
    for fy in (0.25, 0.5, 0.75):
        for fx in (0.25, 0.5, 0.75):
            y, x = int(fy * (h - block)), int(fx * (w - block))
            tpl = img[y : y + block, x : x + block]
            if tpl.std() < 1e-6:
                continue
            for flip_y in (False, True):
                for flip_x in (False, True):
                    view = img[:: -1 if flip_y else 1, :: -1 if flip_x else 1]
                    ncc = match_template(view, tpl)
                    if not (flip_y or flip_x):
                        ncc[max(0, y - block) : y + block, max(0, x - block) : x + block] = 0
                    best = max(best, float(ncc.max()))
    return best


def test_slide_layout_and_pixels_are_deterministic_by_seed():
    sources = (load_specimen("tissue"),)
    a = make_slide("a", "fluorescence", sources, (0.01, 0.01), seed=5, size_um=3000.0)
    b = make_slide("b", "fluorescence", sources, (0.01, 0.01), seed=5, size_um=3000.0)
    c = make_slide("c", "fluorescence", sources, (0.01, 0.01), seed=6, size_um=3000.0)
    np.testing.assert_array_equal(a.centre_um, b.centre_um)
    np.testing.assert_array_equal(a.angle, b.angle)
    pa = a.compose(DAPI, -200.0, 100.0, 96, 128, 2.0)
    np.testing.assert_array_equal(pa, b.compose(DAPI, -200.0, 100.0, 96, 128, 2.0))
    assert not np.array_equal(pa, c.compose(DAPI, -200.0, 100.0, 96, 128, 2.0))


def test_default_slides_cover_a_real_slide_area():
    for name, channel, glass in (("slide_fluo", DAPI, "dark"), ("slide_he", "BF", "bright")):
        slide = load_slide(name)
        ch = channel if isinstance(channel, ChannelOptics) else ChannelOptics.from_label(channel)
        assert min(slide.size_um) >= 10_000 and slide.patches > 500
        overview = slide.compose(ch, -6000.0, -6000.0, 241, 241, 50.0)  # the whole slide
        bg = slide.background_for(ch)
        tissue = np.abs(overview - bg) > 0.03
        assert 0.2 < tissue.mean() < 0.9, tissue.mean()  # sections with glass around
        assert tissue[100:140, 100:140].mean() > 0.5  # scans start at the centre: tissue there
        assert (bg < 0.05) if glass == "dark" else (bg > 0.8)
    assert load_slide("slide_fluo:3:20").size_um == (20_000.0, 20_000.0)


def test_virtual_slide_does_not_repeat_unlike_mirror_tiling():
    step = 3.0  # µm: a 2.4 mm field, four mirror periods of the tissue crop
    n = 800
    slide = load_slide("slide_fluo")
    img = slide.compose(DAPI, -n * step / 2, -n * step / 2, n, n, step)
    tissue = load_specimen("tissue")  # the demo's old scan specimen, mirror-tiled
    small = ndimage.zoom(tissue.plane_for(DAPI), tissue.pixel_size_um / step, order=1)
    reps = -(-n // small.shape[0]) + 1
    tiled = np.block([[small, small[:, ::-1]], [small[::-1], small[::-1, ::-1]]])
    mirror = np.tile(tiled, (reps, reps))[:n, :n]
    assert repetition_score(mirror) > 0.9
    score = repetition_score(img)
    assert score < 0.75, score


def _one_patch_slide(source: Specimen) -> VirtualSlide:
    """The source alone, unturned, centred on the stage origin: the mirror path's geometry."""
    h, w = source.size_um
    one = np.ones(1)
    return VirtualSlide(
        "pattern", "grey", (source,), (0.0,), (h, w), 0,
        centre_um=np.zeros((1, 2)), radius_um=one * 1e5, source_index=np.zeros(1, int),
        source_um=np.array([[h / 2, w / 2]]), angle=one * 0, flip=np.zeros(1, bool),
        gain=one, zoom=np.ones((1, 2)), sections=np.empty((0, 5)),
        noise=np.zeros((2, 2), np.float32),
    )  # fmt: skip


@pytest.mark.parametrize(("objective", "defocus"), [("20x/0.45", 0.0), ("5x/0.15", 0.0),
                                                    ("20x/0.45", 3.0)])  # fmt: skip
def test_slide_frames_have_the_mirror_tiled_physics(objective, defocus):
    """A test pattern through both paths: same Airy OTF, defocus, pixel box and geometry."""
    rng = np.random.default_rng(0)
    n = 1300  # 130 µm at 0.1 µm/px: 20 camera pitches (no stretch on the mirror path)
    pattern = ndimage.gaussian_filter(rng.random((n, n)), 4.0)
    pattern[300:700, 400:460] += 0.5  # sharp edges too
    pattern = ((pattern - pattern.min()) / np.ptp(pattern)).astype(np.float32)
    source = Specimen("pattern", 0.1, (pattern,), "grey")
    obj = ObjectiveOptics.from_label(objective)
    px = CAM.pixel_pitch_um / obj.magnification
    h = w = round(60.0 / px)  # a 60 µm field in the middle of the 130 µm pattern
    y0 = x0 = -30.0 + 0.37 * px  # off the sample grid: the interpolation too
    want = make_level(source, obj, FITC, defocus, CAM).crop(y0, x0, h, w)
    got = render_slide(_one_patch_slide(source), obj, FITC, defocus, CAM, y0, x0, h, w)
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.995
    assert np.abs(got - want).max() < 0.03 * np.ptp(want)
    assert got.mean() == pytest.approx(want.mean(), rel=0.01)


def test_frame_rendering_memory_is_bounded_whatever_the_slide_size():
    peaks = []
    obj = ObjectiveOptics.from_label("5x/0.15")
    for name in ("slide_fluo:0:12", "slide_fluo:0:60"):
        slide = load_slide(name)
        render_slide(slide, obj, DAPI, 0.0, CAM, 2000.0, 2000.0, 64, 64)  # source levels made
        clear_cache()
        tracemalloc.start()
        render_slide(slide, obj, DAPI, 0.0, CAM, -1000.0, 500.0, 256, 256)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert max(peaks) < 96 * 2**20, peaks  # a 256² frame (2 x 2 tiles): tens of MB, not the slide
    assert peaks[1] < 1.5 * peaks[0] + 4 * 2**20, peaks


def test_rig_images_the_virtual_slides(microscope):
    microscope.core.setProperty("Camera", "Specimen", "slide_fluo")
    microscope.core.setProperty("Camera", "Noise", "Off")
    microscope.set_centered_roi(256)
    a = microscope.snap("5x", "DAPI", 50).image.astype(np.float64)
    microscope.move_to(26.0, -15.6)  # 20 x 12 pixels at 1.3 µm
    b = microscope.snap("5x", "DAPI", 50).image.astype(np.float64)
    shift, _, _ = phase_cross_correlation(a, b, upsample_factor=10)
    assert np.allclose(np.abs(shift), (12.0, 20.0), atol=0.2), shift
    microscope.move_to(1500.0, -1200.0)
    c = microscope.snap("5x", "DAPI", 50).image.astype(np.float64)
    assert abs(np.corrcoef(a.ravel(), c.ravel())[0, 1]) < 0.3  # another place, other tissue
    microscope.core.setProperty("Camera", "Specimen", "slide_he")
    rgb = [microscope.snap("20x", f"BF-{c}", 10).image.astype(np.float64) for c in "RGB"]
    assert rgb[1].mean() < rgb[0].mean()  # eosin and haematoxylin absorb green most
    with pytest.raises(Exception, match="slide_fluo"):
        microscope.core.setProperty("Camera", "Specimen", "slide_fluo:x")


@pytest.mark.slow
def test_demo_scan_mosaic_shows_no_repetition(microscope, tmp_path):
    """The demo's scan (its default grid, ROI and overlap) of its scan specimen, unlike tissue."""
    from acquisition.scan import GridPlan, run_scan
    from srscope.images import read_image
    from srscope_cli.demo.run import DemoSettings
    from srscope_cli.demo.specimen import scan_specimen

    settings = DemoSettings()
    microscope.set_channel("DAPI")
    microscope.set_objective("5x")
    microscope.core.clearROI()
    microscope.set_centered_roi(settings.roi)
    scores = {}
    for name in (settings.scan_specimen, "tissue"):
        plan = GridPlan(
            center_um=(0.0, 0.0), rows=settings.scan[0], columns=settings.scan[1],
            channels=["DAPI"], objective="5x", exposure_ms=50.0, overlap=settings.overlap,
        )  # fmt: skip
        with scan_specimen(microscope, name):
            result = run_scan(microscope, plan, tmp_path / str(name))
        mosaic = np.squeeze(read_image(result.folder / result.mosaics["all"])).astype(np.float32)
        assert mosaic.shape[0] > 2.5 * settings.roi  # ~1.8 mm: three mirror tiles of tissue
        scores[name] = repetition_score(mosaic[::2, ::2])  # 2.6 µm per pixel
    assert microscope.core.getProperty("Camera", "Specimen") == "tissue"  # put back
    assert scores["tissue"] > 0.9, scores  # the kaleidoscope the demo showed before
    assert scores[settings.scan_specimen] < 0.75, scores
