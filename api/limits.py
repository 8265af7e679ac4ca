"""Request limits as pure ASGI middlewares: body size (413), rate (429) and time (504).

They sit in front of the routes so that an oversized, too frequent or too slow request is
refused before (or instead of) doing the work, and every refusal uses the shared JSON error
shape. Rate limits are in-process token buckets (each server worker keeps its own) or, with a
Redis URL, buckets in Redis shared by every worker and server.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from fastapi.responses import JSONResponse

from api.errors import ApiError, error_response

ASGIScope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[ASGIScope, Receive, Send], Awaitable[None]]

log = logging.getLogger("c2c.api")

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

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a token (0: now), without taking one."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return 0.0
            tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely (they carry no state); keep memory bounded."""
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.capacity]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.max_buckets:
            self._buckets.clear()


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    """Addresses or CIDR ranges (``10.0.0.0/8``) as networks; a bad entry is a ValueError naming it."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry!r}") from None
    return tuple(networks)


def _within(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(scope: ASGIScope, trusted: Sequence[Network] = ()) -> str:
    """The address a request comes from.

    ``X-Forwarded-For`` is read only when the connection comes from a trusted proxy; then the
    nearest address in it that is not itself a trusted proxy is the client. Any other caller
    is its connection's address, whatever it puts in the header.
    """
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted or not _within(peer, trusted):
        return peer
    forwarded = _header(scope, b"x-forwarded-for")
    if not forwarded:
        return peer
    hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",")]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a garbled chain: trust nothing in it
        if not _within(hop, trusted):
            return hop
    return hops[0]


def client_key(scope: ASGIScope, trusted: Sequence[Network] = ()) -> str:
    """Who a request is charged to: its API key (hashed, never kept in clear) or its client address."""
    key = _header(scope, b"x-api-key")
    if key:
        return "key:" + hashlib.sha256(key).hexdigest()[:32]
    return "ip:" + client_address(scope, trusted)


class Limiter(Protocol):
    """Buckets of requests per minute, one per key."""

    async def take(self, key: str) -> float:
        """Use one request of ``key``'s budget: 0 when allowed, else seconds until one is free."""

    async def wait(self, key: str) -> float:
        """Seconds until ``key`` may make a request (0: now), without using any of its budget."""


class MemoryLimiter:
    """This process's token buckets (each server worker keeps its own)."""

    def __init__(self, per_minute: int):
        self.buckets = TokenBuckets(per_minute)

    async def take(self, key: str) -> float:
        return self.buckets.take(key)

    async def wait(self, key: str) -> float:
        return self.buckets.wait(key)


class RedisLimiter:
    """Buckets shared by every worker and server through Redis (the ``limits`` library's sliding
    window counters). When Redis cannot be reached, requests are let through and a warning is
    logged (at most once a minute): the service stays up, unlimited, until Redis is back."""

    def __init__(self, per_minute: int, url: str, namespace: str):
        from limits import RateLimitItemPerMinute

        self.url = url if url.startswith("async+") else f"async+{url}"
        self.item = RateLimitItemPerMinute(per_minute)
        self.namespace = namespace
        self._warned_at = -math.inf
        # An asyncio Redis connection belongs to the event loop that opened it: one client per loop.
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def _limiter(self) -> Any:
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import SlidingWindowCounterRateLimiter

        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            storage = RedisStorage(self.url, implementation="redispy", socket_connect_timeout=2, socket_timeout=2)
            limiter = self._limiters[loop] = SlidingWindowCounterRateLimiter(storage)
        return limiter

    async def take(self, key: str) -> float:
        try:
            limiter = self._limiter()
            if await limiter.hit(self.item, self.namespace, key):
                return 0.0
            return await self._reset_in(limiter, key)
        except Exception as exc:  # whatever Redis or its client raise: fail open, say so
            self._warn(exc)
            return 0.0

    async def wait(self, key: str) -> float:
        try:
            limiter = self._limiter()
            if await limiter.test(self.item, self.namespace, key):
                return 0.0
            return await self._reset_in(limiter, key)
        except Exception as exc:  # as in take
            self._warn(exc)
            return 0.0

    async def _reset_in(self, limiter: Any, key: str) -> float:
        stats = await limiter.get_window_stats(self.item, self.namespace, key)
        return max(1.0, stats.reset_time - time.time())

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60:
            self._warned_at = now
            log.warning("rate limits are not enforced: Redis is unreachable (%s: %s)", type(exc).__name__, exc)


def make_limiter(per_minute: int, redis_url: str | None, namespace: str) -> Limiter | None:
    """Redis-backed buckets when a Redis URL is set, else in-process ones; None when ``per_minute <= 0``."""
    if per_minute <= 0:
        return None
    if redis_url:
        return RedisLimiter(per_minute, redis_url, namespace)
    return MemoryLimiter(per_minute)


def _too_many(wait: float, message: str) -> JSONResponse:
    retry = str(max(1, math.ceil(wait)))
    return error_response(429, f"{message}; retry in {retry} s", "rate_limited", headers={"Retry-After": retry})


class RateLimit:
    """429 with ``Retry-After`` once a caller has used up its budget.

    Requests are charged to their API key, or to their client address when they carry none;
    ``per_minute <= 0`` disables that. Separately, every request whose key is refused (a 401)
    is charged to its client address: past ``auth_failures_per_minute`` the address gets 429
    for any request carrying a key, before the key is looked up, so a flood of made-up keys
    costs no store lookups. ``trusted_proxies`` are the only peers whose ``X-Forwarded-For``
    is believed. With ``redis_url`` the buckets are shared by every worker and server.
    """

    def __init__(self, app: ASGIApp, per_minute: int, auth_failures_per_minute: int = 0,
                 trusted_proxies: Sequence[str] = (), redis_url: str | None = None, namespace: str = "c2c"):
        self.app = app
        self.trusted = parse_networks(trusted_proxies)
        self.requests = make_limiter(per_minute, redis_url, f"{namespace}:requests")
        self.failures = make_limiter(auth_failures_per_minute, redis_url, f"{namespace}:auth-failures")

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS or not (self.requests or self.failures):
            await self.app(scope, receive, send)
            return
        keyed = _header(scope, b"x-api-key") is not None
        address = "ip:" + client_address(scope, self.trusted)
        if keyed and self.failures is not None:
            wait = await self.failures.wait(address)
            if wait > 0:
                await _too_many(wait, "too many requests with refused API keys from this address")(scope, receive, send)
                return
        if self.requests is not None:
            wait = await self.requests.take(client_key(scope, self.trusted))
            if wait > 0:
                await _too_many(wait, "rate limit exceeded")(scope, receive, send)
                return
        if not keyed or self.failures is None:
            await self.app(scope, receive, send)
            return
        failures = self.failures

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 401:
                await failures.take(address)
            await send(message)

        await self.app(scope, receive, counting_send)


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
