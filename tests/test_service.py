"""matcher.service: one composition root that opens the store once and closes what it opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from matcher.cli import main
from matcher.service import Service
from matcher.settings import Settings
from matcher.store.registry import Registry


def test_the_parts_share_one_store_and_close_together(sqlite_url: str, tmp_path: Path):
    closed = []
    with Service.open(Settings(database_url=sqlite_url, home=tmp_path), init=False) as service:
        assert service.keys.store is service.registry.store is service.feedback.store
        assert service.suggester.registry is service.registry  # made on first use, over the same registry
        assert service.events.store is service.registry.store
        store = service.registry.store
        dispose = store.dispose
        store.dispose = lambda: (closed.append(True), dispose())  # type: ignore[method-assign]
    assert closed == [True]


def test_a_service_closes_only_what_it_opened(sqlite_url: str, tmp_path: Path):
    settings = Settings(database_url=sqlite_url, home=tmp_path)
    with Registry.open(settings, init=False) as registry:
        with Service(settings, registry):
            pass
        assert registry.count_organisations() == 0  # still open: the caller owns it


def test_planning_a_guests_only_event_opens_no_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("C2C_HOME", str(tmp_path / "home"))
    people = tmp_path / "people.csv"
    people.write_text("name,side,sectors\nHelios Iberia,EU,solar\nSol de Sonora,MX,solar\n", encoding="utf-8")
    with pytest.raises(SystemExit) as done:
        main(["event", "plan", str(people), "--days", "2026-10-12", "--slots", "2", "--tables", "1",
              "--scorer", "sectors", "--out", str(tmp_path / "plan")])
    assert done.value.code == 0
    assert not (tmp_path / "home" / "c2c.db").exists()
