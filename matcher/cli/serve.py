"""``c2c serve`` (run the HTTP API) and ``c2c keys ...`` (manage API keys)."""

from __future__ import annotations

import multiprocessing
import os
from typing import Any, Optional

import typer
import uvicorn

from api.server import HTTP_PROTOCOL
from api.workers import run_workers
from matcher.cli.app import app
from matcher.cli.output import Format, render
from matcher.logs import configure_logging, level_name, logging_config
from matcher.profiles import ApiKey, Scope
from matcher.service import Service
from matcher.settings import load_settings

keys_app = typer.Typer(help="Create, list and revoke API keys (stored hashed; secrets are shown once).",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _prepare_index() -> None:
    """Build or check the vector index and ranker once (run in a child process before the workers)."""
    with Service.open() as service:
        service.suggester.index


def _key_row(key: ApiKey) -> dict[str, str]:
    """A stored key as a listing row (its hash is never part of the record)."""
    return {
        "id": key.id,
        "name": key.name,
        "scope": key.scope,
        "created_at": key.created_at.isoformat(timespec="seconds"),
        "revoked_at": key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
    }


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes (they share the store)."),
    reload: bool = typer.Option(False, "--reload", help="Restart on code changes (development; one worker)."),
    log_level: Optional[str] = typer.Option(None, help="Log level (default: C2C_LOG_LEVEL, else info)."),
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs) on the configured store.

    The store is created and seeded first if it is empty. Several workers share the SQLite
    file (WAL mode) or the PostgreSQL database given by C2C_DATABASE_URL.
    """

    if reload and workers > 1:
        raise typer.BadParameter("--reload runs a single worker; drop --workers", param_hint="--reload")
    # Reads stay fast while others write: the workers rebuild scores in the background. Set for
    # the server's run only (the workers inherit it), so a caller's environment is left as it was.
    previous = os.environ.get("C2C_BACKGROUND_REBUILD")
    os.environ.setdefault("C2C_BACKGROUND_REBUILD", "true")
    try:
        _serve(host, port, workers, reload, log_level)
    finally:
        if previous is None:
            os.environ.pop("C2C_BACKGROUND_REBUILD", None)


def _serve(host: str, port: int, workers: int, reload: bool, log_level: str) -> None:
    Service.open().close()  # creates, migrates and seeds the store before any worker starts
    if workers > 1:
        # Build the index once, in a child process, so that the workers only load it (and do not
        # race to build it); the model it loads is freed when the child exits.

        child = multiprocessing.get_context("spawn").Process(target=_prepare_index, name="c2c-prepare-index")
        child.start()
        child.join()
        if child.exitcode:
            typer.secho("warning: could not prepare the index before start-up; the workers will build it",
                        err=True, fg="yellow")
    settings = load_settings()
    level = level_name(log_level or settings.log_level)
    configure_logging(level, settings.log_json)
    typer.echo(f"serving on http://{host}:{port} (docs at /docs) with {workers} worker(s)", err=True)
    options: dict[str, Any] = dict(
        host=host,
        port=port,
        log_level=level.lower(),
        log_config=logging_config(level, settings.log_json),
        http=HTTP_PROTOCOL,
        # The app reads X-Forwarded-For itself, from C2C_TRUSTED_PROXIES only (uvicorn would
        # believe any loopback peer).
        proxy_headers=False,
    )
    if workers > 1 and not reload:
        # Each worker listens on a socket of its own, so connections opened together spread out.
        run_workers(uvicorn.Config("api.app:create_app", factory=True, workers=workers, **options))
        return
    uvicorn.run("api.app:create_app", factory=True, reload=reload, **options)


@keys_app.command("create")
def keys_create(
    scope: str = typer.Option("write", help="read | write | admin (admin implies write)."),
    name: Optional[str] = typer.Option(None, help="A label to recognise the key by."),
) -> None:
    """Create an API key and print its secret (shown only this once; only a hash is stored)."""
    if scope not in {s.value for s in Scope}:
        raise typer.BadParameter(f"must be one of {', '.join(s.value for s in Scope)}", param_hint="--scope")
    with Service.open() as service:
        record, secret = service.keys.issue(scope, name)
    typer.echo(f"created key {record.id} ({record.name!r}, scope {record.scope}); its secret, shown only once:",
               err=True)
    typer.echo(secret)


@keys_app.command("list")
def keys_list(fmt: Format = typer.Option(Format.table, "--format", help="table | json | csv")) -> None:
    """List API keys (never their secrets)."""
    with Service.open() as service:
        rows = [_key_row(k) for k in service.keys.list()]
    render(rows, fmt, ["id", "name", "scope", "created_at", "revoked_at"], title="API keys")


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., metavar="ID", help="Id shown by `c2c keys list`.")) -> None:
    """Revoke an API key; requests using it are refused from now on."""
    with Service.open() as service:
        service.keys.revoke(key_id)
    typer.echo(f"revoked key {key_id}")
