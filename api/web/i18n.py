"""Languages of the web page: Spanish and English message catalogues, chosen per request.

The language is, in order: a ``lang`` query parameter, the ``c2c_lang`` cookie the switch on the
page sets, the browser's ``Accept-Language`` header, then English. Messages are English in the
templates and translated through the Babel catalogue in ``locale/``; sector names come from the
taxonomy's own two languages, country names from the CLDR data Babel ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

from matcher.errors import UnknownSector
from matcher.profiles import CooperationType, OrgType, Side, Verdict
from matcher.taxonomy import Taxonomy, load_taxonomy

LANGUAGES = ("en", "es")
DEFAULT = "en"
COOKIE = "c2c_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue; it is translated where it is shown."""
    return message


ORG_TYPES: dict[OrgType, str] = {
    OrgType.CLUSTER: N_("Cluster organisation"),
    OrgType.ASSOCIATION: N_("Industry association"),
    OrgType.PUBLIC_AGENCY: N_("Public agency"),
    OrgType.EDUCATION_RESEARCH: N_("Education or research body"),
    OrgType.COMPANY: N_("Company"),
    OrgType.PARTNERSHIP: N_("Partnership or network"),
}

SIDES: dict[Side, str] = {Side.EU: N_("Europe"), Side.MX: N_("Mexico")}

COOPERATION_TYPES: dict[CooperationType, str] = {
    CooperationType.SIGNED_MOU: N_("Signed memorandum of understanding"),
    CooperationType.TRAINING: N_("Training and shared resources"),
    CooperationType.MOU_DISCUSSION: N_("Memorandum under discussion"),
    CooperationType.DELEGATION: N_("Delegation visit"),
    CooperationType.INFORMATION: N_("Exchange of information"),
    CooperationType.LISTED: N_("Listed as cooperating"),
}

VERDICTS: dict[Verdict, str] = {
    Verdict.ACCEPTED: N_("Accepted"),
    Verdict.DECLINED: N_("Declined"),
    Verdict.MET: N_("We met"),
    Verdict.AGREEMENT_SIGNED: N_("Agreement signed"),
}

#: A short heading for each ranker feature; the core's own sentence is shown beside it.
FEATURES: dict[str, str] = {
    "embedding_sim": N_("Similar profiles"),
    "text_sim": N_("Profiles use the same words"),
    "sector_jaccard": N_("Shared sectors"),
    "parent_overlap": N_("Related sectors"),
    "root_overlap": N_("Same broad industries"),
    "sector_affinity": N_("These industries often cooperate across the Atlantic"),
    "same_type": N_("Same kind of organisation"),
    "type_affinity": N_("These kinds of organisation often cooperate"),
    "eu_mexico_interest": N_("Declared interest in Mexico"),
    "interest_match": N_("Looks for partners in this sector"),
    "label": N_("Cluster-management quality label"),
    "eccp_member": N_("On the European Cluster Collaboration Platform"),
    "network_member": N_("Member of an international network"),
    "shared_network": N_("Same network or partnership"),
    "partner_sim_mx": N_("Resembles a known partner"),
    "partner_sim_eu": N_("Resembles a known partner"),
    "eu_size": N_("Size of the European organisation"),
    "eu_size_known": N_("Size of the European organisation"),
    "mx_size": N_("Size of the Mexican organisation"),
    "mx_size_known": N_("Size of the Mexican organisation"),
}


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> NullTranslations:
    """The compiled catalogue of ``lang`` (English needs none)."""
    if lang == DEFAULT:
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [lang], DOMAIN)


def negotiate(accept_language: str | None) -> str | None:
    """The first of our languages the ``Accept-Language`` header asks for, by weight."""
    if not accept_language:
        return None
    asked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        asked.append((-weight, position, tag.strip().lower().split("-")[0]))
    for weight, _, lang in sorted(asked):
        if weight < 0 and lang in LANGUAGES:
            return lang
    return None


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language of a request."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate  # type: ignore[return-value]
    return negotiate(accept_language) or DEFAULT


@dataclass(frozen=True)
class Words:
    """Everything a template needs to speak one language: messages, names and number formats."""

    lang: str

    @property
    def catalogue(self) -> NullTranslations:
        return translations(self.lang)

    def gettext(self, message: str) -> str:
        return self.catalogue.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.catalogue.ngettext(singular, plural, n)

    @property
    def taxonomy(self) -> Taxonomy:
        return load_taxonomy()

    def sector(self, sector_id_or_name: str) -> str:
        """A sector's name in this language, from its id or its English name."""
        tax = self.taxonomy
        try:
            sector = tax[sector_id_or_name] if sector_id_or_name in tax else tax[tax.resolve(sector_id_or_name)]
        except UnknownSector:
            return sector_id_or_name
        return sector.name_es if self.lang == "es" else sector.name

    def sectors(self, ids: Iterable[str]) -> list[str]:
        return [self.sector(s) for s in ids]

    def sector_tree(self) -> list[tuple[str, int, str]]:
        """Every sector as ``(id, depth, name)``, parents before their children."""
        tax = self.taxonomy
        children: dict[str | None, list[str]] = {}
        for sector in tax.sectors.values():
            children.setdefault(sector.parent, []).append(sector.id)
        out: list[tuple[str, int, str]] = []

        def walk(parent: str | None, depth: int) -> None:
            for sid in sorted(children.get(parent, []), key=self.sector):
                out.append((sid, depth, self.sector(sid)))
                walk(sid, depth + 1)

        walk(None, 0)
        return out

    def org_type(self, value: OrgType | str) -> str:
        try:
            return self.gettext(ORG_TYPES[OrgType(value)])
        except ValueError:
            return str(value)

    def side(self, value: Side | str) -> str:
        return self.gettext(SIDES[Side(value)])

    def cooperation_type(self, value: CooperationType | str) -> str:
        return self.gettext(COOPERATION_TYPES[CooperationType(value)])

    def verdict(self, value: Verdict | str) -> str:
        return self.gettext(VERDICTS[Verdict(value)])

    def feature(self, name: str) -> str:
        return self.gettext(FEATURES.get(name, name.replace("_", " ")))

    def country(self, code: str) -> str:
        """A country's name from its ISO code (``EU`` and unknown codes as they are)."""
        return Locale(self.lang).territories.get(code.upper(), code)

    def number(self, value: float | int | None, digits: int = 2) -> str:
        if value is None:
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.lang)

    def percent(self, value: float | None) -> str:
        return "–" if value is None else format_percent(value, format="#,##0%", locale=self.lang)

    def date(self, value: Any) -> str:
        return format_date(value, format="long", locale=self.lang)

    def datetime(self, value: Any) -> str:
        """A moment in UTC, said so (the server does not know the reader's time zone)."""
        return format_datetime(value, format="medium", tzinfo="UTC", locale=self.lang) + " UTC"
