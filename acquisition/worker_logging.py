"""Log records of a worker process, handled by the parent's ``srscope`` logger.

A spawned process starts with a fresh ``srscope`` logger and no handlers, so its
warnings (e.g. "SR of frame 3 failed") would reach nobody: not the user's
stderr, not ``--log-file``. :class:`LogForwarder` is the standard-library answer
(``QueueHandler`` in the child, ``QueueListener`` in the parent): the parent
makes one, passes :attr:`LogForwarder.queue` and :attr:`LogForwarder.level` to
the child, the child calls :func:`forward_to_parent` first thing, and each record
it logs is handed to the parent's logger of the same name, so its handlers and
filters (one brief line per distinct warning, every record in the log file)
treat it as one of the parent's own.
"""

from __future__ import annotations

import logging
import pickle
from logging.handlers import QueueHandler, QueueListener
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


class LogForwarder:
    """The parent's end: a queue for the child's records and the thread that handles them.

    Use as a context manager, or :meth:`start` / :meth:`stop` (after the child
    has ended, so its last records are handled; stopping twice is harmless).
    """

    def __init__(self, ctx: Any) -> None:
        self.queue = ctx.Queue()
        self.level = logger.getEffectiveLevel()  # the child logs what the parent would show
        self._listener: QueueListener | None = None

    def start(self) -> LogForwarder:
        if self._listener is None:
            self._listener = QueueListener(self.queue, _ToLogger())
            self._listener.start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()  # handles what is queued, then its thread ends
        self.queue.close()

    def __enter__(self) -> LogForwarder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def forward_to_parent(queue: Any, level: int) -> None:
    """In the child: send every ``srscope`` record at ``level`` or above to the parent."""
    logger.handlers[:] = [_ToParent(queue)]
    logger.setLevel(level)
    logger.propagate = False  # the parent's handlers show it; nothing here does
