"""Command line: python reports/make_tables.py multirun/ [more dirs ...] --out reports/out

Runs `cgl.reports.make_tables` (its docstring says what it does); run it from the repo root.
"""

import sys

from cgl.reports.make_tables import main

if __name__ == "__main__":
    sys.exit(main())
