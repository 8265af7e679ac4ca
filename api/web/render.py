"""Turning a request into a page: its language, its session and the template environment.

Each route takes a :class:`Page` (a dependency) and returns ``page.render(template, ...)``.
Templates escape everything they print; they only lay out values the routes computed with the
``matcher`` functions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from api.web import i18n
from api.web.i18n import Words
from api.web.session import COOKIE, Session, Sessions, installation_secret, still_valid
from matcher.profiles import Scope
from matcher.service import Service
from matcher.settings import Settings

PREFIX = "/web"


class WebError(Exception):
    """A refusal or failure shown as a page with ``status``; ``message`` is a catalogue message."""

    def __init__(self, status: int, message: str, detail: str | None = None, sign_in: bool = False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.sign_in = sign_in


@lru_cache(maxsize=len(i18n.LANGUAGES))
def environment(lang: str) -> Environment:
    """The template environment of one language (one per language, so rendering is thread-safe)."""
    env = Environment(
        loader=PackageLoader("api.web", "templates"),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["web"] = PREFIX
    env.filters["q"] = lambda value: quote(str(value), safe="")
    return env


def sessions_of(request: Request) -> Sessions:
    """The app's session signer, made on first use from the installation secret."""
    state = request.app.state
    if getattr(state, "web_sessions", None) is None:
        state.web_sessions = Sessions(installation_secret(state.settings.home))
    return state.web_sessions


def language_of(request: Request) -> str:
    return i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE),
                       request.headers.get("accept-language"))


@dataclass
class Page:
    """What a route needs to answer with a page: language, session, service and the request."""

    request: Request
    words: Words
    session: Session
    sessions: Sessions
    service: Service
    changed: bool = False
    extra_cookies: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.service.settings

    @property
    def csrf(self) -> str:
        return self.sessions.csrf_token(self.session)

    def gettext(self, message: str) -> str:
        return self.words.gettext(message)

    def sign_in(self, session: Session) -> None:
        self.session = session
        self.changed = True

    def context(self) -> dict[str, Any]:
        here = self.request.url.path + (f"?{self.request.url.query}" if self.request.url.query else "")
        return {"words": self.words, "lang": self.words.lang, "keyed": self.session.keyed,
                "key_name": self.session.key_name, "scope": self.session.scope, "csrf": self.csrf,
                "here": here, "path": self.request.url.path,
                "read_key_required": self.settings.api_read_key_required}

    def _finish(self, response: Response) -> Response:
        secure = self.request.url.scheme == "https"
        if self.changed:
            max_age = max(0, self.session.expires - int(time.time()))
            response.set_cookie(COOKIE, self.sessions.dump(self.session), max_age=max_age, httponly=True,
                                samesite="lax", secure=secure, path="/")
        for name, value in self.extra_cookies.items():
            response.set_cookie(name, value, max_age=365 * 24 * 3600, httponly=True, samesite="lax",
                                secure=secure, path="/")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                    "script-src 'self'; frame-ancestors 'none'; form-action 'self'")
        return response

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        html = environment(self.words.lang).get_template(template).render(**self.context(), **context)
        return self._finish(HTMLResponse(html, status_code=status))

    def redirect(self, url: str) -> Response:
        return self._finish(RedirectResponse(url, status_code=303))

    def file(self, data: bytes, media_type: str, filename: str) -> Response:
        return self._finish(Response(data, media_type=media_type,
                                     headers={"Content-Disposition": f'attachment; filename="{filename}"'}))

    def check_csrf(self, token: str | None) -> None:
        """Refuse a write whose form does not carry this session's token."""
        if not self.sessions.csrf_ok(self.session, token):
            raise WebError(403, i18n.N_("This form has expired or was not sent from this site. "
                                        "Reload the page and try again."))

    def require(self, scope: Scope = Scope.WRITE) -> None:
        """Refuse a write from a session without a key of ``scope``."""
        if not self.session.keyed:
            raise WebError(401, i18n.N_("Saving needs an API key. Sign in with your key, then try again."),
                           sign_in=True)
        if not self.session.allows(scope):
            raise WebError(403, i18n.N_("Your key may only read. Saving needs a key with the 'write' scope."),
                           sign_in=True)

    def require_read(self) -> None:
        if self.settings.api_read_key_required and not self.session.keyed:
            raise WebError(401, i18n.N_("This server shows its data only to people with an API key."),
                           sign_in=True)


def url(path: str, **params: Any) -> str:
    """``PREFIX + path`` with the non-empty query parameters."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "", False)}, doseq=True)
    return f"{PREFIX}{path}" + (f"?{query}" if query else "")


def get_page(request: Request) -> Page:
    """The page context of a request (503 while the service starts); a plain function, as it may
    read the store (to see whether the session's key is still valid)."""
    service: Service | None = request.app.state.service
    if service is None:
        raise WebError(503, i18n.N_("The service is starting. Try again in a moment."))
    sessions = sessions_of(request)
    session = sessions.load(request.cookies.get(COOKIE))
    changed = session is None
    if session is None:
        session = Session.anonymous()
    elif session.keyed:
        checked = still_valid(session, service.keys)
        changed = checked is not session
        session = checked
    page = Page(request, Words(language_of(request)), session, sessions, service, changed)
    asked = request.query_params.get("lang")
    if asked in i18n.LANGUAGES and asked != request.cookies.get(i18n.COOKIE):
        page.extra_cookies[i18n.COOKIE] = asked
    return page


PageDep = Annotated[Page, Depends(get_page)]
