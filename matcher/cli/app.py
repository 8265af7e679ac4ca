"""The ``c2c`` Typer application object that every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="c2c",
    help="Cluster-to-cluster matchmaking between European and Mexican clusters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
