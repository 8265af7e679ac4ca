"""The page's session: a signed cookie that remembers which API key a browser signed in with.

The browser sends the key once; the server checks it and keeps only the key's id and scope in an
HttpOnly, SameSite cookie signed with a secret of this installation (``<home>/web/secret``, made
on first use, shared by every worker). The key itself is never stored. Every request re-reads the
key's record, so a revoked key ends its sessions at once.

Every form that writes carries a token derived from the session's random nonce (the CSRF token);
a form posted from another site cannot know it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from matcher.errors import UnknownApiKey
from matcher.profiles import Scope
from matcher.store.keys import ApiKeys

COOKIE = "c2c_session"
#: How long a signed-in session lasts.
KEYED_SECONDS = 12 * 3600
#: How long an anonymous session (its CSRF nonce) lasts.
ANONYMOUS_SECONDS = 30 * 24 * 3600


def installation_secret(home: Path) -> bytes:
    """The signing secret of this installation, created (readable by its owner only) on first use."""
    path = Path(home) / "web" / "secret"
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it meanwhile
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


@dataclass(frozen=True)
class Session:
    """One browser's session: a random nonce and, once signed in, the key's id, name and scope."""

    nonce: str
    key_id: str | None = None
    key_name: str | None = None
    scope: str | None = None
    expires: int = 0

    @property
    def keyed(self) -> bool:
        return self.key_id is not None

    def allows(self, scope: Scope) -> bool:
        return self.scope is not None and Scope(self.scope).covers(scope)

    @classmethod
    def anonymous(cls) -> "Session":
        return cls(nonce=secrets.token_urlsafe(18), expires=int(time.time()) + ANONYMOUS_SECONDS)

    def signed_in(self, key_id: str, name: str, scope: str) -> "Session":
        """A new session (fresh nonce) for a checked key."""
        return Session(nonce=secrets.token_urlsafe(18), key_id=key_id, key_name=name, scope=scope,
                       expires=int(time.time()) + KEYED_SECONDS)


class Sessions:
    """Signs, reads and checks session cookies and CSRF tokens with one secret."""

    def __init__(self, secret: bytes):
        self.secret = secret

    def _mac(self, purpose: str, data: bytes) -> str:
        return hmac.new(self.secret, purpose.encode() + b"|" + data, hashlib.sha256).hexdigest()

    def dump(self, session: Session) -> str:
        payload = json.dumps({"n": session.nonce, "k": session.key_id, "m": session.key_name, "s": session.scope,
                              "e": session.expires}, separators=(",", ":")).encode()
        data = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{data}.{self._mac('session', data.encode())}"

    def load(self, cookie: str | None) -> Session | None:
        """The session a cookie holds, or None when it is missing, forged or expired."""
        if not cookie or len(cookie) > 2000 or "." not in cookie:
            return None
        data, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac, self._mac("session", data.encode())):
            return None
        try:
            raw = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
            session = Session(nonce=str(raw["n"]), key_id=raw.get("k"), key_name=raw.get("m"), scope=raw.get("s"),
                              expires=int(raw["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > time.time() else None

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.nonce.encode())[:40]

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), str(token))


def still_valid(session: Session, keys: ApiKeys) -> Session:
    """The session, signed out if its key has been revoked or deleted since."""
    if not session.keyed:
        return session
    try:
        record = keys.get(session.key_id or "")
    except UnknownApiKey:
        record = None
    if record is None or not record.active:
        return replace(session, key_id=None, key_name=None, scope=None)
    return session
