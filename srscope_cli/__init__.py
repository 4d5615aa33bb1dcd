"""The composition root: the ``srscope`` command line, the one place every part meets.

Layers (``tests/core/test_layers.py``): ``srscope`` (shared ground floor) <-
``sr_engine`` <- ``training`` / ``acquisition`` <- ``ui`` <- ``srscope_cli``.
"""

from srscope_cli.app import app, main

__all__ = ["app", "main"]
