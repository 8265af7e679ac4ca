"""The main-sector reader's prototypes: names and synonyms mixed with the sector descriptions."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.sector_reading import NAMES_WEIGHT, MainSectorReader
from matcher.taxonomy import Sector, SectorReader, Taxonomy, load_taxonomy

WORDS = ("wind", "farm", "blade", "jet", "engine", "turbine", "eólica", "motor")


class WordEncoder:
    """One dimension per word of WORDS: a text's vector counts them (a fake for exact figures)."""

    name, dim = "words", len(WORDS)

    def encode(self, texts, show_progress_bar=False):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace(",", " ").split():
                if word in WORDS:
                    out[i, WORDS.index(word)] += 1
        return out


def _unit(v):
    return v / np.linalg.norm(v)


def _mean_unit(texts):
    """The unit mean of the texts' unit vectors, as a prototype is built."""
    return _unit(np.mean([_unit(v) for v in WordEncoder().encode(texts)], axis=0))


@pytest.fixture
def taxonomy() -> Taxonomy:
    return Taxonomy({
        "wind": Sector("wind", "Wind", "Eólica", None,
                       description="wind farm and blade makers", description_es="eólica farm blade"),
        "aero-engines": Sector("aero-engines", "Engine", "Motor", None, synonyms=("turbine", "jet")),
    })


def test_a_prototype_mixes_the_names_with_the_descriptions(taxonomy):
    reader = MainSectorReader(WordEncoder(), taxonomy, SectorReader.build(taxonomy, extra={}))
    names = _mean_unit(["Wind", "Eólica"])
    descriptions = _mean_unit(["wind farm and blade makers", "eólica farm blade"])
    expected = _unit(NAMES_WEIGHT * names + (1 - NAMES_WEIGHT) * descriptions)
    wind, engines = (reader.prototypes[reader.ids.index(s)] for s in ("wind", "aero-engines"))
    np.testing.assert_allclose(wind, expected, atol=1e-6)
    # without descriptions, the names alone (as before)
    np.testing.assert_allclose(engines, _mean_unit(["Engine", "Motor", "turbine", "jet"]), atol=1e-6)


def test_a_description_decides_what_the_names_cannot(taxonomy):
    """"turbine" names aero engines only; a text about turbine blades on a farm reads wind through
    the wind description (names alone read it as aero engines), one about jet turbines still
    reads aero engines."""
    reader = MainSectorReader(WordEncoder(), taxonomy, SectorReader.build(taxonomy, extra={}))
    assert reader.read("turbine blade farm") == ["wind"]
    assert reader.read("jet turbine engine") == ["aero-engines"]
    bare = Taxonomy({sid: Sector(s.id, s.name, s.name_es, s.parent, s.synonyms, s.synonyms_es)
                     for sid, s in taxonomy.sectors.items()})
    names_only = MainSectorReader(WordEncoder(), bare, SectorReader.build(bare, extra={}))
    assert names_only.read("turbine blade farm") == ["aero-engines"]


def test_every_shipped_sector_has_a_description_in_both_languages():
    for sector in load_taxonomy().sectors.values():
        for text in (sector.description, sector.description_es):
            assert 10 <= len(text.split()) <= 45, sector.id
