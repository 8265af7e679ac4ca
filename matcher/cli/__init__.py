"""The ``c2c`` command line: a thin layer over the :mod:`matcher` functions.

User errors (:data:`matcher.errors.USER_ERRORS`) print one line and exit with code 1; nothing
here computes a score.
"""

from __future__ import annotations

import sys

import click
import typer
from typer.exceptions import TyperException

from matcher.cli.app import app
from matcher.errors import USER_ERRORS

# Command modules register themselves on ``app`` when imported.
from matcher.cli import registry as _registry  # noqa: F401,E402
from matcher.cli import suggest as _suggest  # noqa: F401,E402
from matcher.cli import events as _events  # noqa: F401,E402
from matcher.cli import serve as _serve  # noqa: F401,E402


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``c2c`` console script."""
    try:
        result = app(args=argv, standalone_mode=False)
    except USER_ERRORS as exc:
        typer.secho(f"error: {str(exc).splitlines()[0] if not hasattr(exc, 'errors') else exc}", err=True, fg="red")
        sys.exit(1)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # usage errors (bad options), from click or typer's bundled copy

        if isinstance(exc, (click.ClickException, TyperException)):
            show = getattr(exc, "show", None)
            if show is not None:
                show()
            else:
                typer.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        raise
    # Without standalone mode an explicit typer.Exit(code) comes back as the return value.
    sys.exit(result if isinstance(result, int) else 0)
