"""Small, hand-made event fixtures for the event-planning tests."""

from __future__ import annotations

import datetime as dt

import numpy as np

from matcher.events import Participant, make_event
from matcher.profiles import Organisation, OrgType, Side

DAY1, DAY2 = dt.date(2026, 10, 12), dt.date(2026, 10, 13)


def org(oid: str, side: str, sectors: list[str], name: str | None = None, **kw) -> Organisation:
    side_ = Side(side)
    return Organisation(id=oid, name=name or oid.replace("-", " ").title(), side=side_,
                        country=kw.pop("country", "MX" if side_ is Side.MX else "DE"),
                        type=kw.pop("type", OrgType.COMPANY), sectors=sectors, **kw)


def person(oid: str, side: str, sectors: list[str] | None = None, name: str | None = None, **kw) -> Participant:
    return Participant(organisation=org(oid, side, sectors or ["solar"], name), **kw)


def event(**kw):
    fields = dict(name="Test fair", days=[DAY1], slots_per_day=4, tables=2, breaks=[{"after_slot": 2, "minutes": 30}])
    fields.update(kw)
    return make_event(**fields)


def crowd(n_eu: int, n_mx: int, seed: int = 0, **kw) -> tuple[list[Participant], np.ndarray]:
    """Participants with random availability-free profiles and a seeded (n_eu, n_mx) score matrix."""
    rng = np.random.default_rng(seed)
    people = [person(f"eu-{k:02d}", "EU", **kw) for k in range(n_eu)]
    people += [person(f"mx-{k:02d}", "MX", **kw) for k in range(n_mx)]
    return people, np.round(rng.uniform(0.05, 1.0, size=(n_eu, n_mx)), 3)
