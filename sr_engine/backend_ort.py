"""ONNX Runtime backend: the engine's fp32 reference (and the only one without extras).

One ``InferenceSession`` on the (rewritten) graph, or, for generators whose
upsampling tail dominates memory, a trunk and a tail session run in
sub-windows (:mod:`sr_engine.split`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from sr_engine.backend import Region
from srscope import logger
from srscope.errors import SettingsError

Optimization = Literal["disable", "basic", "extended", "all"]


class OrtBackend:
    """``run`` through ONNX Runtime in fp32 (CPU provider unless ``providers`` says otherwise).

    ``split``: None splits when it saves memory, True whenever possible, False never;
    ``n_channels``, ``scale``, ``memory_budget_mb`` size the split tail's windows.
    """

    name = "onnxruntime"
    precision = "fp32"

    def __init__(
        self,
        run_bytes: bytes,
        *,
        providers: list[str] | None = None,
        threads: int | None = None,
        optimization: Optimization = "all",
        split: bool | None = None,
        n_channels: int = 1,
        scale: int = 1,
        memory_budget_mb: float = 1024,
        source: str = "<model>",
    ) -> None:
        self.threads = threads
        self.session = make_session(run_bytes, providers, threads, optimization)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.split: Any = None
        if split is not False:
            try:
                self.split = make_split(
                    run_bytes,
                    n_channels,
                    scale,
                    memory_budget_mb,
                    source,
                    providers,
                    threads,
                    optimization,
                    force=bool(split),
                )
            except Exception as exc:  # an unexpected graph shape: run it whole
                logger.debug("%s: not split (%s)", source, exc)
                self.split = None

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def run(self, batch: np.ndarray, keep: Region | None = None) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.split is not None:
            return self.split.run(batch, keep)
        return self.session.run([self.output_name], {self.input_name: batch})[0]

    def describe(self) -> dict[str, Any]:
        import onnxruntime as ort

        return {
            "backend": self.name,
            "precision": self.precision,
            "version": ort.__version__,
            "providers": self.providers,
            "threads": self.threads,
            "split": self.split is not None,
        }


def make_split(
    run_bytes: bytes,
    n_channels: int,
    scale: int,
    memory_budget_mb: float,
    source: str,
    providers: list[str] | None,
    threads: int | None,
    optimization: Optimization,
    force: bool = False,
) -> Any:
    """A split runner when the graph's HR tail dominates its memory (or ``force``), else None."""
    import onnx

    from sr_engine.memory import estimate_bytes_per_lr_pixel
    from sr_engine.split import SPLIT_MIN_BYTES, SplitRunner, split_graph

    whole = estimate_bytes_per_lr_pixel(run_bytes, n_channels)
    if whole < SPLIT_MIN_BYTES and not force:
        return None
    graphs = split_graph(onnx.load_model_from_string(run_bytes))
    if graphs is None:
        return None
    trunk_bytes = graphs.trunk.SerializeToString()
    tail_bytes = graphs.tail.SerializeToString()
    runner = SplitRunner(
        make_session(trunk_bytes, providers, threads, optimization),
        make_session(tail_bytes, providers, threads, optimization),
        graphs,
        scale,
    )
    runner.trunk_bytes = trunk_bytes
    runner.configure(
        estimate_bytes_per_lr_pixel(tail_bytes, n_channels),
        memory_budget_mb * 2**20,
        n_channels,
    )
    logger.debug(
        "%s: tail split at %s (tail windows %d + %d px)",
        source,
        graphs.features,
        runner.tail_core,
        runner.tail_overlap,
    )
    return runner


def make_session(
    data: bytes, providers: list[str] | None, threads: int | None, optimization: Optimization
) -> Any:
    """An ORT session with the engine's settings; bad settings are one-line errors."""
    import onnxruntime as ort

    from sr_engine.errors import ModelError

    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if optimization not in levels:
        raise SettingsError(f"unknown optimization level {optimization!r} ({', '.join(levels)})")
    so = ort.SessionOptions()
    so.graph_optimization_level = levels[optimization]
    so.log_severity_level = 3
    if threads is not None:
        if threads < 1:
            raise SettingsError(f"threads must be >= 1, got {threads}")
        so.intra_op_num_threads = int(threads)
    available = ort.get_available_providers()
    providers = list(providers) if providers else ["CPUExecutionProvider"]
    missing = [p for p in providers if p not in available]
    if missing:
        raise SettingsError(
            f"execution provider(s) {', '.join(missing)} not available "
            f"(available: {', '.join(available)})"
        )
    try:
        return ort.InferenceSession(data, sess_options=so, providers=providers)
    except Exception as exc:  # ONNX Runtime's error classes derive from Exception only
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ModelError(f"ONNX Runtime cannot load the model: {first}") from None
