"""The simulated rig's volume specimen: a thick sample with a real focus axis.

Physics on small synthetic volumes (each plane blurred by its own defocus, the sum
is linear, light is conserved), then the built-in ``brain`` through the rig and the
command line: a Z-stack's frames bring different planes into focus.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from acquisition.sim.imaging import make_level, make_volume_level, sheet_excitation
from acquisition.sim.optics import CameraModel, ChannelOptics, ObjectiveOptics
from acquisition.sim.specimen import Specimen
from acquisition.sim.volume import VolumeSpecimen, is_volume_name, load_volume
from srscope.errors import SrscopeError

CAM = CameraModel()
DAPI = ChannelOptics.from_label("DAPI")
OBJ20 = ObjectiveOptics.from_label("20x/0.45")
OBJ5 = ObjectiveOptics.from_label("5x/0.15")


def _dots(seed: int, n: int = 96) -> np.ndarray:
    """Sparse bright points on a dark field: a plane of labelled cells."""
    rng = np.random.default_rng(seed)
    plane = np.zeros((n, n), dtype=np.float32)
    plane[rng.integers(0, n, 40), rng.integers(0, n, 40)] = 1.0
    return plane


def _one_plane_volume(k: int, depth: int = 9, dz: float = 5.0) -> VolumeSpecimen:
    planes = [np.zeros((96, 96), dtype=np.float32) for _ in range(depth)]
    planes[k] = _dots(k)
    return VolumeSpecimen(f"one{k}", 0.5, dz, tuple(planes))


def _frame(level, n: int = 96) -> np.ndarray:
    px = CAM.pixel_pitch_um / 20.0
    return level.crop(-n * px / 2, -n * px / 2, n, n)


def _sharpness(img: np.ndarray) -> float:
    return float((np.diff(img, axis=0) ** 2).mean() + (np.diff(img, axis=1) ** 2).mean())


def test_planes_are_centred_on_stage_z_zero():
    vol = _one_plane_volume(0)
    assert vol.z_um == (-20.0, -15.0, -10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0)
    brain = load_volume("brain")
    assert (brain.depth, brain.shape, brain.pixel_size_um, brain.z_step_um) == (
        26,
        (256, 256),
        2.0,
        5.0,
    )
    assert brain.z_um[0] == -62.5 and brain.z_um[-1] == 62.5
    assert is_volume_name(" Brain ") and is_volume_name("volume:/x.tif")
    assert not is_volume_name("tissue")


def test_each_plane_is_blurred_by_its_own_defocus():
    """A volume with one labelled plane at z_k renders as that plane through the 2D
    machinery at defocus ``focus - z_k``: the sum over planes is the physically right one."""
    k = 6
    vol = _one_plane_volume(k)
    alone = Specimen("alone", 0.5, (vol.planes[k],), "fluorescence")
    for focus in (vol.z_um[k], vol.z_um[k] - 7.5, 0.0):
        got = _frame(make_volume_level(vol, OBJ20, DAPI, focus, CAM))
        want = _frame(make_level(alone, OBJ20, DAPI, focus - vol.z_um[k], CAM))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_plane_is_sharpest_at_its_own_focus():
    vol = _one_plane_volume(4)  # z_4 = 0
    z_k = vol.z_um[4]
    sharp = {dz: _sharpness(_frame(make_volume_level(vol, OBJ20, DAPI, z_k + dz, CAM)))
             for dz in (-20.0, -5.0, 0.0, 5.0, 20.0)}  # fmt: skip
    assert sharp[0.0] > 2 * max(sharp[-5.0], sharp[5.0]), sharp
    assert min(sharp[-5.0], sharp[5.0]) > 2 * max(sharp[-20.0], sharp[20.0]), sharp


def test_light_is_conserved_along_z():
    """Defocus spreads light, never removes it: the whole image's sum is the same at every
    focus (to float precision; the mirror-tiled period keeps all of it)."""
    planes = tuple(_dots(s) for s in range(5))
    vol = VolumeSpecimen("dots", 0.5, 5.0, planes)
    sums = [float(make_volume_level(vol, OBJ5, DAPI, z, CAM).period.sum(dtype=np.float64))
            for z in (-40.0, -10.0, 0.0, 3.0, 25.0)]  # fmt: skip
    np.testing.assert_allclose(sums, sums[0], rtol=1e-3)


def test_rendering_is_deterministic():
    vol = _one_plane_volume(2)
    a = make_volume_level(vol, OBJ20, DAPI, 3.0, CAM).period.copy()
    vol2 = VolumeSpecimen("again", 0.5, 5.0, vol.planes)  # another object: not the cache
    np.testing.assert_array_equal(a, make_volume_level(vol2, OBJ20, DAPI, 3.0, CAM).period)


def test_brain_z_stack_brings_each_plane_into_focus():
    """For each plane k, the frame at focus z_k correlates best with that plane (in focus)
    among the frames of the stack, within one plane, through a 20x/0.45."""
    brain = load_volume("brain")
    n = 600  # camera pixels, 195 µm
    frames = [_frame(make_volume_level(brain, OBJ20, DAPI, z, CAM), n) for z in brain.z_um]
    for k in (3, 8, 13, 18, 23):
        alone = Specimen(f"brain{k}", brain.pixel_size_um, (brain.planes[k],), "fluorescence")
        ref = _frame(make_level(alone, OBJ20, DAPI, 0.0, CAM), n).ravel()
        corr = [np.corrcoef(f.ravel(), ref)[0, 1] for f in frames]
        assert abs(int(np.argmax(corr)) - k) <= 1, (k, np.round(corr, 3))
        assert corr[k] > corr[k - 3] and corr[k] > corr[min(k + 3, brain.depth - 1)]


def test_a_light_sheet_sections_the_volume():
    """A 4 µm light sheet excites only the planes near focus: frames at a plane's focus
    look more like that plane alone than widefield ones do, and beyond the volume it is dark."""
    assert sheet_excitation(3.0, 0.0) == 1.0 and sheet_excitation(0.0, 4.0) == 1.0
    assert sheet_excitation(2.0, 4.0) == pytest.approx(0.5)
    brain = load_volume("brain")
    n, k = 400, 13
    alone = Specimen("brain13", brain.pixel_size_um, (brain.planes[k],), "fluorescence")
    ref = _frame(make_level(alone, OBJ20, DAPI, 0.0, CAM), n).ravel()
    wide = _frame(make_volume_level(brain, OBJ20, DAPI, brain.z_um[k], CAM), n).ravel()
    sheet = _frame(make_volume_level(brain, OBJ20, DAPI, brain.z_um[k], CAM, 4.0), n).ravel()
    assert np.corrcoef(sheet, ref)[0, 1] > np.corrcoef(wide, ref)[0, 1] + 0.1
    np.testing.assert_allclose(sheet, ref, rtol=0.05, atol=0.02 * ref.max())  # ~ the plane
    past = brain.z_um[-1] + 40.0
    dark = _frame(make_volume_level(brain, OBJ20, DAPI, past, CAM, 4.0), n)
    assert dark.max() < 1e-3 * sheet.max()
    assert _frame(make_volume_level(brain, OBJ20, DAPI, past, CAM), n).mean() > 0.2 * wide.mean()


def test_rig_images_the_volume_at_its_focus(microscope):
    """Through the simulated devices: the focus drive picks the planes; frame sums stay
    within noise along z with a 5x/0.15; the same settings give the same expected image."""
    core = microscope.core
    core.setProperty("Camera", "Specimen", "brain")
    microscope.set_centered_roi(128)
    microscope.set_objective("5x")
    microscope.set_channel("DAPI")
    images = {}
    for z in (-50.0, 0.0, 50.0):
        microscope.move_to(z=z)
        images[z] = microscope.snap(exposure_ms=50).image.astype(np.float64)
    sums = [img.sum() for img in images.values()]
    assert max(sums) / min(sums) < 1.01, sums
    microscope.set_objective("20x")
    core.setProperty("Camera", "Noise", "Off")
    stack = {}
    for z in (-40.0, 0.0, 40.0, 0.0):
        microscope.move_to(z=z)
        stack.setdefault(z, []).append(microscope.snap().image.astype(np.float64))
    np.testing.assert_array_equal(*stack[0.0])  # deterministic
    r = np.corrcoef(stack[-40.0][0].ravel(), stack[40.0][0].ravel())[0, 1]
    assert r < 0.9, r  # different planes in focus
    core.setProperty("Camera", "LightSheet_um", 4.0)
    microscope.move_to(z=100.0)  # 37.5 µm beyond the last plane: no light reaches it
    assert microscope.snap().image.max() <= CAM.offset_adu + 1


def test_a_bad_volume_is_a_one_line_error(microscope, tmp_path):
    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, np.zeros((64, 64), np.uint16))
    with pytest.raises(SrscopeError, match=r"not a \(Z, Y, X\) stack"):
        load_volume(f"volume:{flat}")
    with pytest.raises(SrscopeError, match="volume file not found"):
        microscope.core.setProperty("Camera", "Specimen", "volume:/no/such.tif")
    assert microscope.core.getProperty("Camera", "Specimen") == "tissue"


EXAMPLE = Path(__file__).parents[2] / "examples" / "zstack.yaml"


def test_the_example_z_stack_spans_the_volume():
    from acquisition.sequence import count_frames, load_sequence

    seq = load_sequence(EXAMPLE)
    zs = [e.z_pos for e in seq]
    assert count_frames(seq) == 21 and (min(zs), max(zs)) == (-50.0, 50.0)
    brain = load_volume("brain")
    assert brain.z_um[0] < min(zs) and max(zs) < brain.z_um[-1]  # inside the volume


@pytest.mark.soak  # the Z-stack SR + MIP path runs by default in test_sr_views
def test_acquire_z_stack_of_the_volume_writes_sr_stack_and_mip(tmp_path: Path) -> None:
    """`srscope acquire examples/zstack.yaml` through ``brain`` with on-the-fly SR, as the
    README runs it (ROI 64); then `srscope snap --specimen brain --z` at two focus positions."""
    out = tmp_path / "stack.ome.zarr"
    cmd = [sys.executable, "-m", "srscope"]
    run = subprocess.run(
        [*cmd, "acquire", str(EXAMPLE), "--specimen", "brain", "--objective", "5x",
         "--model", "live_fluo", "--roi", "64", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    sr_path, mip_path = tmp_path / "stack_sr.ome.zarr", tmp_path / "stack_sr_mip.ome.zarr"
    assert str(mip_path) in run.stdout
    sr = np.asarray(zarr.open_array(str(sr_path / "0"), mode="r"))
    assert sr.shape == (1, 21, 256, 256)  # c, z, 4x the 64-pixel ROI
    mip = np.asarray(zarr.open_array(str(mip_path / "0"), mode="r"))
    np.testing.assert_array_equal(mip, sr.max(axis=1))
    planes = sr[0, [0, 10, 20]].reshape(3, -1).astype(np.float64)  # z = -50, 0, +50 µm
    assert np.corrcoef(planes)[0, 2] < 0.97, np.corrcoef(planes)
    raw = np.asarray(zarr.open_array(str(out / "0"), mode="r"))
    r = np.corrcoef(raw.reshape(21, -1)[[0, 10, 20]].astype(np.float64))
    assert r[0, 2] < r[0, 1], r  # farther apart, less alike

    snaps = []
    for z in ("-40", "40"):
        f = tmp_path / f"snap{z}.ome.tif"
        snap = subprocess.run(
            [*cmd, "snap", "--specimen", "brain", "--z", z, "--objective", "20x",
             "--roi", "128", "-o", str(f)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert snap.returncode == 0, snap.stderr
        snaps.append(tifffile.imread(f).astype(np.float64).ravel())
    assert np.corrcoef(snaps)[0, 1] < 0.9
