"""Liveness (``/health``) and readiness (``/ready``) probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.errors import error_response
from api.schemas import Health, Readiness
from matcher import __version__
from matcher.settings import Settings


def _check(probe: Any) -> dict[str, Any]:
    try:
        detail = probe()
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return {"ok": False, "detail": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    if isinstance(detail, dict):
        return {"ok": bool(detail.get("ok", True)), **detail}
    return {"ok": detail is not False, "detail": detail}


def readiness(request: Request) -> dict[str, dict[str, Any]]:
    """Store reachable, suggester present, index loaded and consistent with the store."""
    registry = getattr(request.app.state, "registry", None)
    suggester = getattr(request.app.state, "suggester", None)
    if registry is None or suggester is None:
        return {"startup": {"ok": False, "detail": "registry or suggester not created yet"}}
    return {
        "store": _check(lambda: {"organisations": registry.count_organisations(), "data_version": registry.data_version()}),
        "index": _check(lambda: index_status(registry, suggester)),
    }


def index_status(registry: Any, suggester: Any) -> dict[str, Any]:
    """The index is loaded, at the store's data version, and holds exactly the stored profiles."""
    index = suggester.index  # brought up to the store's current data version
    stored = registry.count_organisations()
    indexed = len(index)
    ok = stored == indexed
    detail = "consistent" if ok else f"index holds {indexed} profiles, the store {stored}"
    return {"ok": ok, "profiles": stored, "indexed": indexed, "detail": detail}


def build(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["service"])

    @router.get("/health", response_model=Health, summary="The process is up")
    async def health() -> Health:
        return Health(status="ok", version=__version__)

    @router.get(
        "/ready",
        response_model=Readiness,
        summary="The store is reachable and the index is loaded and consistent (else 503)",
    )
    def ready(request: Request) -> Any:
        checks = readiness(request)
        failed = {name: c for name, c in checks.items() if not c.get("ok")}
        if failed:
            reasons = "; ".join(f"{name}: {c.get('detail', 'not ok')}" for name, c in failed.items())
            return error_response(503, f"not ready: {reasons}", "not_ready")
        return Readiness(status="ready", checks=checks)

    return router
