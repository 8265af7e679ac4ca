"""The event endpoints: create, add participants, plan, schedule and agendas (JSON and .ics)."""

from __future__ import annotations

from api_fixtures import ORGANISATIONS, Api, api, error_of  # noqa: F401

EVENT = {"name": "Aero Days Querétaro", "days": ["2026-10-12"], "slots_per_day": 4, "meeting_minutes": 30,
         "tables": 3, "start": "09:00", "breaks": [{"after_slot": 2, "minutes": 30}]}
REGISTERED = [{"ref": o.id} for o in ORGANISATIONS]


def create_event(api: Api, **extra) -> str:
    response = api.client.post("/events", json={**EVENT, **extra}, headers=api.write)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_create_event(api: Api):
    error_of(api.client.post("/events", json=EVENT), 401)
    error_of(api.client.post("/events", json=EVENT, headers=api.read), 403)
    event_id = create_event(api, id="aero-days")
    assert event_id == "aero-days"
    shown = api.client.get("/events/aero-days").json()
    assert shown["event"]["name"] == EVENT["name"] and shown["participants"] == 0 and not shown["planned"]
    error_of(api.client.post("/events", json={**EVENT, "id": "aero-days"}, headers=api.write), 409)
    generated = create_event(api)
    assert generated.startswith("aero-days-queretaro-")
    error_of(api.client.get("/events/nothing-here"), 404)


def test_create_event_bad_input(api: Api):
    post = lambda body: api.client.post("/events", json=body, headers=api.write)  # noqa: E731
    error_of(post({**EVENT, "tables": 0}), 422, field="tables")
    error_of(post({**EVENT, "days": []}), 422, field="days")
    error_of(post({**EVENT, "timezone": "Mars/Olympus"}), 422, field="timezone")
    error_of(post({**EVENT, "timezone": "America"}), 422, field="timezone")  # a folder of the zone database
    error_of(post({**EVENT, "timezone": "x" * 300}), 422, field="timezone")
    assert post({**EVENT, "id": "still-works"}).status_code == 201  # and the connection still serves
    error_of(post({**EVENT, "slots_per_day": 40, "meeting_minutes": 60}), 422)  # runs past midnight
    error_of(post({**EVENT, "colour": "red"}), 422, field="colour")


def test_participants_plan_schedule_and_agendas(api: Api):
    event_id = create_event(api)
    guest = {"name": "Taller Aeronáutico Invitado", "side": "MX", "sectors": ["aerospace"],
             "description": "Aircraft maintenance workshop.", "available": ["2026-10-12/2"]}
    body = {"participants": REGISTERED + [guest],
            "requests": [{"requester": "aero-north", "target": "aero-bajio", "status": "accepted"}]}
    error_of(api.client.post(f"/events/{event_id}/participants", json=body), 401)
    added = api.client.post(f"/events/{event_id}/participants", json=body, headers=api.write)
    assert added.status_code == 200, added.text
    people = added.json()["participants"]
    assert len(people) == len(ORGANISATIONS) + 1
    assert {p["id"]: p["registered"] for p in people}["taller-aeronautico-invitado"] is False

    error_of(api.client.get(f"/events/{event_id}/schedule"), 404)
    planned = api.client.post(f"/events/{event_id}/plan", json={"seed": 1, "time_limit": 2}, headers=api.write)
    assert planned.status_code == 200, planned.text
    summary = planned.json()["summary"]
    assert summary["participants"] == len(ORGANISATIONS) + 1 and summary["meetings"] >= 1

    schedule = api.client.get(f"/events/{event_id}/schedule").json()
    meetings = schedule["meetings"]
    assert schedule["plan_current"] is True and len(meetings) == summary["meetings"]
    assert any({m["a_id"], m["b_id"]} == {"aero-north", "aero-bajio"} for m in meetings)  # accepted request
    for m in meetings:
        assert 1 <= m["table"] <= EVENT["tables"] and 1 <= m["slot"] <= EVENT["slots_per_day"]
    guest_meetings = [m for m in meetings if "taller-aeronautico-invitado" in (m["a_id"], m["b_id"])]
    assert all(m["session"] == "2026-10-12/2" for m in guest_meetings)
    slots = [(m["slot"], m["a_id"]) for m in meetings] + [(m["slot"], m["b_id"]) for m in meetings]
    assert len(slots) == len(set(slots))  # nobody is in two meetings at once

    agenda = api.client.get(f"/events/{event_id}/agenda/aero-north").json()
    assert "Aero Bajío Cluster" in [row["counterpart"] for row in agenda]
    ics = api.client.get(f"/events/{event_id}/agenda/aero-north.ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert ics.text.count("BEGIN:VEVENT") == len(agenda) and "Aero Bajío" in ics.text
    error_of(api.client.get(f"/events/{event_id}/agenda/nobody"), 404, field="participant")
    error_of(api.client.get(f"/events/{event_id}/agenda/nobody.ics"), 404)


def test_participants_bad_input_changes_nothing(api: Api):
    event_id = create_event(api)
    post = lambda body: api.client.post(f"/events/{event_id}/participants", json=body, headers=api.write)  # noqa: E731
    error_of(post({"participants": [{"ref": "aero-north"}, {"ref": "no-such-cluster"}]}), 422, field="participants.1.ref")
    error_of(post({"participants": [{"name": "Guest Only"}]}), 422, field="participants.0")
    error_of(post({"participants": [{"ref": "aero-north", "available": ["2030-01-01"]}]}), 422)
    error_of(post({"participants": [{"ref": "aero-north", "shoe_size": 44}]}), 422, field="participants.0.shoe_size")
    assert api.client.get(f"/events/{event_id}").json()["participants"] == 0
    assert post({"participants": [{"ref": "aero-north"}]}).status_code == 200
    error_of(post({"participants": [{"ref": "Aero North Cluster"}]}), 422, field="participants.0.ref")
    error_of(api.client.post("/events/nothing/participants", json={"participants": []}, headers=api.write), 404)


def test_plan_bad_input(api: Api):
    event_id = create_event(api)
    error_of(api.client.post(f"/events/{event_id}/plan", json={}, headers=api.write), 422, "invalid_event")
    api.client.post(f"/events/{event_id}/participants", json={"participants": REGISTERED},
                    headers=api.write).raise_for_status()
    error_of(api.client.post(f"/events/{event_id}/plan", json={}, headers=api.read), 403)
    error_of(api.client.post(f"/events/{event_id}/plan", json={"time_limit": 10_000}, headers=api.write), 422,
             field="time_limit")
    error_of(api.client.post(f"/events/{event_id}/plan", json={"scorer": "dice"}, headers=api.write), 422,
             field="scorer")


def test_replanning_after_late_changes(api: Api):
    event_id = create_event(api)
    api.client.post(f"/events/{event_id}/participants", json={"participants": REGISTERED[:8]},
                    headers=api.write).raise_for_status()
    first = api.client.post(f"/events/{event_id}/plan", json={"time_limit": 2, "scorer": "sectors"},
                            headers=api.write).json()
    api.client.post(f"/events/{event_id}/participants", json={"participants": REGISTERED[8:]},
                    headers=api.write).raise_for_status()
    assert api.client.get(f"/events/{event_id}/schedule").json()["plan_current"] is False
    second = api.client.post(f"/events/{event_id}/plan", json={"time_limit": 2}, headers=api.write).json()
    assert second["revision"] > first["revision"]
    assert second["summary"]["participants"] == len(ORGANISATIONS)
    assert second["summary"]["replanning"]["kept"] >= 1
    assert api.client.get(f"/events/{event_id}/schedule").json()["plan_current"] is True
