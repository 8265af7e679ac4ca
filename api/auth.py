"""API keys: who is calling and what they may do.

A key is sent in the ``X-API-Key`` header. Keys are created, listed and revoked with
``c2c keys ...`` (or the admin routes) and stored hashed by the Registry, which compares them
in constant time. Scopes are ordered ``read < write < admin``: ``write`` is needed for registry
writes, feedback and events, ``admin`` for retraining and key management, and ``admin``
implies ``write``. Reads are open unless the settings' ``api_read_key_required`` is set.

A missing key where one is needed is a 401; a key that is unknown or revoked is a 401 on
every route (also open reads); a valid key with too small a scope is a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Callable

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from api.deps import get_keys, get_settings
from api.errors import ApiError
from matcher.profiles import Scope

HEADER = "X-API-Key"

api_key_header = APIKeyHeader(
    name=HEADER,
    auto_error=False,
    description="API key created with `c2c keys create --scope read|write|admin`.",
)


@dataclass(frozen=True)
class Caller:
    """The caller of a request: anonymous, or identified by a verified key."""

    key_id: str | None = None
    name: str | None = None
    scope: str | None = None

    @property
    def keyed(self) -> bool:
        return self.key_id is not None

    def allows(self, scope: Scope) -> bool:
        """Whether this caller's scope covers ``scope`` (admin covers write covers read)."""
        return self.scope is not None and Scope(self.scope).covers(scope)


ANONYMOUS = Caller()


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, "unauthorized", field=HEADER, headers={"WWW-Authenticate": "APIKey"})


async def current_caller(request: Request, key: str | None = Security(api_key_header)) -> Caller:
    """Verify the ``X-API-Key`` header, if any, against the Registry's hashed keys."""
    if not key:
        return ANONYMOUS
    if "\x00" in key or len(key) > 200:
        raise _unauthorized("invalid or revoked API key")
    keys = await get_keys(request)
    record = await run_in_threadpool(keys.verify, key)
    if record is None or not record.active:
        raise _unauthorized("invalid or revoked API key")
    return Caller(key_id=record.id, name=record.name, scope=record.scope)


async def read_access(request: Request, caller: Caller = Depends(current_caller)) -> Caller:
    """Open reads, unless the settings require a key for reading too."""
    if (await get_settings(request)).api_read_key_required and not caller.keyed:
        raise _unauthorized(f"this server requires an API key ({HEADER} header) for reading")
    return caller


def require(scope: Scope) -> Callable[..., Caller]:
    """A dependency that lets through only callers whose key covers ``scope``."""

    async def dependency(caller: Caller = Depends(current_caller)) -> Caller:
        if not caller.keyed:
            raise _unauthorized(f"an API key with scope {scope.value!r} is required ({HEADER} header)")
        if not caller.allows(scope):
            raise ApiError(403, f"this API key has scope {caller.scope!r}; {scope.value!r} is required", "forbidden",
                           field=HEADER)
        return caller

    dependency.__name__ = f"require_{scope.value}"
    dependency.required_scope = scope  # type: ignore[attr-defined]
    return dependency


def required_scope(route: object) -> Scope | None:
    """The scope a route's key must cover, or None for an open (read) route."""
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is None:
            continue
        scope = getattr(dependant.call, "required_scope", None)
        if scope is not None:
            return scope
        pending.extend(dependant.dependencies)
    return None


async def check_key_first(request: Request) -> None:
    """Raise the 401/403 a keyed route would give, before its body is even looked at.

    FastAPI decodes a JSON body before it runs a route's dependencies, so without this a caller
    with no key learns whether its body is well-formed before it learns that it needs a key.
    """
    scope = required_scope(request.scope.get("route"))
    if scope is None:
        settings = getattr(request.app.state, "settings", None)
        if settings is not None and settings.api_read_key_required:
            await read_access(request, await current_caller(request, request.headers.get(HEADER)))
        return
    await require(scope)(await current_caller(request, request.headers.get(HEADER)))


#: The caller of a read (a key only when the server requires one for reading).
Reader = Annotated[Caller, Depends(read_access)]
#: A caller whose key has scope ``write`` (or ``admin``).
Writer = Annotated[Caller, Depends(require(Scope.WRITE))]
#: A caller whose key has scope ``admin``.
Admin = Annotated[Caller, Depends(require(Scope.ADMIN))]
