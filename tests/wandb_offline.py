"""Read what an offline W&B run recorded, from its files: the run record (id, group) in the
`.wandb` log, the exit code and the process in its debug.log."""

from __future__ import annotations

import re
import struct
from pathlib import Path

BLOCK = 32 * 1024  # the .wandb file is a LevelDB-style log of 32 KiB blocks
HEADER = struct.Struct("<IHB")  # per chunk: crc32, length, kind (1 full, 2 first, 3 middle, 4 last)


def records(wandb_file: Path) -> list:
    """Every protobuf Record in a .wandb file, in order (none while W&B has not written its
    header yet)."""
    from wandb.proto import wandb_internal_pb2

    data = wandb_file.read_bytes()
    if len(data) < 7:
        return []
    assert data[:4] == b":W&B", f"{wandb_file} is not a W&B log"
    found, parts, pos = [], [], 7  # after the file's own 7-byte header
    while pos + HEADER.size <= len(data):
        room = BLOCK - pos % BLOCK
        _crc, length, kind = HEADER.unpack_from(data, pos)
        if room < HEADER.size or kind == 0:  # the rest of the block is padding
            pos += room
            continue
        parts.append(data[pos + HEADER.size : pos + HEADER.size + length])
        pos += HEADER.size + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(parts))
            found.append(record)
            parts = []
    return found


def offline_runs(job_dir: Path) -> list[dict]:
    """id, group, exit codes and process id of every offline W&B run under a job directory."""
    runs = []
    for run_dir in sorted(job_dir.glob("wandb/offline-run-*")):
        (log_file,) = run_dir.glob("run-*.wandb")
        (run,) = [r.run for r in records(log_file) if r.WhichOneof("record_type") == "run"]
        debug = (run_dir / "logs" / "debug.log").read_text()
        codes = [
            line.rsplit(":", 1)[1].strip() for line in debug.splitlines() if "got exitcode:" in line
        ]
        pid = re.search(r"MainThread:(\d+)", debug).group(1)  # the process that ran the job
        runs.append({"id": run.run_id, "group": run.run_group, "exit_codes": codes, "pid": pid})
    return runs
