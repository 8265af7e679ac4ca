"""The FastAPI application: ``create_app(settings=None)``.

One process holds ONE Registry and ONE Suggester (on ``app.state``); the Suggester subscribes
to the Registry's writes, so what a route writes is what the next request suggests from.
Either may be injected (tests pass a Registry on a temporary store and a Suggester with a
fast fake encoder); otherwise they are created at start-up, where the store is also created
and seeded if it is empty.

Run it with ``c2c serve`` or ``uvicorn api.app:create_app --factory``. Interactive docs are at
``/docs``, the OpenAPI schema at ``/openapi.json``.
"""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from api.errors import install_error_handlers
from api.event_store import EventStore
from api.limits import BodySizeLimit, NulGuard, RateLimit, Timeout
from api.present import RenderedSuggestions
from api.routes import admin, clusters, cooperations, events, exports, feedback, health, match, model
from api.schemas import ERROR_RESPONSES
from matcher import __version__
from matcher.errors import C2CError
from matcher.settings import Settings, get_settings

log = logging.getLogger("c2c.api")

DESCRIPTION = """\
Registry of European and Mexican cluster organisations, their documented cooperations, and
partner suggestions between the two sides.

Reads are open unless the server requires a key for reading; writes need an API key in the
`X-API-Key` header (scope `write`; `admin` for retraining and key management). Every error has
the body `{"error": {"status", "code", "message", "field"}}`.
"""


def open_registry(settings: Settings) -> Any:
    """Open the configured store, creating and seeding it if needed."""
    from matcher.registry import Registry

    return Registry.open(settings)


def open_suggester(registry: Any, settings: Settings) -> Any:
    """The Suggester over ``registry`` (it subscribes to the registry's writes)."""
    from matcher.suggest import Suggester

    return Suggester(registry, settings)


def _start(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    if app.state.registry is None:
        app.state.registry = open_registry(settings)
        app.state.owns_registry = True
    if app.state.suggester is None:
        app.state.suggester = open_suggester(app.state.registry, settings)
    subscribe = getattr(app.state.registry, "subscribe", None)
    if callable(subscribe):  # a write in this process drops rendered suggestions at once
        app.state.unsubscribe_rendered = subscribe(lambda event, org_id: app.state.rendered.clear())
    try:
        # Load or build the index and the ranker, and load the model, now rather than on a first request.
        warm_up = getattr(app.state.suggester, "warm_up", None)
        if callable(warm_up):
            warm_up()
        else:
            app.state.suggester.index
    except C2CError as exc:
        log.warning("suggestions are not ready yet: %s", exc)
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
    unsubscribe = getattr(app.state, "unsubscribe_rendered", None)
    if callable(unsubscribe):
        unsubscribe()
        app.state.unsubscribe_rendered = None
    if getattr(app.state, "owns_registry", False):
        close = getattr(app.state.registry, "close", None)
        if callable(close):
            close()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await run_in_threadpool(_start, app)
    try:
        yield
    finally:
        await run_in_threadpool(_stop, app)


def create_app(settings: Settings | None = None, registry: Any = None, suggester: Any = None) -> FastAPI:
    """Build the API app. Without ``registry``/``suggester`` they are created at start-up."""
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
    app.state.settings = settings
    app.state.registry = registry
    app.state.suggester = suggester
    app.state.owns_registry = False
    app.state.events = EventStore(Path(settings.home) / "events")
    app.state.rendered = RenderedSuggestions()
    if registry is not None and suggester is None:
        app.state.suggester = open_suggester(registry, settings)

    install_error_handlers(app)
    for module in (health, clusters, match, cooperations, feedback, model, exports, admin, events):
        app.include_router(module.build(settings))

    # Added innermost first: the last one added is the outermost.
    app.add_middleware(Timeout, seconds=settings.api_request_timeout_s)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(NulGuard)
    app.add_middleware(RateLimit, per_minute=settings.api_rate_per_minute)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type", "X-API-Key"],
            expose_headers=["Retry-After", "Location"],
            max_age=600,
        )
    return app
