"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis).

Each operation is called with generated (valid and invalid) inputs without a key, with a write
key and with an admin key (deletions included: a generated id may name a fixture profile, and
one run starts from a registry whose every Mexican profile was deleted); no response may be a
server error, and documented responses must match their schema. Slow: run with ``-m slow``.
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
    keys = ApiKeys(registry.store)
    secrets = {scope: keys.create(f"fuzz {scope}", scope)[1] for scope in ("write", "admin")}
    yield app, secrets["admin"], secrets["write"], registry
    suggester.close()
    registry.close()


@pytest.fixture
def api_schema(fuzzed):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed[0])


@pytest.fixture
def one_sided_schema(fuzzed):
    """The schema of an app whose registry has no Mexican profile left."""
    registry = fuzzed[3]
    for org in registry.all_organisations():
        if org.side.value == "MX":
            registry.delete(org.id)
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed[0])


schema = schemathesis.pytest.from_fixture("api_schema")
one_sided = schemathesis.pytest.from_fixture("one_sided_schema")


@schema.parametrize()
@FUZZ
def test_no_server_error_without_key(case):
    case.call_and_validate(checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_no_server_error_with_admin_key(case, fuzzed):
    case.call_and_validate(checks=CHECKS, headers={"X-API-Key": fuzzed[1]})


@schema.parametrize()
@FUZZ
def test_no_server_error_with_write_key(case, fuzzed):
    case.call_and_validate(checks=CHECKS, headers={"X-API-Key": fuzzed[2]})


@one_sided.parametrize()
@FUZZ
def test_no_server_error_with_admin_key_and_an_empty_side(case, fuzzed):
    case.call_and_validate(checks=CHECKS, headers={"X-API-Key": fuzzed[1]})
