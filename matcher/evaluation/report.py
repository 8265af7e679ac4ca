"""Results and their reports: per-protocol tables, JSON, Markdown and the per-pair ranks CSV."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.calibration import Reliability
from matcher.evaluation.bias import PopularityBias
from matcher.evaluation.bootstrap import Estimate, PairedTest
from matcher.evaluation.metrics import METRICS, RankRecord
from matcher.evaluation.protocols import LOOO


@dataclass
class ProtocolResult:
    """Every method's metrics under one protocol, the records behind them and the test."""

    protocol: str
    metrics: dict[str, dict[str, Estimate]]
    records: list[RankRecord]
    comparison: PairedTest | None
    folds: int
    pairs: int
    groups: int
    #: ``ranker (fit rule)`` against ``ranker``: what the served lists' fit rule does to the ranks.
    fit_rule: PairedTest | None = None

    def table(self) -> pd.DataFrame:
        """Rows = methods, columns = metrics, cells = 'value [low, high]'."""
        return pd.DataFrame({m: {k: v.format(1 if k == "median_rank" else 3) for k, v in ms.items()}
                             for m, ms in self.metrics.items()}).T[list(METRICS)]

    def newcomer_roles(self) -> dict[str, dict[str, dict[str, float]]]:
        """Newcomer protocol only (the group is the held-out organisation): per method, MRR and
        hit@10 of the queries the newcomer asks (``asks``) and of those where it is the
        candidate to be found (``found``). Empty for the other protocols."""
        if self.protocol != LOOO:
            return {}
        groups: dict[str, dict[str, list[RankRecord]]] = {}
        for r in self.records:
            role = "asks" if r.group == r.query else "found" if r.group == r.target else None
            if role is not None:
                groups.setdefault(r.method, {}).setdefault(role, []).append(r)
        return {m: {role: {"queries": len(rs), "mrr": float(np.mean([r.reciprocal_rank() for r in rs])),
                           "hit@10": float(np.mean([r.hit(10) for r in rs]))}
                    for role, rs in roles.items()}
                for m, roles in groups.items()}

    def values(self) -> pd.DataFrame:
        """Tidy frame: method, metric, value, low, high."""
        return pd.DataFrame([{"method": m, "metric": k, "value": e.value, "low": e.low, "high": e.high}
                             for m, ms in self.metrics.items() for k, e in ms.items()])


@dataclass
class EvaluationResult:
    """The outcome of :func:`evaluate`: one :class:`ProtocolResult` per protocol."""

    protocols: dict[str, ProtocolResult]
    settings: dict = field(default_factory=dict)
    bias: PopularityBias | None = None
    #: Per protocol (newcomer, external): how the calibrated probability matches what happened.
    calibration: dict[str, Reliability] = field(default_factory=dict)

    def ranks_frame(self) -> pd.DataFrame:
        """Every rank record of every protocol and method (the per-pair ranks CSV)."""
        rows = []
        for res in self.protocols.values():
            for r in res.records:
                d = asdict(r)
                d.update(rank=r.rank, reciprocal_rank=r.reciprocal_rank(), hit10=r.hit(10))
                rows.append(d)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {
            "settings": self.settings,
            "metrics": list(METRICS),
            "protocols": {
                name: {
                    "folds": res.folds, "pairs": res.pairs, "groups": res.groups,
                    "methods": {m: {k: asdict(e) for k, e in ms.items()} for m, ms in res.metrics.items()},
                    "comparison": asdict(res.comparison) if res.comparison else None,
                    "fit_rule": asdict(res.fit_rule) if res.fit_rule else None,
                    "newcomer_roles": res.newcomer_roles() or None,
                }
                for name, res in self.protocols.items()
            },
            "popularity_bias": asdict(self.bias) if self.bias else None,
            "calibration": {name: rel.to_dict() for name, rel in self.calibration.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_json_default)

    def to_markdown(self) -> str:
        """Tables per protocol with CIs, and the paired test, as Markdown."""
        lines = ["# Evaluation", ""]
        s = self.settings
        lines.append(f"{s.get('organisations', '?')} organisations, {s.get('pairs', '?')} documented pairs "
                     f"({s.get('test_pairs', 0)} of them the external test part); "
                     f"encoder `{s.get('encoder', '?')}`; {s.get('bootstrap', '?')} bootstrap resamples, seed {s.get('seed', '?')}. "
                     "Cells: value [95% CI]. Filtered ranking, both directions.")
        for name, res in self.protocols.items():
            lines += ["", f"## {name}", "", f"{res.folds} folds, {res.pairs} pairs, {len(res.records) // max(len(res.metrics), 1)} ranked queries per method.", ""]
            table = res.table()
            lines.append("| method | " + " | ".join(table.columns) + " |")
            lines.append("|---|" + "---|" * len(table.columns))
            for method, row in table.iterrows():
                lines.append(f"| {method} | " + " | ".join(row.values) + " |")
            for test, label in ((res.comparison, "best baseline by MRR"), (res.fit_rule, "the served lists' fit rule")):
                if test:
                    lines += ["", _paired_line(test, label)]
            roles = res.newcomer_roles()
            if roles:
                lines += ["", "Who is new: the held-out organisation asks for partners, or is the partner another "
                          "organisation's list should find (MRR / hit@10, no intervals).", "",
                          "| method | newcomer asks | newcomer is found |", "|---|---|---|"]
                for method, by_role in roles.items():
                    cells = [f"{by_role[r]['mrr']:.3f} / {by_role[r]['hit@10']:.3f}" if r in by_role else "–"
                             for r in ("asks", "found")]
                    lines.append(f"| {method} | " + " | ".join(cells) + " |")
        for name, rel in self.calibration.items():
            lines += ["", f"## calibration: {name}", "",
                      "Every ranked query's candidates, each with the calibrated probability shown to users; "
                      "observed = share that is the held-out partner.", "", rel.format()]
        if self.bias is not None:
            lines += ["", "## popularity bias (served ranker, trained on the training part)", "", self.bias.format()]
            if self.bias.over_suggested:
                lines.append("Above the line: " + ", ".join(f"{o['id']} ({o['share']:.0%})" for o in self.bias.over_suggested) + ".")
        return "\n".join(lines) + "\n"

    def write(self, directory: Path | str) -> list[Path]:
        """results.json, results.md and ranks.csv into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = [directory / "results.json", directory / "results.md", directory / "ranks.csv"]
        paths[0].write_text(self.to_json(), encoding="utf-8")
        paths[1].write_text(self.to_markdown(), encoding="utf-8")
        self.ranks_frame().to_csv(paths[2], index=False)
        return paths


def _json_default(value: object) -> object:
    """JSON for numpy scalars and NaN (as null); anything else as text."""
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def _paired_line(test: PairedTest, label: str) -> str:
    """One paired comparison in a sentence: the mean difference in reciprocal rank and both tests."""
    return (f"{test.method} vs {test.baseline} ({label}): mean difference in reciprocal rank "
            f"{test.mean_difference:+.3f} [{test.low:+.3f}, {test.high:+.3f}] over {test.groups} groups; "
            f"paired bootstrap p = {test.bootstrap_p:.4f}, Wilcoxon signed-rank p = {test.wilcoxon_p:.4g}.")
