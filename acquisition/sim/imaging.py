"""Image formation of the simulated rig: pre-blurred levels and fast frame rendering.

For each (specimen, objective, channel, defocus, camera pitch) a *level* is made
once: the specimen's cosine spectrum (mirror tiling makes it exact) times the
Airy OTF, the defocus OTF and the camera pixel's box transfer, brought back to a
grid of ``k`` samples per camera pixel. A frame is then a strided crop of that
level (point samples of the pixel-integrated image, so aliasing is kept as a real
camera has it), scaled to photo-electrons, with shot noise, read noise, offset
and clipping: a few milliseconds for a 1024² frame.

A volume (:mod:`acquisition.sim.volume`) gets one level per focus position: the sum
of its planes' spectra, each times the defocus OTF of its own distance from focus.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

import numpy as np
from scipy import fft as sfft

from acquisition.sim.optics import (
    CameraModel,
    ChannelOptics,
    ObjectiveOptics,
    pixel_box_transfer,
)
from acquisition.sim.specimen import Specimen
from acquisition.sim.volume import VolumeSpecimen, volume_spectra
from srscope.optics import airy_otf, defocus_otf

_LEVEL_CACHE: OrderedDict[tuple, Level] = OrderedDict()
_LEVEL_CACHE_SIZE = 6
_LOCK = Lock()


@dataclass(frozen=True)
class Level:
    """One period (2 tiles, mirrored) of the pixel-integrated image on a fine grid."""

    period: np.ndarray  # (2*My, 2*Mx) float32, samples at (j + 0.5) * step_um from origin
    step_um: float  # working-grid spacing = camera pixel / k
    k: int  # samples per camera pixel
    origin_um: tuple[float, float]  # stage (y, x) of the tile's top-left corner

    def crop(self, y_um: float, x_um: float, h: int, w: int, scale: float = 1.0) -> np.ndarray:
        """Camera pixels whose first pixel centre is at stage (y_um, x_um), times ``scale``.

        Positions between fine-grid samples are interpolated linearly, so any
        stage move shifts the image by exactly move / pixel size (a stage at
        rest, the usual case, costs a single strided copy).
        """
        vy = (y_um - self.origin_um[0]) / self.step_um - 0.5
        vx = (x_um - self.origin_um[1]) / self.step_um - 0.5
        jy, jx = _split(vy), _split(vx)
        out = np.empty((h, w), dtype=np.float32)
        terms = [(iy, ix, wy * wx) for iy, wy in jy for ix, wx in jx]
        self._copy(terms[0][0], terms[0][1], out, scale * terms[0][2])
        if len(terms) > 1:
            tmp = np.empty_like(out)
            for iy, ix, wgt in terms[1:]:
                self._copy(iy, ix, tmp, scale * wgt)
                out += tmp
        return out

    def _copy(self, jy: int, jx: int, out: np.ndarray, scale: float) -> None:
        h, w = out.shape
        py, px = self.period.shape
        for oy0, oy1, sy in _segments(jy, h, self.k, py):
            for ox0, ox1, sx in _segments(jx, w, self.k, px):
                ny, nx = oy1 - oy0, ox1 - ox0
                src = self.period[
                    sy : sy + self.k * (ny - 1) + 1 : self.k,
                    sx : sx + self.k * (nx - 1) + 1 : self.k,
                ]
                np.multiply(src, np.float32(scale), out=out[oy0:oy1, ox0:ox1])


def _split(v: float, tol: float = 0.02) -> list[tuple[int, float]]:
    """Fine-grid index (or two, with linear weights) for a fractional position."""
    base = math.floor(v + tol)
    frac = v - base
    if frac <= tol:  # on a sample (within 2 % of a fine step): no interpolation
        return [(base, 1.0)]
    if frac >= 1 - tol:
        return [(base + 1, 1.0)]
    return [(base, 1.0 - frac), (base + 1, frac)]


def _segments(start: int, n: int, step: int, period: int):
    """Runs of ``start + step*i`` (i < n) that do not wrap modulo ``period``."""
    i = 0
    while i < n:
        s = (start + step * i) % period
        run = min(n - i, (period - s + step - 1) // step)
        yield i, i + run, s
        i += run


@functools.lru_cache(maxsize=4)
def _cosine_spectrum(specimen: Specimen, channel: ChannelOptics) -> np.ndarray:
    """DCT-II of what the channel sees: the spectrum of the mirror-tiled specimen."""
    return sfft.dctn(specimen.plane_for(channel), type=2, norm="ortho", workers=-1)


def samples_per_pixel(
    objective: ObjectiveOptics, channel: ChannelOptics, pixel_um: float, tile_px: int = 0
) -> int:
    """Fine-grid samples per camera pixel, so the grid carries what the optics pass.

    Enough samples to hold the whole optical band, so the camera's aliasing (the
    LR objective's hallmark) is rendered as a camera has it. Exception for big
    levels (``tile_px`` camera pixels, mirrored x4, over 64 MB at 2 samples): one
    sample per pixel when the optics pass under 15 % at the camera's Nyquist
    frequency, where the little that would alias is negligible.
    """
    wl_um = channel.wavelength_nm / 1000.0
    cutoff = 2.0 * objective.na / wl_um
    nyquist = 1.0 / (2.0 * pixel_um)
    if cutoff <= nyquist:
        return 1
    big = 4 * 4 * tile_px * 4 > 64 * 2**20  # float32, 2x2 samples, mirrored period
    if big and float(airy_otf(np.asarray(nyquist), objective.na, wl_um)) < 0.15:
        return 1
    return math.ceil(cutoff / nyquist)


def _pixels_across(length_um: float, objective: ObjectiveOptics, camera: CameraModel) -> int:
    """Camera pixels across a specimen tile, the same physical length for every objective.

    The tile is rendered on a whole number of camera pixels, which stretches it
    slightly. Rounding to whole camera *pitches* (pitch / magnification pixels)
    makes that stretch one common factor for all integer magnifications, so the
    objectives agree on the geometry to the pixel, as a real rig's do (rounding
    per objective gave the 5x and 20x images magnifications 0.07 % apart, which
    showed up as a residual at every edge in calibration).
    """
    pixel_um = camera.pixel_pitch_um / objective.magnification
    cells = max(1, round(length_um / camera.pixel_pitch_um)) * objective.magnification
    if abs(cells - round(cells)) < 1e-6:
        return round(cells)
    return max(1, round(length_um / pixel_um))


def make_level(
    specimen: Specimen,
    objective: ObjectiveOptics,
    channel: ChannelOptics,
    defocus_um: float,
    camera: CameraModel,
) -> Level:
    """Blur, integrate over pixels and resample one tile, then mirror it into a period."""
    key = (
        id(specimen),
        specimen.name,
        objective,
        channel,
        round(defocus_um, 3),
        camera.pixel_pitch_um,
    )
    if (level := _cached(key)) is not None:
        return level
    coeffs = _cosine_spectrum(specimen, channel)
    g = _Grid.of(coeffs.shape, specimen.pixel_size_um, objective, channel, camera)
    wl_um = channel.wavelength_nm / 1000.0
    transfer = airy_otf(g.fr, objective.na, wl_um) * defocus_otf(g.fr, objective.na, defocus_um)
    transfer *= pixel_box_transfer(g.fy, g.pixel_um) * pixel_box_transfer(g.fx, g.pixel_um)
    cy, cx = transfer.shape
    return _store(key, g.level(coeffs[:cy, :cx] * transfer))


def make_volume_level(
    volume: VolumeSpecimen,
    objective: ObjectiveOptics,
    channel: ChannelOptics,
    focus_um: float,
    camera: CameraModel,
    sheet_um: float = 0.0,
) -> Level:
    """The level of a thick specimen at focus ``focus_um`` (stage z minus the focus plane).

    Incoherent widefield imaging of a fluorescent volume: the image is the sum over
    the planes, each through the in-focus OTF times the defocus OTF of its distance
    ``focus_um - z_k`` from focus, summed in Fourier space (one inverse DCT per
    focus position, cached like the 2D levels). ``sheet_um`` > 0: light-sheet
    illumination, a Gaussian sheet of that FWHM in the focal plane, so plane ``k``
    is excited by ``exp(-4 ln2 ((z_k - focus) / sheet)²)`` (optical sectioning).
    """
    key = ("volume", id(volume), volume.name, objective, channel, round(focus_um, 3))
    key += (camera.pixel_pitch_um, round(sheet_um, 3))
    if (level := _cached(key)) is not None:
        return level
    spectra = volume_spectra(volume, channel)
    g = _Grid.of(spectra.shape[1:], volume.pixel_size_um, objective, channel, camera)
    cy, cx = g.fr.shape
    acc = np.zeros((cy, cx), dtype=np.float32)
    for coeffs, z_k in zip(spectra, volume.z_um, strict=True):
        excite = sheet_excitation(z_k - focus_um, sheet_um)
        if excite > 1e-4:  # planes far outside a light sheet are dark
            otf = defocus_otf(g.fr, objective.na, focus_um - z_k)
            acc += coeffs[:cy, :cx] * (otf if excite == 1.0 else otf * np.float32(excite))
    acc *= airy_otf(g.fr, objective.na, channel.wavelength_nm / 1000.0)
    acc *= pixel_box_transfer(g.fy, g.pixel_um) * pixel_box_transfer(g.fx, g.pixel_um)
    _, const = volume.recipe(channel)  # a uniform background: DC term only, once
    acc[0, 0] += np.float32(const * math.sqrt(spectra.shape[1] * spectra.shape[2]))
    return _store(key, g.level(acc))


def sheet_excitation(dz_um: float, sheet_um: float) -> float:
    """Relative excitation of a plane ``dz_um`` from a Gaussian light sheet of FWHM
    ``sheet_um`` (1 everywhere for widefield epi-illumination, ``sheet_um`` = 0)."""
    if sheet_um <= 0:
        return 1.0
    return math.exp(-4.0 * math.log(2.0) * (dz_um / sheet_um) ** 2)


def _cached(key: tuple) -> Level | None:
    with _LOCK:
        if key in _LEVEL_CACHE:
            _LEVEL_CACHE.move_to_end(key)
            return _LEVEL_CACHE[key]
    return None


def _store(key: tuple, level: Level) -> Level:
    with _LOCK:
        _LEVEL_CACHE[key] = level
        while len(_LEVEL_CACHE) > _LEVEL_CACHE_SIZE:
            _LEVEL_CACHE.popitem(last=False)
    return level


@dataclass(frozen=True)
class _Grid:
    """The fine grid of one specimen tile seen through one objective and camera."""

    shape: tuple[int, int]  # specimen pixels (ny, nx)
    size: tuple[int, int]  # fine samples (my, mx)
    k: int
    pixel_um: float
    fy: np.ndarray  # (cy, 1) cycles/µm of the cosine terms kept
    fx: np.ndarray  # (1, cx)
    fr: np.ndarray  # (cy, cx)

    @classmethod
    def of(
        cls,
        shape: tuple[int, ...],
        specimen_px_um: float,
        objective: ObjectiveOptics,
        channel: ChannelOptics,
        camera: CameraModel,
    ) -> _Grid:
        ny, nx = shape
        pixel_um = camera.pixel_pitch_um / objective.magnification
        ly, lx = ny * specimen_px_um, nx * specimen_px_um
        py, px = _pixels_across(ly, objective, camera), _pixels_across(lx, objective, camera)
        k = samples_per_pixel(objective, channel, pixel_um, py * px)
        my, mx = k * py, k * px
        fy = (np.arange(min(ny, my), dtype=np.float32) / (2 * ly))[:, None]
        fx = (np.arange(min(nx, mx), dtype=np.float32) / (2 * lx))[None, :]
        fr = np.sqrt(fy**2 + fx**2)
        return cls((ny, nx), (my, mx), k, pixel_um, fy, fx, fr)

    def level(self, block: np.ndarray) -> Level:
        """Filtered cosine terms back to the fine grid, mirrored into one period."""
        (ny, nx), (my, mx) = self.shape, self.size
        spec = np.zeros((my, mx), dtype=np.float32)
        spec[: block.shape[0], : block.shape[1]] = block
        tile = sfft.idctn(spec, type=2, norm="ortho", workers=-1)
        tile *= np.float32(math.sqrt((my * mx) / (ny * nx)))
        np.clip(tile, 0.0, None, out=tile)
        top = np.concatenate([tile, tile[:, ::-1]], axis=1)
        period = np.ascontiguousarray(np.concatenate([top, top[::-1]], axis=0), dtype=np.float32)
        step = self.pixel_um / self.k
        return Level(period, step, self.k, (-my * step / 2.0, -mx * step / 2.0))


class NoiseBank:
    """Pre-drawn standard normal samples; a frame takes a random window of them.

    Drawing 10⁶ fresh normals costs more than the rest of a frame; a random
    window into a bank 8x larger than the biggest frame, with a random sign,
    gives noise that is independent in practice between pixels and frames.
    """

    def __init__(self, size: int = 1 << 23, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)
        self._bank = self._rng.standard_normal(size, dtype=np.float32)

    def draw(self, n: int) -> np.ndarray:
        if n * 2 > self._bank.size:
            return self._rng.standard_normal(n, dtype=np.float32)
        start = int(self._rng.integers(0, self._bank.size - n))
        return self._bank[start : start + n]

    def sign(self) -> np.float32:
        return np.float32(1.0 if self._rng.random() < 0.5 else -1.0)


def expose(
    electrons: np.ndarray,
    camera: CameraModel,
    out: np.ndarray,
    noise: NoiseBank | None,
) -> None:
    """Photo-electrons (float32, modified in place) to camera counts in ``out``.

    Shot noise (Gaussian approximation of Poisson, variance = mean) and read
    noise, full-well clipping, conversion gain, offset, and the ADC range; in
    as few passes over the frame as numpy allows (this is the hot loop).
    """
    if noise is not None:
        sd = np.add(electrons, np.float32(camera.read_noise_e**2))
        np.sqrt(sd, out=sd)
        sd *= noise.draw(electrons.size).reshape(electrons.shape)
        if noise.sign() < 0:
            electrons -= sd
        else:
            electrons += sd
    electrons *= np.float32(1.0 / camera.gain_e_per_adu)
    electrons += np.float32(camera.offset_adu + 0.5)  # + 0.5: round on the cast below
    top = min(camera.max_adu, camera.full_well_e / camera.gain_e_per_adu + camera.offset_adu)
    np.clip(electrons, np.float32(0.0), np.float32(top), out=out, casting="unsafe")


class ExposureCache:
    """The expected frame and its noise scale for the last field, in camera units.

    A camera at rest (live view, a focused field) then costs three passes per
    frame: ``mean + sign * sd * noise``, clipped into the output buffer.
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._mean: np.ndarray | None = None
        self._sd: np.ndarray | None = None
        self._tmp: np.ndarray | None = None
        self._owner: object = None

    def get(self, key: tuple) -> tuple[np.ndarray, np.ndarray] | None:
        if key == self._key and self._mean is not None and self._sd is not None:
            return self._mean, self._sd
        return None

    def put(
        self, key: tuple, electrons: np.ndarray, camera: CameraModel, owner: object = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cache ``electrons`` (consumed) for ``key``; ``owner`` (the level) is kept alive,
        so that its ``id`` in the key cannot be reused by another object."""
        inv_g = np.float32(1.0 / camera.gain_e_per_adu)
        sd = np.add(electrons, np.float32(camera.read_noise_e**2))
        np.sqrt(sd, out=sd)
        sd *= inv_g
        mean = electrons  # reused in place
        mean *= inv_g
        mean += np.float32(camera.offset_adu + 0.5)  # + 0.5: round on the cast
        self._key, self._mean, self._sd, self._owner = key, mean, sd, owner
        return mean, sd

    def expose(
        self,
        mean: np.ndarray,
        sd: np.ndarray,
        camera: CameraModel,
        out: np.ndarray,
        noise: NoiseBank | None,
    ) -> None:
        top = min(camera.max_adu, camera.full_well_e / camera.gain_e_per_adu + camera.offset_adu)
        if noise is None:
            np.clip(mean, np.float32(0.0), np.float32(top), out=out, casting="unsafe")
            return
        if self._tmp is None or self._tmp.shape != mean.shape:
            self._tmp = np.empty_like(mean)
        tmp = self._tmp
        np.multiply(sd, noise.draw(mean.size).reshape(mean.shape), out=tmp)
        if noise.sign() < 0:
            np.subtract(mean, tmp, out=tmp)
        else:
            tmp += mean
        np.clip(tmp, np.float32(0.0), np.float32(top), out=out, casting="unsafe")
