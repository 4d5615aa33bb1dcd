"""OpenVINO backend (optional dependency): the same ``model.onnx``, fp32, bf16 or int8 on CPU.

OpenVINO reads the ONNX graph itself and, unlike ONNX Runtime's CPU provider,
runs convolutions in bf16 on AVX512-BF16 / AMX units. Its CPU plugin picks bf16
by itself on such CPUs, so the precision is always set explicitly (fp32 must
stay fp32: it is what the accuracy check compares against).

Each input shape gets its own statically shaped compilation (the live model ran
20–30 % faster than with dynamic H and W here; compiling costs about what the
dynamic model's first call on a new shape costs anyway). Live frames and
equal-sized tiles repeat a handful of shapes, so a small LRU of compilations
serves them; the dynamic compilation made at load checks the graph and serves
any shape that cannot be made static.

Importing this module imports ``openvino``; callers check
:func:`sr_engine.backend.openvino_available` first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from sr_engine.backend import Region

# int8: the graph's QDQ pairs make the convolutions int8; what stays float runs in f32
_TYPES = {"fp32": ov.Type.f32, "bf16": ov.Type.bf16, "int8": ov.Type.f32}
SHAPE_CACHE = 4  # static compilations kept (each holds its activation buffers)


def compile_config(precision: str, threads: int | None) -> dict[Any, Any]:
    """How srscope compiles for the CPU: the precision hint, latency mode, one stream."""
    if precision not in _TYPES:
        raise ValueError(f"openvino precision must be one of {list(_TYPES)}, not {precision}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    config: dict[Any, Any] = {
        hints.inference_precision: _TYPES[precision],
        hints.performance_mode: hints.PerformanceMode.LATENCY,
        props.num_streams: 1,
    }
    if threads is not None:
        config[props.inference_num_threads] = int(threads)
    return config


class OpenVinoBackend:
    """``run`` through OpenVINO on the CPU: latency mode, one stream, one compilation per shape."""

    name = "openvino"

    def __init__(self, run_bytes: bytes, *, precision: str = "fp32", threads: int | None = None):
        self._config = compile_config(precision, threads)
        self.precision = precision
        self.threads = threads
        self._core = ov.Core()
        self._model = self._core.read_model(run_bytes)
        self.compiled = self._core.compile_model(self._model, "CPU", self._config)  # dynamic H, W
        self._requests: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lock = threading.Lock()  # requests are not thread-safe: calls take turns

    def _request(self, shape: tuple[int, ...]) -> Any:
        """The infer request for ``shape`` (compiled on first use, least recent evicted)."""
        req = self._requests.get(shape)
        if req is not None:
            self._requests.move_to_end(shape)
            return req
        try:
            model = self._model.clone()
            model.reshape(list(shape))
            compiled = self._core.compile_model(model, "CPU", self._config)
        except Exception:  # a graph that will not take a static shape: the dynamic one
            compiled = self.compiled
        self._requests[shape] = req = compiled.create_infer_request()
        while len(self._requests) > SHAPE_CACHE:
            self._requests.popitem(last=False)
        return req

    def run(self, batch: np.ndarray, keep: Region | None = None) -> np.ndarray:
        """Whole windows (``keep`` is ignored: the graph runs in one piece)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            req = self._request(tuple(batch.shape))
            # outputs are copied out of the request's buffer: the next call reuses it
            out = req.infer({0: batch}, share_inputs=True, share_outputs=False)
            return np.asarray(out[0])

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "precision": self.precision,
            "version": ov.get_version(),
            "device": "CPU",
            "threads": int(self.compiled.get_property(props.inference_num_threads)),
            "inference_precision": self.compiled.get_property(
                hints.inference_precision
            ).to_string(),
            # > 0 only for an int8 (QDQ) graph: the quantised tensors OpenVINO runs in int8
            "fake_quantize_ops": sum(
                op.get_type_name() == "FakeQuantize" for op in self._model.get_ops()
            ),
        }
