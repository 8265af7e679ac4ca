"""The vector index's own errors (the service reports them like its domain errors)."""

from __future__ import annotations

from pathlib import Path


class VectorIndexError(Exception):
    """Base class of the errors the vector index raises."""


class IndexUnavailable(VectorIndexError):
    """The saved index is missing, corrupt or inconsistent; ``reason`` says why, ``path`` where."""

    def __init__(self, message: str, reason: str = "", path: str = ""):
        self.reason = reason or message
        self.path = path
        super().__init__(message)


class DuplicateItem(VectorIndexError):
    """An item with that id is already in the index."""


class UnknownItem(VectorIndexError):
    """No item in the index has that id."""

    def __init__(self, item_id: str):
        self.item_id = item_id
        super().__init__(f"no item {item_id!r} in the vector index")


def unavailable(folder: Path | str, reason: str) -> IndexUnavailable:
    """An :class:`IndexUnavailable` naming the folder."""
    return IndexUnavailable(f"vector index at {folder} is unavailable: {reason}", reason, str(folder))
