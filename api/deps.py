"""Dependencies shared by the routes, typed with ``Annotated[..., Depends()]``.

The app holds exactly one :class:`matcher.service.Service` on ``app.state``; the routes reach
the registry, the Suggester and the event store through it. The Suggester subscribes to the
registry's writes, so a profile created, changed or deleted through any route is reflected in
the very next suggestion request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from api.present import RenderedSuggestions
from matcher.events.store import EventStore
from matcher.service import Service
from matcher.settings import Settings
from matcher.store.feedback import FeedbackStore
from matcher.store.keys import ApiKeys
from matcher.store.registry import Registry
from matcher.ranking import Suggester

# The dependencies are coroutines on purpose: they do not block, and a plain ``def`` dependency
# would cost a hop to the thread pool on every request.


def _service(request: Request, part: str) -> Service:
    service: Service | None = request.app.state.service
    if service is None:
        raise ApiError(503, f"the service is starting: {part} not ready", "unavailable")
    return service


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


async def get_service(request: Request) -> Service:
    """The process-wide service."""
    return _service(request, "service")


async def get_registry(request: Request) -> Registry:
    """The service's registry."""
    return _service(request, "registry").registry


async def get_keys(request: Request) -> ApiKeys:
    """The service's API keys."""
    return _service(request, "registry").keys


async def get_feedback(request: Request) -> FeedbackStore:
    """The service's store of verdicts on suggestions."""
    return _service(request, "registry").feedback


async def get_suggester(request: Request) -> Suggester:
    """The service's Suggester."""
    return _service(request, "suggester").suggester


async def get_events(request: Request) -> EventStore:
    """The service's event store."""
    return _service(request, "events").events


async def get_rendered(request: Request) -> RenderedSuggestions:
    """The app's cache of rendered suggestion bodies."""
    return request.app.state.rendered


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[Service, Depends(get_service)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
KeysDep = Annotated[ApiKeys, Depends(get_keys)]
FeedbackDep = Annotated[FeedbackStore, Depends(get_feedback)]
SuggesterDep = Annotated[Suggester, Depends(get_suggester)]
EventsDep = Annotated[EventStore, Depends(get_events)]
RenderedDep = Annotated[RenderedSuggestions, Depends(get_rendered)]
