"""Signing in with an API key, the language switch, and recording feedback on a suggestion.

Feedback goes into the same store as ``POST /feedback`` (``FeedbackStore.add``), tagged with the
session key's id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from api.web import i18n
from api.web.i18n import N_
from api.web.render import PREFIX, PageDep, WebError
from matcher.profiles import Scope, Verdict

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to return to; anything that could leave the site becomes ``default``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 2000:
        return default
    return target


@router.get(PREFIX + "/language/{lang}")
def language(page: PageDep, lang: str, next: str | None = None) -> Response:
    """Switch the page's language and go back to where the person was."""
    if lang in i18n.LANGUAGES:
        page.extra_cookies[i18n.COOKIE] = lang
    return page.redirect(safe_next(next))


@router.get(PREFIX + "/key")
def key_form(page: PageDep, next: str | None = None) -> Response:
    return page.render("key.html", next=safe_next(next), error=None)


@router.post(PREFIX + "/key")
def sign_in(
    page: PageDep,
    csrf: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the key once and keep only its id and scope in the session cookie."""
    page.check_csrf(csrf)
    key = key.strip()
    record = page.service.keys.verify(key) if key and len(key) <= 200 and "\x00" not in key else None
    if record is None or not record.active:
        return page.render("key.html", status=401, next=safe_next(next),
                           error=N_("This key is unknown or has been revoked."))
    page.sign_in(page.session.signed_in(record.id, record.name, record.scope))
    return page.redirect(safe_next(next))


@router.post(PREFIX + "/key/forget")
def sign_out(page: PageDep, csrf: Annotated[str, Form()] = "") -> Response:
    page.check_csrf(csrf)
    page.sign_in(page.session.anonymous())
    return page.redirect("/")


@router.post(PREFIX + "/feedback")
def feedback(
    page: PageDep,
    csrf: Annotated[str, Form()] = "",
    org: Annotated[str, Form()] = "",
    partner: Annotated[str, Form()] = "",
    verdict: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Record what became of a suggestion (needs a key with the write scope)."""
    page.check_csrf(csrf)
    page.require(Scope.WRITE)
    registry = page.service.registry
    if verdict not in {v.value for v in Verdict}:
        raise WebError(422, N_("Choose what became of the suggestion."))
    if not org or org == partner or not registry.exists(org[:200]) or not registry.exists(partner[:200]):
        raise WebError(422, N_("This suggestion no longer exists."))
    stored = page.service.feedback.add(org, partner, verdict, comment=note.strip()[:2000] or None,
                                       api_key_id=page.session.key_id)
    return page.render("feedback_done.html", status=201, stored=stored, org=registry.get(org),
                       partner=registry.get(partner), next=safe_next(next))
