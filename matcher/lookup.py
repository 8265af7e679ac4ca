"""Find an organisation by id, name, acronym or alias, forgiving case, accents and typos.

Resolution goes in tiers and stops at the first tier that matches:

1. the id itself (case aside);
2. a name, after :func:`matcher.text.normalise` (case, accents and punctuation folded);
3. an acronym or an alias, normalised the same way;
4. the id the reference would get as a slug (``"Cluster Foo"`` finds ``cluster-foo``);
5. a close spelling (rapidfuzz ``ratio`` >= :data:`ACCEPT_SCORE` on the normalised names)
   that points to a single organisation and is a plain typo of it (:func:`is_typo`): the same
   words, each misspelt by a letter or two. Names in this field are formulaic ("Asociación
   Mexicana de Energía …"), so a name that differs by a whole word ("Solar" for "Eólica") is
   another organisation and is only offered as a suggestion, never resolved silently.

Two organisations in the same tier make the reference ambiguous; nothing at all raises
:class:`~matcher.errors.UnknownOrganisation` with up to five close names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from matcher.errors import AmbiguousOrganisation, UnknownOrganisation
from matcher.text import normalise, slugify

#: A close spelling is accepted only at or above this similarity (0-100), and only if unique.
ACCEPT_SCORE = 90.0
#: Names at or above this :func:`similarity` are offered as suggestions.
SUGGEST_SCORE = 65.0
MAX_SUGGESTIONS = 5
_MIN_FUZZY_LENGTH = 4


@dataclass(frozen=True)
class NameEntry:
    """One name an organisation answers to; ``kind`` is ``name``, ``acronym`` or ``alias``."""

    org_id: str
    kind: str
    name: str
    normalised: str


def id_candidates(reference: str) -> list[str]:
    """Ids a reference may stand for: itself, lowercased, and its slug (tiers 1 and 4)."""
    ref = reference.strip()
    return list(dict.fromkeys(c for c in (ref, ref.lower(), slugify(ref)) if c))


def _one(reference: str, org_ids: Iterable[str]) -> str | None:
    ids = sorted(set(org_ids))
    if len(ids) > 1:
        raise AmbiguousOrganisation(reference, ids)
    return ids[0] if ids else None


def resolve(
    reference: str,
    existing_ids: Iterable[str],
    exact: list[NameEntry],
    everything: Callable[[], list[NameEntry]],
) -> str:
    """The id ``reference`` stands for.

    ``existing_ids`` are the ids among :func:`id_candidates` that exist, ``exact`` the entries
    whose normalised form equals ``normalise(reference)``, and ``everything`` returns all
    entries (called only when the exact tiers find nothing).
    """
    existing = set(existing_ids)
    ref = reference.strip()
    literal = [i for i in (ref, ref.lower()) if i in existing]
    if literal:
        return literal[0]
    for kinds in (("name",), ("acronym", "alias")):
        found = _one(reference, (e.org_id for e in exact if e.kind in kinds))
        if found:
            return found
    if slugify(reference) in existing:
        return slugify(reference)
    entries = everything()
    key = normalise(reference)
    if len(key) >= _MIN_FUZZY_LENGTH:
        close = {e.org_id for e in entries if fuzz.ratio(key, e.normalised) >= ACCEPT_SCORE and is_typo(key, e.normalised)}
        if len(close) == 1:
            return close.pop()
    raise UnknownOrganisation(reference, suggestions(reference, entries))


def is_typo(reference: str, name: str) -> bool:
    """Whether two normalised names differ only by misspellings: the same number of words, and
    each pair of words equal or, for words of five letters or more, at most one edit apart per
    five letters. A different word is never a typo, and a short word ("aero", "agro") must match."""
    ref_words, name_words = reference.split(), name.split()
    if len(ref_words) != len(name_words):
        return False
    for a, b in zip(ref_words, name_words):
        if a == b:
            continue
        if min(len(a), len(b)) < 5 or Levenshtein.distance(a, b) > min(len(a), len(b)) // 5:
            return False
    return True


def similarity(a: str, b: str) -> float:
    """How alike two normalised names are (0-100): word overlap and spelling, averaged.

    Word overlap (``token_set_ratio``) keeps the shared word "cluster" from making every name
    look alike; the weighted ratio still rewards close spellings of short names.
    """
    return (fuzz.token_set_ratio(a, b) + fuzz.WRatio(a, b)) / 2


def suggestions(reference: str, entries: list[NameEntry], limit: int = MAX_SUGGESTIONS) -> list[str]:
    """Up to ``limit`` organisation names closest to ``reference``, best first, one per organisation."""
    key = normalise(reference)
    if not key or not entries:
        return []
    best: dict[str, float] = {}
    for entry in entries:
        score = similarity(key, entry.normalised)
        if score >= SUGGEST_SCORE and score > best.get(entry.org_id, -1.0):
            best[entry.org_id] = score
    display = {e.org_id: e.name for e in entries if e.kind == "name"}
    ranked = sorted(best, key=lambda org_id: (-best[org_id], display.get(org_id, org_id)))
    return [display.get(org_id, org_id) for org_id in ranked[:limit]]
