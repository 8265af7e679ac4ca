"""Registry and store behaviour, run on SQLite and PostgreSQL alike (see conftest.registry)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from matcher.dataset import Dataset
from matcher.errors import (
    AmbiguousOrganisation,
    DuplicateCooperation,
    DuplicateOrganisation,
    InvalidProfile,
    UnknownApiKey,
    UnknownOrganisation,
    UnknownSector,
)
from matcher.profiles import Cooperation, Organisation, Side
from matcher.profiles import Verdict
from matcher.store.feedback import FeedbackStore
from matcher.store.keys import ApiKeys
from matcher.store.registry import Registry
from matcher.store.values import merge_patch
from matcher.store.tables import ApiKeyRow, Base, CooperationRow, FeedbackRow, NameRow, OrganisationSectorRow


def _rows(registry: Registry, table: type, **where: str) -> int:
    stmt = select(func.count()).select_from(table)
    for column, value in where.items():
        stmt = stmt.where(getattr(table, column) == value)
    with registry.store.read() as s:
        return int(s.scalar(stmt))


# --- schema -----------------------------------------------------------------------------------


def test_migrated_schema_matches_the_orm_models(registry: Registry) -> None:
    with registry.store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_init_is_idempotent_and_keeps_data(registry: Registry, organisations: list[Organisation]) -> None:
    registry.create(organisations[0])
    version = registry.data_version()
    registry.init(seed=False)
    registry.init(seed=True)  # not empty: nothing is seeded
    assert [o.id for o in registry.all_organisations()] == ["hegan"]
    assert registry.data_version() == version


def test_seeding_happens_once_into_an_empty_store(
    registry: Registry, organisations: list[Organisation], cooperations: list[Cooperation], monkeypatch
) -> None:
    monkeypatch.setattr("matcher.store.setup.load_dataset", lambda: Dataset(organisations, cooperations))
    events: list[tuple[str, str]] = []
    registry.subscribe(lambda e, i: events.append((e, i)))
    assert registry.init(progress=False) == len(organisations)
    assert registry.count_organisations() == len(organisations)
    assert registry.count_cooperations() == len(cooperations)
    assert sorted(i for _, i in events) == sorted(o.id for o in organisations)
    assert registry.init(progress=False) == 0
    for org in organisations:
        registry.delete(org.id)
    assert registry.init(progress=False) == 0, "a store emptied on purpose is not seeded again"
    assert registry.count_organisations() == 0


def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url: str, tmp_path) -> None:
    from matcher.settings import Settings

    with Registry.open(Settings(database_url=sqlite_url, home=tmp_path), init=False) as reg:
        reg.init(seed=False)
        with reg.store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# --- create / read ------------------------------------------------------------------------------


def test_create_and_get_round_trip(filled: Registry, organisations: list[Organisation]) -> None:
    for org in organisations:
        assert filled.get(org.id) == org
    assert [o.id for o in filled.all_organisations()] == sorted(o.id for o in organisations)
    assert filled.exists("hegan") and not filled.exists("nobody")


def test_create_accepts_a_dict_and_maps_sector_names_to_ids(registry: Registry) -> None:
    org = registry.create(
        {"id": "x-one", "name": "X One", "side": "EU", "country": "IT", "type": "company",
         "sectors": ["Energía solar", "Aerospace"], "sources": [{"document": "d", "section": "s"}]}
    )  # fmt: skip
    assert org.sectors == ["solar", "aerospace"]
    assert registry.get("x-one").sectors == ["solar", "aerospace"]


def test_create_rejects_duplicates_and_bad_records(filled: Registry, organisations: list[Organisation]) -> None:
    version = filled.data_version()
    with pytest.raises(DuplicateOrganisation):
        filled.create(organisations[0])
    bad = organisations[0].model_dump(mode="json") | {"id": "new-one", "sectors": ["space-tourism"]}
    with pytest.raises(UnknownSector) as err:
        filled.create(bad)
    assert err.value.field == "sectors"
    with pytest.raises(InvalidProfile) as err:
        filled.create(bad | {"sectors": ["wind", "wind"]})
    assert err.value.field == "sectors"
    with pytest.raises(InvalidProfile) as err:
        filled.create(bad | {"sectors": ["wind"], "country": "Spain"})
    assert err.value.field == "country"
    with pytest.raises(InvalidProfile) as err:
        filled.create(bad | {"sectors": ["wind"], "facts": {"member_of": ["ghost"]}})
    assert err.value.field == "facts.member_of"
    assert filled.data_version() == version
    assert not filled.exists("new-one")


def test_get_unknown_id_suggests_close_names(filled: Registry) -> None:
    with pytest.raises(UnknownOrganisation) as err:
        filled.get("hegann")
    assert "HEGAN Basque Aerospace Cluster" in err.value.suggestions


LIST_CASES = [
    ({"side": "MX"}, ["aerocluster-queretaro", "claut", "cluster-energia-coahuila"]),
    ({"side": Side.EU, "country": "de"}, ["windcluster-nord"]),
    ({"sector": "energy"}, ["cluster-energia-coahuila", "windcluster-nord"]),
    ({"sector": "aerospace"}, ["aerocluster-queretaro", "hegan"]),
    ({"sector": "transport-mobility", "side": "EU"}, ["hegan", "pole-mobilite"]),
    ({"type": "partnership_network"}, ["pole-mobilite"]),
    ({"q": "coahuila energy"}, ["cluster-energia-coahuila"]),
    ({"q": "QUERETARO"}, ["aerocluster-queretaro"]),
]


def test_list_filters(filled: Registry) -> None:
    for filters, expected in LIST_CASES:
        assert [o.id for o in filled.list_organisations(**filters)] == expected, filters
        assert filled.count_organisations(**filters) == len(expected), filters


def test_list_paging_and_bad_filters(filled: Registry) -> None:
    ids = [o.id for o in filled.all_organisations()]
    assert [o.id for o in filled.list_organisations(limit=2, offset=1)] == ids[1:3]
    with pytest.raises(InvalidProfile) as err:
        filled.list_organisations(side="XX")
    assert err.value.field == "side"
    with pytest.raises(UnknownSector):
        filled.list_organisations(sector="underwater basket weaving")
    with pytest.raises(InvalidProfile):
        filled.list_organisations(limit=-1)


# --- lookup -------------------------------------------------------------------------------------


LOOKUP_CASES = [
    ("hegan", "hegan"),  # id and acronym
    ("HEGAN", "hegan"),
    ("Cluster de Energia Coahuila", "cluster-energia-coahuila"),  # accents and case
    ("  clúster de energía COAHUILA ", "cluster-energia-coahuila"),
    ("coahuila energy cluster", "cluster-energia-coahuila"),  # alias
    ("Cluster de Aeronautica del Pais Vasco", "hegan"),  # accented alias
    ("claut", "claut"),
    ("Aerocluster de Queretaro", "aerocluster-queretaro"),
    ("Clúster Automotriz de Nuevo Leon", "claut"),
    ("Windclustr Nord", "windcluster-nord"),  # one typo, one close organisation
]


def test_lookup_forgives_case_accents_and_typos(filled: Registry) -> None:
    for ref, expected in LOOKUP_CASES:
        assert filled.lookup(ref).id == expected, ref


def test_lookup_unknown_offers_close_names(filled: Registry) -> None:
    with pytest.raises(UnknownOrganisation) as err:
        filled.lookup("Cluster Energia")
    assert "Clúster de Energía Coahuila" in err.value.suggestions
    assert len(err.value.suggestions) <= 5
    with pytest.raises(UnknownOrganisation) as err:
        filled.lookup("zzzz qqqq")
    assert err.value.suggestions == []


def test_lookup_two_exact_matches_is_ambiguous(filled: Registry, organisations: list[Organisation]) -> None:
    twin = organisations[2].model_copy(update={"id": "pme-mexico", "side": Side.MX, "country": "MX", "contact": None})
    filled.create(twin)  # same acronym PME and same name as pole-mobilite
    with pytest.raises(AmbiguousOrganisation) as err:
        filled.lookup("pme")
    assert err.value.candidates == ["pme-mexico", "pole-mobilite"]
    assert filled.lookup("pme-mexico").id == "pme-mexico", "an exact id always wins"


# --- update / delete ----------------------------------------------------------------------------


def test_update_merges_nested_fields_and_validates(filled: Registry) -> None:
    before = filled.data_version()
    org = filled.update("hegan", {"description": "New text.", "facts": {"members": 70}, "acronym": None})
    assert org.description == "New text." and org.acronym is None
    assert org.facts.members == 70 and org.facts.eccp_member is True  # untouched nested field kept
    assert filled.get("hegan") == org
    assert filled.data_version() != before
    with pytest.raises(UnknownOrganisation):
        filled.update("nope", {"description": "x"})


def test_failed_update_names_the_field_and_leaves_the_store_as_it_was(filled: Registry) -> None:
    before, version = filled.get("hegan"), filled.data_version()
    for patch, field in [
        ({"country": "España"}, "country"),
        ({"facts": {"founded": 1500}}, "facts.founded"),
        ({"facts": {"founded": 2000, "closed": 1999}}, "facts.closed"),
        ({"facts": {"closed": 2101}}, "facts.closed"),
        ({"sectors": ["nope"]}, "sectors"),
        ({"id": "other"}, "id"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"side": "MX"}, "country"),
    ]:
        with pytest.raises(InvalidProfile) as err:
            filled.update("hegan", patch)
        assert err.value.field == field, patch
    assert filled.get("hegan") == before
    assert filled.data_version() == version


def test_an_update_made_from_a_stale_read_is_made_again_from_the_stored_record(filled: Registry, monkeypatch) -> None:
    # The patched record is made before the write lock; another writer changes the profile in
    # between (here: on the first use of the rows made from the read).
    import matcher.store.registry as registry_module

    made = registry_module.changed_organisation_rows
    calls: list[str] = []

    def interleaved(org: Organisation, now):  # type: ignore[no-untyped-def]
        calls.append(org.description)
        if len(calls) == 1:
            other = Registry(filled.store, filled.settings, filled.taxonomy)
            other.update("hegan", {"website": "https://changed.example.org", "aliases": ["Hegan aero"]})
        return made(org, now)

    monkeypatch.setattr(registry_module, "changed_organisation_rows", interleaved)
    org = filled.update("hegan", {"description": "Patched text."})
    assert calls.count("Patched text.") == 2  # the rows made from the stale read were dropped, the patch made again
    stored = filled.get("hegan")
    assert stored == org and stored.description == "Patched text."
    assert stored.website == "https://changed.example.org" and stored.aliases == ["Hegan aero"]  # the other write kept
    assert filled.lookup("Hegan aero").id == "hegan"  # its name rows too


def test_an_update_of_a_profile_deleted_meanwhile_is_refused(filled: Registry, monkeypatch) -> None:
    import matcher.store.registry as registry_module

    made = registry_module.changed_organisation_rows

    def interleaved(org: Organisation, now):  # type: ignore[no-untyped-def]
        Registry(filled.store, filled.settings, filled.taxonomy).delete("hegan")
        return made(org, now)

    monkeypatch.setattr(registry_module, "changed_organisation_rows", interleaved)
    with pytest.raises(UnknownOrganisation):
        filled.update("hegan", {"description": "Patched text."})
    assert not filled.exists("hegan")


def test_side_change_with_cooperations_is_refused(filled: Registry) -> None:
    with pytest.raises(InvalidProfile) as err:
        filled.update("hegan", {"side": "MX", "country": "MX"})
    assert err.value.field == "side"


def test_noop_update_writes_nothing(filled: Registry) -> None:
    version = filled.data_version()
    events: list[tuple[str, str]] = []
    filled.subscribe(lambda e, i: events.append((e, i)))
    filled.update("hegan", {"name": "HEGAN Basque Aerospace Cluster"})
    assert filled.data_version() == version and events == []


def test_delete_cascades_to_names_sectors_cooperations_and_feedback(filled: Registry) -> None:
    FeedbackStore(filled.store).add("hegan", "claut", "declined")
    FeedbackStore(filled.store).add("claut", "hegan", "met")
    assert _rows(filled, CooperationRow, eu_id="hegan") == 1
    filled.delete("hegan")
    assert not filled.exists("hegan")
    assert _rows(filled, NameRow, org_id="hegan") == 0
    assert _rows(filled, OrganisationSectorRow, org_id="hegan") == 0
    assert _rows(filled, CooperationRow, eu_id="hegan") == 0
    assert _rows(filled, FeedbackRow) == 0
    assert [c.id for c in filled.all_cooperations()] == ["windnord-coahuila"]
    with pytest.raises(UnknownOrganisation):
        filled.lookup("HEGAN")
    with pytest.raises(UnknownOrganisation):
        filled.delete("hegan")


# --- versions, events, rollback -----------------------------------------------------------------


def test_data_version_changes_on_every_write_only(filled: Registry, organisations: list[Organisation]) -> None:
    seen = {filled.data_version()}
    filled.all_organisations()
    filled.lookup("hegan")
    assert filled.data_version() in seen
    for write in (
        lambda: filled.create(organisations[0].model_copy(update={"id": "hegan-2", "acronym": None, "aliases": []})),
        lambda: filled.update("hegan-2", {"description": "changed"}),
        lambda: filled.add_cooperation({"id": "c-3", "eu": "hegan-2", "mx": "claut", "type": "listed"}),
        lambda: filled.delete_cooperation("c-3"),
        lambda: filled.delete("hegan-2"),
    ):
        write()
        version = filled.data_version()
        assert version not in seen
        seen.add(version)


def test_subscribers_hear_committed_writes(filled: Registry, organisations: list[Organisation]) -> None:
    events: list[tuple[str, str]] = []
    unsubscribe = filled.subscribe(lambda e, i: events.append((e, i)))
    filled.subscribe(lambda e, i: 1 / 0)  # a broken subscriber neither undoes nor blocks the write
    new = organisations[1].model_copy(update={"id": "wind-two", "name": "Wind Two"})
    filled.create(new)
    filled.update("wind-two", {"region": "Bremen"})
    filled.delete("wind-two")
    with pytest.raises(DuplicateOrganisation):
        filled.create(organisations[0])
    assert events == [("created", "wind-two"), ("updated", "wind-two"), ("deleted", "wind-two")]
    unsubscribe()
    filled.update("hegan", {"region": "Euskadi"})
    assert len(events) == 3


def test_a_write_failing_midway_is_rolled_back(filled: Registry, organisations: list[Organisation], monkeypatch) -> None:
    version = filled.data_version()
    events: list[tuple[str, str]] = []
    filled.subscribe(lambda e, i: events.append((e, i)))

    def boom(session) -> None:
        session.flush()  # the rows are already sent to the database when this fails
        raise RuntimeError("disk full")

    monkeypatch.setattr(filled.store, "bump_version", boom)
    new = organisations[0].model_copy(update={"id": "doomed"})
    with pytest.raises(RuntimeError):
        filled.create(new)
    with pytest.raises(RuntimeError):
        filled.delete("hegan")
    with pytest.raises(RuntimeError):
        filled.import_records([new], [{"id": "c-x", "eu": "doomed", "mx": "claut", "type": "listed"}])
    monkeypatch.undo()
    assert not filled.exists("doomed")
    assert filled.exists("hegan") and [c.id for c in filled.list_cooperations("hegan")] == ["hegan-queretaro"]
    assert [c.id for c in filled.list_cooperations("claut")] == []
    assert _rows(filled, NameRow, org_id="doomed") == 0
    assert filled.data_version() == version
    assert events == []


# --- cooperations -------------------------------------------------------------------------------


def test_cooperations_add_list_and_validate(filled: Registry) -> None:
    assert [c.id for c in filled.list_cooperations("aerocluster-queretaro")] == ["hegan-queretaro"]
    assert [c.id for c in filled.list_cooperations(type="delegation_visit")] == ["windnord-coahuila"]
    with pytest.raises(DuplicateCooperation):
        filled.add_cooperation({"id": "hegan-queretaro", "eu": "hegan", "mx": "claut", "type": "listed"})
    with pytest.raises(InvalidProfile) as err:
        filled.add_cooperation({"id": "c-9", "eu": "claut", "mx": "hegan", "type": "listed"})
    assert err.value.field == "eu"
    with pytest.raises(InvalidProfile) as err:
        filled.add_cooperation({"id": "c-9", "eu": "hegan", "mx": "ghost", "type": "listed"})
    assert err.value.field == "mx"
    with pytest.raises(InvalidProfile) as err:
        filled.add_cooperation({"id": "c-9", "eu": "hegan", "mx": "claut", "type": "friendship"})
    assert err.value.field == "type"
    with pytest.raises(UnknownOrganisation):
        filled.list_cooperations("ghost")
    assert filled.count_cooperations() == 2


# --- feedback and API keys ----------------------------------------------------------------------


def test_feedback(filled: Registry) -> None:
    feedback = FeedbackStore(filled.store)
    key_id, _ = ApiKeys(filled.store).create("partner portal", "write")
    fb = feedback.add("hegan", "aerocluster-queretaro", "agreement_signed", "Signed in Toulouse.", key_id)
    assert fb.verdict is Verdict.AGREEMENT_SIGNED and fb.api_key_id == key_id
    feedback.add("claut", "pole-mobilite", Verdict.MET)
    assert [f.subject_id for f in feedback.list()] == ["hegan", "claut"]
    assert [f.id for f in feedback.list("claut")] == [fb.id + 1]
    with pytest.raises(InvalidProfile) as err:
        feedback.add("hegan", "claut", "maybe")
    assert err.value.field == "verdict"
    with pytest.raises(UnknownOrganisation):
        feedback.add("hegan", "ghost", "met")
    with pytest.raises(InvalidProfile):
        feedback.add("hegan", "hegan", "met")
    with pytest.raises(UnknownApiKey):
        feedback.add("hegan", "claut", "met", api_key_id="nokey")


def test_api_keys(registry: Registry) -> None:
    keys = ApiKeys(registry.store)
    key_id, secret = keys.create("ops", "admin")
    other_id, other = keys.create("reader", "read")
    assert key_id != other_id and secret != other
    key = keys.verify(secret)
    assert key is not None and (key.id, key.name, key.scope, key.active) == (key_id, "ops", "admin", True)
    assert keys.verify(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert keys.verify(f"c2c_{key_id}_guess") is None
    assert keys.verify("garbage") is None
    assert keys.verify("") is None
    keys.revoke(key_id)
    assert keys.verify(secret) is None
    assert keys.verify(other).id == other_id
    assert {(k.id, k.active) for k in keys.list()} == {(key_id, False), (other_id, True)}
    with pytest.raises(UnknownApiKey):
        keys.revoke("nokey")
    with pytest.raises(InvalidProfile):
        keys.create("x", "Bad Scope!")
    with registry.store.read() as s:  # only a digest of the secret is kept
        assert secret not in {r.secret_hash for r in s.scalars(select(ApiKeyRow))}


def test_merge_patch_follows_rfc7396() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None, "e": 4}, "f": [1]}) == {
        "a": 1,
        "b": {"d": 3, "e": 4},
        "f": [1],
    }
    assert merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}


# --- migrations and concurrency -----------------------------------------------------------------


def test_migrations_run_from_scratch_and_back(tmp_path) -> None:
    from alembic import command

    from matcher.settings import Settings
    from matcher.store.setup import alembic_config

    url = f"sqlite:///{tmp_path / 'fresh' / 'c2c.db'}"
    with Registry.open(Settings(database_url=url, home=tmp_path), init=False) as reg:
        reg.init(seed=False)
        with reg.store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == "0003"
            tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert {"events", "models"} <= tables
        config = alembic_config()
        with reg.store.write_engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0001")
        with reg.store.engine.connect() as conn:
            columns = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(cooperations)")}
            tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "split" not in columns and "eu_id" in columns
        assert not {"events", "models"} & tables
        with reg.store.write_engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        with reg.store.engine.connect() as conn:
            columns = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(cooperations)")}
        assert {"confidence", "tier", "split"} <= columns
        with reg.store.write_engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        with reg.store.engine.connect() as conn:
            tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"alembic_version"}
        reg.init(seed=False)
        assert reg.count_organisations() == 0 and reg.data_version().endswith(":0")


def test_two_registries_on_one_store_see_each_other(store_url: str, tmp_path, organisations) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from matcher.settings import Settings

    settings = Settings(database_url=store_url, home=tmp_path)
    with Registry.open(settings, init=False) as one, Registry.open(settings, init=False) as two:
        one.init(seed=False)
        template = organisations[1].model_dump(mode="json")

        def work(i: int) -> str:
            one.create(template | {"id": f"wind-{i}", "name": f"Wind Group {i}"})
            two.update(f"wind-{i}", {"description": f"number {i}"})
            return two.lookup(f"wind group {i}").description

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(work, range(12))) == [f"number {i}" for i in range(12)]
        assert one.data_version() == two.data_version()
        assert two.count_organisations() == 12
