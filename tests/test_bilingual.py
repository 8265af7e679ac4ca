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


def _text(version: dict) -> str:
    return f"{version['name']}. {version['description']}"


def test_the_bilingual_set_is_large_and_well_formed():
    taxonomy = load_taxonomy()
    assert len(PROFILES) >= 40
    for p in PROFILES:
        assert p["en"]["description"] and p["es"]["description"] and p["sectors"]
        assert all(s in taxonomy for s in p["sectors"]), p["id"]


def test_sectors_read_from_spanish_and_english_agree():
    taxonomy = load_taxonomy()
    agree = found = 0
    for p in PROFILES:
        en, es = infer_sectors(_text(p["en"])), infer_sectors(_text(p["es"]))
        agree += set(en) == set(es)
        expected = taxonomy.expand(p["sectors"])
        found += bool(taxonomy.expand(en) & expected) and bool(taxonomy.expand(es) & expected)
    assert found == len(PROFILES), "every profile's own sector is read in both languages"
    assert agree / len(PROFILES) >= 0.88  # 45 of 50 today; the target is 0.95


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
def test_each_spanish_profile_is_nearest_to_its_own_translation():
    encoder = encoder_for(Settings().model_path)
    en = encoder.encode([_text(p["en"]) for p in PROFILES])
    es = encoder.encode([_text(p["es"]) for p in PROFILES])
    nearest = (es @ en.T).argmax(axis=1)
    assert np.mean(nearest == np.arange(len(PROFILES))) >= 0.95  # 50 of 50 today


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    home = tmp_path_factory.mktemp("bilingual")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'c2c.db'}")
    with Registry.open(settings) as registry:  # seeds the shipped dataset
        yield Suggester(registry, settings, encoder=encoder_for(settings.model_path))


@pytest.mark.model
def test_a_profile_gets_the_same_suggestions_in_spanish_and_in_english(shipped):
    overlaps = []
    for p in PROFILES:
        lists = []
        for lang in ("en", "es"):
            version = p[lang]
            org = Organisation(id="bilingual-probe", name=version["name"], side=p["side"], country=p["country"],
                               type="cluster_organisation", sectors=infer_sectors(_text(version)),
                               description=version["description"])
            lists.append({s.id for s in shipped.suggest_for_profile(org, k=10).items})
        longest = max(len(lists[0]), len(lists[1]))
        overlaps.append(10 * len(lists[0] & lists[1]) / longest if longest else 10.0)
    assert np.mean(overlaps) >= 9.0  # 9.3 of 10 today; the target is 9.5
