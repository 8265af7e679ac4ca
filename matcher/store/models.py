"""Fitted models kept in the store, so that every server of one database serves the same one.

A model is a JSON document under a name (``ranker``) with a version that grows on every save.
Servers compare the version they loaded with the stored one, a single-row read, and reload
when another server has retrained.
"""

from __future__ import annotations

from sqlalchemy import select

from matcher.store.engine import Store
from matcher.store.tables import ModelRow, utcnow


class ModelStore:
    """Named JSON models in a store's ``models`` table."""

    def __init__(self, store: Store):
        self.store = store

    def load(self, name: str) -> tuple[str, int] | None:
        """The stored document of ``name`` and its version, or None when none was saved."""
        with self.store.read() as s:
            row = s.get(ModelRow, name)
            return None if row is None else (row.payload, int(row.version))

    def version(self, name: str) -> int | None:
        """The stored version of ``name`` (None when none was saved): a cheap check for changes."""
        return self.store.versions(name)[1]

    def save(self, name: str, payload: str) -> int:
        """Store ``payload`` as the new document of ``name``; returns its version."""
        with self.store.write() as s:
            row = s.scalars(select(ModelRow).where(ModelRow.name == name).with_for_update()).first()
            if row is None:
                row = ModelRow(name=name, payload=payload, version=1, updated_at=utcnow())
                s.add(row)
            else:
                row.payload, row.version, row.updated_at = payload, row.version + 1, utcnow()
            s.flush()
            return int(row.version)
