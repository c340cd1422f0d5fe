"""Raw dataset files into `data_dir`: plain HTTP download, checksums, zip extraction.

A file already in place is used as it is (once its checksum matches, where one is known), so a
file placed by hand works exactly like a downloaded one. A missing file is downloaded with a
short timeout: offline, the loader fails at once with a DatasetUnavailableError that names the
URL, the expected path and how to place the file by hand.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cgl.config.errors import DatasetUnavailableError

log = logging.getLogger(__name__)

#: Seconds to wait for a server before giving up (offline machines fail at once anyway).
TIMEOUT_SECONDS = float(os.environ.get("CGL_DOWNLOAD_TIMEOUT", "15"))
#: Set CGL_OFFLINE=1 to never download: a missing file fails at once with the same message.
OFFLINE_ENV = "CGL_OFFLINE"
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class RawFile:
    """One file a loader reads: where it comes from and where it must be under data_dir.

    `sha256` is the digest of the file's content, decompressed first when the name ends in
    `.gz` (so that a recompressed copy of the same data is still accepted); None where no
    stable digest is known.
    """

    url: str
    path: str
    sha256: str | None = None


@dataclass(frozen=True)
class RawArchive:
    """A zip or tar archive whose members a loader reads, unpacked into `folder` under data_dir.

    `strip` is the top-level folder inside the zip that `folder` replaces (OGB zips unpack to
    `arxiv/...`, which OGB moves to `ogbn_arxiv/...`); `members` are the files, relative to
    `folder`, that must exist once it is unpacked, with their sha256 where known.
    """

    url: str
    file_name: str
    folder: str
    members: dict[str, str | None] = field(default_factory=dict)
    strip: str = ""


def content_sha256(path: Path) -> str:
    """Digest of the file's content (decompressed when it is a .gz file)."""
    opener = gzip.open if path.suffix == ".gz" else open
    digest = hashlib.sha256()
    with opener(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(data_dir: str | Path, raw: RawFile, dataset: str) -> Path:
    """Path of `raw` under data_dir, downloading it first if it is missing or corrupt."""
    path = Path(data_dir) / raw.path
    if path.exists() and _checksum_ok(path, raw.sha256):
        return path
    problem = "is corrupt (checksum mismatch)" if path.exists() else "is missing"
    _download(raw.url, path, dataset, problem, hand=f"place it at {path}")
    if not _checksum_ok(path, raw.sha256):
        path.unlink()
        raise DatasetUnavailableError(
            f"Dataset '{dataset}': the file downloaded from {raw.url} does not have the expected "
            f"sha256 {raw.sha256}; it was removed. The server may serve a new version: place a "
            f"copy with the expected content at {path} by hand."
        )
    return path


def fetch_archive(data_dir: str | Path, archive: RawArchive, dataset: str) -> Path:
    """The unpacked folder of `archive` under data_dir, downloading and unpacking as needed.

    Unpacking goes to a temporary folder renamed at the end, so a half-unpacked folder never
    looks complete.
    """
    folder = Path(data_dir) / archive.folder
    if _members_ok(folder, archive.members):
        return folder
    archive_path = Path(data_dir) / archive.file_name
    if not archive_path.exists():
        _download(
            archive.url,
            archive_path,
            dataset,
            problem=f"is missing and {_unpacked_problem(folder, archive.members)}",
            hand=f"either put it at {archive_path} (it is unpacked on first use) or unpack it so "
            f"that {folder / next(iter(archive.members))} exists",
        )
    _unpack(archive_path, folder, archive.strip, dataset)
    if not _members_ok(folder, archive.members):
        raise DatasetUnavailableError(
            f"Dataset '{dataset}': {archive_path} was unpacked into {folder} but the expected "
            f"files {sorted(archive.members)} are missing or have the wrong checksum. Delete "
            f"{archive_path} and {folder} and download {archive.url} again."
        )
    return folder


def _checksum_ok(path: Path, expected: str | None) -> bool:
    if expected is None:
        return True
    try:
        actual = content_sha256(path)
    except (OSError, EOFError) as err:  # truncated gzip and the like
        log.warning("cannot read %s: %s", path, err)
        return False
    if actual != expected:
        log.warning("%s has sha256 %s, expected %s", path, actual, expected)
    return actual == expected


def _unpacked_problem(folder: Path, members: dict[str, str | None]) -> str:
    """Why the unpacked copy in `folder` cannot be used, for the error message."""
    missing = [name for name in members if not (folder / name).exists()]
    if len(missing) == len(members):
        return f"nothing is unpacked in {folder}"
    if missing:
        return f"{folder} lacks {', '.join(missing)}"
    damaged = [name for name, digest in members.items() if not _checksum_ok(folder / name, digest)]
    return (
        f"{folder} holds {', '.join(damaged)} with the wrong checksum (a damaged or different "
        f"version: replace it with a good copy)"
    )


def _members_ok(folder: Path, members: dict[str, str | None]) -> bool:
    return folder.is_dir() and all(
        (folder / name).exists() and _checksum_ok(folder / name, digest)
        for name, digest in members.items()
    )


def _download(url: str, path: Path, dataset: str, problem: str, hand: str) -> None:
    """Stream `url` to `path` through a temporary file; offline, explain the manual route."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    log.info("downloading %s -> %s", url, path)
    try:
        if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
            raise urllib.error.URLError(f"downloads are off: {OFFLINE_ENV} is set")
        request = urllib.request.Request(url, headers={"User-Agent": "cgl"})
        with (
            urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response,
            open(partial, "wb") as out,
        ):
            shutil.copyfileobj(response, out, CHUNK_BYTES)
    except (urllib.error.URLError, OSError) as err:
        partial.unlink(missing_ok=True)
        reason = getattr(err, "reason", err)
        raise DatasetUnavailableError(
            f"Dataset '{dataset}' is not available: {path} {problem}, and downloading {url} "
            f"failed ({reason}). To place it by hand, download {url} on a machine with network "
            f"access and {hand}, then run again."
        ) from None
    os.replace(partial, path)


def _unpack(archive_path: Path, folder: Path, strip: str, dataset: str) -> None:
    """Extract the members under `strip` into `folder`, refusing paths that leave it."""
    staging = folder.with_name(folder.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for name, source in _archive_members(archive_path):
            if not name.startswith(strip):
                continue
            target = (staging / name[len(strip) :]).resolve()
            if not target.is_relative_to(staging.resolve()):
                raise DatasetUnavailableError(
                    f"Dataset '{dataset}': {archive_path} holds the unsafe path '{name}'."
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            with source() as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK_BYTES)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise DatasetUnavailableError(
            f"Dataset '{dataset}': {archive_path} cannot be unpacked ({err}). Delete it and run "
            "again to download it anew, or place a good copy there by hand."
        ) from None
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)


def _archive_members(path: Path) -> Iterator[tuple[str, Callable[[], BinaryIO]]]:
    """(name, opener) of every regular file in a zip or tar archive."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield info.filename, functools.partial(archive.open, info)
        return
    with tarfile.open(path) as archive:
        for member in archive:
            if member.isfile():
                yield member.name, functools.partial(archive.extractfile, member)


def dgl_archive(name: str, members: dict[str, str | None]) -> RawArchive:
    """A zip DGL hosts, unpacked where DGL's own datasets unpack it (`<name>_<sha1(url)[:8]>`),
    so a data_dir that DGL already filled is reused as it is."""
    url = f"https://data.dgl.ai/dataset/{name}.zip"
    suffix = hashlib.sha1(url.encode("utf-8")).hexdigest()[:8]
    return RawArchive(url=url, file_name=f"{name}.zip", folder=f"{name}_{suffix}", members=members)
