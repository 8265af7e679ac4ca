"""Errors on the page's paths are pages, not JSON.

:class:`WebError` (a refusal by a page route) is rendered with the page layout. Errors made
before a route runs (the body-size limit, the rate limit, the time-out, an unknown path) come
as the API's JSON error body; :class:`HtmlErrors` turns those into the same page for paths of the
web page and leaves every API path alone.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from api.limits import ASGIApp, ASGIScope, Message, Receive, Send
from api.web import i18n
from api.web.i18n import N_, Words
from api.web.render import PREFIX, WebError, environment, get_page

TITLES: dict[int, str] = {
    401: N_("A key is needed"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Not possible right now"),
    413: N_("The file is too large"),
    422: N_("Please check what you entered"),
    429: N_("Too many requests"),
    503: N_("Not ready"),
    504: N_("This took too long"),
}
MESSAGES: dict[int, str] = {
    404: N_("There is no page at this address."),
    413: N_("The upload is larger than this server accepts (%(limit)s bytes). Split the file or remove unused columns."),
    429: N_("Please wait a moment before trying again."),
    504: N_("The server did not answer in time. Please try again."),
}


def is_web_path(path: str) -> bool:
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


def error_page(words: Words, status: int, message: str, detail: str | None = None, sign_in: bool = False,
               here: str = "/", page_context: dict[str, Any] | None = None) -> str:
    """The error page's HTML; ``message`` is already in ``words``' language."""
    context = page_context or {"words": words, "lang": words.lang, "keyed": False, "key_name": None, "scope": None,
                               "csrf": "", "here": here, "path": here, "read_key_required": False}
    title = words.gettext(TITLES.get(status, N_("Something went wrong")))
    return environment(words.lang).get_template("error.html").render(
        **context, title=title, message=message, detail=detail, sign_in=sign_in)


async def on_web_error(request: Request, exc: WebError) -> Response:
    """A page route's refusal, in the page layout and the request's language."""
    try:
        page = get_page(request)
    except WebError:
        page = None
    words = page.words if page else Words(i18n.choose(None, request.cookies.get(i18n.COOKIE),
                                                      request.headers.get("accept-language")))
    html = error_page(words, exc.status, words.gettext(exc.message), exc.detail, exc.sign_in, request.url.path,
                      page.context() if page else None)
    response = HTMLResponse(html, status_code=exc.status)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Session"
    return page._finish(response) if page else response


def _header(scope: ASGIScope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _cookie(scope: ASGIScope, name: str) -> str | None:
    for part in (_header(scope, b"cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class HtmlErrors:
    """Turn the API's JSON error responses into error pages on the web page's paths."""

    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_web_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body = b""

        async def guarded_send(message: Message) -> None:
            nonlocal held, body
            if message["type"] == "http.response.start":
                types = [v for k, v in message.get("headers", []) if k.lower() == b"content-type"]
                if message["status"] >= 400 and types and types[0].startswith(b"application/json"):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    await self._send_page(scope, send, held, body)
                return
            await send(message)

        await self.app(scope, receive, guarded_send)

    async def _send_page(self, scope: ASGIScope, send: Send, start: Message, body: bytes) -> None:
        status = int(start["status"])
        try:
            detail = json.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = None
        words = Words(i18n.choose(None, _cookie(scope, i18n.COOKIE), _header(scope, b"accept-language")))
        known = MESSAGES.get(status)
        message = words.gettext(known) % {"limit": self.max_body_bytes} if known else (detail or "")
        html = error_page(words, status, message, None, status == 401, scope.get("path", "/"))
        data = html.encode("utf-8")
        headers = [(k, v) for k, v in start.get("headers", [])
                   if k.lower() not in (b"content-type", b"content-length")]
        headers += [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
