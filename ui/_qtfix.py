"""Work around the None reference leak of PySide6 6.12.0 on Python < 3.12.

In PySide6/shiboken6 6.12.0 every call of a Qt method returning ``void``
(``QGraphicsItem.update``, ``QWidget.setWindowTitle``, …) decrements the
reference count of ``None`` once too often. Before Python 3.12 ``None`` is not
immortal, so a live view (hundreds of such calls per frame) drives it to zero
within minutes and the interpreter aborts with ``none_dealloc``. The viewer
keeps a bank of extra references to ``None`` and tops it up on its display
timer. Fixed by not using 6.12.0 (``PySide6-Essentials != 6.12.0``); harmless
elsewhere.
"""

from __future__ import annotations

import ctypes
import sys

_BANK: list[None] = []
# the bank itself must outlive interpreter finalisation (when the leaked decrefs
# still happen): one extra reference nobody releases keeps it alive
ctypes.pythonapi.Py_IncRef(ctypes.py_object(_BANK))
_FLOOR = 500_000
_TARGET = 1_000_000


def _affected() -> bool:
    if sys.version_info >= (3, 12):
        return False
    try:
        import shiboken6
    except ImportError:
        return False
    return getattr(shiboken6, "__version__", "").startswith("6.12.0")


AFFECTED = _affected()


def keep_none_alive(force: bool = False) -> None:
    """Top up the references to ``None`` when the buggy binding ate into them."""
    if not (AFFECTED or force):
        return
    count = sys.getrefcount(None)
    if count < _FLOOR:
        _BANK.extend([None] * (_TARGET - count))


keep_none_alive()
