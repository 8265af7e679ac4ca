"""Text helpers shared by lookup, taxonomy and encoders."""

from __future__ import annotations

import re

from unidecode import unidecode

_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """Lowercase, accents removed, punctuation folded to single spaces."""
    return _NON_WORD.sub(" ", unidecode(text).lower()).strip()


def slugify(text: str) -> str:
    """A lowercase hyphenated slug for ids."""
    return normalise(text).replace(" ", "-")
