"""Long work off the GUI thread: a QThread running one function, reporting through signals.

The function receives a :class:`TaskContext` it uses to report progress and
previews and to check for cancellation; the GUI only ever sees signals, so the
window never freezes while a scan or a reference capture runs.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from qtpy import QtCore

from srscope import logger
from srscope.errors import SrscopeError


class TaskCancelled(Exception):
    """Raised inside a task function when the user pressed Stop."""


class TaskContext:
    """What a task function may do: report progress/previews, check for Stop."""

    def __init__(self, task: Task) -> None:
        self._task = task
        self._cancel = threading.Event()

    def progress(self, done: int, total: int, text: str = "") -> None:
        self._task.progress.emit(int(done), int(total), text)

    def preview(self, payload: Any) -> None:
        self._task.preview.emit(payload)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise TaskCancelled


class Task(QtCore.QThread):
    """Runs ``fn(ctx)`` on its own thread; ``done(result)`` or ``failed(message)`` at the end."""

    progress = QtCore.Signal(int, int, str)
    preview = QtCore.Signal(object)
    done = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, fn: Callable[[TaskContext], Any], name: str, parent=None) -> None:
        super().__init__(parent)
        self._fn = fn
        self.setObjectName(name)
        self.ctx = TaskContext(self)
        self.result: Any = None
        self.error: str | None = None

    def run(self) -> None:
        try:
            self.result = self._fn(self.ctx)
        except TaskCancelled:
            self.error = "stopped by user"
            self.failed.emit(self.error)
        except SrscopeError as exc:
            self.error = str(exc)
            self.failed.emit(self.error)
        except Exception as exc:  # the task's last resort: logged with its traceback
            logger.error("%s failed:\n%s", self.objectName(), traceback.format_exc())
            self.error = f"{type(exc).__name__}: {exc}"
            self.failed.emit(self.error)
        else:
            self.done.emit(self.result)
