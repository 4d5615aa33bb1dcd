"""``srscope predict`` on Dask distributed: a local cluster or an existing scheduler.

The driver does what decides the result, once: it opens the image, decides the
normalisation for the whole image (never per block), creates the output store
``OUT.partial`` and its journal (:func:`sr_engine.stream.prepare`). The tiles
still to do are grouped into blocks of a few aligned tiles of one plane; each
block is one Dask task that reads its tiles' windows with their receptive-field
halo (``overlap`` LR pixels per side, reflected at the image border) straight from
the input file, runs the model and writes its own output chunks into the store.
Tasks return the tiles they wrote; the driver journals them as they complete, so
an interrupted run resumes (on the cluster or in one process: the store, the
normalisation and the journal are the same) and the output equals the
single-process path's: same tiles, same normaliser, same model.

Workers get the model once (its bytes, scattered to every worker) and load it
once per process with the driver's backend choice and measured receptive field,
so they run exactly what the driver checked.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sr_engine.normalize import Normalizer
from sr_engine.predict import run_tiles
from sr_engine.sources import Source, open_source
from sr_engine.stream import StreamPlan, write_tile
from sr_engine.tiling import Tile
from srscope import logger
from srscope.errors import SrscopeError

if TYPE_CHECKING:
    from sr_engine.model import SRModel

CONNECT_TIMEOUT_S = 10.0
TASKS_PER_WORKER = 4  # blocks per worker: enough to balance, few enough to be cheap
MAX_TILES_PER_TASK = 8


@dataclass(frozen=True)
class ClusterSpec:
    """Where to run: ``workers`` local processes, or the scheduler at ``scheduler``.

    ``processes=False`` makes the local workers threads of this process (quick to
    start: tests); ``threads`` is ONNX Runtime's intra-op threads per worker (local
    default: this machine's cores shared among the workers).
    """

    workers: int | None = None
    scheduler: str | None = None
    processes: bool = True
    threads: int | None = None
    connect_timeout_s: float = CONNECT_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.workers is not None and self.scheduler is not None:
            raise SrscopeError("give --workers (a local cluster) or --scheduler, not both")
        if self.workers is not None and self.workers < 1:
            raise SrscopeError(f"--workers must be at least 1, got {self.workers}")
        if self.scheduler is not None and not self.scheduler.strip():
            raise SrscopeError("--scheduler needs an address, e.g. tcp://10.0.0.5:8786")
        if self.threads is not None and self.threads < 1:
            raise SrscopeError(f"threads per worker must be at least 1, got {self.threads}")

    def worker_threads(self) -> int | None:
        if self.threads is not None:
            return self.threads
        if self.workers is not None:
            return max(1, (os.cpu_count() or 1) // self.workers)
        return None  # a remote worker's own default (its cores)


def require_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise SrscopeError(
            "--workers / --scheduler need Dask distributed: pip install 'dask[distributed]'"
        ) from None
    return distributed


@contextmanager
def open_client(spec: ClusterSpec) -> Iterator[Any]:
    """A Dask client on a new local cluster, or connected to ``spec.scheduler``."""
    distributed = require_distributed()
    if spec.scheduler is not None:
        try:
            client = distributed.Client(
                spec.scheduler, timeout=spec.connect_timeout_s, set_as_default=False
            )
        except (OSError, TimeoutError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise SrscopeError(f"cannot reach Dask scheduler {spec.scheduler}: {first}") from None
        with client:
            yield client
        return
    cluster = distributed.LocalCluster(
        n_workers=spec.workers or 1,
        threads_per_worker=1,  # one block at a time per worker; ORT threads inside it
        processes=spec.processes,
        dashboard_address=None,
        silence_logs=40,  # errors only: workers' INFO lines are not the user's concern
    )
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        yield client


@dataclass(frozen=True)
class ModelRef:
    """What a worker needs to load the driver's model exactly as the driver runs it."""

    model_bytes: bytes
    sha256: str
    backend: str
    precision: str
    receptive_field: int
    memory_budget_mb: float
    threads: int | None


@dataclass(frozen=True)
class BlockTask:
    """A few aligned tiles of one plane: read with their halo, run, write their chunks."""

    store: str
    axes: str
    plane: int
    prefix: tuple[Any, ...]
    tiles: tuple[Tile, ...]
    norm: Normalizer
    dtype: str
    batch: int


_MODELS: dict[tuple[Any, ...], SRModel] = {}
_MODELS_LOCK = threading.Lock()


def worker_model(ref: ModelRef) -> SRModel:
    """The model loaded once per worker process (or per process of thread workers)."""
    from sr_engine.model import SRModel

    key = (ref.sha256, ref.backend, ref.precision, ref.threads)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = SRModel(
                ref.model_bytes,
                threads=ref.threads,
                memory_budget_mb=ref.memory_budget_mb,
                receptive_field=ref.receptive_field,
                backend=ref.backend,
                precision=ref.precision,
            )
            _MODELS[key] = model
    return model


def compute_block(ref: ModelRef, src: Any, task: BlockTask) -> tuple[int, list[tuple[int, int]]]:
    """Run on a worker: the block's tiles into the store; returns (plane, tile indices)."""
    import zarr

    model = worker_model(ref)
    level0 = zarr.open_array(task.store, mode="r+", zarr_format=3)
    dtype = np.dtype(task.dtype)
    written = []
    with open_source(src, model.n_channels, task.axes) as source:
        plane = source.plane(task.plane)
        for t, hr in run_tiles(model, plane, task.norm, task.tiles, task.batch, check=True):
            write_tile(level0, task.prefix, t, hr, model.scale, task.norm, dtype)
            written.append(t.index)
    return task.plane, written


def blocks(todo: list[tuple[int, Tile]], per_task: int) -> list[tuple[int, list[Tile]]]:
    """Consecutive tiles of one plane and one tile row, ``per_task`` at most per block."""
    out: list[tuple[int, list[Tile]]] = []
    for p, t in todo:
        last = out[-1] if out else None
        if (
            last is not None
            and last[0] == p
            and last[1][-1].index[0] == t.index[0]
            and len(last[1]) < per_task
        ):
            last[1].append(t)
        else:
            out.append((p, [t]))
    return out


@dataclass
class DaskRunner:
    """A :class:`sr_engine.stream.TileRunner` that spreads blocks of tiles over a cluster."""

    client: Any
    threads: int | None = None  # ONNX Runtime intra-op threads per worker
    tiles_per_task: int | None = None

    def __call__(
        self,
        model: SRModel,
        source: Source,
        plan: StreamPlan,
        done: Callable[[int, Tile], None],
    ) -> None:
        from distributed import as_completed

        todo = plan.todo()
        if not todo:
            return
        n_workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        per_task = self.tiles_per_task or min(
            MAX_TILES_PER_TASK, max(1, math.ceil(len(todo) / (TASKS_PER_WORKER * n_workers)))
        )
        plan.record["distributed"] = {
            "workers": n_workers,
            "scheduler": str(self.client.scheduler.address),
            "tiles_per_task": per_task,
        }
        ref = ModelRef(
            model.model_bytes,
            model.sha256,
            model.backend.name,
            model.backend.precision,
            model.receptive_field,
            model.memory_budget_mb,
            self.threads,
        )
        ref_f = self.client.scatter(ref, broadcast=True, hash=False)
        src: Any = source.fingerprint.get("path")
        if src is None:  # an in-memory array: every worker gets a copy once
            src = self.client.scatter(np.asarray(source.array), broadcast=True, hash=False)
        store = str(Path(plan.array_path).resolve())
        tasks = [
            BlockTask(
                store,
                source.layout.axes,
                p,
                plan.prefixes[p],
                tuple(tiles),
                plan.norm,
                plan.out_dtype.str,
                plan.cfg.batch,
            )
            for p, tiles in blocks(todo, per_task)
        ]
        logger.info("%d tiles in %d tasks on %d workers", len(todo), len(tasks), n_workers)
        by_index = {(p, t.index): t for p, t in todo}
        futures = [
            self.client.submit(compute_block, ref_f, src, task, pure=False) for task in tasks
        ]
        try:
            for fut in as_completed(futures, loop=self.client.loop):
                p, written = fut.result()
                for index in written:
                    done(p, by_index[(p, tuple(index))])
        finally:  # an error or an interrupt: stop what has not started
            self.client.cancel(futures)


def predict_distributed(
    model: SRModel,
    src: str | os.PathLike | np.ndarray,
    out: str | os.PathLike,
    spec: ClusterSpec,
    **kw: Any,
) -> Any:
    """:func:`sr_engine.stream.predict_file` with its tiles computed on a Dask cluster."""
    from sr_engine.stream import predict_file

    with open_client(spec) as client:
        runner = DaskRunner(client, threads=spec.worker_threads())
        return predict_file(model, src, out, runner=runner, **kw)
