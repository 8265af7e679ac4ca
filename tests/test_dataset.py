"""The shipped dataset (matcher/data/*.yaml) against the schema and its consistency rules."""

from __future__ import annotations

from importlib import resources

import pytest

from matcher.dataset import COOPERATION_FILE, ORGANISATION_FILES, check_consistency, load_dataset
from matcher.profiles import Side
from matcher.store.registry import Registry
from matcher.settings import Settings


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
