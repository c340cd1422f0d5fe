"""Command-line glue that Hydra does not provide."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from cgl.errors import CglError

MULTIRUN_FLAGS = ("-m", "--multirun")


def hoist_multirun_flag(argv: list[str]) -> list[str]:
    """Move -m/--multirun to the front so it may stand anywhere on the line (plain Hydra
    rejects it after an override such as `level=lc`)."""
    flags = [arg for arg in argv[1:] if arg in MULTIRUN_FLAGS]
    rest = [arg for arg in argv[1:] if arg not in MULTIRUN_FLAGS]
    return [argv[0], *flags[:1], *rest]


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turn a CglError into its one-paragraph message and exit status 2, no traceback."""
    try:
        yield
    except CglError as err:
        logging.getLogger("cgl").error("%s", err)
        print(f"cgl: error: {err}", file=sys.stderr)
        sys.exit(2)
