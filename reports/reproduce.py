"""Command line: python reports/reproduce.py multirun/ [more dirs ...] [--published CSV] [--out DIR]

Runs `cgl.reports.reproduce` (its docstring says what it does); run it from the repo root.
"""

import sys

from cgl.reports.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
