"""The index's rows: which item each row holds, its content hash and filter metadata.

Row numbers are FAISS labels. A removed item leaves a dead row (an HNSW graph cannot delete);
:meth:`Items.select` keeps the live rows only, when the index compacts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.columns import Columns
from index.errors import UnknownItem
from index.filters import ItemMeta, SearchFilters


class Items:
    """Row -> (id, content hash, metadata) and id -> row, with the count of dead rows."""

    def __init__(self) -> None:
        self.row_ids: list[str | None] = []
        self._pos: dict[str, int] = {}
        self._hashes: list[str | None] = []
        self._cols = Columns()
        self.dead = 0

    @classmethod
    def of_rows(cls, row_ids: list[str | None], metas: list[ItemMeta | None],
                hashes: list[str | None]) -> "Items":
        """Rows as saved: ``None`` ids are dead rows."""
        items = cls()
        items.append(row_ids, metas, hashes)
        for row, item_id in enumerate(row_ids):
            if item_id is None:
                items._retire(row)
        return items

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._pos

    @property
    def rows(self) -> int:
        """Rows held, dead ones included."""
        return len(self.row_ids)

    def row(self, item_id: str) -> int:
        try:
            return self._pos[item_id]
        except KeyError:
            raise UnknownItem(item_id) from None

    def live_ids(self) -> list[str]:
        return [i for i in self.row_ids if i is not None]

    def live_rows(self) -> np.ndarray:
        return np.flatnonzero(self._cols.alive[: self._cols.rows])

    def meta(self, row: int) -> ItemMeta:
        return self._cols.get(row)

    def content_hash(self, row: int) -> str | None:
        return self._hashes[row]

    def content_hashes(self) -> dict[str, str | None]:
        return {i: h for i, h in zip(self.row_ids, self._hashes) if i is not None}

    def reserve(self, rows: int) -> None:
        self._cols.reserve(rows)

    def append(self, ids: Sequence[str | None], metas: list[ItemMeta | None], hashes: list[str | None]) -> None:
        first = len(self.row_ids)
        self.row_ids.extend(ids)
        self._hashes.extend(hashes)
        self._pos.update((item_id, first + i) for i, item_id in enumerate(ids) if item_id is not None)
        self._cols.append(metas)

    def set(self, row: int, meta: ItemMeta | None = None, content_hash: str | None = None) -> None:
        """Change a row's metadata and/or content hash (``None`` keeps it)."""
        if meta is not None:
            self._cols.set(row, meta)
        if content_hash is not None:
            self._hashes[row] = content_hash

    def kill(self, row: int) -> None:
        """Mark a row dead: its item is gone."""
        item_id = self.row_ids[row]
        if item_id is not None:
            del self._pos[item_id]
        self._retire(row)

    def _retire(self, row: int) -> None:
        self.row_ids[row] = None
        self._hashes[row] = None
        self._cols.alive[row] = False
        self.dead += 1

    def select(self, rows: np.ndarray) -> "Items":
        """The given (live) rows only, renumbered from 0."""
        items = Items()
        items.row_ids = [self.row_ids[r] for r in rows]
        items._hashes = [self._hashes[r] for r in rows]
        items._pos = {item_id: row for row, item_id in enumerate(items.row_ids) if item_id is not None}
        items._cols = self._cols.select(rows)
        return items

    def mask(self, filters: SearchFilters | None) -> np.ndarray:
        """Rows an item passing ``filters`` may be found in (live rows, excluded ids removed)."""
        mask = self._cols.mask(filters)
        if filters is not None:
            for item_id in filters.exclude_ids:
                if item_id in self._pos:
                    mask[self._pos[item_id]] = False
        return mask
