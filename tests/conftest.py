"""Shared fixtures. Each part keeps its own tests in tests/<part>/."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
