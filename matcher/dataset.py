"""The shipped dataset: organisations of both sides and their documented cooperations.

The records live as YAML in ``matcher/data`` (``organisations_eu.yaml``,
``organisations_mx.yaml``, ``cooperations.yaml``) and are built from the public reports listed
in each record's ``sources``. :func:`load_dataset` validates them against the schema in
:mod:`matcher.profiles` and checks that they hang together (unique ids, known sectors,
resolvable memberships and cooperation parties, a source on every record).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml
from pydantic import ValidationError

from matcher.errors import InvalidProfile
from matcher.profiles import Cooperation, CooperationScope, Organisation, PartnerProfile, Side, WiderCooperation
from matcher.taxonomy import Taxonomy, load_taxonomy
from matcher.text import normalise

ORGANISATION_FILES = ("organisations_eu.yaml", "organisations_mx.yaml")
COOPERATION_FILE = "cooperations.yaml"
WIDER_ORGANISATION_FILE = "wider/organisations.yaml"
WIDER_COOPERATION_FILE = "wider/cooperations.yaml"


@dataclass(frozen=True)
class Dataset:
    organisations: list[Organisation]
    cooperations: list[Cooperation]

    def by_id(self) -> dict[str, Organisation]:
        return {o.id: o for o in self.organisations}


@dataclass(frozen=True)
class WiderDataset:
    """Cooperations of European organisations beyond EU–Mexico, and their non-registry parties."""

    partners: list[PartnerProfile]
    cooperations: list[WiderCooperation]


def _read(name: str) -> list[dict]:
    path = resources.files("matcher.data")
    for part in name.split("/"):
        path = path.joinpath(part)
    if not path.is_file():
        return []
    return yaml.safe_load(path.read_text(encoding="utf-8")) or []


def _validate(model, raw: dict, where: str):
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "record"
        raise InvalidProfile(f"{where}: {err['msg']}", field) from None


def check_consistency(
    organisations: list[Organisation],
    cooperations: list[Cooperation],
    taxonomy: Taxonomy | None = None,
    require_sources: bool = True,
) -> None:
    """Raise :class:`InvalidProfile` at the first record that does not hang together."""
    taxonomy = taxonomy or load_taxonomy()
    ids: dict[str, Organisation] = {}
    for org in organisations:
        if org.id in ids:
            raise InvalidProfile(f"duplicate organisation id {org.id!r}", "id")
        ids[org.id] = org
    names: dict[str, str] = {}
    for org in organisations:
        for sector in org.sectors + org.facts.mexico_interest:
            if sector not in taxonomy:
                raise InvalidProfile(f"{org.id}: unknown sector {sector!r}", "sectors")
        for parent in org.facts.member_of:
            if parent not in ids:
                raise InvalidProfile(f"{org.id}: member_of names unknown id {parent!r}", "facts.member_of")
        if require_sources and not org.sources:
            raise InvalidProfile(f"{org.id}: a record needs at least one source", "sources")
        for name in org.all_names():
            key = normalise(name)
            owner = names.setdefault(key, org.id)
            if owner != org.id:
                raise InvalidProfile(f"name or alias {name!r} of {org.id} is already used by {owner}", "aliases")
    seen: set[str] = set()
    for coop in cooperations:
        if coop.id in seen:
            raise InvalidProfile(f"duplicate cooperation id {coop.id!r}", "id")
        seen.add(coop.id)
        for field, side in (("eu", Side.EU), ("mx", Side.MX)):
            party = ids.get(getattr(coop, field))
            if party is None:
                raise InvalidProfile(f"{coop.id}: unknown organisation {getattr(coop, field)!r}", field)
            if party.side is not side:
                raise InvalidProfile(f"{coop.id}: {party.id} is not on the {side.value} side", field)
        if require_sources and not coop.sources:
            raise InvalidProfile(f"{coop.id}: a cooperation needs at least one source", "sources")


@lru_cache(maxsize=1)
def load_dataset() -> Dataset:
    """The shipped dataset, validated."""
    organisations = [
        _validate(Organisation, raw, f"{name}[{i}]")
        for name in ORGANISATION_FILES
        for i, raw in enumerate(_read(name))
    ]
    cooperations = [_validate(Cooperation, raw, f"{COOPERATION_FILE}[{i}]") for i, raw in enumerate(_read(COOPERATION_FILE))]
    check_consistency(organisations, cooperations)
    return Dataset(organisations, cooperations)


@lru_cache(maxsize=1)
def load_wider() -> WiderDataset:
    """The wider cooperations (EU–Latin America, EU–EU, EU–other), validated against the registry's
    European organisations and the partner profiles shipped with them."""
    partners = [_validate(PartnerProfile, raw, f"{WIDER_ORGANISATION_FILE}[{i}]")
                for i, raw in enumerate(_read(WIDER_ORGANISATION_FILE))]
    cooperations = [_validate(WiderCooperation, raw, f"{WIDER_COOPERATION_FILE}[{i}]")
                    for i, raw in enumerate(_read(WIDER_COOPERATION_FILE))]
    registry = load_dataset().by_id()
    partner_ids = {p.id for p in partners}
    if len(partner_ids) != len(partners) or partner_ids & set(registry):
        raise InvalidProfile("a wider partner id is duplicated or clashes with a registry id", "id")
    taxonomy = load_taxonomy()
    for p in partners:
        for sector in p.sectors:
            if sector not in taxonomy:
                raise InvalidProfile(f"{p.id}: unknown sector {sector!r}", "sectors")
    for coop in cooperations:
        eu = registry.get(coop.eu)
        if eu is None or eu.side is not Side.EU:
            raise InvalidProfile(f"{coop.id}: {coop.eu!r} is not a European organisation of the registry", "eu")
        partner = registry.get(coop.partner)
        if coop.scope is CooperationScope.EU_EU:
            if partner is None or partner.side is not Side.EU:
                raise InvalidProfile(f"{coop.id}: {coop.partner!r} is not a European organisation", "partner")
        elif coop.partner not in partner_ids:
            raise InvalidProfile(f"{coop.id}: unknown partner {coop.partner!r}", "partner")
    return WiderDataset(partners, cooperations)
