"""``c2c event plan`` end to end on a small CSV, with the sector-overlap scoring mode."""

from __future__ import annotations

import csv
import json

import pytest

from matcher.cli import main
from matcher.events import load_participants, load_requests, make_event, read_plan, verify_plan

PEOPLE = """name,side,sectors,country,type,available,must_meet,will_not_meet,max_meetings
Helios Iberia,EU,solar;energy efficiency,ES,company,,Sol de Sonora,,
Nordwind Cluster,EU,wind,DK,cluster,2026-10-12/1,,,
Aqua Hanse,EU,water;waste,DE,,,,Agua Limpia,
Rhône Recyclage,EU,waste,FR,,2026-10-13,,,2
Sol de Sonora,MX,solar,,,,,,
Agua Limpia,MX,water,,,,,,
Eólica del Istmo,MX,wind energy,,cluster,,,,
Residuos Verdes,MX,waste;recycling,,,,,,
"""
REQUESTS = """requester,target,status
Aqua Hanse,Residuos Verdes,accepted
Helios Iberia,Agua Limpia,declined
Mystery GmbH,Sol de Sonora,requested
"""
ARGS = ["--days", "2026-10-12,2026-10-13", "--slots", "4", "--slot-minutes", "30", "--start", "09:00",
        "--break-after", "2", "--break-minutes", "15", "--tables", "3", "--max-meetings", "3", "--min-meetings", "1",
        "--seed", "0", "--time-limit", "2", "--scorer", "sectors"]


def run(args: list[str]) -> int:
    """Run the ``c2c`` entry point and return its exit code."""
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    (tmp_path / "requests.csv").write_text(REQUESTS, encoding="utf-8")
    return tmp_path


def test_plan_writes_outputs_and_prints_json_summary(files, capsys):
    out = files / "plan"
    assert run(["event", "plan", str(files / "people.csv"), *ARGS, "--requests", str(files / "requests.csv"),
                "--out", str(out), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["event"]["sessions"] == ["2026-10-12/1", "2026-10-12/2", "2026-10-13/1", "2026-10-13/2"]
    assert summary["meetings"] > 0
    assert summary["requests"]["accepted"] == {"asked": 1, "planned": 1}
    assert [i["participants"] for i in summary["constraint_report"]] == [["Mystery GmbH"]]
    rows = list(csv.DictReader((out / "schedule.csv").open(encoding="utf-8")))
    assert len(rows) == summary["meetings"]
    assert sorted(p.name for p in (out / "agendas").iterdir())[:3] == [
        "agua-limpia.csv", "agua-limpia.html", "agua-limpia.ics"]
    event = make_event(days=["2026-10-12", "2026-10-13"], slots_per_day=4, breaks=[{"after_slot": 2, "minutes": 15}],
                       tables=3, max_meetings=3, min_meetings=1)
    people = load_participants(files / "people.csv", event)
    plan = read_plan(out)
    assert verify_plan(plan, event, people, load_requests(files / "requests.csv")) == []
    pairs = {frozenset((m.a, m.b)) for m in plan.meetings}
    assert frozenset(("helios-iberia", "sol-de-sonora")) in pairs
    assert frozenset(("helios-iberia", "agua-limpia")) not in pairs


def test_replanning_from_the_cli_keeps_meetings(files, capsys):
    out = files / "plan"
    assert run(["event", "plan", str(files / "people.csv"), *ARGS, "--out", str(out)]) == 0
    first = read_plan(out)
    text = capsys.readouterr().out
    assert "meetings for 8 participants" in text and "constraint report" in text
    (files / "people.csv").write_text(PEOPLE + "Viento Nuevo,MX,wind,,,,,,\n", encoding="utf-8")
    assert run(["event", "plan", str(files / "people.csv"), *ARGS, "--out", str(out), "--previous", str(out)]) == 0
    again = read_plan(out)
    assert again.stats.kept_from_previous == len(first.meetings)
    assert {(m.a, m.b, m.slot, m.table) for m in first.meetings} <= {(m.a, m.b, m.slot, m.table) for m in again.meetings}


@pytest.mark.parametrize("bad, message", [
    (PEOPLE.replace("waste;recycling", "waste;moon mining"), "line 9, field 'sectors': unknown sector 'moon mining'"),
    (PEOPLE.replace("2026-10-13,,,2", "2026-10-14,,,2"), "line 5, field 'available'"),
])
def test_user_errors_exit_1_naming_line_and_field(files, capsys, bad, message):
    (files / "people.csv").write_text(bad, encoding="utf-8")
    assert run(["event", "plan", str(files / "people.csv"), *ARGS, "--out", str(files / "plan")]) == 1
    assert message in capsys.readouterr().err
    assert not (files / "plan").exists()


def test_bad_options_exit_1(files, capsys):
    args = [a if a != "2026-10-12,2026-10-13" else "12/10/2026" for a in ARGS]
    assert run(["event", "plan", str(files / "people.csv"), *args, "--out", str(files / "plan")]) == 1
    assert "--days" in capsys.readouterr().err


def test_candidates_option_narrows_the_pairs_planned_from(files, capsys):
    assert run(["event", "plan", str(files / "people.csv"), *ARGS, "--out", str(files / "all"), "--format", "json"]) == 0
    every = json.loads(capsys.readouterr().out)["quality"]["candidate_pairs"]
    assert run(["event", "plan", str(files / "people.csv"), *ARGS, "--out", str(files / "few"), "--format", "json",
                "--candidates", "1"]) == 0
    few = json.loads(capsys.readouterr().out)["quality"]["candidate_pairs"]
    assert 0 < few < every
    event = make_event(days=["2026-10-12", "2026-10-13"], slots_per_day=4, breaks=[{"after_slot": 2, "minutes": 15}],
                       tables=3, max_meetings=3, min_meetings=1)
    assert verify_plan(read_plan(files / "few"), event, load_participants(files / "people.csv", event)) == []
    assert run(["event", "plan", str(files / "people.csv"), *ARGS, "--out", str(files / "none"),
                "--candidates", "0"]) == 1
    assert "--candidates" in capsys.readouterr().err
