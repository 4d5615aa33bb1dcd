"""Measurement primitives of the benchmark: best-of timing, test frames, MatMul peaks, live fps.

The peaks are what a model's GFLOP/s is set against: ONNX Runtime's fp32 MatMul in a
session like the engine's, and OpenVINO's MatMul at each precision it runs here (bf16 on
CPUs with bf16 units, int8 as a QDQ graph), measured in the same run as the models.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

LIVE_MAX_FLOP_PER_PX = 0.5e6  # models cheaper than this get live fps figures


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_model(n: int) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    b = numpy_helper.from_array(rng.random((n, n), dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
        initializer=[b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def matmul_peak_openvino(
    precision: str, threads: int | None, n: int = 2048, repeats: int = 5
) -> float:
    """GFLOP/s of OpenVINO's MatMul at ``precision`` (bf16/int8: the machine's bf16/int8 units).

    The ceiling a backend/precision pair can reach here, to set its model's
    GFLOP/s against (a bf16 model compared with the fp32 peak looks > 100 %).
    """
    import openvino as ov

    from sr_engine.backend_openvino import compile_config

    core = ov.Core()
    graph = matmul_model(n).SerializeToString()
    if precision == "int8":  # the same MatMul with QDQ int8 operands, as the models get
        from sr_engine.quantize import quantize_int8

        sample = np.random.default_rng(1).random((n, n), dtype=np.float32)
        graph = quantize_int8(graph, lambda: [sample])
    model = core.read_model(graph)
    compiled = core.compile_model(model, "CPU", compile_config(precision, threads))
    req = compiled.create_infer_request()
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    req.infer([a])
    return 2 * n**3 / best_time(lambda: req.infer([a]), repeats) / 1e9


def matmul_peaks(
    pairs: list[tuple[str, str]], threads: int | None, n: int, repeats: int
) -> dict[str, float]:
    """MatMul GFLOP/s per backend/precision in ``pairs`` (``"onnxruntime fp32"``: ...)."""
    peaks: dict[str, float] = {}
    for backend, precision in pairs:
        if backend == "onnxruntime":
            peaks[f"{backend} {precision}"] = matmul_peak(threads, n, repeats)
        else:
            peaks[f"{backend} {precision}"] = matmul_peak_openvino(precision, threads, n, repeats)
    return peaks


def matmul_peak(threads: int | None, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of ORT's fp32 MatMul ``(n×n)·(n×n)`` in a session like the engine's."""
    import onnxruntime as ort

    model = matmul_model(n)
    rng = np.random.default_rng(0)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    a = rng.random((n, n), dtype=np.float32)
    sess.run(None, {"a": a})
    return 2 * n**3 / best_time(lambda: sess.run(None, {"a": a}), repeats) / 1e9


def test_image(side: int, channels: int, seed: int = 0) -> np.ndarray:
    """Camera-like uint16 LR frame with structure everywhere."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side].astype(np.float32)
    img = 800 + 400 * np.sin(yy / 5.3) * np.cos(xx / 7.1) + 300 * ((yy // 11 + xx // 9) % 2)
    img = img[None] + rng.normal(0, 40, (channels, side, side)).astype(np.float32)
    img = np.clip(img, 0, 4095).astype(np.uint16)
    return img[0] if channels == 1 else img


def live_fps(model: Any, side: int, seconds: float) -> dict[str, float]:
    """Push frames as fast as possible into a LiveProcessor for ``seconds``; its stats."""
    from sr_engine.live import LiveProcessor

    frame = test_image(side, model.n_channels)
    proc = LiveProcessor(model, copy=False)
    proc.push(frame)
    with proc:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            proc.push(frame)
            time.sleep(0.001)
    s = proc.stats()
    return {
        "fps": round(s.fps, 2),
        "latency_p50_ms": round(s.latency_p50_ms, 1),
        "latency_p95_ms": round(s.latency_p95_ms, 1),
        "compute_p50_ms": round(s.compute_p50_ms, 1),
        "processed": s.processed,
        "dropped": s.dropped,
    }
