"""Export an srscope model as a bioimage.io model package (``srscope export-bioimageio``).

The package is described with ``bioimageio.spec``'s own classes (model format 0.5)
and written with its ``save_bioimageio_package``, so the format stays whatever the
installed spec says rather than hand-written YAML that drifts. What maps onto the
spec:

- weights: the srscope ONNX file itself (its ``srscope.*`` metadata rides along);
- axes ``batch, channel, y, x``; the output's spatial axes are sized by reference
  to the input's with physical pixel sizes as ``scale`` (nm when µm rounding would
  make the spec's size arithmetic inexact), i.e. ×scale larger;
- no halo: bioimageio.core pads the input by a halo (with zeros) *before* its
  ``scale_range`` pre-processing, which shifts the percentiles; so the image is
  taken whole, as srscope normalises it (the receptive field is in the README);
- pre-processing: srscope's normalisation (percentiles ``low``/``high`` of the
  whole image, per channel) is ``scale_range`` over ``y, x`` per sample;
- post-processing: the spec has no step that inverts a data-dependent
  ``scale_range``, so the output stays in normalised units (the description and
  the output tensor say so); srscope's own output is ``sr * (hi - lo) + lo``;
- test input: a seeded synthetic LR frame; test output: srscope's normalisation and
  the ONNX graph on it in one piece (equal to ``srscope predict`` away from the
  border, where srscope reflects the image and the graph zero-pads).

bioimageio.spec is an optional dependency: it is imported inside the functions.

Over 400 lines because each spec field (axes, pre/post-processing, test tensors, cover,
citation) is mapped and explained where it is built.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sr_engine.errors import ModelError
from sr_engine.metadata import FixedNormalization, ModelMetadata, PercentileNormalization
from srscope.atomic import check_output
from srscope.errors import OutputError, SrscopeError

SEED_PAPER = (
    "Zhang H, Fang C, Xie X, Yang Y, Mei W, Jin D, Fei P. High-throughput, high-resolution "
    "deep learning microscopy based on registration-free generative adversarial network. "
    "Biomedical Optics Express 10(3):1044-1063 (2019)."
)
SEED_DOI = "10.1364/BOE.10.001044"
LICENSE = "BSD-3-Clause"  # pyproject.toml's license
INPUT_ID, OUTPUT_ID = "lr", "sr"
TEST_SHAPE = (64, 64)  # LR pixels: one engine window, so tiling cannot differ
TEST_SEED = 0
# srscope's ONNX Runtime graph rewrites (BN folding, fusions) change float32 rounding
TOLERANCE = {"relative_tolerance": 1e-4, "absolute_tolerance": 1e-4}


@dataclass(frozen=True)
class ExportResult:
    """What was written and what validation and reproduction said."""

    path: Path
    status: str  # bioimageio.spec validation summary status ("valid-format", "passed", ...)
    max_abs_diff: float | None  # bioimageio.core output vs srscope (normalised units)


def require_spec() -> Any:
    """Import bioimageio.spec or fail with one line naming the missing extra."""
    try:
        import bioimageio.spec as spec
    except ImportError:
        raise SrscopeError(
            "bioimage.io export needs bioimageio.spec: pip install 'srscope[bioimageio]'"
        ) from None
    return spec


def load_model(spec: str | Path) -> Any:
    """An :class:`SRModel` from a file or bundled name; bad input becomes one-line errors."""
    from sr_engine.bundled import resolve_model
    from sr_engine.model import SRModel

    path = resolve_model(spec)
    if not Path(path).is_file():
        raise ModelError(f"model not found: {spec}")
    return SRModel(path)


def test_scene(meta: ModelMetadata, shape: tuple[int, int] = TEST_SHAPE) -> np.ndarray:
    """A deterministic camera-like LR frame ``(C, Y, X)`` float32 in camera counts.

    Seeded spots, blobs and a smooth background blurred by a PSF-like Gaussian plus
    Poisson and read noise: structure at every scale, so the test pins the model's
    behaviour rather than a flat field. Integer-valued, as a 16-bit camera gives.
    """
    from scipy import ndimage

    rng = np.random.default_rng(TEST_SEED)
    h, w = shape
    planes = []
    for _ in range(meta.n_channels):
        img = np.zeros(shape)
        n = h * w // 40
        img[rng.integers(0, h, n), rng.integers(0, w, n)] = rng.uniform(300, 3000, n)
        blobs = np.zeros(shape)
        m = max(n // 8, 4)
        blobs[rng.integers(0, h, m), rng.integers(0, w, m)] = rng.uniform(2e3, 8e3, m)
        scene = ndimage.gaussian_filter(img, 0.8) * 4 + ndimage.gaussian_filter(blobs, 2.5) * 8
        scene += ndimage.gaussian_filter(rng.uniform(0, 1, shape), 8) * 400 + 100
        counts = rng.poisson(scene) + rng.normal(0, 2.0, shape)
        planes.append(np.clip(np.round(counts), 0, 65535))
    return np.stack(planes).astype(np.float32)


def reference_output(model: Any, lr: np.ndarray) -> np.ndarray:
    """What the package computes on ``lr`` ``(C, Y, X)``: srscope's normalisation of the
    whole image, then the ONNX graph on it in one piece (normalised output units).

    Inside the image this equals ``srscope predict``; within the receptive field of the
    border the graph's own zero padding applies where srscope reflects the image.
    """
    from sr_engine.normalize import fit_normalizer

    norm = fit_normalizer(model.meta.normalization, lr[None], 1, model.n_channels)
    return model.run(norm.before(lr)[None].astype(np.float32))[0]


def preprocessing(meta: ModelMetadata) -> list[Any]:
    """srscope's normalisation as bioimage.io pre-processing steps."""
    from bioimageio.spec.model import v0_5 as m

    norm = meta.normalization
    if isinstance(norm, PercentileNormalization):
        step = m.ScaleRangeDescr(
            kwargs=m.ScaleRangeKwargs(
                axes=(m.AxisId("y"), m.AxisId("x")),
                min_percentile=norm.low,
                max_percentile=norm.high,
            )
        )
    else:
        assert isinstance(norm, FixedNormalization)
        span = norm.max - norm.min
        step = m.ScaleLinearDescr(
            kwargs=m.ScaleLinearKwargs(gain=1.0 / span, offset=-norm.min / span)
        )
    f32 = m.EnsureDtypeKwargs(dtype="float32")
    return [m.EnsureDtypeDescr(kwargs=f32), step, m.EnsureDtypeDescr(kwargs=f32)]


def postprocessing(meta: ModelMetadata) -> list[Any]:
    """Back to input units where the spec can express it (fixed normalisation only)."""
    from bioimageio.spec.model import v0_5 as m

    norm = meta.normalization
    if isinstance(norm, FixedNormalization):
        step = m.ScaleLinearDescr(
            kwargs=m.ScaleLinearKwargs(gain=norm.max - norm.min, offset=norm.min)
        )
        return [step]
    return []


def output_units(meta: ModelMetadata) -> str:
    """One sentence on what the output values mean (the spec cannot undo percentiles)."""
    norm = meta.normalization
    if isinstance(norm, FixedNormalization):
        return "The output is in the input's units (camera counts)."
    return (
        f"The output is in normalised units: 0 and 1 are the input's {norm.low} and "
        f"{norm.high} percentiles per channel (srscope's output in camera counts is "
        f"output * (p{norm.high} - p{norm.low}) + p{norm.low} of the input)."
    )


def input_axes(meta: ModelMetadata, min_size: int) -> list[Any]:
    """``batch, channel, y, x`` with the LR pixel size as physical scale."""
    from bioimageio.spec.model import v0_5 as m

    lr, _, unit = pixel_scales(meta)

    def space(axis: str) -> Any:
        return m.SpaceInputAxis(
            id=m.AxisId(axis),
            size=m.ParameterizedSize(
                min=min_size, step=1
            ),  # any size: the model is fully convolutional
            scale=lr,
            unit=unit,
            concatenable=False,
        )

    return [m.BatchAxis(), channel_axis(meta), space("y"), space("x")]


def output_axes(meta: ModelMetadata, halo_hr: int) -> list[Any]:
    """Output spatial axes sized ``scale ×`` the input's via ``SizeReference``."""
    from bioimageio.spec.model import v0_5 as m

    _, hr, unit = pixel_scales(meta)
    ref = {"tensor_id": m.TensorId(INPUT_ID)}

    def space(axis: str) -> Any:
        size = m.SizeReference(axis_id=m.AxisId(axis), **ref)
        kw = {"id": m.AxisId(axis), "size": size, "scale": hr, "unit": unit}
        if halo_hr > 0:
            return m.SpaceOutputAxisWithHalo(halo=halo_hr, **kw)
        return m.SpaceOutputAxis(**kw)

    return [m.BatchAxis(), channel_axis(meta), space("y"), space("x")]


def channel_axis(meta: ModelMetadata) -> Any:
    """The channel axis named after the model's channels (identifiers: lower case)."""
    from bioimageio.spec.model import v0_5 as m

    names = [m.Identifier(_identifier(c, i)) for i, c in enumerate(meta.channels)]
    return m.ChannelAxis(channel_names=names)


def _identifier(name: str, index: int) -> str:
    clean = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
    return clean if clean and clean[0].isalpha() else f"ch{index}_{clean}".rstrip("_")


def pixel_scales(meta: ModelMetadata, sizes: range = range(1, 16385)) -> tuple[float, float, Any]:
    """Input and output axis ``scale`` and ``unit`` whose size arithmetic is exact.

    The spec computes an output size as ``int(n * in_scale / out_scale)``; with 1.3 µm
    and 0.325 µm that is 27 for n = 7 (float rounding), not 28. Nanometres usually
    make both integers (exact); if not, unit-less ``scale`` / 1 (physical sizes are
    then in the description only).
    """
    lr_um = meta.lr_pixel_size_um
    candidates: list[tuple[float, float, Any]] = [
        (lr_um, lr_um / meta.scale, "micrometer"),
        (round(lr_um * 1000, 3), round(lr_um * 1000, 3) / meta.scale, "nanometer"),
        (float(meta.scale), 1.0, None),
    ]
    for lr, hr, unit in candidates:
        if all(int(n * lr / hr) == n * meta.scale for n in sizes):
            return lr, hr, unit
    raise SrscopeError(f"no exact axis scale for ×{meta.scale}")  # unreachable: ints


def write_cover(lr: np.ndarray, sr: np.ndarray, scale: int, path: Path) -> Path:
    """PNG of LR (nearest ×scale) | SR of the first channel, both on the LR's 0.1–99.9 % range."""
    import matplotlib.image

    up = np.repeat(np.repeat(lr[0], scale, axis=0), scale, axis=1)
    lo, hi = np.percentile(lr[0], [0.1, 99.9])
    norm_lr = (up - lo) / max(hi - lo, 1e-6)
    both = np.concatenate([norm_lr, np.full((up.shape[0], 4), 1.0), sr[0]], axis=1)
    matplotlib.image.imsave(path, np.clip(both, 0, 1), cmap="gray", vmin=0, vmax=1)
    return path


def write_documentation(meta: ModelMetadata, source: str, halo_lr: int, path: Path) -> Path:
    """README.md of the package: what the model is, units, provenance, how to run it."""
    training = meta.training
    lines = [
        f"# {meta.name or Path(source).stem}: srscope ×{meta.scale} super-resolution",
        "",
        meta.description or "An srscope super-resolution model.",
        "",
        "## Input and output",
        "",
        f"- input: {', '.join(meta.channels)} at {meta.lr_pixel_size_um} µm per pixel "
        f"(camera counts, any size); output: ×{meta.scale}, "
        f"{meta.lr_pixel_size_um / meta.scale:.4g} µm per pixel.",
        f"- normalisation: {meta.normalization.model_dump()} over the whole image, per channel.",
        f"- {output_units(meta)}",
        f"- receptive field: {halo_lr} LR pixels per side; within it of the border the "
        "graph zero-pads where `srscope predict` reflects the image.",
        "",
        "## Provenance",
        "",
        f"- exported from `{Path(source).name}` by `srscope export-bioimageio`.",
    ]
    for key in ("data", "iterations", "seed", "srscope_version", "torch_version"):
        if key in training:
            lines.append(f"- training {key}: {training[key]}")
    if meta.degradation is not None:
        lines.append(
            "- trained on LR made by srscope's calibrated degradation (registration-free)."
        )
    lines += [
        "",
        "## Running it",
        "",
        "Any bioimage.io runtime (bioimageio.core, deepImageJ, ...), or "
        "`srscope predict MODEL.onnx IMAGE OUT` with the packaged ONNX file for output in "
        "camera units, tiled to any image size.",
        "",
        "## Reference",
        "",
        f"{SEED_PAPER} doi:{SEED_DOI}",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def build_description(model: Any, staging: Path) -> Any:
    """The bioimage.io ``ModelDescr`` of ``model``, its files written into ``staging``."""
    from bioimageio.spec.model import v0_5 as m

    meta: ModelMetadata = model.meta
    halo_lr = int(model.receptive_field)
    lr = test_scene(meta)
    sr = reference_output(model, lr)
    weights = Path(shutil.copyfile(model.source, staging / "weights.onnx"))
    np.save(staging / "test_input.npy", lr[None])
    np.save(staging / "test_output.npy", sr[None])
    cover = write_cover(lr, sr, meta.scale, staging / "cover.png")
    doc = write_documentation(meta, str(model.source), halo_lr, staging / "README.md")
    opset = max(
        (o.version for o in _onnx_opsets(weights) if o.domain in ("", "ai.onnx")), default=17
    )
    inp = m.InputTensorDescr(
        id=m.TensorId(INPUT_ID),
        description=f"LR image, camera counts, {meta.lr_pixel_size_um} µm/px",
        axes=input_axes(meta, min_size=max(16, 2 * halo_lr + 8)),
        test_tensor=m.FileDescr(source=staging / "test_input.npy"),
        data=m.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=preprocessing(meta),
    )
    out = m.OutputTensorDescr(
        id=m.TensorId(OUTPUT_ID),
        description="SR image; units: see the model description",
        # no halo: bioimageio.core pads the input by it (zeros) before its percentile
        # pre-processing, which shifts the normalisation; the image is taken whole instead
        axes=output_axes(meta, 0),
        test_tensor=m.FileDescr(source=staging / "test_output.npy"),
        data=m.IntervalOrRatioDataDescr(type="float32"),
        postprocessing=postprocessing(meta),
    )
    name = meta.name or Path(str(model.source)).stem
    return m.ModelDescr(
        name=f"srscope {name} x{meta.scale} super-resolution",
        description=(
            f"×{meta.scale} super-resolution for light microscopy "
            f"({', '.join(meta.channels)}, {meta.lr_pixel_size_um} µm/px in). " + output_units(meta)
        ),
        authors=[m.Author(name="srscope contributors")],
        cite=[m.CiteEntry(text=SEED_PAPER, doi=m.Doi(SEED_DOI))],
        license=m.LicenseId(LICENSE),
        documentation=m.FileDescr(source=doc),
        covers=[m.FileDescr(source=cover)],
        tags=["super-resolution", "microscopy", "fluorescence", "2d", "onnx", "srscope"],
        inputs=[inp],
        outputs=[out],
        weights=m.WeightsDescr(
            onnx=m.OnnxWeightsDescr(
                source=weights, opset_version=opset, comment="srscope model file"
            )
        ),
        config=m.Config(
            bioimageio=m.BioimageioConfig(
                reproducibility_tolerance=[m.ReproducibilityTolerance(**TOLERANCE)],
                task="super-resolution",
            )
        ),
    )


def _onnx_opsets(path: Path) -> list[Any]:
    import onnx

    return list(onnx.load(str(path), load_external_data=False).opset_import)


def validate_package(path: Path) -> str:
    """Load the written package with bioimageio.spec; its summary status, or an error."""
    from bioimageio.spec import load_description

    descr = load_description(path)
    summary = descr.validation_summary
    if summary.status not in ("valid-format", "passed"):
        errors = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in summary.errors)
        raise SrscopeError(f"written package does not validate: {errors or summary.status}")
    return str(summary.status)


def export_bioimageio(
    model_spec: str | Path, out: Path, *, overwrite: bool = False
) -> ExportResult:
    """Write ``out`` (a .zip) for ``model_spec`` and validate it; refuse an existing ``out``."""
    require_spec()
    from bioimageio.spec import save_bioimageio_package

    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise OutputError(f"output must be a .zip file: {out}")
    if out.exists() and not overwrite:
        raise OutputError(f"{out} exists (use --overwrite to replace it)")
    if not out.parent.is_dir():
        check_output(out, overwrite)  # a path under a file or in an unwritable place
        raise OutputError(f"output folder does not exist: {out.parent}")
    check_output(out, overwrite)
    model = load_model(model_spec)
    with tempfile.TemporaryDirectory(prefix="srscope-bioimageio-") as tmp:
        descr = build_description(model, Path(tmp))
        partial = out.with_name(out.name + ".partial.zip")
        save_bioimageio_package(descr, output_path=partial)
    status = validate_package(partial)
    partial.replace(out)
    return ExportResult(path=out, status=status, max_abs_diff=None)
