"""The ``c2c`` command line: a thin layer over the :mod:`matcher` functions.

User errors (:data:`matcher.errors.USER_ERRORS`) print one line and exit with code 1; nothing
here computes a score.
"""

from __future__ import annotations

import sys

import click
import typer
from pydantic import ValidationError
from typer.exceptions import TyperException

from matcher.cli.app import app
from matcher.errors import USER_ERRORS
from matcher.logs import configure_logging
from matcher.settings import load_settings

# Command modules register themselves on ``app`` when imported.
from matcher.cli import registry as _registry  # noqa: F401,E402
from matcher.cli import suggest as _suggest  # noqa: F401,E402
from matcher.cli import events as _events  # noqa: F401,E402
from matcher.cli import serve as _serve  # noqa: F401,E402


def _configure_logging() -> None:
    """Log in the configured format and level (a bad setting is reported by the command itself)."""
    try:
        settings = load_settings()
    except ValidationError:
        configure_logging()
        return
    configure_logging(settings.log_level, settings.log_json)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``c2c`` console script."""
    _configure_logging()
    try:
        result = app(args=argv, standalone_mode=False)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem.get("loc", ()))
        typer.secho(f"error: invalid setting C2C_{where.upper()}: {problem.get('msg')}", err=True, fg="red")
        sys.exit(1)
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
