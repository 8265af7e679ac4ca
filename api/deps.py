"""Dependencies shared by the routes: the process-wide Registry, Suggester and Settings.

The app keeps exactly one Registry and one Suggester per process on ``app.state``; the
Suggester subscribes to the Registry's writes, so a profile created, changed or deleted
through any route is reflected in the very next suggestion request.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.errors import ApiError

# The dependencies are coroutines on purpose: they do not block, and a plain ``def`` dependency
# would cost a hop to the thread pool on every request.
from matcher.settings import Settings


def _state(request: Request, name: str) -> Any:
    value = getattr(request.app.state, name, None)
    if value is None:
        raise ApiError(503, f"the service is starting: {name} not ready", "unavailable")
    return value


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


async def get_registry(request: Request) -> Any:
    """The process-wide :class:`matcher.registry.Registry`."""
    return _state(request, "registry")


async def get_suggester(request: Request) -> Any:
    """The process-wide :class:`matcher.suggest.Suggester`."""
    return _state(request, "suggester")


async def get_rendered(request: Request) -> Any:
    """The app's cache of rendered suggestion bodies (:class:`api.present.RenderedSuggestions`)."""
    return _state(request, "rendered")
