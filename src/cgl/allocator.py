"""Keep freed tensor memory in the process for the next epoch instead of returning it to the OS.

Every epoch allocates and frees the same large activations. glibc's malloc serves blocks above
its mmap threshold (at most 32 MiB) with a fresh mmap and unmaps them when freed, and trims
the heap's free top: every epoch then faults in and zero-fills its activations again, page by
page, in the kernel. On a 10^6-edge graph that was more system than user time per epoch
(bench/bench_epoch.py). `TUNABLES` turn mmap and trimming off, so freed blocks are reused, and
the per-thread cache of small blocks off too: it holds the small remainders that torch's
64-byte-aligned allocations split off, which would keep freed large blocks from merging (with
the cache, peak memory grew by 80 %; without it, by 19 %, against a tenth of the CPU time).

glibc reads these settings only at process start, so the command line re-executes itself once
with them (`keep_freed_memory`). A GLIBC_TUNABLES already in the environment is left alone:
`GLIBC_TUNABLES= python src/main.py ...` keeps glibc's defaults.
"""

from __future__ import annotations

import os
import sys

TUNABLES = ":".join(
    [
        "glibc.malloc.mmap_max=0",  # large blocks from the heap, reused after free
        f"glibc.malloc.trim_threshold={2**40}",  # never give the heap's top back
        "glibc.malloc.tcache_count=0",  # no cached remainders between freed blocks
    ]
)


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
