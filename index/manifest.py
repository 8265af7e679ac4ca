"""The index folder's manifest and the all-or-nothing folder swap.

An index folder holds data files plus ``manifest.json``: format version, model name,
dimension, count, kind and parameters, the sha256 of every data file, library versions, the
caller's data version and the creation time. :func:`read_manifest` refuses a folder whose files
do not match their checksums, so nothing unverified is ever parsed.

:func:`write_folder` writes a complete new folder beside the old one and swaps it in with
renames (old -> backup, new -> final, drop backup). A crash leaves either the old folder, the
new one, or a backup that :func:`recover_folder` moves back into place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import faiss
import numpy

from index.errors import unavailable

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
KINDS = ("exact", "hnsw")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose formats the folder depends on (and of the distribution
    that ships this package)."""
    return {"faiss": faiss.__version__, "numpy": numpy.__version__, "c2c_matcher": version("c2c-matcher")}


@dataclass
class Manifest:
    """What an index folder contains; stored as ``manifest.json``."""

    kind: str
    model_name: str
    dim: int
    count: int
    params: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)
    data_version: str = ""
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, folder: Path) -> "Manifest":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise unavailable(folder, f"manifest is not valid JSON ({exc})") from None
        except RecursionError:
            raise unavailable(folder, "manifest is nested too deeply to be an index manifest") from None
        if not isinstance(raw, dict):
            raise unavailable(folder, "manifest is not a JSON object")
        if raw.get("format_version") != FORMAT_VERSION:
            raise unavailable(folder, f"unsupported format version {raw.get('format_version')!r}")
        try:
            manifest = cls(
                kind=str(raw["kind"]), model_name=str(raw["model_name"]), dim=int(raw["dim"]),
                count=int(raw["count"]), params=dict(raw.get("params") or {}),
                files={str(k): str(v) for k, v in dict(raw["files"]).items()},
                versions=dict(raw.get("versions") or {}), data_version=str(raw.get("data_version", "")),
                created_at=str(raw.get("created_at", "")), format_version=FORMAT_VERSION,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise unavailable(folder, f"manifest field missing or invalid: {exc}") from None
        if manifest.kind not in KINDS:
            raise unavailable(folder, f"unknown index kind {manifest.kind!r}")
        if manifest.dim <= 0 or manifest.count < 0:
            raise unavailable(folder, "manifest dimension or count out of range")
        return manifest


def read_manifest(folder: Path, required: Callable[[Manifest], list[str]] | None = None) -> Manifest:
    """The verified manifest of ``folder``: every listed file exists and matches its sha256.

    ``required`` names the files the manifest must list (given the manifest's kind).
    Raises :class:`IndexUnavailable` with the reason otherwise.
    """
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise unavailable(folder, "folder does not exist")
    if not path.is_file():
        raise unavailable(folder, "manifest.json is missing")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise unavailable(folder, f"manifest is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise unavailable(folder, f"manifest cannot be read ({exc.strerror or exc})") from None
    manifest = Manifest.from_json(text, folder)
    for name in (required(manifest) if required else []):
        if name not in manifest.files:
            raise unavailable(folder, f"manifest does not list {name}")
    for name, expected in manifest.files.items():
        file = folder / name
        if Path(name).name != name or not file.is_file():
            raise unavailable(folder, f"file {name} is missing")
        if sha256_file(file) != expected:
            raise unavailable(folder, f"checksum mismatch for {name}")
    return manifest


def _backup_of(final: Path) -> Path:
    return final.with_name(f".{final.name}.bak")


def rename_path(src: Path, dst: Path) -> None:
    """Every rename of a save or a recovery goes through here (tests inject a crash between two)."""
    os.replace(src, dst)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _folder_lock(final: Path) -> Iterator[None]:
    """Serialise writers of the same folder across processes (POSIX advisory lock)."""
    lock_path = final.with_name(f".{final.name}.lock")
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def recover_folder(final: Path) -> bool:
    """Move a leftover backup into place when a crash left no final folder. True if it did."""
    backup = _backup_of(final)
    if not final.exists() and backup.is_dir():
        rename_path(backup, final)
        _fsync_dir(final.parent)
        return True
    return False


def write_folder(final: Path, write_files: Callable[[Path], None], manifest: Manifest) -> None:
    """Write a complete folder at ``final``: data files, then the manifest, then swap in.

    ``write_files(tmp)`` writes the data files into an empty temporary sibling folder; their
    checksums go into ``manifest.files``. The old folder stays loadable until the swap.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    with _folder_lock(final):
        for leftover in final.parent.glob(f".{final.name}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        recover_folder(final)
        tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:12]}")
        tmp.mkdir()
        try:
            write_files(tmp)
            manifest.files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
            (tmp / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
            for p in tmp.iterdir():
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
            _fsync_dir(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        backup = _backup_of(final)
        if backup.exists():
            shutil.rmtree(backup)
        if final.exists():
            rename_path(final, backup)
        rename_path(tmp, final)
        _fsync_dir(final.parent)
        shutil.rmtree(backup, ignore_errors=True)
