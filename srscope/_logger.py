"""One named logger for the whole distribution (as pymmcore-plus does), and its set-up.

Library code only logs to ``logger``; the ``srscope`` command calls
:func:`configure_logging` once (``-v``, ``--log-file``), so every command shows
its warnings the same way: one short ``warning: ...`` line on stderr, each
distinct warning once (repeats are counted and summed up at the end), while a
log file gets every message down to DEBUG with times and sources.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from collections.abc import Callable

logger = logging.getLogger("srscope")
logger.addHandler(logging.NullHandler())
# tifffile logs warnings and errors for every damaged file it reads; srscope checks
# what it reads and its own one-line error names the file instead.
logging.getLogger("tifffile").setLevel(logging.CRITICAL)

CONSOLE_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)  # by the count of -v
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s %(module)s:%(lineno)d %(message)s"


class _Brief(logging.Formatter):
    """``warning: message`` on one line (no traceback: the log file has those)."""

    def format(self, record: logging.LogRecord) -> str:
        text = " ".join(record.getMessage().split())
        return text if record.levelno == logging.INFO else f"{record.levelname.lower()}: {text}"


class _Once(logging.Filter):
    """Let each distinct warning through once; count the repeats."""

    def __init__(self) -> None:
        super().__init__()
        self.repeats: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = str(record.msg)  # the template: "SR of frame %d failed" repeats per frame
        self.repeats[key] += 1
        return self.repeats[key] == 1


def configure_logging(
    verbose: int = 0, log_file: str | os.PathLike | None = None
) -> Callable[[], None]:
    """Send ``srscope``'s messages to stderr (and ``log_file``); returns the undo.

    ``verbose``: 0 shows warnings and errors, 1 adds INFO, 2 or more DEBUG. The
    undo removes the handlers again and reports how many repeated warnings were
    held back (a command run in-process, as tests do, leaves no handler behind).
    """
    console = logging.StreamHandler(sys.stderr)
    console.set_name("srscope-console")
    console.setLevel(CONSOLE_LEVELS[min(max(verbose, 0), len(CONSOLE_LEVELS) - 1)])
    console.setFormatter(_Brief())
    once = _Once()
    console.addFilter(once)
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        file = logging.FileHandler(log_file, encoding="utf-8")
        file.setLevel(logging.DEBUG)
        file.setFormatter(logging.Formatter(FILE_FORMAT))
        handlers.append(file)
    old_level = logger.level
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(min(h.level for h in handlers))

    def undo() -> None:
        held = sum(n - 1 for n in once.repeats.values() if n > 1)
        if held:
            console.handle(
                logging.LogRecord(
                    logger.name, logging.WARNING, __file__, 0,
                    f"{held} repeated warning(s) not shown again"
                    + (f" (all in {log_file})" if log_file is not None else ""),
                    None, None,
                )
            )  # fmt: skip
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(old_level)

    return undo


def console_handler() -> logging.Handler | None:
    """The stderr handler :func:`configure_logging` installed, if any."""
    return next((h for h in logger.handlers if h.get_name() == "srscope-console"), None)
