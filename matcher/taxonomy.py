"""The sector taxonomy: ids, names in English and Spanish, parents and synonyms.

The taxonomy ships as ``matcher/data/taxonomy.yaml``; see that file for how it is organised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import snowballstemmer
import yaml

from matcher.errors import UnknownSector
from matcher.text import normalise


@dataclass(frozen=True)
class Sector:
    id: str
    name: str
    name_es: str
    parent: str | None
    synonyms: tuple[str, ...] = ()
    synonyms_es: tuple[str, ...] = ()
    #: What the sector's organisations do, in a sentence (English, Spanish); may be empty.
    description: str = ""
    description_es: str = ""

    def terms(self) -> list[str]:
        """Every way of naming the sector, English then Spanish."""
        return [self.name, *self.synonyms, self.name_es, *self.synonyms_es]


@dataclass
class Taxonomy:
    sectors: dict[str, Sector]
    _by_term: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for sector in self.sectors.values():
            if sector.parent is not None and sector.parent not in self.sectors:
                raise UnknownSector(f"parent {sector.parent!r} of {sector.id!r} is not a sector", "parent")
            self._by_term[normalise(sector.id)] = sector.id
        # Ids win over names, names over synonyms: "agriculture" is a sector of its own even
        # though it is also a synonym of "agrifood".
        for sector in self.sectors.values():
            self._by_term.setdefault(normalise(sector.name), sector.id)
        for sector in self.sectors.values():
            for term in sector.terms():
                self._by_term.setdefault(normalise(term), sector.id)

    def __contains__(self, sector_id: object) -> bool:
        return sector_id in self.sectors

    def __getitem__(self, sector_id: str) -> Sector:
        try:
            return self.sectors[sector_id]
        except KeyError:
            raise UnknownSector(f"unknown sector {sector_id!r}", "sectors") from None

    def resolve(self, term: str) -> str:
        """Sector id for an id, a name or a synonym in either language."""
        try:
            return self._by_term[normalise(term)]
        except KeyError:
            raise UnknownSector(f"unknown sector {term!r}", "sectors") from None

    def ancestors(self, sector_id: str) -> list[str]:
        """Parent, grandparent, ... of a sector (nearest first)."""
        chain: list[str] = []
        parent = self[sector_id].parent
        while parent is not None:
            chain.append(parent)
            parent = self.sectors[parent].parent
        return chain

    def root(self, sector_id: str) -> str:
        chain = self.ancestors(sector_id)
        return chain[-1] if chain else sector_id

    def expand(self, sector_ids: list[str]) -> set[str]:
        """The sectors and all their ancestors."""
        out: set[str] = set()
        for sid in sector_ids:
            out.add(sid)
            out.update(self.ancestors(sid))
        return out

    def descendants(self, sector_id: str) -> set[str]:
        """A sector and every sector below it (for filters: ``energy`` matches ``wind``)."""
        out = {sector_id}
        changed = True
        while changed:
            changed = False
            for s in self.sectors.values():
                if s.parent in out and s.id not in out:
                    out.add(s.id)
                    changed = True
        return out


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """The shipped taxonomy."""
    text = resources.files("matcher.data").joinpath("taxonomy.yaml").read_text(encoding="utf-8")
    sectors = {}
    for raw in yaml.safe_load(text):
        sector = Sector(
            id=raw["id"],
            name=raw["name"],
            name_es=raw["name_es"],
            parent=raw.get("parent"),
            synonyms=tuple(raw.get("synonyms") or ()),
            synonyms_es=tuple(raw.get("synonyms_es") or ()),
            description=raw.get("description") or "",
            description_es=raw.get("description_es") or "",
        )
        if sector.id in sectors:
            raise UnknownSector(f"duplicate sector id {sector.id!r}", "id")
        sectors[sector.id] = sector
    return Taxonomy(sectors)


# ---------------------------------------------------------------------- reading sectors from text
_STEMMERS: dict[str, object] = {}


def _stem(word: str, language: str) -> str:
    if language not in _STEMMERS:
        _STEMMERS[language] = snowballstemmer.stemmer("spanish" if language == "es" else "english")
    return _STEMMERS[language].stemWord(word)


@dataclass(frozen=True)
class SectorReader:
    """Reads taxonomy sectors from free text in Spanish or English.

    Every word is stemmed in both languages (Snowball), and each sector term, the taxonomy's
    names and synonyms plus the everyday forms of ``sector_terms.yaml``, is matched as a run of
    stems in its own language: "empresas mineras" reads ``mining`` through "minero",
    "fabricantes aeroespaciales" reads ``aerospace``. Longer terms win and use up their words,
    so "seguridad minera" is not read as defence. A generic word ("seguridad", "espacio",
    "design") reads nothing on its own. A sector is dropped when a more specific one below it
    was read too.
    """

    taxonomy: Taxonomy
    terms: tuple[tuple[tuple[str, ...], str, str], ...]  # (word keys, language, sector id), longest first
    exact: frozenset[tuple[str, str]] = frozenset()  # (language, word) compared whole, not by stem

    @classmethod
    def build(cls, taxonomy: Taxonomy, extra: dict | None = None) -> "SectorReader":
        extra = extra if extra is not None else _sector_terms()
        exact = frozenset((lang, normalise(w)) for lang in ("en", "es") for w in extra.get("exact", {}).get(lang, []))
        generic = {(lang, _keys(w, lang, exact)) for lang in ("en", "es") for w in extra.get("generic", {}).get(lang, [])}
        found: dict[tuple[tuple[str, ...], str], str] = {}
        for sector in taxonomy.sectors.values():
            more = extra.get("sectors", {}).get(sector.id, {})
            forms = {"en": [sector.name, *sector.synonyms, *more.get("en", [])],
                     "es": [sector.name_es, *sector.synonyms_es, *more.get("es", [])]}
            for lang, words in forms.items():
                for word in words:
                    keys = _keys(word, lang, exact)
                    if not keys or (lang, keys) in generic or len("".join(keys)) < 2:
                        continue
                    # The first sector to claim a term keeps it, unless a sector below it claims
                    # it too: "agriculture" names the agriculture sector, not all of agri-food.
                    owner = found.get((keys, lang))
                    if owner is None or owner in taxonomy.ancestors(sector.id):
                        found[keys, lang] = sector.id
        ordered = sorted(((keys, lang, sid) for (keys, lang), sid in found.items()),
                         key=lambda t: (-len(t[0]), -len("".join(t[0])), t[1], t[2]))
        return cls(taxonomy, tuple(ordered), exact)

    def read(self, text: str, main_only: bool = True) -> list[str]:
        """Sector ids read from ``text``, most specific only, sorted.

        With ``main_only`` (the default) a profile's passing mentions are left out: a sector is
        kept when its family (the sector with those above and below it) is mentioned at least
        half as often as the most mentioned family. "A software cluster (...) whose clients
        include the energy sector" reads software, not energy.
        """
        counts = self.mentions(text)
        if main_only and counts:
            family = {s: sum(c for o, c in counts.items() if o == s or s in self.taxonomy.ancestors(o)
                             or o in self.taxonomy.ancestors(s)) for s in counts}
            top = max(family.values())
            counts = {s: c for s, c in counts.items() if 2 * family[s] >= top}
        found = list(counts)
        kept = [s for s in found if not any(o != s and s in self.taxonomy.ancestors(o) for o in found)]
        return sorted(kept)

    def mentions(self, text: str) -> dict[str, int]:
        """How many times each sector is named in ``text`` (longest terms first, no word twice)."""
        words = normalise(text).split()
        keys = {lang: [_key(w, lang, self.exact) for w in words] for lang in ("en", "es")}
        used = [False] * len(words)
        counts: dict[str, int] = {}
        for term, lang, sector_id in self.terms:
            n = len(term)
            line = keys[lang]
            for i in range(len(words) - n + 1):
                if any(used[i:i + n]) or tuple(line[i:i + n]) != term:
                    continue
                used[i:i + n] = [True] * n
                counts[sector_id] = counts.get(sector_id, 0) + 1
        return counts


#: A stem shorter than this stands for too many words ("sol" for "solar" and "soles", "well" for
#: "wellness"): such words are compared whole, less a plural ending, instead.
MIN_STEM = 5


def _key(word: str, language: str, exact: frozenset[tuple[str, str]] = frozenset()) -> str:
    """What a word is compared by: its stem, or for short stems and words listed as ``exact``
    ("hospitality", whose stem is that of "hospital") the word without a plural ending."""
    stem = "" if (language, word) in exact else _stem(word, language)
    if len(stem) >= MIN_STEM:
        return stem
    for ending in ("es", "s") if language == "es" else ("s",):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return "=" + word[: -len(ending)]
    return "=" + word


def _keys(phrase: str, language: str, exact: frozenset[tuple[str, str]] = frozenset()) -> tuple[str, ...]:
    return tuple(_key(w, language, exact) for w in normalise(phrase).split())


@lru_cache(maxsize=1)
def _sector_terms() -> dict:
    text = resources.files("matcher.data").joinpath("sector_terms.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


@lru_cache(maxsize=1)
def sector_reader() -> SectorReader:
    """The reader over the shipped taxonomy and its everyday sector words."""
    return SectorReader.build(load_taxonomy())


def infer_sectors(text: str, taxonomy: Taxonomy | None = None) -> list[str]:
    """Sector ids read from free text in Spanish or English (:class:`SectorReader`)."""
    if taxonomy is None or taxonomy is load_taxonomy():
        return sector_reader().read(text)
    return SectorReader.build(taxonomy).read(text)
