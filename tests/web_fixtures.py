"""Helpers of the web page's tests: a signed-in browser session, form tokens, example files."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from matcher.store.keys import ApiKeys
from matcher.store.registry import Registry

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')

#: A participants file in the format of examples/, with the test fixtures' organisations and guests.
GOOD_PARTICIPANTS = (
    "ref,name,side,sectors,description,available\n"
    "aero-north,,,,,\n"
    "wind-coast,,,,,\n"
    "Auto Valley Cluster,,,,,\n"
    "soft-bay,,,,,\n"
    ",Atlantic Blades,EU,wind;renewable energy,Rotor blades and repairs.,\n"
    "aero-bajio,,,,,\n"
    "energia-norte,,,,,\n"
    "auto-centro,,,,,\n"
    "ti-occidente,,,,,\n"
    ",Solar Norte Ingeniería,MX,solar,Ingeniería de parques solares.,2026-10-12\n"
)

#: Three bad rows (lines 3, 5 and 6) among good ones.
BAD_PARTICIPANTS = (
    "ref,name,side,sectors\n"
    "aero-north,,,\n"
    ",Guest Without Side,XX,aerospace\n"
    "aero-bajio,,,\n"
    ",Guest Unknown Sector,MX,underwater basket weaving\n"
    "no-such-cluster-anywhere,,,\n"
)


def csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form token"
    return found.group(1)


def new_key(registry: Registry, scope: str = "write") -> str:
    return ApiKeys(registry.store).create(f"web {scope}", scope)[1]


def sign_in(client: TestClient, secret: str) -> None:
    page = client.get("/web/key")
    response = client.post("/web/key", data={"csrf": csrf(page.text), "key": secret, "next": "/"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text


def create_event(client: TestClient, name: str = "Brokerage day", **fields: str) -> str:
    """Create an event through its form; returns the event page's path."""
    form = {"name": name, "first_day": "2026-10-12", "days": "2", "start": "09:00", "slots": "6",
            "slot_minutes": "30", "tables": "6", "break_after": "3", "break_minutes": "30",
            "timezone": "America/Mexico_City", "venue": "Querétaro", **fields}
    page = client.get("/web/events")
    response = client.post("/web/events", data={"csrf": csrf(page.text), **form}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def example_files() -> tuple[Path, Path]:
    root = Path(__file__).resolve().parent.parent / "examples"
    return root / "participants.csv", root / "requests.csv"
