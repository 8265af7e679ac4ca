"""Columnar per-row metadata, so a filter over a million rows is a few numpy operations.

Each categorical field (side, country, region, type) is an int32 code column with its own
vocabulary (-1 means "not given"); sectors are a (rows, width) code matrix padded with -1,
widened when a row has more sectors than any before it. Rows are never moved here: a removed
row is only marked dead; the index compacts by building a new column set.
"""

from __future__ import annotations

import numpy as np

from index.filters import ItemMeta, SearchFilters

FIELDS = ("side", "country", "region", "type")


class Vocabulary:
    """Two-way map between a field's values and small integer codes."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.codes: dict[str, int] = {}

    def code(self, value: str | None) -> int:
        if value is None:
            return -1
        if value not in self.codes:
            self.codes[value] = len(self.values)
            self.values.append(value)
        return self.codes[value]

    def lookup(self, allowed: frozenset[str]) -> np.ndarray:
        """Codes of the allowed values that occur (values never seen match nothing)."""
        return np.array(sorted(self.codes[v] for v in allowed if v in self.codes), dtype=np.int32)

    def value(self, code: int) -> str | None:
        return None if code < 0 else self.values[code]


class Columns:
    """Metadata columns and the alive flag of every row, with amortised growth."""

    def __init__(self, capacity: int = 16) -> None:
        self.rows = 0
        self.vocab = {name: Vocabulary() for name in (*FIELDS, "sectors")}
        self.alive = np.zeros(capacity, dtype=bool)
        self.fields = {name: np.full(capacity, -1, dtype=np.int32) for name in FIELDS}
        self.sectors = np.full((capacity, 1), -1, dtype=np.int32)

    def _grow(self, rows: int, width: int) -> None:
        capacity = len(self.alive)
        if rows > capacity:
            new_cap = max(rows, capacity * 2)
            self.alive = np.concatenate([self.alive, np.zeros(new_cap - capacity, dtype=bool)])
            for name, col in self.fields.items():
                self.fields[name] = np.concatenate([col, np.full(new_cap - capacity, -1, np.int32)])
            pad = np.full((new_cap - capacity, self.sectors.shape[1]), -1, np.int32)
            self.sectors = np.concatenate([self.sectors, pad])
        if width > self.sectors.shape[1]:
            pad = np.full((len(self.alive), width - self.sectors.shape[1]), -1, np.int32)
            self.sectors = np.concatenate([self.sectors, pad], axis=1)

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` rows in total."""
        self._grow(rows, 1)

    def append(self, metas: list[ItemMeta | None]) -> None:
        """Add live rows at the end, one per metadata entry."""
        width = max((len(m.sectors) for m in metas if m is not None), default=1)
        self._grow(self.rows + len(metas), width)
        for offset, meta in enumerate(metas):
            self.set(self.rows + offset, meta)
            self.alive[self.rows + offset] = True
        self.rows += len(metas)

    def set(self, row: int, meta: ItemMeta | None) -> None:
        """Replace one row's metadata."""
        meta = meta or ItemMeta()
        self._grow(self.rows, len(meta.sectors))
        for name in FIELDS:
            self.fields[name][row] = self.vocab[name].code(getattr(meta, name))
        self.sectors[row] = -1
        for i, sector in enumerate(meta.sectors):
            self.sectors[row, i] = self.vocab["sectors"].code(sector)

    def get(self, row: int) -> ItemMeta:
        values = {name: self.vocab[name].value(int(self.fields[name][row])) for name in FIELDS}
        sectors = tuple(self.vocab["sectors"].values[c] for c in self.sectors[row] if c >= 0)
        return ItemMeta(sectors=sectors, **values)

    def mask(self, filters: SearchFilters | None) -> np.ndarray:
        """Bool mask over rows: alive and passing every condition of ``filters``."""
        n = self.rows
        mask = self.alive[:n].copy()
        if filters is None:
            return mask
        for name in FIELDS:
            allowed = getattr(filters, name)
            if allowed is not None:
                codes = self.vocab[name].lookup(allowed)
                column = self.fields[name][:n]
                mask &= (column == codes[0]) if len(codes) == 1 else np.isin(column, codes)
        if filters.sector is not None:
            # A lookup table over the codes (the last entry, for the -1 padding, stays False).
            wanted = np.zeros(len(self.vocab["sectors"].values) + 1, dtype=bool)
            wanted[self.vocab["sectors"].lookup(filters.sector)] = True
            hit = np.zeros(n, dtype=bool)
            for column in self.sectors[:n].T:  # column by column: a row-wise any() over a narrow matrix is slow
                hit |= wanted[column]
            mask &= hit
        return mask

    def select(self, rows: np.ndarray) -> "Columns":
        """A new column set holding only ``rows`` (in that order), all alive."""
        out = Columns(capacity=max(16, len(rows)))
        out.vocab = self.vocab
        out.alive[: len(rows)] = self.alive[rows]
        for name in FIELDS:
            out.fields[name][: len(rows)] = self.fields[name][rows]
        out.sectors = np.full((len(out.alive), self.sectors.shape[1]), -1, np.int32)
        out.sectors[: len(rows)] = self.sectors[rows]
        out.rows = len(rows)
        return out
