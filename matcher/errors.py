"""Domain exceptions.

The core raises these; the edges translate them (the CLI into a one-line message and exit
code 1, the API into 404/409/422 responses). Nothing in the core uses ``assert`` for
validation.
"""

from __future__ import annotations

from dataclasses import dataclass

from index.errors import VectorIndexError


class C2CError(Exception):
    """Base class of every error the service reports to a user."""


#: What the edges report to a user (one line in the CLI, a 4xx or 503 in the API): the domain's
#: errors and the vector index's own (:mod:`index.errors`).
USER_ERRORS: tuple[type[Exception], ...] = (C2CError, VectorIndexError)


class UnknownOrganisation(C2CError):
    """No organisation matches an id, name, alias or acronym."""

    def __init__(self, reference: str, suggestions: list[str] | None = None):
        self.reference = reference
        self.suggestions = list(suggestions or [])
        message = f"no organisation matches {reference!r}"
        if self.suggestions:
            message += "; did you mean: " + ", ".join(self.suggestions)
        super().__init__(message)


class AmbiguousOrganisation(C2CError):
    """A reference matches several organisations equally well."""

    def __init__(self, reference: str, candidates: list[str]):
        self.reference = reference
        self.candidates = candidates
        super().__init__(f"{reference!r} matches several organisations: " + ", ".join(candidates))


class InvalidProfile(C2CError):
    """A profile or cooperation breaks the schema; ``field`` names the offending field."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)


class DuplicateOrganisation(C2CError):
    """An organisation with that id already exists."""


class UnknownSector(InvalidProfile):
    """A sector is not in the taxonomy."""


@dataclass(frozen=True)
class RowError:
    """One bad row of an import: where it is and what is wrong with it."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field!r}: {self.reason}"


class ImportRejected(C2CError):
    """An import file was rejected as a whole; ``errors`` lists every bad row."""

    def __init__(self, source: str, errors: list[RowError]):
        self.source = source
        self.errors = errors
        head = f"{source}: import rejected, {len(errors)} bad row(s), nothing was written"
        super().__init__(head + "".join(f"\n  {e}" for e in errors))


class ModelNotFound(C2CError):
    """The sentence-transformers model folder is missing or unreadable."""


class NotTrained(C2CError):
    """A ranker is needed but none has been fitted yet."""


class EventError(C2CError):
    """An event or its participants break a rule of the event model."""


@dataclass(frozen=True)
class LocatedRowError(RowError):
    """A :class:`RowError` that says how its file counts rows: ``line`` (CSV), ``row`` (XLSX) or
    ``item`` (JSON array index), and in which section (sheet or JSON key) when there are several."""

    where: str = "line"
    section: str | None = None

    def __str__(self) -> str:
        if self.line <= 0 and self.where != "item":
            return f"{self.field}: {self.reason}"
        place = f"{self.where} {self.line}" + (f" of {self.section}" if self.section else "")
        return f"{place}, field {self.field!r}: {self.reason}"


class DuplicateCooperation(C2CError):
    """A cooperation with that id already exists."""


class UnknownCooperation(C2CError):
    """No cooperation has that id."""


class UnknownApiKey(C2CError):
    """No API key has that id."""


class StoreUnavailable(C2CError):
    """The database cannot be opened, reached or migrated."""


class UnknownEvent(C2CError):
    """No stored event has that id; ``field`` names the offending field."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


class DuplicateEvent(C2CError):
    """An event with that id already exists."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


class UnreadableEvent(C2CError):
    """A stored event file no longer matches the event model (a fault of the server, not the caller)."""
