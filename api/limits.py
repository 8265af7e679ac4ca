"""Request limits as pure ASGI middlewares: body size (413), rate (429) and time (504).

They sit in front of the routes so that an oversized, too frequent or too slow request is
refused before (or instead of) doing the work, and every refusal uses the shared JSON error
shape. The rate limiter is an in-process token bucket: with several server workers each
worker keeps its own buckets.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from api.errors import ApiError, error_response

ASGIScope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[ASGIScope, Receive, Send], Awaitable[None]]

#: Paths that liveness/readiness probes hit; never rate limited.
UNLIMITED_PATHS = frozenset({"/health", "/ready"})


def _header(scope: ASGIScope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value
    return None


class NulGuard:
    """422 for a URL whose path or query holds a NUL character (no id or filter needs one, and
    PostgreSQL cannot compare text with it)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").lower()
            if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
                response = error_response(422, "the URL must not contain NUL characters", "validation_error")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTooLarge(ApiError):
    """The request body is larger than the configured maximum."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body exceeds the limit of {limit} bytes", "payload_too_large")


class BodySizeLimit:
    """Refuse bodies above ``max_bytes``: up front on Content-Length, else while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await error_response(400, "Content-Length is not a number")(scope, receive, send)
                return
            if too_big:
                await self._refuse(scope, receive, send)
                return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        response = error_response(413, f"request body exceeds the limit of {self.max_bytes} bytes", "payload_too_large")
        await response(scope, receive, send)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """Thread-safe token buckets: ``capacity`` tokens, refilled at ``capacity`` per minute."""

    def __init__(self, per_minute: int, max_buckets: int = 50_000, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_buckets = max_buckets
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many clients have a bucket now."""
        return len(self._buckets)

    def take(self, key: str) -> float:
        """Take one token for ``key``; return 0 when allowed, else seconds until one is free."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_buckets:
                    self._forget_full(now)
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            else:
                bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
                bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely (they carry no state); keep memory bounded."""
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.capacity]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.max_buckets:
            self._buckets.clear()


def client_key(scope: ASGIScope) -> str:
    """Who a request is charged to: its API key (hashed, never kept in clear) or its client IP."""
    key = _header(scope, b"x-api-key")
    if key:
        return "key:" + hashlib.sha256(key).hexdigest()[:32]
    client = scope.get("client")
    return "ip:" + (str(client[0]) if client else "unknown")


class RateLimit:
    """429 with ``Retry-After`` once a caller has used up its bucket; ``per_minute <= 0`` disables."""

    def __init__(self, app: ASGIApp, per_minute: int):
        self.app = app
        self.buckets = TokenBuckets(per_minute) if per_minute > 0 else None

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(client_key(scope))
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            response = error_response(429, f"rate limit exceeded; retry in {retry} s", "rate_limited", headers={"Retry-After": retry})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class Timeout:
    """Answer 504 when a request takes longer than ``seconds`` and has not started its response.

    The work is not killed (a route running in a worker thread cannot be interrupted); its
    late output is dropped and the client gets the 504 at the deadline.
    """

    def __init__(self, app: ASGIApp, seconds: float):
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        started = False
        abandoned = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if abandoned:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, guarded_send))
        done, _ = await asyncio.wait({task}, timeout=self.seconds)
        if task in done or started:
            await task
            return
        abandoned = True
        task.cancel()
        task.add_done_callback(_swallow)
        response = error_response(504, f"request took longer than {self.seconds:g} s", "timeout")
        await response(scope, receive, send)


def _swallow(task: "asyncio.Future[Any]") -> None:
    if not task.cancelled():
        task.exception()
