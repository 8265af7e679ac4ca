"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis).

Each operation is called with generated (valid and invalid) inputs, once without a key and
once with an admin key; no response may be a server error, and documented responses must
match their schema. Slow: run with ``-m slow``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import schemathesis
from api_fixtures import make_api
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from matcher.store.keys import ApiKeys

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, response_schema_conformance]
FUZZ = settings(max_examples=12, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture
def fuzzed(store_url: str, tmp_path: Path) -> Iterator[tuple]:
    app, registry, suggester, _ = make_api(store_url, tmp_path, api_request_timeout_s=0)
    _, secret = ApiKeys(registry.store).create("fuzz admin", "admin")
    yield app, secret
    suggester.close()
    registry.close()


@pytest.fixture
def api_schema(fuzzed):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed[0])


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@FUZZ
def test_no_server_error_without_key(case):
    case.call_and_validate(checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_no_server_error_with_admin_key(case, fuzzed):
    case.call_and_validate(checks=CHECKS, headers={"X-API-Key": fuzzed[1]})
