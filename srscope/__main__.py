"""``python -m srscope``: the command line of :mod:`srscope_cli` (the composition root)."""

import sys

from srscope_cli import main

sys.exit(main())
