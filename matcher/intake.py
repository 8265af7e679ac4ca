"""Loose input in, a valid :class:`Organisation` out: the one place profiles are made from a
text (``c2c suggest --text``), request fields (``POST /match``, event guests in
``POST /events/{id}/participants``) or a participants spreadsheet row.

Every problem is an :class:`~matcher.errors.InvalidProfile` (an
:class:`~matcher.errors.UnknownSector` for sectors) naming the field; callers that report
problems differently (the event planner names the file's line) translate it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from matcher.errors import InvalidProfile, UnknownSector
from matcher.profiles import Organisation, OrgType, Side
from matcher.taxonomy import Taxonomy
from matcher.text import normalise

#: Words accepted for each side (after :func:`matcher.text.normalise`).
SIDE_NAMES = {"eu": Side.EU, "europe": Side.EU, "european": Side.EU,
              "mx": Side.MX, "mexico": Side.MX, "mexican": Side.MX}


def parse_side(value: Side | str) -> Side:
    """``EU``/``MX`` (or Europe, Mexico, European, Mexican, in any case) as a :class:`Side`."""
    if isinstance(value, Side):
        return value
    side = SIDE_NAMES.get(normalise(value))
    if side is None:
        raise InvalidProfile(f"{value!r} is not EU or MX", "side")
    return side


def parse_org_type(value: OrgType | str) -> OrgType:
    """An organisation type by value (``company``), member name (``public_agency``) or the
    start of its value (``cluster``), forgiving case, accents and spaces."""
    if isinstance(value, OrgType):
        return value
    key = normalise(str(value)).replace(" ", "_")
    for kind in OrgType:
        if key and (key in (kind.value, kind.name.lower()) or kind.value.startswith(key)):
            return kind
    raise InvalidProfile(f"{value!r} is not one of {', '.join(t.value for t in OrgType)}", "type")


def resolve_sectors(terms: Sequence[str], taxonomy: Taxonomy, field: str = "sectors", indexed: bool = True) -> list[str]:
    """Taxonomy ids of sector ids, names or synonyms (either language), each once, in order.

    An unknown term is an :class:`UnknownSector` on ``field`` (``field.<i>`` when ``indexed``).
    """
    sectors: list[str] = []
    for i, term in enumerate(terms):
        try:
            sector = taxonomy.resolve(term)
        except UnknownSector:
            raise UnknownSector(f"unknown sector {term!r}", f"{field}.{i}" if indexed else field) from None
        if sector not in sectors:
            sectors.append(sector)
    return sectors


def new_organisation(
    *,
    id: str,
    name: str,
    side: Side | str,
    sectors: Sequence[str],
    description: str = "",
    country: str | None = None,
    type: OrgType | str = OrgType.CLUSTER,
    acronym: str | None = None,
) -> Organisation:
    """A profile from loose fields; sectors must already be taxonomy ids (:func:`resolve_sectors`).

    The country defaults to ``MX`` on the Mexican side and ``EU`` on the European side.
    """
    side = parse_side(side)
    try:
        return Organisation(id=id, name=name, side=side, country=(country or ("MX" if side is Side.MX else "EU")),
                            type=parse_org_type(type), sectors=list(sectors), description=description,
                            acronym=acronym or None)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None  # None: a rule across fields
        raise InvalidProfile(str(err["msg"]).removeprefix("Value error, "), field) from None
