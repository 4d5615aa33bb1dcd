"""Work around the reference leaks of PySide6 6.12.0 on Python < 3.12.

In PySide6/shiboken6 6.12.0 every call of a Qt method returning ``void``
(``QGraphicsItem.update``, ``QWidget.setEnabled``, …) decrements the reference
count of ``None`` once too often, and every signal ``emit`` does the same to
``True``. Before Python 3.12 these singletons are not immortal, so a live view
(thousands of such calls per second) drives a count to zero and the
interpreter aborts (``none_dealloc`` / ``bool_dealloc``). The viewer keeps a
bank of extra references and tops it up on its display timer. The real fix is
not to use 6.12.0 (``PySide6-Essentials != 6.12.0``); harmless elsewhere.
"""

from __future__ import annotations

import ctypes
import sys

_SINGLETONS: tuple[object, ...] = (None, True, False)
_BANK: list[object] = []
# the bank must outlive interpreter finalisation (when the leaked decrefs still
# happen): one extra reference that nobody releases keeps it alive
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
    """Top up the references to ``None``/``True``/``False`` the binding ate into."""
    if not (AFFECTED or force):
        return
    for obj in _SINGLETONS:
        count = sys.getrefcount(obj)
        if count < _FLOOR:
            _BANK.extend([obj] * (_TARGET - count))


keep_none_alive()
