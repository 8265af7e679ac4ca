"""How well suggestions recover the documented cooperations, measured honestly.

Protocols
---------
``leave-one-pair-out``
    For each documented pair (EU party e, MX party m): every cooperation of that pair is
    removed, a :class:`~matcher.features.FeatureContext` is rebuilt from the remaining
    cooperations (graph proximity, popularity and type affinity never see the pair) and the
    ranker is refitted on them. Then both directions are ranked: e ranks every Mexican
    organisation, m ranks every European one.
``leave-one-organisation-out``
    A newcomer: every pair of one organisation o is removed, the context and the ranker are
    rebuilt without them, and each held-out pair (o, p) is ranked from o's side and from p's.
``external``
    The external test part: the documented pairs whose ``split`` is ``test`` (the newest,
    recorded in the data). One fold: the context and the ranker are built from the training
    part only, and every test pair is ranked from both sides.

The two cross-validation protocols run on the training part only: nothing in the test part is
used for training, features, thresholds or model choice.

Filtered ranking: when a query ranks its candidates, the query's other known partners (its
training pairs, and in the newcomer protocol the other held-out partners) are removed from
the list; the held-out partner is always a candidate. Ties are broken at random, in
expectation: a target with ``g`` candidates scoring higher and ``t`` others scoring the same
has its rank uniform on ``g+1 .. g+t+1``; hit@k and reciprocal rank are the expected values
(so the ``random`` baseline is exactly its expected value).

Metrics (named by strings): ``hit@1``, ``hit@5``, ``hit@10``, ``mrr`` and ``median_rank``
over every (pair, direction) record; ``reciprocal_hit@10`` over pairs (the pair is in the top
10 of both directions); ``coverage@10`` (share of all registered organisations that appear in
at least one top-10 list of the protocol's queries). 95% confidence intervals come from a
seeded bootstrap over pairs (newcomer protocol: over held-out organisations); a resample has
fewer distinct queries, so the coverage interval is shifted by the bootstrap's bias. The learned
ranker is compared with the best baseline (by MRR) with a paired bootstrap and a Wilcoxon
signed-rank test on the per-pair reciprocal ranks.

Methods, all under the same protocol and filtering: ``ranker`` (the served pair probability),
``ranker (reciprocal)`` (the geometric mean of the pair's percentile in both sides' lists, an
ablation: it ranked the true partner lower in every protocol), and the baselines
``random``, ``popularity`` (candidate's number of training cooperations), ``sector overlap``
(Jaccard of the sectors with their parent sectors), ``tf-idf`` (cosine of TF-IDF vectors of
the profile texts) and ``embedding`` (cosine of the profile embeddings).

Hyper-parameters (``C``, negatives per positive, seed) are fixed in advance; nothing here
looks at a held-out pair when fitting.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon
from threadpoolctl import threadpool_limits

from matcher.errors import InvalidProfile
from matcher.features import FEATURE_NAMES, FeatureContext, fits, text_vectorizer
from matcher.profiles import Cooperation, Organisation, Side, Split
from matcher.ranker import DEFAULT_C, DEFAULT_NEGATIVES, fit_ranker, reciprocal_scores
from matcher.taxonomy import Taxonomy, load_taxonomy

LOPO = "leave-one-pair-out"
LOOO = "leave-one-organisation-out"
EXTERNAL = "external"
PROTOCOLS = (LOOO, EXTERNAL, LOPO)
METRICS = ("hit@1", "hit@5", "hit@10", "mrr", "median_rank", "reciprocal_hit@10", "coverage@10")
RANKER = "ranker"
RANKER_RECIPROCAL = "ranker (reciprocal)"
BASELINES = ("random", "popularity", "sector overlap", "tf-idf", "embedding")
METHODS = (RANKER, RANKER_RECIPROCAL, *BASELINES)
EU_TO_MX = "EU->MX"
MX_TO_EU = "MX->EU"



# ---------------------------------------------------------------------- ranks and metrics
@dataclass(frozen=True)
class RankRecord:
    """Where one held-out partner landed in one query's filtered candidate list."""

    protocol: str
    method: str
    group: str  # bootstrap unit: the pair (LOPO, external) or the held-out organisation (LOOO)
    pair: str  # "eu_id|mx_id"
    direction: str  # EU->MX or MX->EU
    query: str
    target: str
    greater: int  # candidates scoring strictly higher than the target
    ties: int  # other candidates scoring exactly the same
    candidates: int

    @property
    def rank(self) -> float:
        """Expected rank under random tie-breaking."""
        return 1 + self.greater + self.ties / 2

    def hit(self, k: int) -> float:
        """Probability that the target is in the top k."""
        return float(np.clip((k - self.greater) / (self.ties + 1), 0.0, 1.0))

    def reciprocal_rank(self) -> float:
        """Expected 1/rank under random tie-breaking."""
        lo, hi = self.greater + 1, self.greater + self.ties + 1
        return float(np.sum(1.0 / np.arange(lo, hi + 1)) / (hi - lo + 1))


def rank_of(scores: np.ndarray, candidates: np.ndarray, target: int) -> tuple[int, int, int]:
    """(greater, ties, n) of ``target`` among ``candidates`` (indices into ``scores``)."""
    values = np.round(np.asarray(scores, dtype=np.float64)[candidates], 12)
    mine = np.round(float(scores[target]), 12)
    greater = int(np.sum(values > mine))
    ties = int(np.sum(values == mine)) - 1
    return greater, max(ties, 0), len(candidates)


def top_k(scores: np.ndarray, candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """The k best candidates, ties broken by a seeded random order."""
    values = np.round(np.asarray(scores, dtype=np.float64)[candidates], 12)
    order = np.lexsort((rng.random(len(candidates)), -values))
    return candidates[order[:k]]


def metric_values(records: Sequence[RankRecord], covered: set[str] | None = None, population: int | None = None) -> dict[str, float]:
    """Every metric over a list of records (coverage needs the covered ids and population)."""
    if not records:
        return {m: float("nan") for m in METRICS}
    out = {
        "hit@1": float(np.mean([r.hit(1) for r in records])),
        "hit@5": float(np.mean([r.hit(5) for r in records])),
        "hit@10": float(np.mean([r.hit(10) for r in records])),
        "mrr": float(np.mean([r.reciprocal_rank() for r in records])),
        "median_rank": float(np.median([r.rank for r in records])),
    }
    by_pair: dict[tuple[str, str], dict[str, float]] = {}
    for r in records:
        by_pair.setdefault((r.group, r.pair), {})[r.direction] = r.hit(10)
    both = [d[EU_TO_MX] * d[MX_TO_EU] for d in by_pair.values() if len(d) == 2]
    out["reciprocal_hit@10"] = float(np.mean(both)) if both else float("nan")
    out["coverage@10"] = len(covered) / population if covered is not None and population else float("nan")
    return out


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% bootstrap interval."""

    value: float
    low: float
    high: float

    def format(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def bootstrap(records: Sequence[RankRecord], covers: dict[str, set[str]], population: int,
              resamples: int = 1000, seed: int = 0) -> dict[str, Estimate]:
    """Point estimates and 95% percentile intervals, resampling groups with replacement."""
    point = metric_values(records, set().union(*covers.values()) if covers else set(), population)
    groups = sorted({r.group for r in records})
    if not groups or resamples <= 0:
        return {m: Estimate(point[m], float("nan"), float("nan")) for m in METRICS}
    gi = {g: i for i, g in enumerate(groups)}
    G = len(groups)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(G, np.full(G, 1.0 / G), size=resamples).astype(float)  # (B, G)

    rec_group = np.array([gi[r.group] for r in records])
    per_record = {
        "hit@1": np.array([r.hit(1) for r in records]),
        "hit@5": np.array([r.hit(5) for r in records]),
        "hit@10": np.array([r.hit(10) for r in records]),
        "mrr": np.array([r.reciprocal_rank() for r in records]),
    }
    w = counts[:, rec_group]  # (B, R)
    total = w.sum(1)
    samples: dict[str, np.ndarray] = {m: (w @ v) / total for m, v in per_record.items()}

    ranks = np.array([r.rank for r in records])
    order = np.argsort(ranks, kind="stable")
    cum = np.cumsum(w[:, order], axis=1)
    lo_idx = (cum >= total[:, None] / 2).argmax(1)
    hi_idx = (cum > total[:, None] / 2).argmax(1)
    samples["median_rank"] = (ranks[order][lo_idx] + ranks[order][hi_idx]) / 2

    by_pair: dict[tuple[str, str], dict[str, float]] = {}
    for r in records:
        by_pair.setdefault((r.group, r.pair), {})[r.direction] = r.hit(10)
    pair_keys = [k for k, d in by_pair.items() if len(d) == 2]
    if pair_keys:
        vals = np.array([by_pair[k][EU_TO_MX] * by_pair[k][MX_TO_EU] for k in pair_keys])
        pw = counts[:, [gi[k[0]] for k in pair_keys]]
        samples["reciprocal_hit@10"] = (pw @ vals) / np.maximum(pw.sum(1), 1e-12)
    else:
        samples["reciprocal_hit@10"] = np.full(resamples, np.nan)

    ids = sorted(set().union(*covers.values())) if covers else []
    if ids and population:
        col = {oid: j for j, oid in enumerate(ids)}
        cover = np.zeros((G, len(ids)))
        for g, covered in covers.items():
            if g in gi:
                cover[gi[g], [col[o] for o in covered]] = 1
        samples["coverage@10"] = ((counts @ cover) > 0).sum(1) / population
    else:
        samples["coverage@10"] = np.full(resamples, np.nan)

    out = {}
    for m in METRICS:
        s = samples[m]
        if not np.isfinite(s).any():
            out[m] = Estimate(point[m], float("nan"), float("nan"))
            continue
        low, high = np.nanpercentile(s, [2.5, 97.5])
        if m == "coverage@10":
            # A resample holds fewer distinct queries, so its coverage is biased low; shift the
            # percentile interval by the estimated bias (bootstrap mean minus point estimate).
            bias = float(np.nanmean(s)) - point[m]
            low, high = max(low - bias, 0.0), min(high - bias, 1.0)
        out[m] = Estimate(point[m], float(low), float(high))
    return out


@dataclass(frozen=True)
class PairedTest:
    """The ranker against one baseline on per-group mean reciprocal rank."""

    method: str
    baseline: str
    mean_difference: float
    low: float
    high: float
    bootstrap_p: float
    wilcoxon_p: float
    groups: int


def paired_test(a: Sequence[RankRecord], b: Sequence[RankRecord], resamples: int = 1000, seed: int = 0) -> PairedTest:
    """Paired bootstrap and Wilcoxon signed-rank test of the per-group reciprocal ranks."""
    def per_group(records: Sequence[RankRecord]) -> dict[str, float]:
        acc: dict[str, list[float]] = {}
        for r in records:
            acc.setdefault(r.group, []).append(r.reciprocal_rank())
        return {g: float(np.mean(v)) for g, v in acc.items()}

    ga, gb = per_group(a), per_group(b)
    groups = sorted(set(ga) & set(gb))
    diff = np.array([ga[g] - gb[g] for g in groups])
    method = a[0].method if a else ""
    baseline = b[0].method if b else ""
    if len(diff) == 0:
        return PairedTest(method, baseline, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"), 0)
    try:
        p_wil = float(wilcoxon(diff, zero_method="wilcox").pvalue) if np.any(diff != 0) else 1.0
    except ValueError:
        p_wil = float("nan")
    if resamples <= 0:
        return PairedTest(method, baseline, float(diff.mean()), float("nan"), float("nan"), float("nan"), p_wil, len(diff))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[idx].mean(1)
    p_boot = float(min(1.0, 2 * min(np.mean(means <= 0), np.mean(means >= 0))))
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedTest(method, baseline, float(diff.mean()), float(low), float(high), p_boot, p_wil, len(diff))


# ---------------------------------------------------------------------- folds
@dataclass(frozen=True)
class Fold:
    """One held-out set: the cooperations to train on, the pairs to rank, the queries."""

    name: str
    group: str
    train: list[Cooperation]
    heldout: list[tuple[str, str]]
    queries: list[tuple[str, str, str]]  # (pair key, query id, target id)


def unique_pairs(cooperations: Iterable[Cooperation]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(c.pair for c in cooperations))


def pair_key(pair: tuple[str, str]) -> str:
    return f"{pair[0]}|{pair[1]}"


def folds(protocol: str, cooperations: Sequence[Cooperation]) -> list[Fold]:
    """The folds of a protocol; training cooperations never include a held-out pair, and never a
    pair of the external test part."""
    test = [c for c in cooperations if c.split is Split.TEST]
    cooperations = [c for c in cooperations if c.split is not Split.TEST]
    if protocol == EXTERNAL:
        train_pairs = set(unique_pairs(cooperations))
        held = [p for p in unique_pairs(test) if p not in train_pairs]
        queries = [q for pair in held for q in ((pair_key(pair), pair[0], pair[1]), (pair_key(pair), pair[1], pair[0]))]
        return [Fold(EXTERNAL, EXTERNAL, list(cooperations), held, queries)] if held else []
    if protocol == LOPO:
        out = []
        for pair in unique_pairs(cooperations):
            train = [c for c in cooperations if c.pair != pair]
            key = pair_key(pair)
            out.append(Fold(key, key, train, [pair], [(key, pair[0], pair[1]), (key, pair[1], pair[0])]))
        return out
    if protocol == LOOO:
        out = []
        orgs = list(dict.fromkeys([c.eu for c in cooperations] + [c.mx for c in cooperations]))
        for org in orgs:
            held = [p for p in unique_pairs(cooperations) if org in p]
            train = [c for c in cooperations if org not in c.pair]
            queries = []
            for pair in held:
                partner = pair[1] if pair[0] == org else pair[0]
                queries += [(pair_key(pair), org, partner), (pair_key(pair), partner, org)]
            out.append(Fold(org, org, train, held, queries))
        return out
    raise InvalidProfile(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}", "protocol")


def fold_context(organisations: Sequence[Organisation], fold: Fold, vectors: np.ndarray, taxonomy: Taxonomy) -> FeatureContext:
    """The feature context of a fold: built from its training cooperations only."""
    return FeatureContext.build(organisations, fold.train, vectors, taxonomy)


# ---------------------------------------------------------------------- methods
Scorer = Callable[[FeatureContext], np.ndarray]


def tfidf_matrix(texts: Sequence[str]) -> np.ndarray:
    """Row-normalised TF-IDF vectors of the profile texts (unsupervised; no pair information)."""
    return text_vectorizer().fit_transform(texts).toarray().astype(np.float64)


def scorers(organisations: Sequence[Organisation], texts: Sequence[str], C: float, negatives: int, seed: int) -> dict[str, Scorer]:
    """Score matrices (n_eu x n_mx) for every method, from a fold's context."""
    tfidf = tfidf_matrix(texts)
    rows = {o.id: i for i, o in enumerate(organisations)}
    cache: list[tuple[FeatureContext, np.ndarray]] = []

    def ranker_probabilities(ctx: FeatureContext) -> np.ndarray:
        # Both ranker rows of a fold share one fit; the context itself is the cache key.
        if not cache or cache[0][0] is not ctx:
            grid = ctx.grid()
            model = fit_ranker(ctx, C=C, negatives=negatives, seed=seed, grid=grid)
            cache[:] = [(ctx, model.score_features(grid))]
        return cache[0][1]

    fixed: dict[tuple[str, tuple[str, ...], tuple[str, ...]], np.ndarray] = {}

    def once(name: str, compute: Callable[[FeatureContext], np.ndarray]) -> Scorer:
        """Scores that do not depend on cooperations are computed once for all folds."""
        def scorer(ctx: FeatureContext) -> np.ndarray:
            key = (name, tuple(ctx.eu_ids), tuple(ctx.mx_ids))
            if key not in fixed:
                fixed[key] = compute(ctx)
            return fixed[key]
        return scorer

    def tfidf_scores(ctx: FeatureContext) -> np.ndarray:
        eu = tfidf[[rows[i] for i in ctx.eu_ids]]
        mx = tfidf[[rows[i] for i in ctx.mx_ids]]
        return eu @ mx.T

    def popularity(ctx: FeatureContext) -> np.ndarray:
        # Within an EU query's row only the MX degree varies, within a column only the EU one.
        return ctx.adjacency.sum(1)[:, None] + ctx.adjacency.sum(0)[None, :].astype(float)

    def sector_overlap(ctx: FeatureContext) -> np.ndarray:
        a, b = ctx.eu.expanded, ctx.mx.expanded
        inter = a @ b.T
        union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)

    return {
        RANKER: ranker_probabilities,
        RANKER_RECIPROCAL: lambda ctx: reciprocal_scores(ranker_probabilities(ctx)),
        "random": lambda ctx: np.zeros((len(ctx.eu_ids), len(ctx.mx_ids))),
        "popularity": popularity,
        "sector overlap": once("sector overlap", sector_overlap),
        "tf-idf": once("tf-idf", tfidf_scores),
        "embedding": once("embedding", lambda ctx: (ctx.eu.vectors @ ctx.mx.vectors.T).astype(np.float64)),
    }


# ---------------------------------------------------------------------- popularity bias
#: An organisation in more than this share of the other side's top-10 lists is over-suggested,
#: unless it shares a top-level sector with every query whose list it is in.
OVER_SUGGESTED_SHARE = 0.20


@dataclass
class PopularityBias:
    """How the served ranker's top-10 lists spread over the registry (fitted on the training part,
    every registered organisation of both sides asking, documented partners left out, the fit
    rule applied as in the served lists)."""

    queries: int
    items: int
    unrelated_share: float  # share of suggested items that share no top-level sector with their query
    max_share: float  # the largest share of the other side's lists one organisation appears in
    max_share_org: str
    over_suggested: list[dict]  # organisations above OVER_SUGGESTED_SHARE, with their share
    over_suggested_unrelated: int  # of those, how many appear for a query they share no sector with

    def format(self) -> str:
        return (f"{self.queries} queries, {self.items} suggested items; {self.unrelated_share:.1%} of the items share no "
                f"top-level sector with their query; the most suggested organisation ({self.max_share_org}) is in "
                f"{self.max_share:.1%} of the other side's lists; {len(self.over_suggested)} organisation(s) above "
                f"{OVER_SUGGESTED_SHARE:.0%}, {self.over_suggested_unrelated} of them also for queries they share no sector with.")


def popularity_bias(ctx: FeatureContext, prob: np.ndarray, grid: np.ndarray, k: int = 10) -> PopularityBias:
    """Top-``k`` lists of every organisation of both sides under the pair probabilities ``prob``."""
    fit = fits(grid)
    roots = (ctx.eu.roots @ ctx.mx.roots.T) > 0  # (n_eu, n_mx) a shared top-level sector
    counts: dict[str, int] = {}
    unrelated_by_org: dict[str, int] = {}
    queries = items = unrelated = 0
    for side in (Side.EU, Side.MX):
        n_query = len(ctx.ids(side))
        for q in range(n_query):
            line = prob[q] if side is Side.EU else prob[:, q]
            known = ctx.adjacency[q] if side is Side.EU else ctx.adjacency[:, q]
            ok = (fit[q] if side is Side.EU else fit[:, q]) & ~known
            shared = roots[q] if side is Side.EU else roots[:, q]
            cand = np.flatnonzero(ok)
            top = cand[np.argsort(-line[cand], kind="stable")[:k]]
            queries += 1
            items += len(top)
            for j in top:
                oid = ctx.ids(side.counterpart)[j]
                counts[oid] = counts.get(oid, 0) + 1
                if not shared[j]:
                    unrelated += 1
                    unrelated_by_org[oid] = unrelated_by_org.get(oid, 0) + 1
    eu_ids = set(ctx.eu_ids)
    share = {oid: c / len(ctx.mx_ids if oid in eu_ids else ctx.eu_ids) for oid, c in counts.items()}
    over = sorted(((oid, v) for oid, v in share.items() if v > OVER_SUGGESTED_SHARE), key=lambda t: -t[1])
    top_org = max(share, key=share.get) if share else ""
    return PopularityBias(queries, items, unrelated / items if items else 0.0, share.get(top_org, 0.0), top_org,
                          [{"id": oid, "share": round(v, 3)} for oid, v in over],
                          sum(1 for oid, _ in over if unrelated_by_org.get(oid)))


# ---------------------------------------------------------------------- results
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

    def table(self) -> pd.DataFrame:
        """Rows = methods, columns = metrics, cells = 'value [low, high]'."""
        return pd.DataFrame({m: {k: v.format(1 if k == "median_rank" else 3) for k, v in ms.items()}
                             for m, ms in self.metrics.items()}).T[list(METRICS)]

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
                }
                for name, res in self.protocols.items()
            },
            "popularity_bias": asdict(self.bias) if self.bias else None,
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
            c = res.comparison
            if c:
                lines += ["", f"{c.method} vs {c.baseline} (best baseline by MRR): mean difference in reciprocal rank "
                          f"{c.mean_difference:+.3f} [{c.low:+.3f}, {c.high:+.3f}] over {c.groups} groups; "
                          f"paired bootstrap p = {c.bootstrap_p:.4f}, Wilcoxon signed-rank p = {c.wilcoxon_p:.4g}."]
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


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


# ---------------------------------------------------------------------- the run
def run_protocol(
    protocol: str,
    organisations: Sequence[Organisation],
    cooperations: Sequence[Cooperation],
    vectors: np.ndarray,
    taxonomy: Taxonomy,
    methods: dict[str, Scorer],
    seed: int = 0,
    progress: bool = False,
) -> tuple[list[RankRecord], dict[str, dict[str, set[str]]]]:
    """Rank every held-out pair of every fold with every method.

    Returns the records and, per method, the ids covered by each group's top-10 lists.
    """
    fold_list = folds(protocol, cooperations)
    iterator: Iterable[Fold] = fold_list
    if progress:
        from tqdm import tqdm

        iterator = tqdm(fold_list, desc=protocol, unit="fold")
    records: list[RankRecord] = []
    covers: dict[str, dict[str, set[str]]] = {m: {} for m in methods}
    rng = np.random.default_rng(seed)
    for fold in iterator:
        ctx = fold_context(organisations, fold, vectors, taxonomy)
        held = {p for p in fold.heldout}
        scores = {m: np.asarray(f(ctx), dtype=np.float64) for m, f in methods.items()}
        for key, query, target in fold.queries:
            side, qrow = ctx.position(query)
            _, trow = ctx.position(target)
            if side is Side.EU:
                known = ctx.adjacency[qrow].copy()
                other = [ctx.position(p[1])[1] for p in held if p[0] == query and p[1] != target]
            else:
                known = ctx.adjacency[:, qrow].copy()
                other = [ctx.position(p[0])[1] for p in held if p[1] == query and p[0] != target]
            known[other] = True
            known[trow] = False
            candidates = np.flatnonzero(~known)
            counterpart = ctx.ids(side.counterpart)
            # The external part is one fold; its bootstrap unit is the pair.
            group = key if protocol == EXTERNAL else fold.group
            for method, matrix in scores.items():
                line = matrix[qrow] if side is Side.EU else matrix[:, qrow]
                g, t, n = rank_of(line, candidates, trow)
                records.append(RankRecord(protocol, method, group, key,
                                          EU_TO_MX if side is Side.EU else MX_TO_EU, query, target, g, t, n))
                best = top_k(line, candidates, 10, rng)
                covers[method].setdefault(group, set()).update(counterpart[i] for i in best)
    return records, covers


def evaluate(
    organisations: Sequence[Organisation],
    cooperations: Sequence[Cooperation],
    vectors: np.ndarray,
    taxonomy: Taxonomy | None = None,
    texts: Sequence[str] | None = None,
    protocols: Sequence[str] = PROTOCOLS,
    methods: Sequence[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    C: float = DEFAULT_C,
    negatives: int = DEFAULT_NEGATIVES,
    progress: bool = False,
    encoder_name: str = "",
) -> EvaluationResult:
    """Evaluate the ranker and every baseline under the given protocols.

    ``vectors`` holds one embedding per organisation (aligned with ``organisations``);
    ``texts`` the profile texts for TF-IDF (built with
    :func:`matcher.text.profile_text` when omitted).
    """
    taxonomy = taxonomy or load_taxonomy()
    organisations = list(organisations)
    if texts is None:
        from matcher.text import profile_text

        texts = [profile_text(o, taxonomy) for o in organisations]
    # Same inputs in any order give the same figures: work in id order.
    order = sorted(range(len(organisations)), key=lambda i: organisations[i].id)
    organisations = [organisations[i] for i in order]
    texts = [texts[i] for i in order]
    vectors = np.asarray(vectors)[order]
    cooperations = sorted(cooperations, key=lambda c: c.id)
    all_scorers = scorers(organisations, texts, C, negatives, seed)
    chosen = list(methods) if methods is not None else list(METHODS)
    unknown = [m for m in chosen if m not in all_scorers]
    if unknown:
        raise InvalidProfile(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}", "methods")
    selected = {m: all_scorers[m] for m in chosen}
    population = len(organisations)
    out: dict[str, ProtocolResult] = {}
    for protocol in protocols:
        n_folds = len(folds(protocol, cooperations))
        if not n_folds:
            continue  # e.g. no external test part in this data
        # Many small matrix products: one BLAS thread is several times faster than two.
        with threadpool_limits(limits=1, user_api="blas"):
            records, covers = run_protocol(protocol, organisations, cooperations, vectors, taxonomy, selected, seed, progress)
        metrics = {}
        for m in chosen:
            recs = [r for r in records if r.method == m]
            metrics[m] = bootstrap(recs, covers[m], population, resamples, seed)
        comparison = None
        baselines = [b for b in chosen if b in BASELINES]
        if RANKER in chosen and baselines:
            best = max(baselines, key=lambda b: metrics[b]["mrr"].value)
            comparison = paired_test([r for r in records if r.method == RANKER],
                                     [r for r in records if r.method == best], resamples, seed)
        out[protocol] = ProtocolResult(protocol, metrics, records, comparison, n_folds,
                                       len({r.pair for r in records}), len({r.group for r in records}))
    bias = None
    if RANKER in chosen:
        train = [c for c in cooperations if c.split is not Split.TEST]
        ctx = FeatureContext.build(organisations, train, vectors, taxonomy)
        if ctx.adjacency.any():
            grid = ctx.grid()
            model = fit_ranker(ctx, C=C, negatives=negatives, seed=seed, grid=grid)
            bias = popularity_bias(ctx, model.score_features(grid), grid)
    test_pairs = unique_pairs(c for c in cooperations if c.split is Split.TEST)
    settings = {"seed": seed, "bootstrap": resamples, "C": C, "negatives_per_positive": negatives,
                "encoder": encoder_name, "organisations": population, "cooperations": len(cooperations),
                "pairs": len(unique_pairs(cooperations)), "test_pairs": len(test_pairs),
                "features": list(FEATURE_NAMES)}
    return EvaluationResult(out, settings, bias)


def evaluate_dataset(encoder=None, dataset=None, **kwargs) -> EvaluationResult:
    """Evaluate on the shipped dataset with ``encoder`` (default: the configured model)."""
    from matcher.dataset import load_dataset
    from matcher.embeddings import get_encoder
    from matcher.text import profile_text

    dataset = dataset or load_dataset()
    encoder = encoder or get_encoder()
    taxonomy = kwargs.pop("taxonomy", None) or load_taxonomy()
    texts = [profile_text(o, taxonomy) for o in dataset.organisations]
    vectors = encoder.encode(texts)
    return evaluate(dataset.organisations, dataset.cooperations, vectors, taxonomy=taxonomy, texts=texts,
                    encoder_name=getattr(encoder, "name", type(encoder).__name__), **kwargs)
