"""Registry commands: ``init``, ``profiles list``, ``show``, ``import``, ``export`` and
``cooperations list``.

Every command opens one :class:`matcher.service.Service` on the store named by the settings
(``C2C_DATABASE_URL`` or the SQLite file under ``C2C_HOME``), which initialises it on first
use, so a fresh machine needs no setup.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from matcher.cli.app import app
from matcher.cli.output import Format, render
from matcher.io import FileFormat, Kind
from matcher.profiles import Cooperation, CooperationType, Organisation, OrgType, Side
from matcher.service import Service

profiles_app = typer.Typer(help="Organisation profiles.", no_args_is_help=True)
cooperations_app = typer.Typer(help="Documented EU-Mexico cooperations.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")
app.add_typer(cooperations_app, name="cooperations")

PROFILE_COLUMNS = ["id", "name", "acronym", "side", "country", "region", "type", "sectors"]
COOPERATION_COLUMNS = ["id", "eu", "eu_name", "mx", "mx_name", "type", "year", "confidence", "tier", "split", "sources"]


class ShowFormat(str, Enum):
    table = "table"
    json = "json"


class ImportFormat(str, Enum):
    auto = "auto"
    csv = "csv"
    json = "json"
    xlsx = "xlsx"


class ImportKind(str, Enum):
    profiles = "profiles"
    cooperations = "cooperations"


def _summary(org: Organisation) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "acronym": org.acronym,
        "side": org.side.value,
        "country": org.country,
        "region": org.region,
        "type": org.type.value,
        "sectors": org.sectors,
    }


@app.command("init")
def init_command(
    seed: bool = typer.Option(True, "--seed/--no-seed", help="Load the shipped dataset into an empty store."),
) -> None:
    """Create or migrate the store and load the shipped dataset into it if it is empty."""
    with Service.open(init=False) as service:
        registry = service.registry
        seeded = registry.init(seed=seed)
        typer.echo(
            f"registry ready at {registry.url}: {registry.count_organisations()} organisations, "
            f"{registry.count_cooperations()} cooperations" + (f" ({seeded} seeded now)" if seeded else "")
        )


@profiles_app.command("list")
def profiles_list(
    side: Optional[Side] = typer.Option(None, "--side", case_sensitive=False, help="EU or MX."),
    country: Optional[str] = typer.Option(None, "--country", help="ISO country code, e.g. ES."),
    sector: Optional[str] = typer.Option(None, "--sector", help="Sector id or name; includes its subsectors."),
    type: Optional[OrgType] = typer.Option(None, "--type", case_sensitive=False, help="Organisation type."),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="Words to find in names and descriptions."),
    limit: Optional[int] = typer.Option(None, "--limit", min=0, help="At most this many rows."),
    fmt: Format = typer.Option(Format.table, "--format", case_sensitive=False),
) -> None:
    """List organisation profiles, optionally filtered."""
    with Service.open() as service:
        orgs = service.registry.list_organisations(side=side, country=country, sector=sector, type=type, q=query, limit=limit)
    if fmt is Format.json:
        render([o.model_dump(mode="json") for o in orgs], fmt)
    else:
        render([_summary(o) for o in orgs], fmt, PROFILE_COLUMNS, title=f"{len(orgs)} organisations")


def _show_rows(org: Organisation) -> list[dict[str, Any]]:
    facts = org.facts.model_dump(mode="json", exclude_defaults=True)
    rows: list[dict[str, Any]] = [{"field": k, "value": v} for k, v in _summary(org).items()]
    rows += [
        {"field": "aliases", "value": org.aliases},
        {"field": "website", "value": org.website},
        {"field": "description", "value": org.description},
    ]
    rows += [{"field": f"facts.{k}", "value": v} for k, v in facts.items()]
    if org.contact:
        rows.append({"field": "contact", "value": org.contact.model_dump(mode="json", exclude_none=True)})
    rows += [{"field": "source", "value": str(s)} for s in org.sources]
    return rows


def _coop_rows(coops: list[Cooperation], names: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "eu": c.eu,
            "eu_name": names.get(c.eu, ""),
            "mx": c.mx,
            "mx_name": names.get(c.mx, ""),
            "type": c.type.value,
            "year": c.year,
            "confidence": c.confidence.value,
            "tier": c.tier.value,
            "split": c.split.value,
            "description": c.description,
            "sources": [str(s) for s in c.sources],
        }
        for c in coops
    ]


@app.command("show")
def show(
    ref: str = typer.Argument(..., metavar="NAME_OR_ID", help="Id, name, acronym or alias."),
    fmt: ShowFormat = typer.Option(ShowFormat.table, "--format", case_sensitive=False),
) -> None:
    """Show one organisation in full, with its sources and cooperations."""
    with Service.open() as service:
        registry = service.registry
        org = registry.lookup(ref)
        coops = registry.list_cooperations(org_id=org.id)
        others = {o: registry.get(o).name for c in coops for o in c.pair}
    if fmt is ShowFormat.json:
        sys.stdout.write(json.dumps(org.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n")
        return
    render(_show_rows(org), Format.table, ["field", "value"], title=org.name)
    if coops:
        render(_coop_rows(coops, others), Format.table, COOPERATION_COLUMNS, title="cooperations")


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV, JSON or XLSX file."),
    kind: Optional[ImportKind] = typer.Option(None, "--kind", help="What the file holds (default: guessed)."),
    fmt: ImportFormat = typer.Option(ImportFormat.auto, "--format", help="File format (default: from the extension)."),
) -> None:
    """Import profiles or cooperations; the whole file is rejected if any row is bad."""
    with Service.open() as service:
        report = service.registry.import_file(file, kind=kind.value if kind else None, fmt=fmt.value)
    typer.echo(report.summary())


@app.command("export")
def export_command(
    kind: Kind = typer.Option(Kind.profiles, "--kind", help="profiles, cooperations or all (JSON/XLSX)."),
    fmt: FileFormat = typer.Option(FileFormat.json, "--format"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="File to write (default: standard output)."),
) -> None:
    """Export profiles or cooperations as CSV, JSON or XLSX."""
    if out is None and fmt is FileFormat.xlsx and sys.stdout.isatty():
        raise typer.BadParameter("XLSX is binary; give --out FILE", param_hint="--out")
    with Service.open() as service:
        data = service.registry.export(kind, fmt, out)
    if out is None:
        stream = getattr(sys.stdout, "buffer", None)
        if stream is not None:
            sys.stdout.flush()
            stream.write(data)
            stream.flush()
        else:
            sys.stdout.write(data.decode("utf-8", errors="replace"))
    else:
        typer.echo(f"wrote {kind.value} to {out}", err=True)


@cooperations_app.command("list")
def cooperations_list(
    org: Optional[str] = typer.Option(None, "--org", help="Only cooperations of this organisation."),
    type: Optional[CooperationType] = typer.Option(None, "--type", case_sensitive=False),
    fmt: Format = typer.Option(Format.table, "--format", case_sensitive=False),
) -> None:
    """List documented cooperations."""
    with Service.open() as service:
        registry = service.registry
        org_id = registry.lookup(org).id if org else None
        coops = registry.list_cooperations(org_id=org_id, type=type)
        names = {o.id: o.name for o in registry.all_organisations()} if fmt is not Format.json else {}
    if fmt is Format.json:
        render([c.model_dump(mode="json") for c in coops], fmt)
    else:
        render(_coop_rows(coops, names), fmt, COOPERATION_COLUMNS, title=f"{len(coops)} cooperations")
