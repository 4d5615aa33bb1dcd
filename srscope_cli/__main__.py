import sys

from srscope_cli import main

sys.exit(main())
