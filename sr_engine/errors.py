"""The engine's error for model files it cannot use.

Its own module so that the backends that load a file and :mod:`sr_engine.model`
raise the same error without importing each other.
"""

from __future__ import annotations

from srscope.errors import SrscopeError


class ModelError(SrscopeError):
    """The model file cannot be used (corrupt, inconsistent with its metadata)."""
