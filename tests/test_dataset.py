"""The shipped dataset (matcher/data/*.yaml) against the schema and its consistency rules."""

from __future__ import annotations

from importlib import resources

import pytest

from matcher.dataset import COOPERATION_FILE, ORGANISATION_FILES, check_consistency, load_dataset, load_wider
from matcher.profiles import CooperationScope, Side, Split, Tier
from matcher.store.registry import Registry
from matcher.settings import Settings
from matcher.taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def dataset():
    load_dataset.cache_clear()
    return load_dataset()  # validates every record and runs check_consistency


def test_shipped_files_exist() -> None:
    data = resources.files("matcher.data")
    missing = [name for name in (*ORGANISATION_FILES, COOPERATION_FILE) if not data.joinpath(name).is_file()]
    assert missing == []


def test_shipped_dataset_is_consistent(dataset) -> None:
    check_consistency(dataset.organisations, dataset.cooperations, require_sources=True)
    sides = {o.side for o in dataset.organisations}
    assert sides == {Side.EU, Side.MX}, "both sides must be present"
    assert dataset.cooperations, "the dataset documents cooperations"


def test_ids_are_unique_and_every_record_has_a_source(dataset) -> None:
    ids = [o.id for o in dataset.organisations]
    assert len(ids) == len(set(ids))
    coop_ids = [c.id for c in dataset.cooperations]
    assert len(coop_ids) == len(set(coop_ids))
    assert [o.id for o in dataset.organisations if not o.sources] == []
    assert [c.id for c in dataset.cooperations if not c.sources] == []


def test_every_cooperation_joins_an_eu_and_an_mx_organisation(dataset) -> None:
    by_id = dataset.by_id()
    for coop in dataset.cooperations:
        assert coop.eu in by_id and by_id[coop.eu].side is Side.EU, coop.id
        assert coop.mx in by_id and by_id[coop.mx].side is Side.MX, coop.id


def test_every_name_and_alias_resolves_to_its_organisation(dataset, sqlite_url: str, tmp_path) -> None:
    with Registry.open(Settings(database_url=sqlite_url, home=tmp_path), init=False) as registry:
        assert registry.init(progress=False) == len(dataset.organisations)
        assert registry.count_cooperations() == len(dataset.cooperations)
        wrong = [
            (name, org.id, registry.lookup(name).id)
            for org in dataset.organisations
            for name in [org.id, *org.all_names()]
            if registry.lookup(name).id != org.id
        ]
    assert wrong == []


# --- documented cooperations: evidence, tiers and the external test split -----------------------

WEB_CUTOFF_YEAR = 2022  # pairs documented from this year on form the external test part


def test_every_cooperation_carries_its_evidence(dataset) -> None:
    """Source, type and confidence on every record; web records also a year and a publisher."""
    problems = []
    for coop in dataset.cooperations:
        if not coop.sources or coop.type is None or coop.confidence is None:
            problems.append(f"{coop.id}: source, type or confidence missing")
        if coop.tier is Tier.WEB:
            if coop.year is None:
                problems.append(f"{coop.id}: a web record needs a year")
            if not all(s.publisher for s in coop.sources if "://" in s.document):
                problems.append(f"{coop.id}: a web source needs its publisher")
        if not coop.description.strip():
            problems.append(f"{coop.id}: no description")
    assert problems == []
    assert {c.tier for c in dataset.cooperations} == {Tier.SEED, Tier.WEB}


def test_the_external_test_part_is_recorded_in_the_data_by_year(dataset) -> None:
    wrong = [c.id for c in dataset.cooperations
             if (c.split is Split.TEST) != (c.year is not None and c.year >= WEB_CUTOFF_YEAR)]
    assert wrong == []
    test = [c for c in dataset.cooperations if c.split is Split.TEST]
    assert len(test) >= 15, "the external test part needs enough pairs to say something"
    assert all(c.tier is not Tier.SEED for c in test)


def test_one_record_per_pair(dataset) -> None:
    pairs = [c.pair for c in dataset.cooperations]
    assert len(pairs) == len(set(pairs))


def test_wider_cooperations_are_kept_apart_by_scope() -> None:
    wider = load_wider()  # validates parties, sectors and sources
    assert wider.cooperations
    assert {c.scope for c in wider.cooperations} <= set(CooperationScope)
    registry = load_dataset().by_id()
    # No wider record sneaks an EU–Mexico pair past the EU–Mexico evaluation.
    assert [c.id for c in wider.cooperations if registry.get(c.partner) and registry[c.partner].side is Side.MX] == []
    assert all(p.sources and p.description for p in wider.partners)


def test_every_mexican_sector_has_european_counterparts(dataset) -> None:
    """At least 10 European organisations in every top-level sector that has Mexican ones (at
    least 5 where the sector is small in Europe too), each with its sources."""
    taxonomy = load_taxonomy()
    roots = lambda org: {taxonomy.root(s) for s in org.sectors}  # noqa: E731
    mexican = {r for o in dataset.organisations if o.side is Side.MX for r in roots(o)}
    european = {r: [o for o in dataset.organisations if o.side is Side.EU and r in roots(o)] for r in mexican}
    small_in_europe = {"finance"}
    short = {r: len(orgs) for r, orgs in european.items() if len(orgs) < (5 if r in small_in_europe else 10)}
    assert short == {}
    assert sum(o.side is Side.EU for o in dataset.organisations) >= 300
    assert all(o.sources for orgs in european.values() for o in orgs)
