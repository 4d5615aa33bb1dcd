"""srscope: live deep-learning super-resolution for light microscopes.

The distribution ships four parts (``acquisition``, ``sr_engine``, ``training``,
``ui``); this small package holds what they share: the version, the logger,
the user-facing error type and the file contracts of ``DESIGN.md``.
"""

from importlib.metadata import PackageNotFoundError, version

from srscope._logger import logger
from srscope.errors import SrscopeError

try:
    __version__ = version("srscope")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["SrscopeError", "__version__", "logger"]
