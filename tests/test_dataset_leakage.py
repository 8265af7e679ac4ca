"""Guard against evaluation leakage through the shipped texts.

Partner suggestions are scored against the documented cooperations. The text that gets
embedded (name, aliases, description) must therefore not name the counterpart of a documented
cooperation: if it did, text similarity would find the answer written into the profile.
Cooperation facts belong in ``facts.notes``, which is never embedded.
"""

from __future__ import annotations

import re

import pytest

from matcher.dataset import load_dataset
from matcher.taxonomy import load_taxonomy, sector_reader
from matcher.text import normalise


def _embedded_text(org) -> str:
    """Description plus the names that are not the organisation's own official name.

    An organisation's own name may legitimately contain a generic phrase that is also a
    partner's alias (CEGISTAM's Spanish name begins with "Cluster de Energía"), so names are
    compared whole, descriptions word by word.
    """
    return normalise(org.description)


def _name_clashes(holder, other) -> set[str]:
    return {normalise(n) for n in holder.all_names()} & _names(other)


def _names(org) -> set[str]:
    names = {normalise(n) for n in org.all_names()}
    # Generic words are not identifying names.
    return {n for n in names if len(n) >= 3 and n not in {"cluster", "mexico", "europe"}}


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", text) is not None


def test_no_profile_text_names_its_documented_counterpart():
    data = load_dataset()
    orgs = data.by_id()
    assert data.cooperations, "the shipped dataset has no cooperations"
    leaks = []
    for coop in data.cooperations:
        eu, mx = orgs[coop.eu], orgs[coop.mx]
        for holder, other in ((eu, mx), (mx, eu)):
            text = _embedded_text(holder)
            for name in _names(other):
                if _mentions(text, name):
                    leaks.append(f"{holder.id} names its partner {other.id} as {name!r}")
            for name in _name_clashes(holder, other):
                leaks.append(f"{holder.id} carries its partner's name {name!r}")
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("text,name,expected", [
    ("cooperates with the queretaro aerocluster", "queretaro aerocluster", True),
    ("an energy cluster", "anes", False),
    ("planes and engines", "anes", False),
])
def test_mention_matching_respects_word_boundaries(text, name, expected):
    assert _mentions(text, name) is expected


def test_no_profile_takes_its_sectors_from_a_cooperation():
    """An organisation's sectors are its own: a sector it shares with a documented partner must be
    read from its own name, aliases, description or specialities (the sector itself, one below
    it, or a sibling under the same parent). The Basque Energy Cluster once carried solar, wind
    and smart grids, the topics of its Mexican cooperations, which this catches."""
    data = load_dataset()
    orgs = data.by_id()
    taxonomy = load_taxonomy()
    reader = sector_reader()
    partners: dict[str, set[str]] = {}
    for coop in data.cooperations:
        partners.setdefault(coop.eu, set()).add(coop.mx)
        partners.setdefault(coop.mx, set()).add(coop.eu)
    copied = []
    for org_id, their in partners.items():
        org = orgs[org_id]
        read = reader.read(" ".join([org.name, *org.aliases, org.description, *org.facts.specialities]), main_only=False)
        supported = taxonomy.expand(read) | {s for r in read for s in taxonomy.sectors
                                             if taxonomy[r].parent and taxonomy[s].parent == taxonomy[r].parent}
        partner_sectors = set().union(*(taxonomy.expand(orgs[p].sectors) for p in their))
        for sector in org.sectors:
            if sector in partner_sectors and sector not in supported and not taxonomy.descendants(sector) & supported:
                copied.append(f"{org_id}: {sector} is a partner's sector its own profile does not state")
    assert copied == []


def test_the_sector_check_catches_a_copied_sector():
    """The check above is not vacuous: a profile given its partner's sector is caught."""
    taxonomy = load_taxonomy()
    reader = sector_reader()
    text = "Non-profit cluster that helps energy companies of the Basque Country compete internationally."
    read = reader.read(text, main_only=False)
    assert "energy" in taxonomy.expand(read)
    assert "solar" not in taxonomy.expand(read) and not taxonomy.descendants("solar") & taxonomy.expand(read)
