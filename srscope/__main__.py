import sys

from srscope.cli import main

sys.exit(main())
