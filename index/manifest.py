"""The index folder's manifest and the all-or-nothing folder swap.

An index folder holds data files plus ``manifest.json``: format version, model name,
dimension, count, kind and parameters, the sha256 of every data file, library versions, the
caller's data version and the creation time. :func:`read_manifest` refuses a folder whose files
do not match their checksums, so nothing unverified is ever parsed.

:func:`write_folder` writes a complete new folder beside the old one and swaps it in
(:func:`index.atomic.replace_folder`): a crash leaves either the old folder, the new one, or a
backup that :func:`index.atomic.recover_folder` moves back into place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import faiss
import numpy

from index.atomic import replace_folder
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


def write_folder(final: Path, write_files: Callable[[Path], None], manifest: Manifest) -> None:
    """Write a complete folder at ``final``: data files, then the manifest, then swap in.

    ``write_files(tmp)`` writes the data files into an empty temporary sibling folder; their
    checksums go into ``manifest.files``. The old folder stays loadable until the swap
    (:func:`index.atomic.replace_folder`).
    """
    def fill(tmp: Path) -> None:
        write_files(tmp)
        manifest.files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        (tmp / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")

    replace_folder(Path(final), fill)
