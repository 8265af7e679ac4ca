"""Spanish and English alike: invented cluster profiles, each written in both languages, read
and ranked with the real encoder on the shipped data.

Sixteen sets, by how far they are from what the readers were tuned on:
- ``bilingual_profiles.yaml`` (50): its failures guided the word reader's term lists;
- ``bilingual_heldout.yaml`` (40): written apart from the word reader, then used to choose the
  main-sector reader's constants (:mod:`matcher.sector_reading`);
- ``bilingual_heldout2.yaml`` to ``bilingual_heldout15.yaml`` (40 each): written without sight of
  either reader, each measured once when it was added. Reader changes tried on sets two to
  seven afterwards gained nothing that held on the later sets, and were not kept: a repeated
  sector word counting more; "turbine" no longer naming aero engines alone; a word already
  used in a longer term counting for that term's sector; a sector named much more often than
  any other deciding; reading two sectors when the second is close; the nearest registered
  profiles voting (judged on sets six and seven); prototypes mixed with the centroid of the
  registered profiles of each sector (judged on sets eight to eleven). The sector descriptions
  in the prototypes (kept) were written without sight of any set, their weight chosen between
  two values on sets one to twelve, and judged on set thirteen, which was written for it. Set
  fourteen was measured once with the reader as it is; no change was judged on it. Set fifteen
  judged two sample self-descriptions per sector and language added to the prototypes (not
  kept: 36 against 38 of 40 agree there); its floors are those of the reader as it is.

Targets (issue: Spanish and English alike) are 95% sector agreement, 95% nearest-translation
and 9.5 of 10 shared suggestions. The floors asserted here are what the current readers and
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
from matcher.sector_reading import MainSectorReader
from matcher.taxonomy import infer_sectors, load_taxonomy
from matcher.text import profile_text

#: Each set's file in tests/data; the module documentation says how each was used.
FILES = {"development": "bilingual_profiles.yaml", "held-out": "bilingual_heldout.yaml",
         **{f"{ordinal} held-out": f"bilingual_heldout{number}.yaml" for number, ordinal in enumerate(
             ["second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh",
              "twelfth", "thirteenth", "fourteenth", "fifteenth"], start=2)}}
SETS = {name: yaml.safe_load((Path(__file__).parent / "data" / file).read_text(encoding="utf-8"))
        for name, file in FILES.items()}
PROFILES = SETS["development"]
#: Written apart from the word reader and never used to tune it.
HELDOUT = SETS["held-out"]


def _text(version: dict) -> str:
    return f"{version['name']}. {version['description']}"


def test_the_bilingual_sets_are_large_and_well_formed():
    taxonomy = load_taxonomy()
    assert all(len(profiles) >= 40 for profiles in SETS.values())
    everyone = [p for profiles in SETS.values() for p in profiles]
    ids = [p["id"] for p in everyone]
    assert len(ids) == len(set(ids))
    for p in everyone:
        assert p["en"]["description"] and p["es"]["description"] and p["sectors"]
        assert all(s in taxonomy for s in p["sectors"]), p["id"]


def _agreement(profiles: list[dict], read=infer_sectors) -> tuple[float, float]:
    """Share of profiles whose two versions read the same sectors, and share whose own sector
    is read in both versions."""
    taxonomy = load_taxonomy()
    agree = found = 0
    for p in profiles:
        en, es = read(_text(p["en"])), read(_text(p["es"]))
        agree += set(en) == set(es)
        expected = taxonomy.expand(p["sectors"])
        found += bool(taxonomy.expand(en) & expected) and bool(taxonomy.expand(es) & expected)
    return agree / len(profiles), found / len(profiles)


def test_sectors_read_from_spanish_and_english_agree():
    agree, found = _agreement(PROFILES)
    assert found == 1.0, "every profile's own sector is read in both languages"
    # 49 of 50: this set's disagreements guided the reader's fixes, so it flatters the reader.
    assert agree >= 0.96


def test_the_word_reader_alone_disagrees_on_profiles_it_was_never_tuned_on():
    agree, found = _agreement(HELDOUT)
    # 26 of 40 agree (65%) and 37 of 40 read their own sector in both languages: the reason the
    # main sector is decided with the encoder (next test). This floor catches a regression.
    assert agree >= 0.62
    assert found >= 0.9


@pytest.fixture(scope="module")
def main_reader() -> MainSectorReader:
    return MainSectorReader(encoder_for(Settings().model_path))


@pytest.mark.model
@pytest.mark.parametrize("name,floor,found_floor", [
    ("development", 0.96, 0.95), ("held-out", 0.95, 0.95), ("second held-out", 0.85, 0.975),
    ("third held-out", 0.9, 0.975), ("fourth held-out", 0.825, 0.95), ("fifth held-out", 0.875, 0.9),
    ("sixth held-out", 0.9, 0.925), ("seventh held-out", 0.925, 0.925), ("eighth held-out", 0.95, 0.95),
    ("ninth held-out", 0.8, 0.85), ("tenth held-out", 0.875, 0.925), ("eleventh held-out", 0.925, 0.9),
    ("twelfth held-out", 0.95, 0.975), ("thirteenth held-out", 0.95, 0.975), ("fourteenth held-out", 0.875, 0.95),
    ("fifteenth held-out", 0.925, 0.95)])
def test_the_main_sector_agrees_between_spanish_and_english(main_reader, name, floor, found_floor):
    agree, found = _agreement(SETS[name], main_reader.read)
    # Today 49/50, 39/40 (the set its constants were chosen on), then 35, 37, 34, 36, 37, 38, 39,
    # 33, 36, 38, 39, 39, 36 and 38 of 40 (written blind: 515 of 560, short of the 95% target; 374
    # of 440 on sets two to twelve before the sector descriptions, 402 with them); own sector read
    # in both languages 50/50, 39/40, then 40, 40, 39, 37, 38, 38, 39, 35, 38, 37, 40, 40, 39 and 39
    # of 40.
    assert agree >= floor
    assert found >= found_floor


@pytest.mark.model
def test_the_main_sector_reader_reads_nothing_from_text_without_a_sector(main_reader):
    assert main_reader.read("") == []
    assert main_reader.read("hello world") == []
    assert main_reader.read("Una asociación que ayuda a sus socios.") == []
    assert main_reader.read("Clúster minero de Zacatecas") == ["mining"]
    assert main_reader.read("Mining cluster of Zacatecas") == ["mining"]


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
@pytest.mark.parametrize("name", list(SETS))
def test_each_spanish_profile_is_nearest_to_its_own_translation(name):
    profiles = SETS[name]
    encoder = encoder_for(Settings().model_path)
    en = encoder.encode([_text(p["en"]) for p in profiles])
    es = encoder.encode([_text(p["es"]) for p in profiles])
    nearest = (es @ en.T).argmax(axis=1)
    assert np.mean(nearest == np.arange(len(profiles))) >= 0.95  # every one today


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    home = tmp_path_factory.mktemp("bilingual")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'c2c.db'}")
    with Registry.open(settings) as registry:  # seeds the shipped dataset
        yield Suggester(registry, settings, encoder=encoder_for(settings.model_path))


@pytest.mark.model
def test_the_sector_mix_brings_a_profile_and_its_translation_closer():
    """The profile vector mixed with its sectors' bilingual terms (the default encoder) puts the two
    language versions of a profile closer than the text alone does, with the sectors each
    version reads."""
    taxonomy = load_taxonomy()
    plain = encoder_for(Settings().model_path, sector_weight=0)
    mixed = encoder_for(Settings().model_path)
    assert mixed.name != plain.name
    reader = MainSectorReader(plain, taxonomy)
    texts = {"en": [], "es": []}
    for p in PROFILES:
        for lang in ("en", "es"):
            version = p[lang]
            org = Organisation(id="bilingual-probe", name=version["name"], side=p["side"], country=p["country"],
                               type="cluster_organisation", sectors=reader.read(_text(version)) or p["sectors"],
                               description=version["description"])
            texts[lang].append(profile_text(org, taxonomy))
    cosines = {}
    for name, encoder in (("plain", plain), ("mixed", mixed)):
        en, es = encoder.encode(texts["en"]), encoder.encode(texts["es"])
        cosines[name] = np.mean(np.sum(en * es, axis=1))
    # mean cosine of the two versions: 0.87 with the text alone, 0.95 mixed
    assert cosines["mixed"] > cosines["plain"] + 0.05


@pytest.mark.model
@pytest.mark.parametrize("name,floor", [("development", 9.3), ("held-out", 9.4), ("second held-out", 8.9),
                                        ("third held-out", 9.3), ("fourth held-out", 8.2), ("fifth held-out", 8.7),
                                        ("sixth held-out", 9.1), ("seventh held-out", 9.1), ("eighth held-out", 9.3),
                                        ("ninth held-out", 8.2), ("tenth held-out", 8.7), ("eleventh held-out", 9.1),
                                        ("twelfth held-out", 9.4), ("thirteenth held-out", 9.4),
                                        ("fourteenth held-out", 8.7), ("fifteenth held-out", 9.0)])
def test_a_profile_gets_the_same_suggestions_in_spanish_and_in_english(shipped, name, floor):
    """Sectors read as ``POST /match`` and ``c2c suggest --text`` read them."""
    overlaps = []
    for p in SETS[name]:
        lists = []
        for lang in ("en", "es"):
            version = p[lang]
            org = Organisation(id="bilingual-probe", name=version["name"], side=p["side"], country=p["country"],
                               type="cluster_organisation", sectors=shipped.read_sectors(_text(version)),
                               description=version["description"])
            lists.append({s.id for s in shipped.suggest_for_profile(org, k=10).items})
        longest = max(len(lists[0]), len(lists[1]))
        overlaps.append(10 * len(lists[0] & lists[1]) / longest if longest else 10.0)
    # 9.61, 9.57, 9.11, 9.57, 8.45, 8.95, 9.35, 9.21, 9.47, 8.47, 9.0, 9.16, 9.56, 9.56, 8.86 and 9.25
    # of 10 today (the target is 9.5; 9.14 on average over the fourteen sets written blind, 9.17
    # before an unknown partner similarity was filled with its mean instead of 0; then, on sets
    # two to thirteen, the profiles whose versions read the same sector shared 9.65, the others
    # 3.9; before the sector descriptions 9.68, 9.55, then 8.77 on average over sets two to
    # twelve); with the profile text alone as the vector (no sector mix) 9.27, 9.14 and 8.92 on
    # the first three sets (older reader); with the word reader 9.2, 8.0
    assert np.mean(overlaps) >= floor
