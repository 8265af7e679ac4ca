"""The README is kept honest: every CLI command and every API route it should document is there."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import typer.main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _command_paths(group, prefix: str = "c2c") -> list[str]:
    paths = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            paths.extend(_command_paths(command, path))
        else:
            paths.append(path)
    return paths


def test_every_cli_command_is_documented():
    from matcher.cli import app

    paths = _command_paths(typer.main.get_command(app))
    assert len(paths) >= 8
    missing = [p for p in paths if f"`{p}" not in README]
    assert not missing, f"commands missing from README.md: {missing}"


def test_every_api_route_is_documented():
    from api.app import create_app

    schema = create_app().openapi()
    routes = sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    )
    assert routes
    missing = [f"{m} {p}" for m, p in routes if f"{m} {p}" not in README]
    assert not missing, f"endpoints missing from README.md: {missing}"


def test_readme_set_up_commands_match_ci():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m venv" in ci, "CI must install into a fresh virtualenv"
    assert "pip install -q -c constraints.txt -e '.[test]'" in ci and "pytest" in ci
    assert "pip install -c constraints.txt -e '.[test]' && python3 -m pytest" in README
    assert "pip install -c constraints.txt -e . && c2c serve" in README


def test_constraints_pin_every_declared_dependency():
    """The lock covers every runtime and test dependency the project declares, at one version."""
    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["test"]
    pinned = {}
    for line in (root / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[re.sub(r"[-_.]+", "-", name).lower()] = version
    names = [re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0]).lower()
             for d in declared]
    missing = [n for n in names if n not in pinned]
    assert not missing, f"declared but not locked in constraints.txt: {missing}"
    assert pinned["torch"] == "2.13.0"
