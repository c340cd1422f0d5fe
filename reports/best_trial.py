"""Command line: python reports/best_trial.py SWEEP_DIR [--seeds 10] [--out DIR] [--run]

Runs `cgl.reports.best_trial` (its docstring says what it does); run it from the repo root.
"""

import sys

from cgl.reports.best_trial import main

if __name__ == "__main__":
    sys.exit(main())
