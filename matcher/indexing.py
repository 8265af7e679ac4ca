"""The registry's side of the vector index: profiles in, index items out, kept in step.

:mod:`index` knows vectors, ids and filter metadata only; this module knows organisations.

:func:`ensure_index` is called at start-up: it loads the saved index and checks it against
the current profiles (model, dimension, ids, content hashes, filter metadata). A missing,
corrupt or foreign index is rebuilt; a stale one is patched, re-encoding only profiles whose
text changed. Either way one log line on ``c2c.index`` says why.
:class:`RegistrySync` then applies each committed registry write to the index in memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from index import HNSWParams, IndexUnavailable, ItemMeta, VectorIndex
from matcher.embeddings import Encoder, content_hash
from matcher.errors import DuplicateOrganisation
from matcher.profiles import Organisation
from matcher.settings import get_settings
from matcher.taxonomy import Taxonomy
from matcher.text import profile_text

_ENCODE_CHUNK = 256
_PROGRESS_CHUNK = 32


def item_meta(org: Organisation) -> ItemMeta:
    """What the index's filters look at for one organisation."""
    return ItemMeta(side=org.side.value, country=org.country, region=org.region,
                    type=org.type.value, sectors=tuple(org.sectors))


def encode_texts(encoder: Encoder, texts: Sequence[str], progress: bool = False) -> np.ndarray:
    """Encode ``texts`` in chunks (with a progress bar when asked) as one float32 matrix."""
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    chunk = _PROGRESS_CHUNK if progress else _ENCODE_CHUNK
    parts = []
    bar = None
    if progress and len(texts) > chunk:
        bar = tqdm(total=len(texts), desc="encoding profiles", unit="profile")
    for start in range(0, len(texts), chunk):
        part = list(texts[start:start + chunk])
        parts.append(np.asarray(encoder.encode(part), dtype=np.float32))
        if bar is not None:
            bar.update(len(part))
    if bar is not None:
        bar.close()
    return np.concatenate(parts)


@dataclass
class ProfileSet:
    """The profiles an index should hold: text hash and filter metadata per id."""

    ids: list[str]
    texts: dict[str, str]
    hashes: dict[str, str]
    metas: dict[str, ItemMeta]

    @classmethod
    def of(cls, profiles: Sequence[Organisation], encoder: Encoder, taxonomy: Taxonomy) -> "ProfileSet":
        ids = [p.id for p in profiles]
        if len(set(ids)) != len(ids):
            duplicate = next(i for i in ids if ids.count(i) > 1)
            raise DuplicateOrganisation(f"profile id {duplicate!r} occurs more than once")
        texts = {p.id: profile_text(p, taxonomy) for p in profiles}
        return cls(ids=ids, texts=texts,
                   hashes={i: content_hash(t, encoder.name) for i, t in texts.items()},
                   metas={p.id: item_meta(p) for p in profiles})


@dataclass
class Drift:
    """How a loaded index differs from the profiles it should hold."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    relabelled: list[str] = field(default_factory=list)

    @classmethod
    def between(cls, index: VectorIndex, wanted: ProfileSet) -> "Drift":
        have = index.content_hashes()
        drift = cls(added=[i for i in wanted.ids if i not in have],
                    removed=[i for i in have if i not in wanted.hashes])
        for item_id in wanted.ids:
            if item_id in have:
                if have[item_id] != wanted.hashes[item_id]:
                    drift.changed.append(item_id)
                elif index.meta(item_id) != wanted.metas[item_id]:
                    drift.relabelled.append(item_id)
        return drift

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.relabelled)

    def __str__(self) -> str:
        return (f"stale: {len(self.changed)} changed, {len(self.added)} added, {len(self.removed)} removed, "
                f"{len(self.relabelled)} with changed metadata")


def ensure_index(index_dir: str | Path, profiles: Sequence[Organisation], encoder: Encoder, taxonomy: Taxonomy,
                 data_version: str, logger: logging.Logger | None = None, *, kind: str = "auto",
                 hnsw_threshold: int | None = None, params: HNSWParams | None = None,
                 progress: bool = False) -> VectorIndex:
    """A vector index over ``profiles`` that matches them exactly, saved at ``index_dir``.

    Loads the saved index; if it is missing, corrupt, built with another model or dimension,
    of the wrong kind for the collection size, or stale (ids, texts or filter metadata
    differ), it is rebuilt or patched, encoding only profiles whose text changed, then saved.
    Logs one line saying why whenever it does anything. A failed save is logged, not raised:
    the returned in-memory index is still correct.
    """
    logger = logger or logging.getLogger("c2c.index")
    folder = Path(index_dir)
    if hnsw_threshold is None:
        hnsw_threshold = get_settings().hnsw_threshold
    wanted = ProfileSet.of(profiles, encoder, taxonomy)
    loaded, reason = _load(folder)
    if loaded is not None and (loaded.model_name != encoder.name or loaded.dim != encoder.dim):
        reason = (f"built with model {loaded.model_name} (dim {loaded.dim}), "
                  f"encoder is {encoder.name} (dim {encoder.dim})")
        loaded = None
    if loaded is not None:
        loaded.requested_kind, loaded.hnsw_threshold = kind, hnsw_threshold
        drift = Drift.between(loaded, wanted)
        rebuild = _structure_reason(loaded, len(wanted.ids), params)
        if not drift and rebuild is None:
            loaded.data_version = data_version
            if params is not None:
                loaded.set_ef_search(params.ef_search)
            return loaded
        if rebuild is None:
            encoded = _patch(loaded, wanted, drift, encoder, progress)
            _save(loaded, folder, data_version, logger)
            logger.info("updated vector index %s (%s); %d profiles, %d encoded",
                        folder, drift, len(wanted.ids), encoded)
            return loaded
        reason = rebuild
    index, encoded = _build(wanted, encoder, loaded, kind, hnsw_threshold, params, data_version, progress)
    _save(index, folder, data_version, logger)
    logger.info("rebuilt vector index %s (%s); %d profiles, %d encoded, kind %s",
                folder, reason, len(wanted.ids), encoded, index.kind)
    return index


def _load(folder: Path) -> tuple[VectorIndex | None, str]:
    try:
        return VectorIndex.load(folder), ""
    except IndexUnavailable as exc:
        if not folder.exists():
            return None, "no saved index"
        return None, f"saved index unusable: {exc.reason}"


def _structure_reason(index: VectorIndex, count: int, params: HNSWParams | None) -> str | None:
    probe_kind = index.requested_kind
    if probe_kind == "auto":
        if index.kind == "exact" and count > index.hnsw_threshold:
            return f"{count} profiles exceed the HNSW threshold {index.hnsw_threshold}"
        if index.kind == "hnsw" and count < index.hnsw_threshold // 2:
            return f"{count} profiles are well below the HNSW threshold {index.hnsw_threshold}"
    elif probe_kind != index.kind:
        return f"index kind {index.kind} but {probe_kind} requested"
    if params is not None and index.kind == "hnsw" and (params.m, params.ef_construction) != (
            index.params.m, index.params.ef_construction):
        return "HNSW build parameters changed"
    return None


def _patch(index: VectorIndex, wanted: ProfileSet, drift: Drift, encoder: Encoder, progress: bool) -> int:
    for item_id in drift.removed:
        index.remove(item_id)
    to_encode = drift.changed + drift.added
    vectors = dict(zip(to_encode, encode_texts(encoder, [wanted.texts[i] for i in to_encode], progress)))
    for item_id in drift.changed:
        index.update(item_id, vectors[item_id], wanted.metas[item_id], wanted.hashes[item_id])
    for item_id in drift.relabelled:
        index.update(item_id, meta=wanted.metas[item_id])
    if drift.added:
        index.add_many(drift.added, np.stack([vectors[i] for i in drift.added]),
                       [wanted.metas[i] for i in drift.added], [wanted.hashes[i] for i in drift.added])
    return len(to_encode)


def _build(wanted: ProfileSet, encoder: Encoder, previous: VectorIndex | None, kind: str, hnsw_threshold: int,
           params: HNSWParams | None, data_version: str, progress: bool) -> tuple[VectorIndex, int]:
    known = previous.content_hashes() if previous is not None else {}
    reuse = [i for i in wanted.ids if known.get(i) == wanted.hashes[i]]
    reused = dict(zip(reuse, previous.vectors(reuse))) if previous is not None and reuse else {}
    to_encode = [i for i in wanted.ids if i not in reused]
    fresh = dict(zip(to_encode, encode_texts(encoder, [wanted.texts[i] for i in to_encode], progress)))
    matrix = (np.stack([reused.get(i, fresh.get(i)) for i in wanted.ids]) if wanted.ids
              else np.zeros((0, encoder.dim), np.float32))
    index = VectorIndex.build(wanted.ids, matrix, [wanted.metas[i] for i in wanted.ids], model_name=encoder.name,
                              content_hashes=[wanted.hashes[i] for i in wanted.ids], kind=kind,
                              hnsw_threshold=hnsw_threshold, params=params, data_version=data_version,
                              progress=progress)
    return index, len(to_encode)


def _save(index: VectorIndex, folder: Path, data_version: str, logger: logging.Logger) -> None:
    try:
        index.save(folder, data_version=data_version)
    except OSError as exc:
        logger.warning("could not save vector index %s: %s", folder, exc)


def upsert_profile(index: VectorIndex, org: Organisation, encoder: Encoder, taxonomy: Taxonomy) -> bool:
    """Add or refresh one profile; encodes only if its text changed. True when it encoded."""
    text = profile_text(org, taxonomy)
    digest = content_hash(text, encoder.name)
    meta = item_meta(org)
    if org.id in index and index.content_hash(org.id) == digest:
        index.update(org.id, meta=meta)
        return False
    index.upsert(org.id, encoder.encode([text])[0], meta, digest)
    return True


def upsert_profiles(index: VectorIndex, orgs: Sequence[Organisation], encoder: Encoder, taxonomy: Taxonomy,
                    lock: threading.RLock | None = None) -> int:
    """Add or refresh several profiles, encoding the changed texts in one batch outside ``lock``
    (which guards each change of the index). Returns how many were encoded."""
    lock = lock or threading.RLock()
    texts = [profile_text(org, taxonomy) for org in orgs]
    digests = [content_hash(text, encoder.name) for text in texts]
    with lock:
        new = [i for i, (org, digest) in enumerate(zip(orgs, digests))
               if org.id not in index or index.content_hash(org.id) != digest]
    vectors = dict(zip(new, encode_texts(encoder, [texts[i] for i in new])))
    for i, (org, digest) in enumerate(zip(orgs, digests)):
        with lock:
            if i in vectors:
                index.upsert(org.id, vectors[i], item_meta(org), digest)
            else:
                index.update(org.id, meta=item_meta(org))
    return len(vectors)


def remove_profile(index: VectorIndex, org_id: str) -> bool:
    """Drop one profile if present. True when it was there."""
    if org_id in index:
        index.remove(org_id)
        return True
    return False


class RegistrySync:
    """A ``Registry.subscribe`` callback that applies each committed write to an index.

    ``get_profile(org_id)`` fetches the stored profile after "created"/"updated" events.
    With ``save_to``, the index is saved after a change, with the data version from
    ``data_version()`` when given: at once, or with ``save_delay`` > 0 by a timer that many
    seconds after the first unsaved change, so a burst of writes costs one save (a save
    rewrites and syncs the whole folder, several times the cost of the write itself). An index
    left behind by a crash before its save is reconciled with the registry on the next start.
    ``lock`` guards the index against concurrent changes and saves.
    """

    def __init__(self, index: VectorIndex, get_profile: Callable[[str], Organisation], encoder: Encoder,
                 taxonomy: Taxonomy, save_to: str | Path | None = None,
                 data_version: Callable[[], str] | None = None, logger: logging.Logger | None = None,
                 save_delay: float = 0.0, lock: threading.RLock | None = None):
        self.index = index
        self.get_profile = get_profile
        self.encoder = encoder
        self.taxonomy = taxonomy
        self.save_to = Path(save_to) if save_to is not None else None
        self.data_version = data_version
        self.logger = logger or logging.getLogger("c2c.index")
        self.save_delay = save_delay
        self.lock = lock or threading.RLock()
        self._timer: threading.Timer | None = None
        self._dirty = False

    def __call__(self, event: str, org_id: str) -> None:
        with self.lock:
            if event == "deleted":
                remove_profile(self.index, org_id)
            elif event in ("created", "updated"):
                upsert_profile(self.index, self.get_profile(org_id), self.encoder, self.taxonomy)
            else:
                return
            self.touched()

    def touched(self) -> None:
        """Save the index after a change (made here or directly on the index): at once, or by the
        timer of the burst."""
        with self.lock:
            if self.save_to is None:
                return
            self._dirty = True
            if self.save_delay <= 0:
                self.flush()
            elif self._timer is None:
                self._timer = threading.Timer(self.save_delay, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Save the index now if a change is unsaved."""
        with self.lock:
            self._timer = None
            if not self._dirty or self.save_to is None:
                return
            self._dirty = False
            version = self.data_version() if self.data_version else None
            try:
                self.index.save(self.save_to, data_version=version)
            except OSError as exc:
                self.logger.warning("could not save vector index %s: %s", self.save_to, exc)

    def close(self) -> None:
        """Stop the timer and save what is unsaved."""
        timer = self._timer
        if timer is not None:
            timer.cancel()
        self.flush()
