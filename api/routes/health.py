"""Liveness (``/health``) and readiness (``/ready``) probes."""

from __future__ import annotations

import logging
from typing import Any, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.errors import error_response
from api.schemas import Health, Readiness
from matcher import __version__
from matcher.service import Service

log = logging.getLogger("c2c.api")
router = APIRouter(tags=["service"])


def _check(name: str, probe: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        detail = probe()
    except Exception:  # any failure means "not ready"; the reason goes to the server log, not the client
        log.warning("readiness check %r failed", name, exc_info=True)
        return {"ok": False, "detail": f"{name} check failed (the reason is in the server log)"}
    return {"ok": bool(detail.get("ok", True)), **detail}


def readiness(service: Service | None) -> dict[str, dict[str, Any]]:
    """Store reachable, suggester present, index loaded and consistent with the store."""
    if service is None:
        return {"startup": {"ok": False, "detail": "registry or suggester not created yet"}}
    registry = service.registry
    return {
        "store": _check("store", lambda: {"organisations": registry.count_organisations(), "data_version": registry.data_version()}),
        "index": _check("index", lambda: index_status(service)),
    }


def index_status(service: Service) -> dict[str, Any]:
    """The index is loaded, at the store's data version, and holds exactly the stored profiles."""
    index = service.suggester.index  # brought up to the store's current data version
    stored = service.registry.count_organisations()
    indexed = len(index)
    ok = stored == indexed
    detail = "consistent" if ok else f"index holds {indexed} profiles, the store {stored}"
    return {"ok": ok, "profiles": stored, "indexed": indexed, "detail": detail}


@router.get("/health", response_model=Health, summary="The process is up")
async def health() -> Health:
    return Health(status="ok", version=__version__)


@router.get(
    "/ready",
    response_model=Readiness,
    summary="The store is reachable and the index is loaded and consistent (else 503)",
)
def ready(request: Request) -> Readiness | JSONResponse:
    checks = readiness(request.app.state.service)
    failed = {name: c for name, c in checks.items() if not c.get("ok")}
    if failed:
        reasons = "; ".join(f"{name}: {c.get('detail', 'not ok')}" for name, c in failed.items())
        return error_response(503, f"not ready: {reasons}", "not_ready")
    return Readiness(status="ready", checks=checks)
