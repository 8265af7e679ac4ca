"""Rate limits that cannot be sidestepped (defect #6), in memory and shared through Redis.

The Redis tests use the local server at 127.0.0.1:6379 (``C2C_TEST_REDIS_URL`` to use another)
and are skipped, with the reason shown, only when none answers. Each test uses a key prefix of
its own, so runs never share buckets.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import pytest
from api_fixtures import error_of, key_header, make_api
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.limits import RateLimit, client_address, client_key
from matcher.store.keys import ApiKeys

REDIS_URL = os.environ.get("C2C_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@lru_cache(maxsize=1)
def redis_unavailable() -> str | None:
    """Why Redis cannot be used, or None when it answers."""
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # any failure to connect means "no server to test against"
        return f"no Redis server answers at {REDIS_URL} ({type(exc).__name__}: {exc})"
    return None


needs_redis = pytest.mark.skipif("redis_unavailable() is not None", reason="Redis is not reachable")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    reason = redis_unavailable()
    if reason:
        pytest.skip(reason)
    import redis

    prefix = f"c2c-test-{secrets.token_hex(6)}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)


def ping_app(**limits: object) -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict:
        return {"ok": True}

    app.add_middleware(RateLimit, **{"per_minute": 0, **limits})
    return app


LOOPBACK = ("127.0.0.1", 40000)


# --- X-Forwarded-For ----------------------------------------------------------------------------


def test_forwarded_for_is_ignored_by_default_even_from_loopback() -> None:
    client = TestClient(ping_app(per_minute=3), client=LOOPBACK)
    statuses = [client.get("/ping", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(6)]
    assert statuses == [200, 200, 200, 429, 429, 429]


def test_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    app = ping_app(per_minute=2, trusted_proxies=["10.0.0.0/8"])
    proxy = TestClient(app, client=("10.1.2.3", 40000))
    for i in range(4):
        assert proxy.get("/ping", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code == 200
    assert [proxy.get("/ping", headers={"X-Forwarded-For": "203.0.113.9"}).status_code for _ in range(3)] == [
        200, 200, 429]
    stranger = TestClient(app, client=("198.51.100.7", 40000))
    assert [stranger.get("/ping", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(20, 23)] == [200, 200, 429]


def test_client_address_takes_the_nearest_untrusted_hop() -> None:
    trusted = RateLimit(ping_app(), 0, trusted_proxies=["10.0.0.0/8", "192.0.2.1"]).trusted

    def scope(peer: str, forwarded: str | None) -> dict:
        headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
        return {"client": (peer, 1), "headers": headers}

    assert client_address(scope("10.0.0.1", "1.1.1.1, 203.0.113.5, 192.0.2.1"), trusted) == "203.0.113.5"
    assert client_address(scope("10.0.0.1", "10.0.0.9"), trusted) == "10.0.0.9"
    assert client_address(scope("10.0.0.1", "not-an-ip, 203.0.113.5"), trusted) == "203.0.113.5"
    assert client_address(scope("10.0.0.1", "203.0.113.5, garbage"), trusted) == "10.0.0.1"
    assert client_address(scope("10.0.0.1", None), trusted) == "10.0.0.1"
    assert client_address(scope("127.0.0.1", "203.0.113.5"), trusted) == "127.0.0.1"
    assert client_address(scope("127.0.0.1", "203.0.113.5")) == "127.0.0.1"
    assert client_key(scope("127.0.0.1", "203.0.113.5")) == "ip:127.0.0.1"


def test_a_bad_trusted_proxy_setting_is_refused() -> None:
    from pydantic import ValidationError

    from matcher.settings import Settings

    with pytest.raises(ValidationError, match="not an IP address or network"):
        Settings(trusted_proxies=["10.0.0.0/8", "proxy.example"])


# --- failed authentication ------------------------------------------------------------------------


@pytest.fixture
def counted_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key the store is asked to verify."""
    calls: list[str] = []
    real = ApiKeys.verify

    def verify(self: ApiKeys, secret: str):  # type: ignore[no-untyped-def]
        calls.append(secret)
        return real(self, secret)

    monkeypatch.setattr(ApiKeys, "verify", verify)
    return calls


def test_a_flood_of_made_up_keys_is_throttled_by_address(sqlite_url: str, tmp_path: Path,
                                                          counted_lookups: list[str]) -> None:
    app, registry, suggester, _ = make_api(sqlite_url, tmp_path, api_auth_failures_per_minute=5,
                                           api_rate_per_minute=10_000)
    good = key_header(registry, "read")
    try:
        with TestClient(app, client=("198.51.100.1", 1000)) as attacker:
            statuses = [attacker.get("/clusters", headers={"X-API-Key": secrets.token_hex(16)}).status_code
                        for _ in range(40)]
            assert statuses == [401] * 5 + [429] * 35
            assert len(counted_lookups) == 5
            refused = attacker.post("/clusters", json={}, headers={"X-API-Key": "another-made-up-key"})
            err = error_of(refused, 429, "rate_limited")
            assert "refused API keys" in err["message"] and int(refused.headers["Retry-After"]) >= 1
            assert attacker.get("/clusters").status_code == 200  # no key: not an authentication attempt
            assert len(counted_lookups) == 5
        with TestClient(app, client=("198.51.100.2", 1000)) as someone_else:
            assert someone_else.get("/clusters", headers=good).status_code == 200
            for _ in range(10):  # a valid key never uses up the failure budget
                assert someone_else.get("/clusters", headers=good).status_code == 200
    finally:
        suggester.close()
        registry.close()


def test_serve_does_not_let_uvicorn_believe_forwarded_headers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                              _sqlite_template: Path) -> None:
    import uvicorn

    from matcher.cli import main

    (tmp_path / "c2c.db").write_bytes(_sqlite_template.read_bytes())
    monkeypatch.setenv("C2C_HOME", str(tmp_path))
    monkeypatch.delenv("C2C_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    with pytest.raises(SystemExit):
        main(["serve"])
    assert seen["proxy_headers"] is False


# --- shared through Redis ---------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_buckets_are_shared_by_workers(redis_prefix: str) -> None:
    settings = {"per_minute": 4, "redis_url": REDIS_URL, "namespace": redis_prefix}
    first, second = TestClient(ping_app(**settings)), TestClient(ping_app(**settings))
    statuses = [c.get("/ping").status_code for c in (first, second, first, second, first, second)]
    assert statuses == [200, 200, 200, 200, 429, 429]
    refused = second.get("/ping")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert first.get("/ping", headers={"X-API-Key": "k"}).status_code == 200  # another key, another bucket
    other = TestClient(ping_app(per_minute=4, redis_url=REDIS_URL, namespace=redis_prefix + "-other"))
    assert other.get("/ping").status_code == 200  # another prefix, another service


@pytest.mark.redis
def test_redis_shares_failed_authentication_across_servers(sqlite_url: str, tmp_path: Path, redis_prefix: str,
                                                           counted_lookups: list[str]) -> None:
    app, registry, suggester, settings = make_api(sqlite_url, tmp_path, api_auth_failures_per_minute=3,
                                                  redis_url=REDIS_URL, redis_prefix=redis_prefix)
    other = create_app(settings, registry=registry, suggester=suggester)
    try:
        with TestClient(app, client=LOOPBACK) as one, TestClient(other, client=LOOPBACK) as two:
            made_up = [{"X-API-Key": secrets.token_hex(8)} for _ in range(6)]
            statuses = [(one if i % 2 else two).get("/clusters", headers=h).status_code for i, h in enumerate(made_up)]
            assert statuses == [401, 401, 401, 429, 429, 429] and len(counted_lookups) == 3
    finally:
        suggester.close()
        registry.close()


def test_unreachable_redis_lets_requests_through_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(ping_app(per_minute=1, redis_url="redis://127.0.0.1:1/0", namespace="c2c-down"))
    with caplog.at_level(logging.WARNING, logger="c2c.api"):
        assert [client.get("/ping").status_code for _ in range(3)] == [200, 200, 200]
    assert caplog.text.count("Redis is unreachable") == 1
