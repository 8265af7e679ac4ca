"""Per-item metadata and search filters of the vector index."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import InitVar, dataclass, field
from enum import Enum
from typing import Any, Protocol


class SectorTree(Protocol):
    """What sector filters need of a taxonomy: names to ids, and the ids below one."""

    def resolve(self, term: str) -> str: ...

    def descendants(self, sector_id: str) -> set[str]: ...


def _text(value: Any) -> str:
    return value.value if isinstance(value, Enum) else str(value)


@dataclass(frozen=True)
class ItemMeta:
    """What filters look at for one indexed item (all optional)."""

    side: str | None = None
    country: str | None = None
    region: str | None = None
    type: str | None = None
    sectors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("side", "country", "region", "type"):
            value = getattr(self, name)
            if value is not None:
                value = _text(value)
                object.__setattr__(self, name, value.upper() if name in ("side", "country") else value)
        object.__setattr__(self, "sectors", tuple(dict.fromkeys(_text(s) for s in self.sectors)))

    def to_dict(self) -> dict[str, Any]:
        return {"side": self.side, "country": self.country, "region": self.region,
                "type": self.type, "sectors": list(self.sectors)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "ItemMeta":
        return cls(side=raw.get("side"), country=raw.get("country"), region=raw.get("region"),
                   type=raw.get("type"), sectors=tuple(raw.get("sectors") or ()))


def _value_set(value: Any, upper: bool = False) -> frozenset[str] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, (str, Enum)) else list(value)
    out = frozenset(_text(v).upper() if upper else _text(v) for v in values)
    return out


@dataclass(frozen=True)
class SearchFilters:
    """Which items a search may return; every given condition must hold.

    Each condition takes one value or several (any of them matches). ``sector`` matches an
    item having at least one of the given sector ids; pass ``taxonomy`` to let a sector also
    match every sector below it (``energy`` matches ``wind``) and to accept sector names or
    synonyms. An item without the field a condition tests never matches it.
    ``exclude_ids`` are never returned.
    """

    side: Any = None
    country: Any = None
    region: Any = None
    sector: Any = None
    type: Any = None
    exclude_ids: Iterable[str] = field(default_factory=frozenset)
    taxonomy: InitVar[SectorTree | None] = None

    def __post_init__(self, taxonomy: SectorTree | None) -> None:
        object.__setattr__(self, "side", _value_set(self.side, upper=True))
        object.__setattr__(self, "country", _value_set(self.country, upper=True))
        object.__setattr__(self, "region", _value_set(self.region))
        object.__setattr__(self, "type", _value_set(self.type))
        object.__setattr__(self, "exclude_ids", frozenset(self.exclude_ids))
        sectors = _value_set(self.sector)
        if sectors is not None and taxonomy is not None:
            expanded: set[str] = set()
            for term in sectors:
                expanded |= taxonomy.descendants(taxonomy.resolve(term))
            sectors = frozenset(expanded)
        object.__setattr__(self, "sector", sectors)

    @property
    def is_empty(self) -> bool:
        return (self.side is None and self.country is None and self.region is None
                and self.sector is None and self.type is None and not self.exclude_ids)

    def matches(self, item_id: str, meta: ItemMeta) -> bool:
        """Whether one item passes (the reference semantics the index's masks implement)."""
        if item_id in self.exclude_ids:
            return False
        for name, allowed in (("side", self.side), ("country", self.country),
                              ("region", self.region), ("type", self.type)):
            if allowed is not None and getattr(meta, name) not in allowed:
                return False
        return self.sector is None or any(s in self.sector for s in meta.sectors)
