"""A rebuild of the suggestions reads profiles and cooperations as one state of the store.

Found while tracing the soak benchmark's memory: the Suggester reads every profile, then every cooperation, in two
reads. A profile and a cooperation of it written by another process between the two reads give
a cooperation whose party is not among the profiles read, and the rebuild fails with
``InvalidProfile`` (logged by a background rebuild; a request that waits for the rebuild gets
the error). Such a cooperation is now left out of that rebuild; the next one reads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from api_fixtures import make_api, new_profile

from matcher.profiles import Cooperation


def test_a_profile_and_its_cooperation_written_between_two_reads_do_not_break_a_rebuild(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, registry, suggester, _ = make_api(sqlite_url, tmp_path)
    try:
        real = registry.changed_organisations

        def then_another_process_writes(*args, **kwargs):
            orgs = real(*args, **kwargs)
            monkeypatch.setattr(registry, "changed_organisations", real)
            registry.create(new_profile("late-aero"))
            registry.add_cooperation(Cooperation(id="late-aero-aero-bajio", eu="late-aero", mx="aero-bajio",
                                                 type="listed", sources=[{"document": "d", "section": "s"}]))
            return orgs

        monkeypatch.setattr(registry, "changed_organisations", then_another_process_writes)
        assert suggester.suggest("aero-north", k=5).items
        # The next rebuild reads the profile and its cooperation.
        state = suggester._current(wait=True)
        assert "late-aero-aero-bajio" in {c.id for c in state.ctx.cooperations}
        assert suggester.suggest("late-aero", k=5).query.id == "late-aero"
    finally:
        suggester.close()
        registry.close()
