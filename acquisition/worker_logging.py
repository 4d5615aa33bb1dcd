"""Log records of a worker process, handled by the parent's ``srscope`` logger.

A spawned process starts with a fresh ``srscope`` logger and no handlers, so its
warnings (e.g. "SR of frame 3 failed") would reach nobody: not the user's
stderr, not ``--log-file``. :class:`LogForwarder` is the standard-library answer
(``QueueHandler`` in the child, a listener thread in the parent): the parent
makes one, passes :attr:`LogForwarder.queue` and :attr:`LogForwarder.level` to
the child, the child calls :func:`forward_to_parent` first thing, and each record
it logs is handed to the parent's logger of the same name, so its handlers and
filters (one brief line per distinct warning, every record in the log file)
treat it as one of the parent's own.

The records travel over a one-way pipe, not a ``multiprocessing.Queue``: a
queue's writers share a cross-process lock, and a worker killed while holding it
(terminated, or ``kill -9``) left the parent's ``QueueListener.stop`` waiting for
ever. A pipe has one writer; the parent's listener ends when the child's end is
gone (end of file), whatever way the child ended.
"""

from __future__ import annotations

import logging
import pickle
import threading
from contextlib import suppress
from logging.handlers import QueueHandler
from typing import Any

from srscope import logger


class _ToParent(QueueHandler):
    """Put a picklable copy of each record on the queue, its template kept.

    The standard ``QueueHandler`` replaces ``msg`` by the formatted text; the
    console's once-filter keys repeats on the template ("SR of frame %d failed"),
    so the template and its arguments travel as they are whenever they pickle.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = logging.makeLogRecord(record.__dict__)
        if record.exc_info:  # a traceback does not pickle: its text does
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        record.stack_info = None
        try:
            pickle.dumps(record.args)
        except Exception:  # any unpicklable argument: send the formatted text instead
            record.msg, record.args = record.getMessage(), None
        return record


class _ToLogger(logging.Handler):
    """Hand a forwarded record to the parent's logger of the same name."""

    def emit(self, record: logging.LogRecord) -> None:
        target = logging.getLogger(record.name)
        if target.isEnabledFor(record.levelno):
            target.handle(record)


class _PipeWriter:
    """The child's end as a queue for ``QueueHandler``: one record per ``send``.

    Threads of the child take turns (a thread lock dies with the child, unlike a
    queue's cross-process one); a parent that is gone drops the record quietly.
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def put_nowait(self, record: logging.LogRecord) -> None:
        with self._lock, suppress(OSError):
            self._conn.send(record)


class LogForwarder:
    """The parent's end: a pipe for the child's records and the thread that handles them.

    Use as a context manager, or :meth:`start` / :meth:`stop` (after the child
    has ended, so its last records are handled; stopping twice is harmless).
    """

    def __init__(self, ctx: Any) -> None:
        self._recv, self.queue = ctx.Pipe(duplex=False)  # ``queue``: the child's end
        self.level = logger.getEffectiveLevel()  # the child logs what the parent would show
        self._thread: threading.Thread | None = None

    def start(self) -> LogForwarder:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="srscope-worker-logs",
                                            daemon=True)  # fmt: skip
            self._thread.start()
        return self

    def _run(self) -> None:
        handler = _ToLogger()
        while True:
            try:
                record = self._recv.recv()
            except (EOFError, OSError):  # every writer is gone: the child ended
                return
            handler.handle(record)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the parent's copy of the child's end; the listener drains and ends.

        A child still running (stuck) keeps its end open: the listener is then left
        as a daemon thread after ``timeout_s`` instead of holding up the caller.
        """
        with suppress(OSError):
            self.queue.close()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                return
        with suppress(OSError):
            self._recv.close()

    def __enter__(self) -> LogForwarder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def forward_to_parent(queue: Any, level: int) -> None:
    """In the child: send every ``srscope`` record at ``level`` or above to the parent."""
    logger.handlers[:] = [_ToParent(_PipeWriter(queue))]
    logger.setLevel(level)
    logger.propagate = False  # the parent's handlers show it; nothing here does
