"""The web page: server-rendered pages for event organisers and cluster managers, in Spanish
and English, served by the API's own app at ``/`` (and under ``/web``).

``install(app)`` adds the page routes, the static files and the error pages; call it after the
API's middlewares are added, so that refusals by the size and rate limits become pages too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.web import account, errors, events, pages
from api.web.render import PREFIX, WebError

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Mount the web page on ``app``."""
    for module in (pages, account, events):
        app.include_router(module.router)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="web-static")
    app.add_exception_handler(WebError, errors.on_web_error)  # type: ignore[arg-type]
    app.add_middleware(errors.HtmlErrors, max_body_bytes=app.state.settings.api_max_body_bytes)
