"""The registry commands of ``c2c``, run through ``matcher.cli.main`` with C2C_HOME in a tmp dir."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matcher.cli import main
from matcher.dataset import load_dataset
from matcher.profiles import Cooperation, Organisation
from matcher.store.registry import Registry
from matcher.settings import Settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty C2C_HOME used by every command of the test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("C2C_HOME", str(home))
    monkeypatch.delenv("C2C_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return home


@pytest.fixture
def filled_home(
    home: Path, _sqlite_template: Path, organisations: list[Organisation], cooperations: list[Cooperation]
) -> Path:
    """C2C_HOME whose store already holds the fixture records (so nothing is seeded)."""
    shutil.copyfile(_sqlite_template, home / "c2c.db")
    with Registry.open(Settings(home=home), init=False) as registry:
        registry.import_records(organisations, cooperations)
    return home


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def _ids(text: str) -> list[str]:
    return [item["id"] for item in json.loads(text)]


def test_show_unknown_is_one_line_and_exit_1(filled_home: Path, capsys) -> None:
    code, out, err = run(capsys, "show", "nosuchthing")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == ["error: no organisation matches 'nosuchthing'"]


def test_show_offers_close_matches(filled_home: Path, capsys) -> None:
    code, _, err = run(capsys, "show", "Cluster Energia")
    assert code == 1 and "did you mean: Clúster de Energía Coahuila" in err
    assert len(err.strip().splitlines()) == 1


def test_show_finds_by_forgiving_name(filled_home: Path, capsys, organisations) -> None:
    code, out, _ = run(capsys, "show", "Cluster de Energia Coahuila", "--format", "json")
    assert code == 0
    assert Organisation.model_validate(json.loads(out)) == organisations[3]
    code, out, _ = run(capsys, "show", "hegan")
    assert code == 0
    for text in ("HEGAN Basque Aerospace Cluster", "fixture-report.pdf, T2", "hegan-queretaro", "signed_mou"):
        assert text in out


def test_profiles_list_filters_and_formats(filled_home: Path, capsys) -> None:
    code, out, _ = run(capsys, "profiles", "list", "--side", "mx", "--format", "json")
    assert code == 0 and _ids(out) == ["aerocluster-queretaro", "claut", "cluster-energia-coahuila"]
    code, out, _ = run(capsys, "profiles", "list", "--sector", "energy", "--format", "csv")
    assert code == 0 and [r["id"] for r in csv.DictReader(io.StringIO(out))] == ["cluster-energia-coahuila", "windcluster-nord"]
    code, out, _ = run(capsys, "profiles", "list", "--country", "fr", "--type", "partnership_network", "--format", "json")
    assert _ids(out) == ["pole-mobilite"]
    code, out, _ = run(capsys, "profiles", "list")
    assert code == 0 and "Windcluster Nord" in out and "6 organisations" in out


def test_bad_options_exit_2_without_traceback(filled_home: Path, capsys) -> None:
    for args in (["profiles", "list", "--side", "XX"], ["profiles", "list", "--format", "yaml"], ["show"], ["nosuch"]):
        code, _, err = run(capsys, *args)
        assert code == 2, args
        assert "Traceback" not in err and "Error:" in err


def test_unknown_sector_is_a_one_line_error(filled_home: Path, capsys) -> None:
    code, _, err = run(capsys, "profiles", "list", "--sector", "basket weaving")
    assert code == 1 and err.strip() == "error: sectors: unknown sector 'basket weaving'"


def test_cooperations_list(filled_home: Path, capsys) -> None:
    code, out, _ = run(capsys, "cooperations", "list", "--org", "Aerocluster de Queretaro", "--format", "json")
    assert code == 0 and _ids(out) == ["hegan-queretaro"]
    code, out, _ = run(capsys, "cooperations", "list", "--type", "delegation_visit", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["id"], r["mx_name"]) for r in rows] == [("windnord-coahuila", "Clúster de Energía Coahuila")]
    code, _, err = run(capsys, "cooperations", "list", "--org", "nobody at all")
    assert code == 1 and err.startswith("error: no organisation matches")


def test_export_and_reimport_is_a_noop(filled_home: Path, tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "profiles.xlsx"
    code, _, _ = run(capsys, "export", "--kind", "profiles", "--format", "xlsx", "--out", str(out_file))
    assert code == 0 and out_file.stat().st_size > 0
    code, out, _ = run(capsys, "import", str(out_file))
    assert code == 0 and "0 created, 0 updated, 6 unchanged" in out
    code, out, _ = run(capsys, "export", "--kind", "cooperations", "--format", "json")
    assert code == 0 and _ids(out) == ["hegan-queretaro", "windnord-coahuila"]


def test_import_rejects_a_bad_file_and_lists_every_bad_row(filled_home: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "new.csv"
    src = json.dumps([{"document": "d", "section": "s"}])
    path.write_text(
        "id,name,side,country,type,sectors,sources\n"
        f'good-one,Good One,EU,IT,company,wind,"{src.replace(chr(34), chr(34) * 2)}"\n'
        "bad-one,Bad One,EU,Italy,company,wind,\n"
        "bad-two,Bad Two,MX,MX,company,warp drives,\n"
    )
    code, out, err = run(capsys, "import", str(path))
    assert code == 1 and out == ""
    assert "line 3, field 'country'" in err and "line 4, field 'sectors'" in err and "Traceback" not in err
    code, out, _ = run(capsys, "profiles", "list", "--country", "IT", "--format", "json")
    assert _ids(out) == [], "nothing was written"
    code, _, err = run(capsys, "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "Traceback" not in err


def test_fresh_home_is_initialised_and_seeded_on_first_use(home: Path, capsys) -> None:
    load_dataset.cache_clear()
    expected = sorted(o.id for o in load_dataset().organisations)
    code, out, _ = run(capsys, "profiles", "list", "--format", "json")
    assert code == 0 and sorted(_ids(out)) == expected
    code, out, _ = run(capsys, "init")
    assert code == 0 and f"{len(expected)} organisations" in out and "seeded now" not in out


def test_real_console_script_errors_without_traceback(filled_home: Path) -> None:
    env = {**os.environ, "C2C_HOME": str(filled_home)}
    command = [sys.executable, "-c", "from matcher.cli import main; main()"]
    done = subprocess.run([*command, "show", "nosuchthing"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == "error: no organisation matches 'nosuchthing'"
