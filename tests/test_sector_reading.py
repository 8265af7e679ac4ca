"""The main-sector reader learning what the registered profiles of each sector look like
(exact, with a keyword encoder; the real encoder's figures are in test_bilingual.py)."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.embeddings import KeywordEncoder
from matcher.sector_reading import CENTROID_WEIGHT, MainSectorReader
from matcher.taxonomy import load_taxonomy

#: "rotor" and "blade" are in no sector's names or synonyms; "mining" is.
VOCABULARY = ["rotor", "blade", "mining"]


@pytest.fixture
def reader() -> MainSectorReader:
    return MainSectorReader(KeywordEncoder(VOCABULARY), load_taxonomy())


def _unit(*weights: float) -> np.ndarray:
    v = np.array([*weights, 0.0], dtype=np.float32)
    return v / np.linalg.norm(v)


def test_a_sector_learns_the_centroid_of_the_profiles_filed_under_it_and_below_it(reader):
    rotor, blade = _unit(1, 0, 0), _unit(0, 1, 0)
    assert reader.scores("rotor")["wind"] == pytest.approx(0.0)  # no name of any sector says "rotor"
    reader.learn(np.stack([rotor, rotor, blade]), [["wind"], ["wind", "unknown-sector"], ["aero-engines"]])
    scores = reader.scores("rotor")
    position = {s: i for i, s in enumerate(reader.ids)}
    wind = reader.prototypes[position["wind"]] + CENTROID_WEIGHT * rotor
    assert scores["wind"] == pytest.approx(float(wind @ rotor / np.linalg.norm(wind)), abs=1e-6)
    assert scores["renewable-energy"] > 0.3 and scores["energy"] > 0.3  # parents learn their children's profiles
    assert scores["aero-engines"] == pytest.approx(0.0, abs=1e-6)  # filed under it: "blade", not "rotor"
    assert reader.scores("blade")["aero-engines"] > 0.3
    # A sector no profile is filed under keeps the prototype of its names.
    mining = reader.scores("mining")["mining"]
    reader.learn(np.zeros((0, len(VOCABULARY) + 1), np.float32), [])
    assert reader.scores("mining")["mining"] == pytest.approx(mining)
    assert reader.scores("rotor")["wind"] == pytest.approx(0.0)  # learning again replaces what was learned


def test_learning_refuses_vectors_and_sectors_of_different_lengths(reader):
    with pytest.raises(ValueError, match="2 vectors but 1 sector lists"):
        reader.learn(np.stack([_unit(1, 0, 0), _unit(0, 1, 0)]), [["wind"]])
