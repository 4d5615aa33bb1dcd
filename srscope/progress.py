"""The progress bar every long command shows on stderr (scan, references, predict,
calibrate, evaluate).

A library step takes a ``progress(done, total)`` callback and knows nothing of the
display; the command passes :meth:`ProgressBar.update`. The bar appears with the
first update, so a command that fails its checks prints its one-line error and
nothing else, and it goes when the step ends (``transient``): the command's summary
line stays. ``rich`` is imported then, not at import time.
"""

from __future__ import annotations

from typing import Any


class ProgressBar:
    """``with ProgressBar("tiles") as bar: step(progress=bar.update)``."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        return self

    def update(self, done: int, total: int | None, what: str | None = None) -> None:
        """``done`` of ``total`` (None: unknown yet); ``what``: the description from now on."""
        if what is not None:
            self.description = what
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,  # the summary line stays, the bar goes
            )
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=total)
        self._bar.update(self._task, completed=done, total=total, description=self.description)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
