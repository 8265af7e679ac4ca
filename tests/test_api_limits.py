"""The request-limit middlewares and the error shape, on a tiny app (no store needed)."""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from api.errors import ApiError, install_error_handlers
from api.limits import BodySizeLimit, RateLimit, Timeout, TokenBuckets, client_key
from matcher.errors import DuplicateOrganisation, InvalidProfile, UnknownOrganisation


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


def tiny_app(max_bytes: int = 100, per_minute: int = 0, timeout: float = 0) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    def echo(body: Body) -> dict:
        return {"length": len(body.text)}

    @app.post("/raw")
    async def raw(request: Request) -> dict:
        return {"length": len(await request.body())}

    @app.get("/ping")
    def ping() -> dict:
        return {"ok": True}

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    @app.get("/slow")
    async def slow() -> dict:
        await asyncio.sleep(2)
        return {"ok": True}

    @app.get("/slow-sync")
    def slow_sync() -> dict:
        time.sleep(1)
        return {"ok": True}

    @app.get("/crash")
    def crash() -> dict:
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/unknown")
    def unknown() -> dict:
        raise UnknownOrganisation("nope", ["nopa"])

    @app.get("/invalid")
    def invalid() -> dict:
        raise InvalidProfile("bad sector", "sectors")

    @app.get("/duplicate")
    def duplicate() -> dict:
        raise DuplicateOrganisation("already there")

    @app.get("/teapot")
    def teapot() -> dict:
        raise ApiError(418, "short and stout", "teapot", field="pot")

    app.add_middleware(Timeout, seconds=timeout)
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes)
    app.add_middleware(RateLimit, per_minute=per_minute)
    return app


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "message", "field"}
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    if field is not None:
        assert body["error"]["field"] == field
    return body["error"]


def test_body_within_limit_passes():
    client = TestClient(tiny_app(max_bytes=100))
    assert client.post("/echo", json={"text": "x" * 50}).json() == {"length": 50}


def test_body_over_limit_by_content_length_is_413():
    client = TestClient(tiny_app(max_bytes=100))
    assert_error(client.post("/echo", json={"text": "x" * 500}), 413, "payload_too_large")


def test_streamed_body_over_limit_is_413_without_content_length():
    client = TestClient(tiny_app(max_bytes=100))

    def chunks():
        for _ in range(10):
            yield b"y" * 40

    response = client.post("/raw", content=chunks())
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_error(response, 413, "payload_too_large")


def test_streamed_body_within_limit_is_read_whole():
    client = TestClient(tiny_app(max_bytes=100))

    def chunks():
        yield b"a" * 30
        yield b"b" * 30

    assert client.post("/raw", content=chunks()).json() == {"length": 60}


def test_non_numeric_content_length_is_400():
    client = TestClient(tiny_app())
    response = client.post("/raw", content=b"abc", headers={"Content-Length": "lots"})
    assert_error(response, 400, "bad_request")


def test_rate_limit_gives_429_with_retry_after_per_client():
    client = TestClient(tiny_app(per_minute=3))
    assert [client.get("/ping").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/ping")
    err = assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert "retry" in err["message"]
    # another key is another bucket; probes are never limited
    assert client.get("/ping", headers={"X-API-Key": "k1"}).status_code == 200
    assert client.get("/health").status_code == 200


def test_rate_limit_disabled_when_zero():
    client = TestClient(tiny_app(per_minute=0))
    assert all(client.get("/ping").status_code == 200 for _ in range(50))


def test_token_bucket_refills_over_time():
    now = [0.0]
    buckets = TokenBuckets(per_minute=60, clock=lambda: now[0])
    assert all(buckets.take("a") == 0 for _ in range(60))
    wait = buckets.take("a")
    assert wait == pytest.approx(1.0)
    now[0] += 1.0
    assert buckets.take("a") == 0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0


def test_token_buckets_stay_bounded():
    now = [0.0]
    buckets = TokenBuckets(per_minute=60, max_buckets=10, clock=lambda: now[0])
    for i in range(100):
        buckets.take(f"client-{i}")
        now[0] += 5
    assert len(buckets) <= 10


def test_client_key_hashes_api_keys():
    scope = {"headers": [(b"x-api-key", b"secret-value")], "client": ("10.0.0.1", 1)}
    key = client_key(scope)
    assert key.startswith("key:") and "secret-value" not in key
    assert client_key({"headers": [], "client": ("10.0.0.1", 1)}) == "ip:10.0.0.1"


def test_timeout_gives_504_at_the_deadline():
    client = TestClient(tiny_app(timeout=0.3))
    started = time.perf_counter()
    response = client.get("/slow")
    assert time.perf_counter() - started < 1.5
    assert_error(response, 504, "timeout")
    assert client.get("/ping").status_code == 200


def test_timeout_on_a_sync_route_answers_before_the_work_ends():
    client = TestClient(tiny_app(timeout=0.2))
    started = time.perf_counter()
    assert_error(client.get("/slow-sync"), 504, "timeout")
    assert time.perf_counter() - started < 0.9


def test_validation_error_shape_names_the_field():
    client = TestClient(tiny_app())
    assert_error(client.post("/echo", json={"text": "a", "extra": 1}), 422, "validation_error", "extra")
    assert_error(client.post("/echo", json={}), 422, "validation_error", "text")
    assert_error(client.post("/echo", content=b"{not json", headers={"Content-Type": "application/json"}),
                 422, "validation_error")


def test_domain_errors_map_to_statuses():
    client = TestClient(tiny_app())
    err = assert_error(client.get("/unknown"), 404, "not_found")
    assert "nopa" in err["message"]
    assert_error(client.get("/invalid"), 422, "invalid", "sectors")
    assert_error(client.get("/duplicate"), 409, "duplicate")
    assert_error(client.get("/teapot"), 418, "teapot", "pot")


def test_unknown_route_and_method_use_the_shape():
    client = TestClient(tiny_app())
    assert_error(client.get("/nowhere"), 404, "not_found")
    assert_error(client.delete("/ping"), 405, "method_not_allowed")


def test_crash_is_500_without_internals():
    client = TestClient(tiny_app(), raise_server_exceptions=False)
    response = client.get("/crash")
    err = assert_error(response, 500, "internal_error")
    assert "passwd" not in response.text and "Traceback" not in response.text
    assert err["message"] == "internal server error"
