"""``c2c keys create|list|revoke`` and the argument checks of ``c2c serve``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matcher.cli import main
from matcher.store.keys import ApiKeys
from matcher.store.registry import Registry
from matcher.settings import Settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("C2C_HOME", str(tmp_path))
    monkeypatch.delenv("C2C_DATABASE_URL", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_create_list_revoke(home: Path, capsys):
    code, out, err = run(capsys, "keys", "create", "--scope", "write", "--name", "partner portal")
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("c2c_") and "shown only once" in err
    with Registry.open(Settings(home=home)) as registry:
        key = ApiKeys(registry.store).verify(secret)
        assert key is not None and key.scope == "write" and key.name == "partner portal"

    code, out, _ = run(capsys, "keys", "list", "--format", "json")
    listed = json.loads(out)
    assert [(k["id"], k["scope"], k["revoked_at"]) for k in listed] == [(key.id, "write", "")]
    assert secret not in out

    code, out, _ = run(capsys, "keys", "revoke", key.id)
    assert code == 0 and key.id in out
    with Registry.open(Settings(home=home)) as registry:
        assert ApiKeys(registry.store).verify(secret) is None
    listed = json.loads(run(capsys, "keys", "list", "--format", "json")[1])
    assert listed[0]["revoked_at"]


def test_keys_default_name_and_admin_scope(home: Path, capsys):
    code, out, _ = run(capsys, "keys", "create", "--scope", "admin")
    assert code == 0
    with Registry.open(Settings(home=home)) as registry:
        key = ApiKeys(registry.store).verify(out.strip())
    assert key.scope == "admin" and key.name == "admin key"


def test_keys_bad_input(home: Path, capsys):
    code, _, err = run(capsys, "keys", "create", "--scope", "root")
    assert code == 2 and "--scope" in err
    code, _, err = run(capsys, "keys", "revoke", "no-such-key")
    assert code == 1 and err.startswith("error:") and "no-such-key" in err


def test_serve_refuses_reload_with_several_workers(home: Path, capsys):
    code, _, err = run(capsys, "serve", "--reload", "--workers", "2")
    assert code == 2 and "--reload" in err
    code, _, err = run(capsys, "serve", "--port", "70000")
    assert code == 2
