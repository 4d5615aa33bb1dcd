"""``srscope bench``: the engine timed beside PyTorch eager inference of the same weights.

A command of the composition root because it joins two parts: the engine's
benchmark (:mod:`sr_engine.bench`, no torch) and training's eager reference
(:mod:`training.torch_reference`, torch imported only when it runs).
"""

from __future__ import annotations

from pathlib import Path

import typer

from sr_engine.cli import BACKEND_PARAM, PRECISION_PARAM


def bench(
    model: list[str] | None = typer.Option(
        None, help="model file(s) or bundled names; default: random-weight paper and live models"
    ),
    threads: int | None = typer.Option(None, min=1, help="ONNX Runtime intra-op threads"),
    size: int = typer.Option(512, min=16, max=16384, help="LR image side for throughput"),
    repeats: int = typer.Option(3, min=1, help="timed repetitions (best is reported)"),
    gigapixel: bool = typer.Option(
        False, "--gigapixel", help="stream a full 0.38-gigapixel output (minutes)"
    ),
    quick: bool = typer.Option(
        False, "--quick", help="tiny sizes (smoke test, figures meaningless)"
    ),
    torch_compare: bool = typer.Option(True, help="compare with PyTorch eager tiles if installed"),
    json_out: Path | None = typer.Option(None, "--json", help="write the results as JSON here"),
    backend: str = BACKEND_PARAM,
    precision: str = PRECISION_PARAM,
    only_backends: bool = typer.Option(
        False,
        "--only-backends",
        help="only time frames per backend/precision and their accuracy (seconds)",
    ),
) -> None:
    """Throughput, GFLOP/s vs the machine's ORT MatMul peak, tile overhead, live fps;
    time per 512² frame and accuracy per backend/precision."""
    import json

    from sr_engine.backend import check_request
    from sr_engine.bench import BenchConfig, run_bench
    from srscope.atomic import check_output
    from training.torch_reference import eager_tiler

    check_request(backend, precision)
    if json_out is not None:
        check_output(json_out, overwrite=True)  # a folder for it, before minutes of timing

    cfg = BenchConfig(
        models=model or [],
        threads=threads,
        size=size,
        repeats=repeats,
        gigapixel=gigapixel,
        torch=torch_compare,
        quick=quick,
        backend=backend,
        precision=precision,
        only_backends=only_backends,
    )
    results = run_bench(cfg, echo=typer.echo, eager=eager_tiler)
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=2))
        typer.echo(f"results written to {json_out}")
