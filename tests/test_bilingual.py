"""Spanish and English alike: 50 invented cluster profiles, each written in both languages
(tests/data/bilingual_profiles.yaml), read and ranked with the real encoder on the shipped data.

Targets (issue: Spanish and English alike) are 95% sector agreement, 95% nearest-translation
and 9.5 of 10 shared suggestions. The floors asserted here are what the current reader and
encoder reach, so that a change that makes Spanish worse fails; README states the figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from matcher.embeddings import encoder_for
from matcher.profiles import Organisation
from matcher.store.registry import Registry
from matcher.settings import Settings
from matcher.ranking import Suggester
from matcher.taxonomy import infer_sectors, load_taxonomy

PROFILES = yaml.safe_load((Path(__file__).parent / "data" / "bilingual_profiles.yaml").read_text(encoding="utf-8"))
#: Written apart from the sector reader and never used to tune it: the honest figure.
HELDOUT = yaml.safe_load((Path(__file__).parent / "data" / "bilingual_heldout.yaml").read_text(encoding="utf-8"))


def _text(version: dict) -> str:
    return f"{version['name']}. {version['description']}"


def test_the_bilingual_sets_are_large_and_well_formed():
    taxonomy = load_taxonomy()
    assert len(PROFILES) >= 40 and len(HELDOUT) >= 40
    assert not {p["id"] for p in PROFILES} & {p["id"] for p in HELDOUT}
    for p in PROFILES + HELDOUT:
        assert p["en"]["description"] and p["es"]["description"] and p["sectors"]
        assert all(s in taxonomy for s in p["sectors"]), p["id"]


def _agreement(profiles: list[dict]) -> tuple[float, float]:
    """Share of profiles whose two versions read the same sectors, and share whose own sector
    is read in both versions."""
    taxonomy = load_taxonomy()
    agree = found = 0
    for p in profiles:
        en, es = infer_sectors(_text(p["en"])), infer_sectors(_text(p["es"]))
        agree += set(en) == set(es)
        expected = taxonomy.expand(p["sectors"])
        found += bool(taxonomy.expand(en) & expected) and bool(taxonomy.expand(es) & expected)
    return agree / len(profiles), found / len(profiles)


def test_sectors_read_from_spanish_and_english_agree():
    agree, found = _agreement(PROFILES)
    assert found == 1.0, "every profile's own sector is read in both languages"
    # 49 of 50: this set's disagreements guided the reader's fixes, so it flatters the reader.
    assert agree >= 0.96


def test_sectors_agree_on_profiles_the_reader_was_never_tuned_on():
    agree, found = _agreement(HELDOUT)
    # 26 of 40 agree (65%) and 37 of 40 read their own sector in both languages: far from the
    # 95% target. These floors catch a change that makes it worse; README states the figures.
    assert agree >= 0.62
    assert found >= 0.9


@pytest.mark.parametrize("phrase,sector,not_sector", [
    ("Empresas mineras y de seguridad minera en Zacatecas", "mining", "defence-security"),
    ("Fabricantes aeroespaciales de Querétaro", "aerospace", None),
    ("Empresas turísticas de la Riviera Maya", "tourism", None),
    ("Seguridad alimentaria e inocuidad para productores agrícolas", "agriculture", "defence-security"),
    ("Industria de defensa y seguridad nacional", "defence-security", None),
])
def test_spanish_inflections_and_generic_words(phrase, sector, not_sector):
    taxonomy = load_taxonomy()
    read = infer_sectors(phrase)
    assert sector in taxonomy.expand(read)
    if not_sector:
        assert not_sector not in taxonomy.expand(read)


@pytest.mark.model
@pytest.mark.parametrize("name", ["development", "held-out"])
def test_each_spanish_profile_is_nearest_to_its_own_translation(name):
    profiles = PROFILES if name == "development" else HELDOUT
    encoder = encoder_for(Settings().model_path)
    en = encoder.encode([_text(p["en"]) for p in profiles])
    es = encoder.encode([_text(p["es"]) for p in profiles])
    nearest = (es @ en.T).argmax(axis=1)
    assert np.mean(nearest == np.arange(len(profiles))) >= 0.95  # 50 of 50 and 40 of 40 today


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    home = tmp_path_factory.mktemp("bilingual")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'c2c.db'}")
    with Registry.open(settings) as registry:  # seeds the shipped dataset
        yield Suggester(registry, settings, encoder=encoder_for(settings.model_path))


@pytest.mark.model
@pytest.mark.parametrize("name,floor", [("development", 9.0), ("held-out", 7.5)])
def test_a_profile_gets_the_same_suggestions_in_spanish_and_in_english(shipped, name, floor):
    overlaps = []
    for p in PROFILES if name == "development" else HELDOUT:
        lists = []
        for lang in ("en", "es"):
            version = p[lang]
            org = Organisation(id="bilingual-probe", name=version["name"], side=p["side"], country=p["country"],
                               type="cluster_organisation", sectors=infer_sectors(_text(version)),
                               description=version["description"])
            lists.append({s.id for s in shipped.suggest_for_profile(org, k=10).items})
        longest = max(len(lists[0]), len(lists[1]))
        overlaps.append(10 * len(lists[0] & lists[1]) / longest if longest else 10.0)
    # 9.2 of 10 (development) and 8.0 (held-out) today; the target is 9.5
    assert np.mean(overlaps) >= floor
