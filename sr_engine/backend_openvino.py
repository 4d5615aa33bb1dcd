"""OpenVINO backend (optional dependency): the same ``model.onnx``, fp32 or bf16 on CPU.

OpenVINO reads the ONNX graph itself and, unlike ONNX Runtime's CPU provider,
runs convolutions in bf16 on AVX512-BF16 / AMX units. Its CPU plugin picks bf16
by itself on such CPUs, so the precision is always set explicitly (fp32 must
stay fp32: it is what the accuracy check compares against). H and W stay
dynamic: a new window size costs one shape compilation (cached), after which
live frames and equal-sized tiles run at full speed.

Importing this module imports ``openvino``; callers check
:func:`sr_engine.backend.openvino_available` first.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from sr_engine.backend import Region

_TYPES = {"fp32": ov.Type.f32, "bf16": ov.Type.bf16}


class OpenVinoBackend:
    """``run`` through one OpenVINO compiled model on the CPU, latency mode, one stream."""

    name = "openvino"

    def __init__(self, run_bytes: bytes, *, precision: str = "fp32", threads: int | None = None):
        if precision not in _TYPES:
            raise ValueError(f"openvino precision must be one of {list(_TYPES)}, not {precision}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.precision = precision
        self.threads = threads
        core = ov.Core()
        model = core.read_model(run_bytes)
        config: dict[Any, Any] = {
            hints.inference_precision: _TYPES[precision],
            hints.performance_mode: hints.PerformanceMode.LATENCY,
            props.num_streams: 1,
        }
        if threads is not None:
            config[props.inference_num_threads] = int(threads)
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one request: calls from several threads take turns

    def run(self, batch: np.ndarray, keep: Region | None = None) -> np.ndarray:
        """Whole windows (``keep`` is ignored: the graph runs in one piece)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        # outputs are copied out of the request's buffer: the next call reuses it
        with self._lock:
            out = self.request.infer({0: batch}, share_inputs=True, share_outputs=False)
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
        }
