"""Atomic output: every report file appears whole or not at all (temp file + rename), and
the output directory as a whole is replaced only once everything in it is written.

A reader (a LaTeX build, a browser tab, a second report run) never sees half a table, and a
report that fails half-way leaves the previous output directory as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image


@contextlib.contextmanager
def staged_directory(out: Path) -> Iterator[Path]:
    """Yield an empty directory beside `out` to write into; when the block ends without an
    error it takes `out`'s place, else it is removed and `out` stays as it was.

    Two renames (`out` aside, the new one in): there is no portable atomic swap of two
    directories, and a crash between them leaves the old output as `.<out>.old-*`.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the reports from the group
    old = staging.with_name(staging.name.replace(".new-", ".old-"))
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temp path beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(path: Path, frame: pd.DataFrame, index: bool = False) -> Path:
    return write_text(path, frame.to_csv(index=index))


def save_png(path: Path, figure: Figure, dpi: int = 100) -> Path:
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi))


def save_pixels(path: Path, rgba: np.ndarray) -> Path:
    """An already rendered H x W x 4 uint8 image as an RGB PNG (fast zlib level: a heatmap
    is mostly flat colour, so level 1 is barely larger and several times faster)."""
    image = Image.fromarray(np.ascontiguousarray(rgba[..., :3]))
    return atomic_write(path, lambda tmp: image.save(tmp, format="png", compress_level=1))


def slug(text: str) -> str:
    """A file name for a configuration: `nc/classil/mas lamb=10` -> `nc-classil-mas_lamb=10`."""
    return re.sub(r"[^\w.=,+-]+", "_", text.replace("/", "-")).strip("_")
