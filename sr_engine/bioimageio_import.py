"""Run a bioimage.io model package (``.zip`` or its ``rdf.yaml``) as an srscope model.

``srscope predict PACKAGE.zip IMAGE OUT`` accepts a bioimage.io model (format
0.5) of a 2D super-resolution model with ONNX weights. The package is read as
data only: ``yaml.safe_load`` for the description and ``zipfile`` for members
read by name into memory (sizes checked first; nothing is extracted, no code in
the package runs). When ``bioimageio.spec`` is installed (the optional extra
``bioimageio``) the package is validated with it first; without it that step is
skipped and the checks below are all there is.

What maps onto srscope's model metadata (DESIGN.md, "The model file"):

- axes: exactly ``batch, channel, y, x`` in and out (2D; the ONNX graph is
  ``[N, C, H, W]``); channel names become ``srscope.channels``;
- scale: the output's ``y``/``x`` sizes refer to the input's, so the SR factor is
  the ratio of their physical ``scale`` (an integer 2 to 5, equal in ``y`` and
  ``x``); the input's ``scale`` and ``unit`` give the LR pixel size in µm;
- halo: the output's halo in HR pixels, rounded up to LR pixels, is the receptive
  field (else srscope measures it);
- pre-processing: ``scale_range`` over ``y, x`` (per sample) is srscope's
  percentile normalisation; ``scale_linear`` with one gain and offset is a fixed
  one (``min = -offset / gain``, ``max = (1 - offset) / gain``); none is
  ``fixed 0..1``; ``ensure_dtype`` to float is a no-op;
- post-processing: none, or the exact inverse of a ``scale_linear`` pre-step.
  srscope always maps the output back to the input's units with the inverse of
  its normalisation (so its output is in camera counts where a bioimage.io
  runtime may return normalised units).

Anything else (another format version, 3D or time axes, weights other than ONNX,
weights outside the package, zero-mean-unit-variance or clipping steps, an output
not sized by the input) is refused in one line naming what cannot be honoured.
Provenance in the weights' own ``srscope.*`` metadata (an srscope export) is kept.

Over 400 lines because every field of the package is checked here, each refusal with its
own one-line message, before anything runs.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from sr_engine.metadata import (
    PREFIX,
    FixedNormalization,
    ModelMetadata,
    ModelMetadataError,
    Normalization,
    PercentileNormalization,
    attach_metadata,
    props_of,
)
from srscope import logger
from srscope.errors import SrscopeError

if TYPE_CHECKING:
    from sr_engine.model import SRModel

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")
MAX_RDF_BYTES = 1 << 20
MAX_WEIGHTS_BYTES = 2 << 30  # protobuf's limit for one ONNX file
UNIT_UM = {"micrometer": 1.0, "nanometer": 1e-3, "millimeter": 1e3, "meter": 1e6, "angstrom": 1e-4}
FLOAT_TYPES = ("float32", "float64")


class PackageError(SrscopeError):
    """A bioimage.io package srscope cannot read or cannot run faithfully."""


@dataclass(frozen=True)
class Package:
    """A package's description, its ONNX weights, and the srscope metadata they map to."""

    path: Path
    rdf: dict[str, Any]
    weights: bytes  # the ONNX file with ``meta`` attached
    meta: ModelMetadata
    validated: str  # bioimageio.spec's status, or "skipped (bioimageio.spec not installed)"


def is_package(spec: str | os.PathLike) -> bool:
    """Whether ``spec`` names a bioimage.io package (a .zip, or its .yaml description)."""
    name = str(spec).lower()
    return name.endswith((".zip", ".yaml", ".yml"))


def load_package_model(path: str | os.PathLike, **kw: Any) -> SRModel:
    """An :class:`SRModel` running the package's ONNX weights with the mapped metadata."""
    from sr_engine.model import SRModel

    pkg = read_package(path)
    model = SRModel(pkg.weights, **kw)
    model.source = str(pkg.path)
    logger.info("%s: bioimage.io package, validation %s", pkg.path, pkg.validated)
    return model


def read_package(path: str | os.PathLike) -> Package:
    """Read, check and map a package (see the module docstring); refuse in one line."""
    path = Path(path)
    if not path.exists():
        raise PackageError(f"bioimage.io package not found: {path}")
    validated = _validate_with_spec(path)
    read, rdf = _open(path)
    _check_kind(rdf, path)
    weights_entry = _onnx_weights(rdf, path)
    weights = read(weights_entry["source"], MAX_WEIGHTS_BYTES)
    digest = weights_entry.get("sha256")
    if digest and hashlib.sha256(weights).hexdigest() != str(digest).lower():
        raise PackageError(f"{path}: ONNX weights do not match their sha256 in the description")
    proto = _load_onnx(weights, path)
    embedded = _embedded_metadata(proto, path)
    meta = metadata_from_rdf(rdf, embedded, str(path))
    data = attach_metadata(proto, meta).SerializeToString()
    return Package(path, rdf, data, meta, validated)


# -- reading ---------------------------------------------------------------------
def _open(path: Path) -> tuple[Any, dict[str, Any]]:
    """``(read(name, limit) -> bytes, rdf)`` for a zip or a description beside its files."""
    if path.suffix.lower() == ".zip":
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PackageError(f"{path} is not a readable zip file ({exc})") from None
        members = {info.filename: info for info in zf.infolist()}
        rdf_name = next((n for n in RDF_NAMES if n in members), None)
        if rdf_name is None:
            named = [n for n in members if n.endswith(".bioimageio.yaml") and "/" not in n]
            rdf_name = named[0] if len(named) == 1 else None
        if rdf_name is None:
            raise PackageError(f"{path} has no rdf.yaml: not a bioimage.io package")

        def read(name: str, limit: int) -> bytes:
            key = _member_name(name, path)
            info = members.get(key)
            if info is None:
                raise PackageError(f"{path}: {key} is named in the description but not in the zip")
            if info.file_size > limit:
                raise PackageError(f"{path}: {key} is too large ({info.file_size} bytes)")
            with zf.open(info) as fh:
                data = fh.read(limit + 1)
            if len(data) > limit:
                raise PackageError(f"{path}: {key} is larger than its zip entry says")
            return data

        return read, _parse_rdf(read(rdf_name, MAX_RDF_BYTES), path)

    root = path.parent.resolve()

    def read_file(name: str, limit: int) -> bytes:
        target = (root / _member_name(name, path)).resolve()
        if root not in target.parents:
            raise PackageError(f"{path}: {name} lies outside the package folder")
        if not target.is_file():
            raise PackageError(f"{path}: {name} is named in the description but not found")
        if target.stat().st_size > limit:
            raise PackageError(f"{path}: {name} is too large ({target.stat().st_size} bytes)")
        return target.read_bytes()

    if path.stat().st_size > MAX_RDF_BYTES:
        raise PackageError(f"{path} is too large for a model description")
    return read_file, _parse_rdf(path.read_bytes(), path)


def _member_name(name: Any, path: Path) -> str:
    """A relative file name inside the package; URLs and escapes are refused."""
    text = str(name)
    if "://" in text or text.startswith(("http:", "https:", "doi:", "zenodo:")):
        raise PackageError(f"{path}: {text} is not inside the package (download is not done)")
    pure = PurePosixPath(text.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise PackageError(f"{path}: file name {text!r} leaves the package")
    return str(pure)


def _parse_rdf(data: bytes, path: Path) -> dict[str, Any]:
    import yaml

    try:
        rdf = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        raise PackageError(f"{path}: its description is not valid YAML ({first})") from None
    if not isinstance(rdf, dict):
        raise PackageError(f"{path}: its description is not a YAML mapping")
    return rdf


def _validate_with_spec(path: Path) -> str:
    """bioimageio.spec's format validation when it is installed; else skipped."""
    try:
        from bioimageio.spec import load_description
    except ImportError:
        return "skipped (bioimageio.spec not installed)"
    descr = load_description(path, perform_io_checks=True)
    summary = descr.validation_summary
    if summary.status not in ("valid-format", "passed"):
        errors = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in summary.errors)
        raise PackageError(
            f"{path} is not a valid bioimage.io package: {(errors or summary.status)[:200]}"
        )
    return str(summary.status)


def _check_kind(rdf: dict[str, Any], path: Path) -> None:
    if rdf.get("type") != "model":
        raise PackageError(f"{path} describes a {rdf.get('type')!r}, not a model")
    version = str(rdf.get("format_version", ""))
    if version.split(".")[:2] != ["0", "5"]:
        raise PackageError(
            f"{path}: bioimage.io model format {version or '(none)'} is not supported "
            "(srscope reads format 0.5)"
        )


def _onnx_weights(rdf: dict[str, Any], path: Path) -> dict[str, Any]:
    weights = rdf.get("weights") or {}
    entry = weights.get("onnx") if isinstance(weights, dict) else None
    if not isinstance(entry, dict) or not entry.get("source"):
        kinds = ", ".join(weights) if isinstance(weights, dict) and weights else "none"
        raise PackageError(f"{path} has no ONNX weights (it has: {kinds}); srscope runs ONNX")
    return entry


def _load_onnx(data: bytes, path: Path) -> Any:
    import onnx

    try:
        proto = onnx.load_model_from_string(data)
    except Exception:  # onnx raises DecodeError / various on garbage
        raise PackageError(f"{path}: its ONNX weights are not a readable ONNX model") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise PackageError(f"{path}: its ONNX weights keep tensors in external files")
    return proto


def _embedded_metadata(proto: Any, path: Path) -> ModelMetadata | None:
    """The weights' own ``srscope.*`` metadata (an srscope export), if present and valid."""
    props = props_of(proto)
    if not any(k.startswith(PREFIX) for k in props):
        return None
    try:
        return ModelMetadata.from_props(props, source=str(path))
    except ModelMetadataError as exc:
        logger.warning("%s: ignoring the weights' srscope metadata (%s)", path, exc)
        return None


# -- mapping ---------------------------------------------------------------------
def metadata_from_rdf(
    rdf: dict[str, Any], embedded: ModelMetadata | None = None, source: str = "package"
) -> ModelMetadata:
    """srscope metadata for a bioimage.io 0.5 model description (refusing what won't map)."""

    def refuse(msg: str) -> PackageError:
        return PackageError(f"{source}: {msg}")

    inputs, outputs = rdf.get("inputs") or [], rdf.get("outputs") or []
    if len(inputs) != 1 or len(outputs) != 1:
        raise refuse(
            f"{len(inputs)} inputs and {len(outputs)} outputs; srscope runs one image in, one out"
        )
    inp, out = inputs[0], outputs[0]
    in_axes, out_axes = _axes(inp, "input", refuse), _axes(out, "output", refuse)
    channels = _channel_names(in_axes[1])
    if len(_channel_names(out_axes[1])) != len(channels):
        raise refuse("the output has another number of channels than the input")
    scale, halo = _scale_and_halo(inp, in_axes, out_axes, refuse)
    lr_um = _pixel_size_um(in_axes, embedded, refuse)
    norm = _normalization(inp.get("preprocessing") or [], len(channels), inp.get("id"), refuse)
    _check_postprocessing(out.get("postprocessing") or [], norm, refuse)
    rf = math.ceil(halo / scale) if halo else None
    if embedded is not None:
        if embedded.scale != scale:
            raise refuse(f"its weights say ×{embedded.scale} but its axes say ×{scale}")
        if rf is None:
            rf = embedded.receptive_field
    description = str(rdf.get("description") or "")
    try:
        return ModelMetadata(
            scale=scale,
            channels=channels,
            normalization=norm,
            lr_pixel_size_um=lr_um,
            hr_pixel_size_um=lr_um / scale,
            degradation=embedded.degradation if embedded is not None else None,
            training=embedded.training if embedded is not None else {},
            metrics=embedded.metrics if embedded is not None else {},
            name=(embedded.name if embedded is not None and embedded.name else "")
            or str(rdf.get("name") or ""),
            description=description or (embedded.description if embedded else ""),
            receptive_field=rf,
        )
    except ValueError as exc:
        raise refuse(f"does not map onto srscope's metadata ({str(exc).splitlines()[0]})") from None


def _axes(tensor: dict[str, Any], which: str, refuse: Any) -> list[dict[str, Any]]:
    axes = tensor.get("axes")
    if not isinstance(axes, list) or not all(isinstance(a, dict) for a in axes):
        raise refuse(f"the {which} axes are not a list of axes (format 0.5)")
    kinds = [a.get("type") if a.get("type") != "space" else a.get("id") for a in axes]
    if kinds != ["batch", "channel", "y", "x"]:
        raise refuse(
            f"{which} axes {', '.join(map(str, kinds))}: srscope runs 2D models with axes "
            "batch, channel, y, x"
        )
    return axes


def _channel_names(axis: dict[str, Any]) -> list[str]:
    names = axis.get("channel_names") or []
    return [str(n) for n in names]


def _scale_and_halo(
    inp: dict[str, Any], in_axes: list[dict], out_axes: list[dict], refuse: Any
) -> tuple[int, int]:
    factors, halos = [], []
    for a_in, a_out in zip(in_axes[2:], out_axes[2:], strict=True):
        size = a_out.get("size")
        ok = (
            isinstance(size, dict)
            and size.get("tensor_id") == inp.get("id")
            and size.get("axis_id") == a_in.get("id")
            and not size.get("offset")
        )
        if not ok:
            raise refuse(f"the output's {a_out.get('id')} size does not follow the input's")
        ratio = float(a_in.get("scale", 1.0)) / float(a_out.get("scale", 1.0))
        factors.append(ratio)
        halos.append(int(a_out.get("halo") or 0))
    scale = round(factors[0])
    if any(abs(f - scale) > 1e-6 * scale for f in factors) or not 2 <= scale <= 5:
        ratio = " and ".join(f"{f:g}" for f in factors)
        raise refuse(f"output/input size ratio {ratio}: srscope runs ×2 to ×5 SR models")
    return scale, max(halos)


def _pixel_size_um(in_axes: list[dict], embedded: ModelMetadata | None, refuse: Any) -> float:
    y, x = in_axes[2], in_axes[3]
    units = {y.get("unit"), x.get("unit")}
    if units == {None}:
        if embedded is not None:
            return embedded.lr_pixel_size_um
        raise refuse("its input axes state no physical unit; srscope needs the LR pixel size")
    unit = units.pop() if len(units) == 1 else None
    if unit not in UNIT_UM:
        raise refuse(f"input axis units {sorted(map(str, {y.get('unit'), x.get('unit')}))}")
    sy, sx = float(y.get("scale", 1.0)), float(x.get("scale", 1.0))
    if abs(sy - sx) > 1e-6 * max(sy, sx):
        raise refuse(f"non-square input pixels ({sy} × {sx} {unit})")
    return sx * UNIT_UM[unit]


def _steps(steps: Any, refuse: Any) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(steps, list):
        raise refuse("pre/post-processing is not a list of steps")
    out = []
    for step in steps:
        if not isinstance(step, dict) or "id" not in step:
            raise refuse("a pre/post-processing step without an id (format 0.5)")
        kind, kwargs = str(step["id"]), step.get("kwargs") or {}
        if kind == "ensure_dtype":
            if str(kwargs.get("dtype")) not in FLOAT_TYPES:
                raise refuse(f"ensure_dtype to {kwargs.get('dtype')}: srscope computes in float32")
            continue
        out.append((kind, kwargs))
    return out


def _scalar(value: Any, what: str, refuse: Any) -> float:
    values = value if isinstance(value, list) else [value]
    if not values or any(float(v) != float(values[0]) for v in values):
        raise refuse(f"{what} differs per channel; srscope's fixed normalisation is one range")
    return float(values[0])


def _normalization(steps: Any, n_channels: int, input_id: Any, refuse: Any) -> Normalization:
    steps = _steps(steps, refuse)
    if not steps:
        return FixedNormalization(min=0.0, max=1.0)  # the model takes input units as they are
    if len(steps) > 1:
        raise refuse(f"pre-processing {', '.join(k for k, _ in steps)}: srscope applies one step")
    kind, kw = steps[0]
    if kind == "scale_range":
        axes = set(kw.get("axes") or [])
        ref = kw.get("reference_tensor")
        if not {"y", "x"} <= axes or "batch" in axes or ref not in (None, input_id):
            raise refuse(f"scale_range over {sorted(axes)}: srscope normalises over y, x per image")
        if "channel" in axes and n_channels > 1:
            raise refuse("scale_range over all channels together: srscope's is per channel")
        low, high = float(kw.get("min_percentile", 0.0)), float(kw.get("max_percentile", 100.0))
        try:
            return PercentileNormalization(low=low, high=high)
        except ValueError:
            raise refuse(f"scale_range percentiles {low}, {high}") from None
    if kind == "scale_linear":
        gain = _scalar(kw.get("gain", 1.0), "scale_linear gain", refuse)
        offset = _scalar(kw.get("offset", 0.0), "scale_linear offset", refuse)
        if gain <= 0:
            raise refuse(f"scale_linear gain {gain}: srscope needs an increasing map")
        return FixedNormalization(min=-offset / gain, max=(1.0 - offset) / gain)
    raise refuse(f"pre-processing {kind} has no srscope equivalent")


def _check_postprocessing(steps: Any, norm: Normalization, refuse: Any) -> None:
    steps = _steps(steps, refuse)
    if not steps:
        return
    kind, kw = steps[0]
    if len(steps) == 1 and kind == "scale_linear" and isinstance(norm, FixedNormalization):
        gain = _scalar(kw.get("gain", 1.0), "scale_linear gain", refuse)
        offset = _scalar(kw.get("offset", 0.0), "scale_linear offset", refuse)
        span = norm.max - norm.min
        if math.isclose(gain, span, rel_tol=1e-6) and math.isclose(
            offset, norm.min, rel_tol=1e-6, abs_tol=1e-9 * span
        ):
            return  # exactly srscope's own mapping back to input units
    raise refuse(
        f"post-processing {', '.join(k for k, _ in steps)}: srscope maps the output back "
        "to input units itself and cannot also apply it"
    )


__all__ = [
    "Package",
    "PackageError",
    "is_package",
    "load_package_model",
    "metadata_from_rdf",
    "read_package",
]
