"""One named logger for the whole distribution (as pymmcore-plus does)."""

import logging

logger = logging.getLogger("srscope")
logger.addHandler(logging.NullHandler())
