"""Reading pages: find organisations, read a profile, see its partner suggestions, describe an
unsaved cluster, and the model with its last evaluation.

Every figure shown comes from the same ``matcher`` calls as the API's routes
(``Registry.list_organisations``, ``Suggester.suggest``, ``Suggester.suggest_for_profile``, the
model card); the routes only check the filters and lay the results out.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.routes.match import transient_profile
from api.routes.model import card
from api.schemas import MatchRequest
from api.web.i18n import N_
from api.web.plots import evaluation_view
from api.web.render import PREFIX, Page, PageDep, WebError, url
from matcher.errors import AmbiguousOrganisation, C2CError, UnknownOrganisation
from matcher.profiles import Organisation, OrgType, Side
from matcher.scorecard import evaluation_file

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
COUNTRY = re.compile(r"^[A-Z]{2}$")


def _choice(value: str | None, allowed: set[str]) -> str | None:
    return value if value in allowed else None


def _countries(page: Page) -> list[str]:
    """Country codes of the registered organisations (kept per data version)."""
    registry = page.service.registry
    version = registry.data_version()
    state = page.request.app.state
    cached = getattr(state, "web_countries", None)
    if not cached or cached[0] != version:
        codes = sorted({o.country for o in registry.all_organisations()})
        state.web_countries = cached = (version, codes)
    return cached[1]


def _filters(page: Page, side: str | None, country: str | None, sector: str | None,
             type: str | None) -> dict[str, Any]:
    taxonomy = page.words.taxonomy
    return {
        "side": _choice(side, {s.value for s in Side}),
        "country": country if country and COUNTRY.match(country) else None,
        "sector": sector if sector and sector in taxonomy else None,
        "type": _choice(type, {t.value for t in OrgType}),
    }


def _filter_options(page: Page) -> dict[str, Any]:
    words = page.words
    return {
        "sides": [(s.value, words.side(s)) for s in Side],
        "countries": sorted(((c, words.country(c)) for c in _countries(page)), key=lambda pair: pair[1]),
        "sector_tree": words.sector_tree(),
        "types": [(t.value, words.org_type(t)) for t in OrgType],
    }


@router.get("/")
def home(
    page: PageDep,
    q: str | None = None,
    side: str | None = None,
    country: str | None = None,
    sector: str | None = None,
    type: str | None = None,
    offset: int = 0,
) -> Response:
    """Search by name with filters; a close spelling of one name is offered as the best match."""
    page.require_read()
    registry = page.service.registry
    q = (q or "").strip()[:200] or None
    offset = min(max(offset, 0), 1_000_000)
    filters = _filters(page, side, country, sector, type)
    items = registry.list_organisations(**filters, q=q, limit=PAGE_SIZE, offset=offset)
    total = registry.count_organisations(**filters, q=q)
    best: Organisation | None = None
    maybe: list[str] = []
    if q:
        try:
            best = registry.lookup(q)
        except UnknownOrganisation as exc:
            maybe = exc.suggestions
        except AmbiguousOrganisation as exc:
            maybe = exc.candidates
        if best is not None and any(o.id == best.id for o in items):
            best = None
    query = {"q": q, **filters}
    return page.render(
        "home.html", q=q or "", filters=filters, items=items, total=total, offset=offset, page_size=PAGE_SIZE,
        best=best, maybe=maybe, searched=bool(q or any(filters.values())),
        previous_url=url("/", **query, offset=offset - PAGE_SIZE) if offset > 0 else None,
        next_url=url("/", **query, offset=offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
        **_filter_options(page),
    )


@router.get(PREFIX)
def web_root() -> Response:
    return RedirectResponse("/", status_code=307)


def _organisation(page: Page, org_id: str) -> Organisation:
    try:
        return page.service.registry.get(org_id[:200])
    except UnknownOrganisation as exc:
        raise WebError(404, N_("No organisation has this id."), ", ".join(exc.suggestions) or None) from None


@router.get(PREFIX + "/organisations/{org_id}")
def organisation(page: PageDep, org_id: str) -> Response:
    """A profile: description, sectors, facts, documented cooperations and their sources."""
    page.require_read()
    org = _organisation(page, org_id)
    registry = page.service.registry
    cooperations = []
    for coop in registry.list_cooperations(org_id=org.id):
        partner_id = coop.mx if coop.eu == org.id else coop.eu
        try:
            partner_name = registry.get(partner_id).name
        except UnknownOrganisation:
            partner_name = partner_id
        cooperations.append({"coop": coop, "partner_id": partner_id, "partner_name": partner_name})
    cooperations.sort(key=lambda c: -(c["coop"].year or 0))
    return page.render("organisation.html", org=org, cooperations=cooperations,
                       contact=org.contact if page.session.keyed else None)


def _k(value: int | None, page: Page) -> int:
    return min(max(value or 10, 1), page.settings.api_max_k)


@router.get(PREFIX + "/organisations/{org_id}/partners")
def partners(
    page: PageDep,
    org_id: str,
    k: int = 10,
    sector: str | None = None,
    country: str | None = None,
    type: str | None = None,
    exclude_existing: bool = False,
    diversify: bool = False,
) -> Response:
    """Ranked partner suggestions with their reasons, filtered as ``GET /clusters/{id}/partners``."""
    page.require_read()
    org = _organisation(page, org_id)
    filters = _filters(page, None, country, sector, type)
    k = _k(k, page)
    try:
        result = page.service.suggester.suggest(org.id, k=k, sector=filters["sector"], country=filters["country"],
                                                type=filters["type"], exclude_existing=exclude_existing,
                                                diversify=diversify)
    except C2CError as exc:
        raise WebError(409, N_("Suggestions cannot be made right now."), str(exc)) from None
    return page.render("partners.html", org=org, result=result, k=k, filters=filters,
                       exclude_existing=exclude_existing, diversify=diversify, **_filter_options(page))


@router.get(PREFIX + "/describe")
def describe_form(page: PageDep) -> Response:
    """The form to describe a cluster that is not registered."""
    page.require_read()
    return page.render("describe.html", form={}, errors=[], result=None, **_filter_options(page))


@router.post(PREFIX + "/describe")
def describe(
    page: PageDep,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    side: Annotated[str, Form()] = "",
    country: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = OrgType.CLUSTER.value,
    description: Annotated[str, Form()] = "",
    sectors: Annotated[list[str] | None, Form()] = None,
    k: Annotated[int, Form()] = 10,
) -> Response:
    """Suggestions for the described profile, as ``POST /match`` makes them."""
    page.require_read()
    page.check_csrf(csrf)
    form = {"name": name, "side": side, "country": country, "type": type, "description": description,
            "sectors": sectors or [], "k": _k(k, page)}
    errors: list[tuple[str, str]] = []
    result = None
    try:
        body = MatchRequest.model_validate({
            "name": name, "side": side, "description": description, "type": type or OrgType.CLUSTER.value,
            "sectors": [s for s in sectors or [] if s], "country": country.strip().upper() or None,
        })
    except ValidationError as exc:
        errors = [(".".join(str(p) for p in e["loc"]), str(e["msg"]).removeprefix("Value error, "))
                  for e in exc.errors()]
    else:
        try:
            result = page.service.suggester.suggest_for_profile(
                transient_profile(body, page.service.suggester), k=form["k"])
        except C2CError as exc:
            errors = [(getattr(exc, "field", None) or "", str(exc))]
    return page.render("describe.html", status=422 if errors else 200, form=form, errors=errors, result=result,
                       **_filter_options(page))


@router.get(PREFIX + "/model")
def model(page: PageDep) -> Response:
    """The model card and the last evaluation's tables and plots."""
    page.require_read()
    model_card = card(page.service)
    full: dict[str, Any] | None = None
    try:
        full = json.loads(evaluation_file(page.settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        full = None
    features = sorted(model_card.ranker.get("features", {}).items(), key=lambda item: -abs(item[1]["coefficient"]))
    return page.render("model.html", card=model_card, features=features,
                       evaluation=evaluation_view(full) if isinstance(full, dict) else None)
