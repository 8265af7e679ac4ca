"""Text helpers shared by lookup, taxonomy and encoders."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from unidecode import unidecode

if TYPE_CHECKING:
    from matcher.profiles import Organisation
    from matcher.taxonomy import Sector, Taxonomy

_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """Lowercase, accents removed, punctuation folded to single spaces."""
    return _NON_WORD.sub(" ", unidecode(text).lower()).strip()


def slugify(text: str) -> str:
    """A lowercase hyphenated slug for ids."""
    return normalise(text).replace(" ", "-")


#: How the line of a profile's sectors (in both languages) begins in :func:`profile_text`.
SECTORS_LINE = "Sectors: "


def profile_text(org: "Organisation", taxonomy: "Taxonomy") -> str:
    """The text an organisation is encoded from: names, sectors in both languages, description.

    Sectors are written with every English and Spanish name and synonym (once each, ignoring
    case and accents), so a Spanish-only description and an English-only one about the same
    sector still share vocabulary. The model reads at most 256 tokens, so the description,
    the only unbounded part, comes last.
    Deterministic: the same profile always gives the same text (and content hash).
    """
    lines = [org.name]
    other_names = [n for n in org.all_names()[1:]]
    if other_names:
        lines.append("Also known as: " + "; ".join(other_names) + ".")
    lines.append(SECTORS_LINE + "; ".join(sector_terms(taxonomy[sector_id]) for sector_id in org.sectors) + ".")
    if org.description.strip():
        lines.append(org.description.strip())
    return "\n".join(lines)


@lru_cache(maxsize=4096)
def sector_terms(sector: "Sector") -> str:
    """A sector's English and Spanish names and synonyms, each once (ignoring case and accents)."""
    seen: set[str] = set()
    return ", ".join(t for t in sector.terms() if not (normalise(t) in seen or seen.add(normalise(t))))


def split_sectors(text: str) -> tuple[str, str]:
    """(the text without its sectors line, the sectors line's terms) of a :func:`profile_text`.

    The sectors line is the first line starting with :data:`SECTORS_LINE` (the profile's name
    and other names come before it, the description after it). A text without one, or with no
    sector on it, gives ``(text, "")``.
    """
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(SECTORS_LINE):
            terms = line[len(SECTORS_LINE):].rstrip(".").strip()
            return "\n".join(lines[:i] + lines[i + 1:]), terms
    return text, ""
