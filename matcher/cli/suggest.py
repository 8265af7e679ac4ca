"""Suggestion commands: ``suggest``, ``train`` and ``evaluate``.

Thin wrappers over :class:`matcher.ranking.Suggester` and :mod:`matcher.evaluation`; nothing
here computes a score.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from matcher.cli.app import app
from matcher.cli.output import Format, render
from matcher.errors import InvalidProfile
from matcher.intake import new_organisation, parse_side, resolve_sectors
from matcher.profiles import Organisation, OrgType
from matcher.ranking import Suggester
from matcher.scorecard import save_evaluation
from matcher.service import Service
from matcher.settings import load_settings
from matcher.taxonomy import load_taxonomy
from matcher.text import slugify

SUGGEST_COLUMNS = ["rank", "name", "country", "probability", "why"]


class SuggestFormat(str, Enum):
    table = "table"
    json = "json"


class EvaluateFormat(str, Enum):
    markdown = "markdown"
    json = "json"


def _open(**overrides: object) -> Service:
    return Service.open(load_settings(**overrides), index_progress=True)


def _profile_from_text(text: str, side: Optional[str], sectors: list[str], name: Optional[str],
                       suggester: Suggester) -> Organisation:
    if side is None:
        raise InvalidProfile("a profile given as text needs --side EU or --side MX", "side")
    side_value = parse_side(side)
    sector_ids = (resolve_sectors(sectors, load_taxonomy(), indexed=False) if sectors
                  else suggester.read_sectors(text))
    if not sector_ids:
        raise InvalidProfile("no sector given or recognised in the text; add --sector", "sector")
    if not sectors:
        typer.echo("main sector read from the text: " + ", ".join(sector_ids) + " (set sectors with --sector)",
                   err=True)
    label = name or "New profile"
    return new_organisation(id=slugify(label) or "new-profile", name=label, side=side_value, type=OrgType.CLUSTER,
                            sectors=sector_ids, description=text)


@app.command("suggest")
def suggest_command(
    ref: Optional[str] = typer.Argument(None, metavar="[NAME_OR_ID]", help="Registered organisation: id, name, acronym or alias."),
    k: int = typer.Option(10, "-k", "--k", help="How many suggestions."),
    sector: Optional[list[str]] = typer.Option(None, "--sector", help="Only candidates in this sector or below it (repeatable). With --text: the profile's sectors."),
    country: Optional[list[str]] = typer.Option(None, "--country", help="Only candidates from this country (ISO code, repeatable)."),
    type: Optional[list[str]] = typer.Option(None, "--type", help="Only candidates of this organisation type (repeatable)."),
    exclude_existing: bool = typer.Option(False, "--exclude-existing", help="Leave out organisations already cooperating with it."),
    diversify: bool = typer.Option(False, "--diversify", help="Avoid near-identical suggestions (maximal marginal relevance)."),
    text: Optional[str] = typer.Option(None, "--text", help="Suggest for an unsaved profile described by this text."),
    side: Optional[str] = typer.Option(None, "--side", help="With --text: the profile's side, EU or MX."),
    name: Optional[str] = typer.Option(None, "--name", help="With --text: the profile's name."),
    fmt: SuggestFormat = typer.Option(SuggestFormat.table, "--format", help="Output format."),
) -> None:
    """Suggest partners on the other side, best first, each with a short explanation."""
    if (ref is None) == (text is None):
        raise InvalidProfile("give either NAME_OR_ID or --text", "NAME_OR_ID")
    with _open() as service:
        if text is not None:
            profile = _profile_from_text(text, side, sector or [], name, service.suggester)
            result = service.suggester.suggest_for_profile(profile, k=k, country=country, type=type,
                                                           diversify=diversify)
        else:
            result = service.suggester.suggest(ref, k=k, sector=sector, country=country, type=type,
                                               exclude_existing=exclude_existing, diversify=diversify)
    if fmt is SuggestFormat.json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    rows = [{"rank": s.rank, "name": s.name, "country": s.country, "probability": "-" if s.probability is None else f"{s.probability:.4f}",
             "why": s.explanation.summary} for s in result.items]
    title = f"Suggestions for {result.query.name} ({result.query.side.value})"
    if rows:
        render(rows, Format.table, SUGGEST_COLUMNS, title=title)
    if result.note:
        typer.echo(f"note: {result.note}")


@app.command("train")
def train_command(
    feedback: bool = typer.Option(
        None, "--feedback/--no-feedback",
        help="Add users' verdicts on suggestions to the documented cooperations "
             "(default: the C2C_TRAIN_WITH_FEEDBACK setting, on unless changed)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the fitted ranker as ranker.json in this folder."),
) -> None:
    """Refit the ranker on the registry's documented cooperations (and feedback) and save it in the store."""
    with _open(**({} if feedback is None else {"train_with_feedback": feedback})) as service:
        summary = service.suggester.train()
        if out is not None:
            export = service.suggester.export_ranker(out)
    typer.echo(f"trained on {summary['training_pairs']} documented pairs and {summary['negatives']} sampled "
               f"non-pairs (data version {summary['data_version']})")
    used = summary.get("feedback")
    if used is None:
        typer.echo("feedback: left out")
    else:
        skipped = sum(used["ignored"].values())
        typer.echo(f"feedback: {used['positives']} positive and {used['negatives']} negative pair(s) added"
                   + (f"; {skipped} verdict(s) ignored ({', '.join(f'{k} {v}' for k, v in used['ignored'].items() if v)})"
                      if skipped else ""))
    coefs = sorted(summary["coefficients"].items(), key=lambda kv: -abs(kv[1]))
    typer.echo("strongest features: " + ", ".join(f"{n} {c:+.2f}" for n, c in coefs[:5]))
    calibration = summary.get("calibration")
    typer.echo("calibration: " + (f"fitted on {calibration['pairs']} held-out pairs ({calibration['positives']} documented)"
                                  if calibration else "none (too few documented cooperations)"))
    typer.echo("saved in the store" + (f"; a copy written to {export}" if out is not None else ""))


@app.command("evaluate")
def evaluate_command(
    fmt: EvaluateFormat = typer.Option(EvaluateFormat.markdown, "--format", help="Output format."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write results.json, results.md and ranks.csv here."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for the confidence intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of negatives, tie-breaking and bootstrap."),
    method: Optional[list[str]] = typer.Option(
        None, "--method", help='Methods to compare (repeatable; default: the ranker, its reciprocal form and every '
                               'baseline). Also available: "boosted trees", a candidate model, and "ranker '
                               '(nested)", the ranker with its settings chosen inside each fold (slow).'),
) -> None:
    """Score suggestions against the documented cooperations (newcomer, external and leave-one-pair-out)."""
    # Imported here, like the Suggester in matcher.service: every command module is imported
    # at start-up, and the ranking stack takes seconds that registry commands need not pay.
    from matcher.embeddings import get_encoder
    from matcher.text import profile_text
    from matcher.evaluation import evaluate

    with Service.open() as service:
        settings = service.settings
        orgs = service.registry.all_organisations()
        coops = service.registry.all_cooperations()
        taxonomy = service.registry.taxonomy
    if not coops:
        raise InvalidProfile("the registry has no documented cooperations to evaluate against", "cooperations")
    encoder = get_encoder(settings)
    texts = [profile_text(o, taxonomy) for o in orgs]
    vectors = encoder.encode(texts, show_progress_bar=True)
    result = evaluate(orgs, coops, vectors, taxonomy=taxonomy, texts=texts, resamples=bootstrap, seed=seed,
                      progress=True, encoder_name=encoder.name, methods=method or None)
    if method is None:  # the model card reports the last full evaluation
        save_evaluation(result.to_json(), settings)
    if out is not None:
        for path in result.write(out):
            typer.echo(f"wrote {path}", err=True)
    sys.stdout.write(result.to_json() + "\n" if fmt is EvaluateFormat.json else result.to_markdown())
