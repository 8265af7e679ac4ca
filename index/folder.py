"""An index folder: ``ids.npy``, ``metadata.json`` and the backend's data files under a
manifest with checksums, written all-or-nothing and verified when read (:mod:`index.manifest`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from index.backends import BACKENDS, Backend, HNSWParams
from index.errors import unavailable
from index.filters import ItemMeta
from index.items import Items
from index.atomic import recover_folder
from index.manifest import Manifest, read_manifest, write_folder

log = logging.getLogger("c2c.index")


def save(folder: str | Path, manifest: Manifest, items: Items, backend: Backend) -> Manifest:
    """Write ``items`` (live rows) and ``backend`` under ``manifest``; the manifest as written."""
    live = items.live_rows()

    def write_files(tmp: Path) -> None:
        records = [{"id": items.row_ids[r], **items.meta(int(r)).to_dict(), "content_hash": items.content_hash(r)}
                   for r in live]
        (tmp / "metadata.json").write_text(json.dumps({"items": records}, ensure_ascii=False), encoding="utf-8")
        backend.save(tmp, items.row_ids, live)

    write_folder(Path(folder), write_files, manifest)
    return manifest


def load(folder: str | Path) -> tuple[Manifest, Backend, Items]:
    """The manifest, backend and rows of a folder written by :func:`save`.

    Raises :class:`~index.errors.IndexUnavailable` (with ``.reason``) when the folder is
    missing, incomplete, corrupt or inconsistent.
    """
    folder = Path(folder)
    if recover_folder(folder):
        log.warning("restored index %s from the backup left by an interrupted save", folder)
    manifest = read_manifest(folder, required=required_files)
    try:
        return manifest, *_read(folder, manifest)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, RecursionError) as exc:
        raise unavailable(folder, f"unreadable contents ({exc})") from None


def required_files(manifest: Manifest) -> list[str]:
    return ["ids.npy", "metadata.json", *BACKENDS[manifest.kind].files]


def _read(folder: Path, manifest: Manifest) -> tuple[Backend, Items]:
    params = dict(manifest.params)
    hnsw = HNSWParams(**{k: int(params[k]) for k in ("m", "ef_construction", "ef_search") if k in params})
    ids_array = np.load(folder / "ids.npy", allow_pickle=False)
    if ids_array.dtype.kind != "U" or ids_array.ndim != 1:
        raise ValueError("ids.npy is not a 1-d array of strings")
    raw_items = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))["items"]
    records = {str(item["id"]): item for item in raw_items}
    row_ids: list[str | None] = [str(i) or None for i in ids_array]
    live_ids = [i for i in row_ids if i is not None]
    if len(live_ids) != manifest.count or set(live_ids) != set(records) or len(set(live_ids)) != len(live_ids):
        raise ValueError("ids, metadata and manifest count disagree")
    metas = [ItemMeta.from_dict(records[i]) if i is not None else None for i in row_ids]
    hashes = [records[i].get("content_hash") if i is not None else None for i in row_ids]
    backend = BACKENDS[manifest.kind].load(folder, manifest.dim, hnsw, len(row_ids))
    return backend, Items.of_rows(row_ids, metas, hashes)
