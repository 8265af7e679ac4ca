"""Query parameters bounded by the settings: the page size (``limit``) and the list length (``k``).

The routers are defined once, at import, so these bounds cannot be part of their parameter
declarations; dependencies enforce them per app instead, with the same 422 a declared bound
gives, and :func:`document_bounds` writes them into the app's OpenAPI schema as the
parameters' maxima and defaults. Routes list them after the caller's dependency, so a
missing key is still reported before a bound (dependencies run in the order declared).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError

from api.deps import SettingsDep
from matcher.settings import Settings

DEFAULT_LIMIT = 50
DEFAULT_K = 10


def _bounded(request: Request, name: str, value: int, default: int, maximum: int) -> int:
    if name not in request.query_params:
        return min(default, maximum)
    if value > maximum:
        raise RequestValidationError([{
            "type": "less_than_equal", "loc": ("query", name), "input": value, "ctx": {"le": maximum},
            "msg": f"Input should be less than or equal to {maximum}",
        }])
    return value


async def page_limit(request: Request, settings: SettingsDep, limit: int = Query(DEFAULT_LIMIT, ge=1)) -> int:
    """Rows per page, at most ``api_max_page_size``."""
    return _bounded(request, "limit", limit, DEFAULT_LIMIT, settings.api_max_page_size)


async def top_k(request: Request, settings: SettingsDep, k: int = Query(DEFAULT_K, ge=1)) -> int:
    """Suggestions per list, at most ``api_max_k``."""
    return _bounded(request, "k", k, DEFAULT_K, settings.api_max_k)


PageLimit = Annotated[int, Depends(page_limit)]
TopK = Annotated[int, Depends(top_k)]


def document_bounds(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``schema`` with the settings' bounds of ``limit`` and ``k`` as their maxima and defaults."""
    bounds = {"limit": (DEFAULT_LIMIT, settings.api_max_page_size), "k": (DEFAULT_K, settings.api_max_k)}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if param.get("in") == "query" and param.get("name") in bounds:
                    default, maximum = bounds[param["name"]]
                    param["schema"].update(maximum=maximum, default=min(default, maximum))
    return schema
