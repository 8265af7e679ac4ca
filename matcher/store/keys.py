"""API keys: created with a secret shown once, stored as a SHA-256 digest, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select

from matcher.errors import InvalidProfile, UnknownApiKey
from matcher.profiles import ApiKey, Scope
from matcher.store.engine import Store
from matcher.store.tables import ApiKeyRow, utcnow
from matcher.store.values import choice

KEY_PREFIX = "c2c_"


class ApiKeys:
    """The API keys kept in a store."""

    def __init__(self, store: Store):
        self.store = store

    def create(self, name: str, scope: Scope | str) -> tuple[str, str]:
        """A new key: returns ``(key_id, secret)``. Only a SHA-256 digest of the secret is stored."""
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise InvalidProfile("a key needs a name of 1 to 200 characters", "name")
        scope = choice(Scope, scope, "scope")
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        with self.store.write() as s:
            s.add(ApiKeyRow(id=key_id, name=name, scope=scope.value, secret_hash=_digest(secret), created_at=utcnow()))
        return key_id, secret

    def issue(self, scope: Scope | str, name: str | None = None) -> tuple[ApiKey, str]:
        """Create a key named ``name`` (default: after its scope): its stored record and its secret."""
        scope = choice(Scope, scope, "scope")
        key_id, secret = self.create(name or f"{scope.value} key", scope)
        return self.get(key_id), secret

    def get(self, key_id: str) -> ApiKey:
        """The stored record of a key (never its secret or hash)."""
        with self.store.read() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise UnknownApiKey(f"no API key has id {key_id!r}")
            return _api_key(row)

    def verify(self, secret: str) -> ApiKey | None:
        """The active key ``secret`` belongs to, or None (unknown, malformed or revoked)."""
        if not isinstance(secret, str) or not secret.startswith(KEY_PREFIX):
            return None
        key_id, sep, _ = secret[len(KEY_PREFIX) :].partition("_")
        if not sep or not key_id:
            return None
        with self.store.read() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
                return None
            return None if row.revoked_at is not None else _api_key(row)

    def revoke(self, key_id: str) -> None:
        with self.store.write() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None:
                raise UnknownApiKey(f"no API key has id {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()

    def list(self) -> list[ApiKey]:
        with self.store.read() as s:
            return [_api_key(r) for r in s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id))]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(row.id, row.name, row.scope, row.created_at, row.revoked_at)
