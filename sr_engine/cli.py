"""``srscope predict``, ``models`` and ``export-bioimageio`` (``bench``: :mod:`srscope_cli.bench`).

Heavy imports (onnxruntime, zarr) stay inside the commands so ``srscope --help``
stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

BACKEND_PARAM = typer.Option(
    "auto",
    "--backend",
    help="auto (fastest that matches ONNX Runtime fp32 on a reference input), "
    "onnxruntime, openvino (optional package)",
)
PREDICT_DTYPES = ("float32", "input", "uint16", "uint8")
PRECISION_PARAM = typer.Option(
    "auto",
    "--precision",
    help="auto, fp32, bf16 (CPUs with avx512_bf16 / amx_bf16), int8 (openvino; auto tries "
    "it on CPUs with VNNI / AMX-INT8)",
)

# every command that applies a model (predict, scan, acquire, live) takes it
ALLOW_MISMATCH_PARAM = typer.Option(
    False,
    "--allow-mismatch",
    help="Apply the model to images of another pixel size or channel (recorded)",
)


def register(app: typer.Typer) -> None:
    """Add this part's subcommands to the ``srscope`` app."""
    app.command("predict")(predict)
    app.command("models")(models)
    app.command("export-bioimageio")(export_bioimageio)


def export_bioimageio(
    model: str = typer.Argument(..., help="model.onnx, or the name of a bundled model"),
    output: Path = typer.Argument(..., help="OUT.zip (bioimage.io model package)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing OUT"),
) -> None:
    """Write a validated bioimage.io model package (ONNX weights, test data, cover)."""
    from sr_engine.bioimageio_export import export_bioimageio as export

    result = export(model, output, overwrite=overwrite)
    typer.echo(f"{result.path}: bioimage.io validation {result.status}")


def predict(
    model: str = typer.Argument(
        ..., help="model.onnx, a bundled model's name, or a bioimage.io package (.zip, rdf.yaml)"
    ),
    input: Path = typer.Argument(
        ..., help="TIFF / OME-TIFF file, OME-Zarr folder, or a folder of them"
    ),
    output: Path = typer.Argument(
        ..., help="OUT.ome.zarr (multiscale) or OUT.ome.tif; a folder for a folder of images"
    ),
    axes: str | None = typer.Option(
        None, help="input axes, e.g. YX, CYX, ZYX, ZCYX (else guessed)"
    ),
    tile: int | None = typer.Option(
        None, help="tile side in LR px incl. overlap (default: memory)"
    ),
    overlap: int | None = typer.Option(
        None, help="context per side in LR px (default: receptive field)"
    ),
    batch: int = typer.Option(1, help="tiles per model call"),
    dtype: str = typer.Option("float32", help="output dtype: float32, input, uint16, uint8"),
    threads: int | None = typer.Option(
        None, min=1, help="ONNX Runtime intra-op threads (per worker with --workers/--scheduler)"
    ),
    provider: list[str] | None = typer.Option(
        None, help="execution provider(s), e.g. CPUExecutionProvider"
    ),
    memory_mb: float = typer.Option(
        1024, min=16, help="working-memory budget for the automatic tile size"
    ),
    resume: bool = typer.Option(True, help="continue an interrupted run from OUT.partial"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing OUT"),
    backend: str = BACKEND_PARAM,
    precision: str = PRECISION_PARAM,
    allow_mismatch: bool = ALLOW_MISMATCH_PARAM,
    workers: int | None = typer.Option(
        None, help="run on a local Dask cluster of this many worker processes"
    ),
    scheduler: str | None = typer.Option(
        None, help="run on an existing Dask cluster: its scheduler address (tcp://host:8786)"
    ),
    connect_timeout: float = typer.Option(
        10.0, min=0.1, help="seconds to wait for --scheduler before giving up"
    ),
) -> None:
    """Super-resolve an image of any size tile by tile (resumable, bounded memory).

    With --workers or --scheduler the tiles run on Dask distributed; the result
    equals the single-process one, and either resumes the other's interrupted run.
    """
    from contextlib import nullcontext

    from sr_engine.stream import folder_jobs, is_image_folder, predict_file
    from srscope.errors import ImageError, OutputError, SettingsError
    from srscope.progress import ProgressBar

    if dtype not in PREDICT_DTYPES:
        raise SettingsError(f"--dtype must be one of {', '.join(PREDICT_DTYPES)}, got {dtype!r}")
    spec = None
    if workers is not None or scheduler is not None:
        from sr_engine.distributed import ClusterSpec, require_distributed

        spec = ClusterSpec(workers, scheduler, threads=threads, connect_timeout_s=connect_timeout)
        require_distributed()
    if not input.exists():
        raise ImageError(f"input not found: {input}")
    jobs = folder_jobs(input, output) if is_image_folder(input) else [(input, output)]
    if is_image_folder(input) and not overwrite:
        taken = [str(o) for _, o in jobs if o.exists()]
        if taken:
            raise OutputError(f"output {taken[0]} already exists (use --overwrite to replace it)")
    # the cluster first: an unreachable scheduler is said before any slow model check
    with _client(spec) if spec is not None else nullcontext() as client:
        m = _open_predict_model(model, provider, threads, memory_mb, backend, precision)
        typer.echo(f"backend: {m.backend_choice.summary()}")
        runner = None
        if client is not None:
            from sr_engine.distributed import DaskRunner

            runner = DaskRunner(client, threads=spec.worker_threads())
            n = len(client.scheduler_info().get("workers", {}))
            typer.echo(f"dask: {n} workers at {client.scheduler.address}")
        for src, out in jobs:
            if len(jobs) > 1:
                out.parent.mkdir(parents=True, exist_ok=True)
            with ProgressBar("super-resolving tiles") as bar:
                result = predict_file(
                    m,
                    src,
                    out,
                    axes=axes,
                    tile=tile,
                    overlap=overlap,
                    batch=batch,
                    dtype=None if dtype == "float32" else dtype,
                    resume=resume,
                    overwrite=overwrite,
                    progress=bar.update,
                    allow_mismatch=allow_mismatch,
                    runner=runner,
                )
            typer.echo(
                f"wrote {result.path} {result.axes} {result.shape} at "
                f"{result.pixel_size_um:.4g} µm/px ({result.tiles_computed} tiles computed, "
                f"{result.tiles_resumed} resumed)"
            )


def _client(spec):
    from sr_engine.distributed import open_client

    return open_client(spec)


def _open_predict_model(
    spec: str, provider: list[str] | None, threads, memory_mb, backend, precision
):
    """An SRModel from a model file, a bundled name or a bioimage.io package."""
    from sr_engine.bundled import resolve_model
    from sr_engine.model import SRModel

    kw = {
        "providers": provider or None,
        "threads": threads,
        "memory_budget_mb": memory_mb,
        "backend": backend,
        "precision": precision,
    }
    from sr_engine.bioimageio_import import is_package, load_package_model

    if is_package(spec):
        return load_package_model(spec, **kw)
    return SRModel(resolve_model(spec), **kw)


def models(
    json_out: bool = typer.Option(False, "--json", help="print JSON instead of text"),
    speed: bool = typer.Option(True, help="measure each model's fps at 512² here (2 s each)"),
) -> None:
    """List the bundled models: tier, modality, cost, speed here, held-out scores."""
    import json

    from sr_engine.catalog import catalogue, format_row

    rows = catalogue(512 if speed else None)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
    else:
        for r in rows:
            typer.echo(format_row(r))
