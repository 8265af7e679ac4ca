"""The sector taxonomy: ids, names in English and Spanish, parents and synonyms.

The taxonomy ships as ``matcher/data/taxonomy.yaml``; see that file for how it is organised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

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
        )
        if sector.id in sectors:
            raise UnknownSector(f"duplicate sector id {sector.id!r}", "id")
        sectors[sector.id] = sector
    return Taxonomy(sectors)
