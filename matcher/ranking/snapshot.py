"""The registry's organisations as a :class:`~matcher.ranking.Suggester` last read them.

A rebuild after a write needs every organisation, but only the ones written since the last
read have changed. :class:`Snapshot` keeps the organisations it read, with each one's stored
content digest and its profile text, and on the next read fetches only those whose digest
moved (and drops the deleted ones), whichever process wrote them. Unchanged organisations keep
their objects, which lets the vector index skip them too.
"""

from __future__ import annotations

from typing import Any

from matcher.profiles import Organisation
from matcher.taxonomy import Taxonomy
from matcher.text import profile_text


class Snapshot:
    """Organisations by id with their stored digests and profile texts, refreshed by :meth:`read`."""

    def __init__(self, registry: Any, taxonomy: Taxonomy):
        self.registry = registry
        self.taxonomy = taxonomy
        self._digests: dict[str, str] = {}
        self._orgs: dict[str, Organisation] = {}
        self._texts: dict[str, str] = {}

    def read(self) -> tuple[list[Organisation], list[str]]:
        """The stored organisations in id order and their profile texts, reading only what changed."""
        digests, fresh = self.registry.changed_organisations(self._digests)
        loaded = {org.id for org in fresh}
        orgs: dict[str, Organisation] = {}
        texts: dict[str, str] = {}
        kept: dict[str, str] = {}
        for org_id, digest in digests.items():
            if org_id in loaded:
                kept[org_id] = digest
            elif org_id in self._orgs:
                if self._digests.get(org_id) == digest:
                    kept[org_id] = digest
                # else: rewritten between the two queries (a server that does not read in one
                # snapshot): the previous record serves, and the next read fetches it again
                orgs[org_id], texts[org_id] = self._orgs[org_id], self._texts[org_id]
        for org in fresh:
            if org.id in digests:
                orgs[org.id], texts[org.id] = org, profile_text(org, self.taxonomy)
        self._digests, self._orgs, self._texts = kept, orgs, texts
        ids = [org_id for org_id in digests if org_id in orgs]
        return [orgs[i] for i in ids], [texts[i] for i in ids]
