"""Run a pymmcore-plus MDA on a worker thread that Ctrl-C and a Stop button can end cleanly.

Scans and headless sequences both run their ``core.mda.run`` here. The calling
thread waits on an event the worker sets as its very last step, never on
``Thread.join``: a Ctrl-C inside ``join`` (Python < 3.13) can mark a running thread
as finished, and an in-flight frame would then be stored unrecorded. SIGINT is
blocked on the worker (and the writer threads it starts), so a Ctrl-C never lands
in a chunk write.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import useq

from srscope import logger

# frameReady's arguments: the image, its event and pymmcore-plus's FrameMetaV1
OnFrame = Callable[[np.ndarray, useq.MDAEvent, Any], None]


@dataclass
class MDAOutcome:
    """How a threaded MDA ended."""

    error: BaseException | None = None  # a KeyboardInterrupt when Ctrl-C stopped it
    stopped: bool = False  # the ``stop`` callback asked for it
    finished: bool = False  # the run ended (False: still closing its files after a timeout)

    @property
    def interrupted(self) -> bool:
        return isinstance(self.error, KeyboardInterrupt)


def run_mda_on_thread(
    core: Any,
    sequence: useq.MDASequence,
    *,
    on_frame: OnFrame | None = None,
    stop: Callable[[], bool] | None = None,
    name: str = "srscope-mda",
    **run_kwargs: Any,
) -> MDAOutcome:
    """``core.mda.run(sequence, **run_kwargs)`` on a worker thread; returns how it ended.

    ``on_frame`` is connected to ``frameReady`` for the run (called on the MDA
    thread after the runner wrote the frame). ``stop()`` is polled every 50 ms: True
    cancels the run after the current frame. Ctrl-C does the same and is reported
    as the outcome's error (the caller decides whether to re-raise it).
    """
    outcome = MDAOutcome()
    finished = threading.Event()

    def work() -> None:
        _block_sigint()
        try:
            core.mda.run(sequence, **run_kwargs)
        except BaseException as exc:  # reported to the caller's thread
            outcome.error = exc
        finally:
            finished.set()

    if on_frame is not None:
        core.mda.events.frameReady.connect(on_frame)
    worker = threading.Thread(target=work, name=name, daemon=True)
    try:
        with quiet_cancel():
            worker.start()
            try:
                while not finished.wait(0.05):
                    if stop is not None and not outcome.stopped and stop():
                        outcome.stopped = True
                        logger.info("stop requested: ending after the current frame")
                        core.mda.cancel()
            except KeyboardInterrupt as exc:
                logger.info("interrupted: stopping after the current frame")
                stop_and_wait(core, finished)
                outcome.error = exc
    finally:
        if on_frame is not None:
            core.mda.events.frameReady.disconnect(on_frame)
        outcome.finished = finished.is_set()
    return outcome


class quiet_cancel:
    """Drop pymmcore-plus's "MDA Canceled: <the whole sequence>" warning (KBs long):
    srscope says itself what was interrupted and how to resume."""

    def __enter__(self) -> None:
        self._log = logging.getLogger("pymmcore-plus")
        self._log.addFilter(self._filter)

    def __exit__(self, *exc: Any) -> None:
        self._log.removeFilter(self._filter)

    @staticmethod
    def _filter(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("MDA Canceled")


def _block_sigint() -> None:
    """Keep SIGINT off this thread (and the threads it starts).

    Otherwise a Ctrl-C can land in a writer thread's system call and make
    a chunk write fail, losing a tile that the journal already lists.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def stop_and_wait(core: Any, finished: threading.Event, timeout: float = 60.0) -> None:
    """Cancel the MDA and wait for it to close its files, even through more Ctrl-C."""
    core.mda.cancel()
    deadline = time.monotonic() + timeout
    while not finished.is_set() and time.monotonic() < deadline:
        try:
            finished.wait(0.1)
        except KeyboardInterrupt:
            logger.warning("still closing the files of the interrupted acquisition")
            core.mda.cancel()
