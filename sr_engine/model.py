"""``SRModel``: a validated model file with a backend ready to run it.

Refuses, with one clear line, files that are not srscope models (missing or bad
metadata, corrupt file) and models that do not do what their metadata says
(checked by running a small odd-sized probe through them). The backend (ONNX
Runtime or OpenVINO, fp32 or bf16) is chosen at load (:mod:`sr_engine.backend_select`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from sr_engine.backend import Backend
from sr_engine.backend_ort import Optimization, OrtBackend
from sr_engine.errors import ModelError
from sr_engine.metadata import ModelMetadata, ModelMetadataError, props_of
from sr_engine.predict import predict as _predict
from sr_engine.predict import predict_region as _predict_region
from srscope import logger

PROBE_SHAPE = (13, 17)  # odd and non-square: catches fixed-size exports and swapped axes
DEFAULT_MEMORY_BUDGET_MB = 1024


class SRModel:
    """A super-resolution model ready to run.

    ``providers``: ONNX Runtime execution providers in order of preference (CPU
    when not given); ``threads``: intra-op threads (ORT default: physical cores);
    ``optimization``: graph optimisation level (``all`` folds BN into Conv, fuses
    activations and uses the blocked NCHWc layout on x86); ``rewrite``: exact
    rewrites that let ORT fuse more (:mod:`sr_engine.optimize`); ``split``: run a
    pixel-shuffle tail in sub-windows (:mod:`sr_engine.split`; None: when it saves
    memory, True: whenever possible, False: never; ONNX Runtime only).

    ``backend`` (``auto``, ``onnxruntime``, ``openvino``) and ``precision``
    (``auto``, ``fp32``, ``bf16``): what runs the graph. The default is today's
    ONNX Runtime fp32; ``auto`` measures the candidates on a reference input and
    keeps the fastest that matches ONNX Runtime fp32 (``backend_choice`` records
    how). An explicit choice this machine cannot run raises
    :class:`~sr_engine.backend.BackendUnavailable`.
    """

    def __init__(
        self,
        model: str | os.PathLike | bytes | Any,
        *,
        providers: list[str] | None = None,
        threads: int | None = None,
        optimization: Optimization = "all",
        memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
        receptive_field: int | None = None,
        rewrite: bool = True,
        split: bool | None = None,
        backend: str = "onnxruntime",
        precision: str = "auto",
    ) -> None:
        from sr_engine.backend import check_request

        check_request(backend, precision)  # before any slow work
        self.source, proto = load_proto(model)
        self.meta = ModelMetadata.from_props(props_of(proto), source=self.source)
        self._proto_bytes = proto.SerializeToString() if not isinstance(model, bytes) else model
        self.memory_budget_mb = float(memory_budget_mb)
        self._check_io(proto)
        run_bytes = self._proto_bytes
        self.rewrites: list[str] = []
        if rewrite:
            from sr_engine.optimize import optimize_graph

            try:
                optimized, self.rewrites = optimize_graph(proto)
            except Exception as exc:  # an unexpected graph shape: run it as it is
                logger.debug("%s: no rewrites (%s)", self.source, exc)
                optimized, self.rewrites = proto, []
            if self.rewrites:
                run_bytes = optimized.SerializeToString()
                logger.debug("%s: %s", self.source, "; ".join(self.rewrites))
        self._run_bytes = run_bytes
        reference = OrtBackend(
            run_bytes,
            providers=providers,
            threads=threads,
            optimization=optimization,
            split=split,
            n_channels=self.n_channels,
            scale=self.scale,
            memory_budget_mb=self.memory_budget_mb,
            source=self.source,
        )
        self.backend: Backend = reference
        if backend != "onnxruntime" or precision not in ("auto", "fp32"):
            from sr_engine.backend_select import select_backend
            from sr_engine.flops import flops_per_lr_pixel

            self.backend, self.backend_choice = select_backend(
                reference,
                run_bytes,
                n_channels=self.n_channels,
                scale=self.scale,
                flop_per_px=flops_per_lr_pixel(proto, self.n_channels),
                backend=backend,
                precision=precision,
                threads=threads,
                source=self.source,
            )
        else:
            from sr_engine.backend_select import BackendChoice

            self.backend_choice = BackendChoice(
                "onnxruntime", "fp32", "requested", reference.describe()
            )
        self._rf = receptive_field if receptive_field is not None else self.meta.receptive_field
        self._bytes_per_px: float | None = None
        self._probe()

    # -- properties --------------------------------------------------------
    @property
    def scale(self) -> int:
        return self.meta.scale

    @property
    def n_channels(self) -> int:
        return self.meta.n_channels

    @property
    def session(self) -> Any:
        """The ONNX Runtime session when that backend runs the model (else None)."""
        return getattr(self.backend, "session", None)

    @property
    def _split(self) -> Any:
        """ONNX Runtime's split runner (:mod:`sr_engine.split`), or None."""
        return getattr(self.backend, "split", None)

    @property
    def providers(self) -> list[str]:
        """ONNX Runtime providers, or ``["openvino:CPU"]`` for the OpenVINO backend."""
        if isinstance(self.backend, OrtBackend):
            return self.backend.providers
        return [f"{self.backend.name}:CPU"]

    @property
    def receptive_field(self) -> int:
        """LR pixels of context per side each output pixel depends on (measured once)."""
        if self._rf is None:
            from sr_engine.receptive_field import measure_receptive_field

            self._rf = measure_receptive_field(self)
            logger.info("measured receptive field of %s: %d LR px", self.source, self._rf)
        return self._rf

    @property
    def bytes_per_lr_pixel(self) -> float:
        """Estimated peak ORT working memory per LR input pixel (from the graph)."""
        if self._bytes_per_px is None:
            from sr_engine.memory import estimate_bytes_per_lr_pixel

            if self._split is not None:
                # trunk activations + the kept features + the HR output buffer
                trunk = estimate_bytes_per_lr_pixel(self._split.trunk_bytes, self.n_channels)
                extra = 4 * (self._split.graphs.n_features + self.n_channels * self.scale**2)
                self._bytes_per_px = trunk + extra
            else:
                self._bytes_per_px = estimate_bytes_per_lr_pixel(self._run_bytes, self.n_channels)
        return self._bytes_per_px

    @property
    def model_bytes(self) -> bytes:
        """The model as one serialised ONNX file (to load the same model elsewhere, e.g.
        on Dask workers; :attr:`sha256` is its digest)."""
        return self._proto_bytes

    @property
    def sha256(self) -> str:
        """Digest of the model file's bytes (identifies it in resume records)."""
        return hashlib.sha256(self._proto_bytes).hexdigest()

    @property
    def split(self) -> bool:
        """Whether the upsampling tail runs in sub-windows (see :mod:`sr_engine.split`)."""
        return self._split is not None

    def auto_tile(self, batch: int = 1, budget_mb: float | None = None) -> int:
        """Largest tile side (incl. overlap) whose working memory fits the budget."""
        budget = (budget_mb or self.memory_budget_mb) * 2**20
        if self._split is not None:
            budget = max(budget - self._split.tail_bytes, budget / 4)
        side = int((budget / (self.bytes_per_lr_pixel * max(1, batch))) ** 0.5)
        side = max(side // 16 * 16, 2 * self.receptive_field + 16)
        return min(side, 2048)

    # -- running -----------------------------------------------------------
    def run(self, batch: np.ndarray, keep: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Raw model call on a normalised float32 ``(N, C, H, W)`` batch.

        ``keep`` ``(y0, y1, x0, x1)``: the LR part of the windows the caller
        keeps; output outside it may be left uncomputed (zero).
        """
        return self.backend.run(np.ascontiguousarray(batch, dtype=np.float32), keep)

    def predict(self, image: np.ndarray, **kw: Any) -> np.ndarray:
        """Super-resolve an in-memory image; see :func:`sr_engine.predict.predict`."""
        return _predict(self, image, **kw)

    def predict_region(self, image: np.ndarray, region: Any, **kw: Any) -> np.ndarray:
        """Super-resolve only ``region``; see :func:`sr_engine.predict.predict_region`."""
        return _predict_region(self, image, region, **kw)

    # -- validation --------------------------------------------------------
    def _check_io(self, proto: Any) -> None:
        graph = proto.graph
        inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise ModelError(
                f"{self.source}: expected one input and one output, "
                f"got {len(inputs)} inputs and {len(graph.output)} outputs"
            )
        dims = inputs[0].type.tensor_type.shape.dim
        if len(dims) != 4:
            raise ModelError(f"{self.source}: input must be 4D (N, C, H, W), got {len(dims)}D")
        c = dims[1].dim_value if dims[1].HasField("dim_value") else None
        if c is not None and c != self.n_channels:
            raise ModelError(
                f"{self.source}: input has {c} channels but metadata lists "
                f"{self.n_channels} ({', '.join(self.meta.channels)})"
            )

    def _probe(self) -> None:
        h, w = PROBE_SHAPE
        x = np.linspace(0, 1, self.n_channels * h * w, dtype=np.float32)
        x = x.reshape(1, self.n_channels, h, w)
        try:
            y = self.run(x)
        except Exception as exc:  # each runtime has its own error classes
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise ModelError(
                f"{self.source}: model fails on a {h}x{w} probe input "
                f"(is H, W dynamic?): {type(exc).__name__}: {first}"
            ) from None
        want = (1, self.n_channels, self.scale * h, self.scale * w)
        if tuple(y.shape) != want:
            raise ModelError(
                f"{self.source}: output shape {tuple(y.shape)} for input {tuple(x.shape)}; "
                f"metadata scale {self.scale} needs {want}"
            )
        if not np.all(np.isfinite(y)):
            raise ModelError(f"{self.source}: model output on a probe input is not finite")

    def __repr__(self) -> str:
        return (
            f"SRModel({self.source!r}, scale={self.scale}, channels={self.meta.channels}, "
            f"backend={self.backend.name} {self.backend.precision})"
        )


def load_proto(model: Any) -> tuple[str, Any]:
    """``(source, ModelProto)`` of a path, bytes or proto; a file must be one readable,
    self-contained ONNX file (else :class:`ModelError`). Metadata is not checked here."""
    import onnx

    if isinstance(model, onnx.ModelProto):
        return f"<model {model.graph.name}>", model
    if isinstance(model, bytes):
        source = "<model bytes>"
        try:
            return source, onnx.load_model_from_string(model)
        except Exception:  # onnx raises DecodeError / various on garbage
            raise ModelError(f"{source} is not a readable ONNX model") from None
    path = Path(model)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError / various on garbage
        raise ModelError(f"{path} is not a readable ONNX model ({type(exc).__name__})") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise ModelError(
            f"{path}: weights are stored outside the file (.onnx.data); "
            "srscope models must be one self-contained file"
        )
    return str(path), proto


__all__ = ["ModelError", "ModelMetadataError", "SRModel"]
