"""A profile's main sector read from its text, the same in Spanish and in English.

The word reader (:class:`matcher.taxonomy.SectorReader`) finds every sector a text names, but
its findings follow the words: the English version of a profile may say "suppliers of brake
systems for the assembly plants" where the Spanish one says "proveedores automotrices", and the
two read different sectors. :class:`MainSectorReader` decides with the encoder instead, which
places a text and its translation close together (the default encoder is multilingual):

1. Every sector gets a prototype: the mean of the encoded names and synonyms of the sector in
   both languages, mixed half and half with the mean of its encoded descriptions (a sentence on
   what its organisations do, in English and in Spanish, from the taxonomy). Names alone are
   short and sometimes ambiguous ("turbines" is a synonym of aero engines); the descriptions
   place each prototype where profiles written about the sector are.
2. A text's score for a sector is the cosine of its vector with the prototype, plus a small
   bonus when the word reader finds the sector in the text (half of it when it finds a sector
   above or below it), so that a named sector wins a near tie.
3. The best-scoring sector is the main one; if a sector below it scores nearly as well on the
   prototype alone, the more specific one is taken ("aerostructures" rather than "aerospace").
4. A text in which the word reader finds no sector and whose best cosine is low reads nothing.

Only one sector is read: the one the text is mainly about. Profiles with several main sectors
should list them (``sectors`` in the API, ``--sector`` on the command line).
Measured on the bilingual test sets (README: "Spanish and English alike").
"""

from __future__ import annotations

import threading

import numpy as np

from matcher.embeddings import CachedEncoder, Encoder, normalise_rows
from matcher.taxonomy import SectorReader, Taxonomy, load_taxonomy, sector_reader

#: Added to a sector's cosine when the word reader finds the sector itself in the text.
WORD_BONUS = 0.05
#: Share of :data:`WORD_BONUS` for a sector whose parent or child is found in the text.
FAMILY_SHARE = 0.5
#: A sector below the best one is taken instead when its cosine is at most this much lower.
CHILD_MARGIN = 0.1
#: Without any sector word in the text, the best cosine needed to read a sector at all.
MIN_COSINE = 0.5
#: Weight of the names in a prototype; the descriptions have the rest (names only for a sector
#: without descriptions).
NAMES_WEIGHT = 0.5


class MainSectorReader:
    """Reads the main sector of a text with ``encoder`` (see the module documentation)."""

    def __init__(self, encoder: Encoder, taxonomy: Taxonomy | None = None, words: SectorReader | None = None):
        self.encoder = encoder
        self.taxonomy = taxonomy or load_taxonomy()
        self.words = words or (sector_reader() if taxonomy is None or taxonomy is load_taxonomy()
                               else SectorReader.build(self.taxonomy))
        self.ids = sorted(self.taxonomy.sectors)
        self._prototypes: np.ndarray | None = None
        self._lock = threading.Lock()
        ancestors = {s: set(self.taxonomy.ancestors(s)) for s in self.ids}
        self._family = {s: {o for o in self.ids if o != s and (s in ancestors[o] or o in ancestors[s])}
                        for s in self.ids}
        self._children = {s: [o for o in self.ids if s in ancestors[o]] for s in self.ids}

    def _encode(self, texts: list[str]) -> np.ndarray:
        if isinstance(self.encoder, CachedEncoder):  # nothing read here belongs in the disk cache
            vectors = self.encoder.encode(texts, persist=False)
        else:
            vectors = self.encoder.encode(texts)
        return normalise_rows(vectors)

    @property
    def prototypes(self) -> np.ndarray:
        """(sectors, dim) unit vectors, one per sector in :attr:`ids` order (encoded once)."""
        with self._lock:
            if self._prototypes is None:
                sectors = [self.taxonomy[sector_id] for sector_id in self.ids]
                groups = ([[s.name, s.name_es, *s.synonyms, *s.synonyms_es] for s in sectors]
                          + [[d for d in (s.description, s.description_es) if d] for s in sectors])
                means = _group_means(self._encode, groups)  # one batch
                names, descriptions = means[:len(sectors)], means[len(sectors):]
                # A sector without descriptions has a zero mean there: its prototype is its names'.
                self._prototypes = normalise_rows(NAMES_WEIGHT * names + (1 - NAMES_WEIGHT) * descriptions)
            return self._prototypes

    def _judge(self, text: str) -> tuple[dict[str, float], dict[str, float], bool]:
        """(cosine, cosine plus word bonus, whether any sector word was found) for each sector."""
        cosine = dict(zip(self.ids, (self.prototypes @ self._encode([text])[0]).tolist()))
        named = self.words.mentions(text)
        scores = {}
        for sector_id, value in cosine.items():
            if sector_id in named:
                value += WORD_BONUS
            elif named.keys() & self._family[sector_id]:
                value += WORD_BONUS * FAMILY_SHARE
            scores[sector_id] = value
        return cosine, scores, bool(named)

    def scores(self, text: str) -> dict[str, float]:
        """Each sector's cosine with the text, plus the word bonus."""
        return self._judge(text)[1]

    def read(self, text: str) -> list[str]:
        """The main sector of ``text`` as a one-element list, or ``[]`` when none is clear."""
        if not text.strip():
            return []
        cosine, scores, named = self._judge(text)
        best = max(self.ids, key=lambda s: (scores[s], s))
        if not named and scores[best] < MIN_COSINE:
            return []
        closer = [c for c in self._children[best] if cosine[c] >= cosine[best] - CHILD_MARGIN]
        if closer:
            best = max(closer, key=lambda s: (scores[s], s))
        return [best]


def _group_means(encode, groups: list[list[str]]) -> np.ndarray:
    """The unit mean vector of each group of texts, encoded in one batch (zeros for an empty group)."""
    vectors = encode([t for group in groups for t in group])
    ends = np.cumsum([len(group) for group in groups])
    means = np.stack([vectors[end - len(group):end].mean(axis=0) if group else np.zeros(vectors.shape[1], np.float32)
                      for group, end in zip(groups, ends)])
    return normalise_rows(means)
