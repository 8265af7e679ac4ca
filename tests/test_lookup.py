"""Lookups never pick another organisation: a close spelling resolves only when it is a plain
typo; a name that differs by a whole word is offered as a suggestion, never resolved silently."""

from __future__ import annotations

import pytest

from matcher.dataset import load_dataset
from matcher.errors import UnknownOrganisation
from matcher.lookup import NameEntry, is_typo, resolve
from matcher.text import normalise


def _entries(organisations) -> list[NameEntry]:
    entries = []
    for org in organisations:
        kinds = [("name", org.name)] + ([("acronym", org.acronym)] if org.acronym else []) + [("alias", a) for a in org.aliases]
        entries += [NameEntry(org.id, kind, text, normalise(text)) for kind, text in kinds]
    return entries


@pytest.mark.parametrize("reference,name,expected", [
    ("asociacion mexicana de energia solar", "asociacion mexicana de energia eolica", False),  # another word
    ("windclustr nord", "windcluster nord", True),  # one letter missing
    ("cluster automotriz de nuevo leon", "cluster automotriz de nuevo leon", True),
    ("cluster energia", "cluster de energia coahuila", False),  # words missing
    ("aero cluster", "agro cluster", False),  # a short word changed is another word
])
def test_is_typo(reference, name, expected):
    assert is_typo(reference, name) is expected


def test_the_solar_association_is_never_answered_with_the_wind_association():
    wind = NameEntry("amdee", "name", "Asociación Mexicana de Energía Eólica", normalise("Asociación Mexicana de Energía Eólica"))
    with pytest.raises(UnknownOrganisation) as err:
        resolve("Asociación Mexicana de Energía Solar", [], [], lambda: [wind])
    assert "Asociación Mexicana de Energía Eólica" in err.value.suggestions


def test_no_registered_name_resolves_silently_to_another_organisation():
    """Property over every pair of registered names: take any name of any organisation as an
    unregistered reference (its own names removed); it may resolve only to an organisation one
    of whose names it is a plain typo of, and otherwise must be refused with suggestions."""
    organisations = load_dataset().organisations
    entries = _entries(organisations)
    wrong = []
    for org in organisations:
        others = [e for e in entries if e.org_id != org.id]
        for name in {e.name for e in entries if e.org_id == org.id}:
            key = normalise(name)
            try:
                found = resolve(name, [], [e for e in others if e.normalised == key], lambda: others)
            except UnknownOrganisation:
                continue
            except Exception:  # an ambiguous exact name is an answer too, not a silent pick
                continue
            names = [e.normalised for e in others if e.org_id == found]
            if key not in names and not any(is_typo(key, n) for n in names):
                wrong.append(f"{name!r} ({org.id}) resolved to {found}")
    assert wrong == []
