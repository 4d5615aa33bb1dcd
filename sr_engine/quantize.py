"""int8 graphs: ONNX Runtime's static QDQ quantisation of a model, for OpenVINO to run.

The quantised graph is the model with QuantizeLinear/DequantizeLinear pairs around
each convolution's input and per-output-channel int8 weights (QDQ format, the
form OpenVINO turns into int8 convolutions on VNNI / AMX-INT8 units). Activation
ranges are calibrated on inputs the caller gives
(:func:`sr_engine.backend_select.calibration_inputs`: inputs like the ones the
engine feeds, so no real frame is clipped by a range the calibration never saw).

Only OpenVINO runs these graphs: ONNX Runtime's CPU int8 convolutions were 7×
slower than its fp32 ones on an AVX2 CPU (and slower on an AMX one too, see
issue 12), and its output moved further from fp32 than OpenVINO's on the same
graph. Nothing here downloads anything; calibration needs no data from the user.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from srscope import logger

_CACHE: dict[str, bytes] = {}  # quantised graphs by the fp32 graph's digest (models reopen)


def quantize_int8(run_bytes: bytes, inputs: Callable[[], Iterable[np.ndarray]]) -> bytes:
    """The QDQ int8 version of ``run_bytes``, its activation ranges calibrated on ``inputs()``
    (deterministic inputs, so the result is cached per graph within the process)."""
    digest = hashlib.sha256(run_bytes).hexdigest()
    if digest in _CACHE:
        return _CACHE[digest]
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    input_name = onnx.load_from_string(run_bytes).graph.input[0].name

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = ({input_name: x} for x in inputs())

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    t0 = time.perf_counter()
    # quantize_static advises pre-processing through logging.warning(), which would give
    # the root logger a stderr handler (and every srscope record a second copy) for good
    root = logging.getLogger()
    level, quiet = root.level, logging.NullHandler()
    root.setLevel(logging.ERROR)
    root.addHandler(quiet)
    ort.set_default_logger_severity(3)  # and its sessions list unused initialisers
    try:
        with tempfile.TemporaryDirectory(prefix="srscope-int8-") as tmp:
            src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
            src.write_bytes(run_bytes)
            quantize_static(
                str(src),
                str(dst),
                _Reader(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                calibrate_method=CalibrationMethod.MinMax,
            )
            quantized = dst.read_bytes()
    finally:
        root.removeHandler(quiet)
        root.setLevel(level)
        ort.set_default_logger_severity(2)
    logger.debug("int8 graph made in %.2f s", time.perf_counter() - t0)
    _CACHE[digest] = quantized
    return quantized


__all__ = ["quantize_int8"]
