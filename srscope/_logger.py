"""One named logger for the whole distribution (as pymmcore-plus does)."""

import logging

logger = logging.getLogger("srscope")
logger.addHandler(logging.NullHandler())
# tifffile logs warnings and errors for every damaged file it reads; srscope checks
# what it reads and its own one-line error names the file instead.
logging.getLogger("tifffile").setLevel(logging.CRITICAL)
