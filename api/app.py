"""The FastAPI application: ``create_app(settings=None)``.

One process holds ONE :class:`matcher.service.Service` (on ``app.state``): its Suggester
subscribes to its Registry's writes, so what a route writes is what the next request suggests
from. The service, or its registry and Suggester, may be injected (tests pass a Registry on a
temporary store and a Suggester with a fast fake encoder); otherwise it is opened at start-up,
where the store is also created and seeded if it is empty, and closed at shutdown.

Run it with ``c2c serve`` or ``uvicorn api.app:create_app --factory``. Interactive docs are at
``/docs``, the OpenAPI schema at ``/openapi.json``.
"""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from api import web
from api.auth import required_scope
from api.errors import install_error_handlers
from api.limits import BodySizeLimit, NulGuard, RateLimit, Timeout
from api.params import document_bounds
from api.present import RenderedSuggestions
from api.routes import admin, clusters, cooperations, events, exports, feedback, health, match, model
from api.schemas import ERROR_RESPONSES
from matcher import __version__
from matcher.errors import USER_ERRORS
from matcher.memory import return_large_blocks
from matcher.store.registry import Registry
from matcher.service import Service
from matcher.settings import Settings, get_settings
from matcher.ranking import Suggester

log = logging.getLogger("c2c.api")

DESCRIPTION = """\
Registry of European and Mexican cluster organisations, their documented cooperations, and
partner suggestions between the two sides.

Reads are open unless the server requires a key for reading; writes need an API key in the
`X-API-Key` header (scope `write`; `admin` for retraining and key management). Every error has
the body `{"error": {"status", "code", "message", "field"}}`.
"""


def _start(app: FastAPI) -> None:
    return_large_blocks()  # before start-up builds its arrays, so that none of them stays in the heap
    if app.state.service is None:
        app.state.service = Service.open(app.state.settings)
        app.state.owns_service = True
    service: Service = app.state.service
    # A deletion in this process drops rendered suggestions at once. Other writes need not: a new
    # data version clears them once its rebuild is served, and meanwhile a body is served only
    # after the organisations it names are found still registered (RenderedSuggestions).
    app.state.unsubscribe_rendered = service.registry.subscribe(
        lambda event, org_id: app.state.rendered.clear() if event == "deleted" else None)
    try:
        # Load or build the index and the ranker, and load the model, now rather than on a first request.
        service.suggester.warm_up()
    except USER_ERRORS as exc:
        log.warning("suggestions are not ready yet: %s", exc)
    except Exception:  # the registry can still be read and mended; /ready says what is wrong
        log.exception("suggestions are not ready: preparing them failed")
    _freeze_startup_objects()


def _freeze_startup_objects() -> None:
    """Keep what start-up built (the model, the index, the precomputed scores) out of garbage collection.

    The process holds over half a million long-lived objects after start-up; every full
    collection walked them all, about 0.3 s during which no request was answered. Frozen
    objects are never collected, and never need to be: they live as long as the server.
    """
    gc.collect()
    gc.freeze()


def _stop(app: FastAPI) -> None:
    if app.state.unsubscribe_rendered is not None:
        app.state.unsubscribe_rendered()
        app.state.unsubscribe_rendered = None
    if app.state.owns_service:
        app.state.service.close()
        app.state.service = None
        app.state.owns_service = False


def _openapi(app: FastAPI, settings: Settings) -> Callable[[], dict[str, Any]]:
    """The app's OpenAPI schema, made once, with the settings' bounds of ``limit`` and ``k``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_access(app, document_bounds(FastAPI.openapi(app), settings), settings)
        return app.openapi_schema

    return openapi


def api_routes(app: FastAPI) -> list[tuple[str, set[str], APIRoute]]:
    """Path, methods and route of every API route, also of included routers."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: app.routes holds them all
        return [(r.path_format, set(r.methods), r) for r in app.routes if isinstance(r, APIRoute)]
    return [(c.path_format, set(c.methods or ()), c.original_route) for c in iter_route_contexts(app.routes)
            if isinstance(c.original_route, APIRoute)]


def document_access(app: FastAPI, schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``schema`` with the key marked optional on open reads (a key there only shows contacts)
    and required, with its scope named, on every route that needs one."""
    for path, methods, route in api_routes(app):
        operations = schema.get("paths", {}).get(path, {})
        for method in methods:
            operation = operations.get(method.lower())
            if not isinstance(operation, dict) or "security" not in operation:
                continue
            scope = required_scope(route)
            if scope is not None:
                operation["description"] = (operation.get("description", "") +
                                            f"\n\nNeeds an API key with scope `{scope.value}`.").strip()
            elif not settings.api_read_key_required:
                operation["security"] = [{}, *operation["security"]]
    return schema


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await run_in_threadpool(_start, app)
    try:
        yield
    finally:
        await run_in_threadpool(_stop, app)


def create_app(
    settings: Settings | None = None,
    registry: Registry | None = None,
    suggester: Suggester | None = None,
    service: Service | None = None,
) -> FastAPI:
    """Build the API app over ``service``, or a service made from ``registry`` (and ``suggester``);
    with none of them, the service is opened at start-up and closed at shutdown."""
    settings = settings or get_settings()
    app = FastAPI(
        title="C2C matcher API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        responses=ERROR_RESPONSES,
    )
    if service is None and registry is not None:
        service = Service(settings, registry, suggester)
    app.state.settings = settings
    app.state.service = service
    app.state.owns_service = False
    app.state.unsubscribe_rendered = None
    app.state.rendered = RenderedSuggestions()

    install_error_handlers(app)
    for module in (health, clusters, match, cooperations, feedback, model, exports, admin, events):
        app.include_router(module.router)
    app.openapi = _openapi(app, settings)  # type: ignore[method-assign]

    # Added innermost first: the last one added is the outermost.
    app.add_middleware(Timeout, seconds=settings.api_request_timeout_s)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(NulGuard)
    app.add_middleware(RateLimit, per_minute=settings.api_rate_per_minute,
                       auth_failures_per_minute=settings.api_auth_failures_per_minute,
                       trusted_proxies=settings.trusted_proxies, redis_url=settings.redis_url or None,
                       namespace=settings.redis_prefix)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type", "X-API-Key"],
            expose_headers=["Retry-After", "Location"],
            max_age=600,
        )
    web.install(app)
    return app
