"""``python -m bench``: see :mod:`bench` for what is measured and :mod:`bench.cli` for options."""

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
