"""Keep freed tensor memory in the process for the next epoch instead of returning it to the OS.

Every epoch allocates and frees the same activations. glibc's malloc trims the heap's free top
as soon as it exceeds twice its (adaptive) mmap threshold, and serves larger blocks with fresh
mmaps that it unmaps on free: every epoch then faults in and zero-fills its activations again,
page by page, in the kernel. `TUNABLES` fix the mmap threshold at glibc's maximum (32 MiB),
never trim, and turn off the per-thread cache of small blocks, which would hold the small
remainders that torch's 64-byte-aligned allocations split off and keep freed blocks from
merging. Tensors up to 32 MiB (a 256-wide layer of up to ~30k nodes: Cora, Citeseer, the
synthetic default) are then reused, at the same peak memory.

Larger tensors still come from fresh mmaps: on 10^6 edges that is as much system time as user
time per epoch. `NO_MMAP_TUNABLES` serve those from the heap too, which removes that system
time, but the heap then fragments: peak memory grew by half on 10^6 edges, and a 10^7-edge
full-batch run no longer fit in 24 GiB (bench/bench_epoch.py). Where memory allows, set it:
`GLIBC_TUNABLES=<NO_MMAP_TUNABLES> python src/main.py ...`.

glibc reads these settings only at process start, so the command line re-executes itself once
with them (`keep_freed_memory`). A GLIBC_TUNABLES already in the environment is left alone:
`GLIBC_TUNABLES= python src/main.py ...` keeps glibc's defaults.
"""

from __future__ import annotations

import os
import sys

KEEP = [
    f"glibc.malloc.trim_threshold={2**40}",  # never give the heap's top back
    "glibc.malloc.tcache_count=0",  # no cached remainders between freed blocks
]
TUNABLES = ":".join([f"glibc.malloc.mmap_threshold={32 * 2**20}", *KEEP])
NO_MMAP_TUNABLES = ":".join(["glibc.malloc.mmap_max=0", *KEEP])


def glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # not a GNU system
        return False


def keep_freed_memory() -> None:
    """Re-execute this Python process (its interpreter options and arguments as given) with
    `TUNABLES` in its environment, once; a no-op where the C library is not glibc or
    GLIBC_TUNABLES is already set. Call it before anything sizeable is imported."""
    if "GLIBC_TUNABLES" in os.environ or not glibc():
        return
    env = {**os.environ, "GLIBC_TUNABLES": TUNABLES}
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
