"""The methods compared: the ranker, its reciprocal ablation, and the baselines, as score matrices."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from sklearn.ensemble import HistGradientBoostingClassifier

from matcher.calibration import active_organisations, newcomer_groups
from matcher.evaluation.metrics import rank_of, reciprocal_rank
from matcher.features import FEATURE_NAMES, FeatureContext, fits, monotone_constraints, text_vectorizer
from matcher.profiles import Organisation, Side
from matcher.ranker import DEFAULT_C, DEFAULT_COLD_START, cold_start_rows, fit_ranker, reciprocal_scores

RANKER = "ranker"
RANKER_RECIPROCAL = "ranker (reciprocal)"
#: The ranker's order under the list rule users see (:func:`matcher.features.fits`): candidates
#: that share a top-level sector, a declared interest or content with the query come first, the
#: others after them (served lists leave them out; the probability threshold is not applied).
RANKER_FIT = "ranker (fit rule)"
BASELINES = ("random", "popularity", "sector overlap", "tf-idf", "embedding")
METHODS = (RANKER, RANKER_FIT, RANKER_RECIPROCAL, *BASELINES)
#: A candidate model evaluated on request (``c2c evaluate --method "boosted trees"``): gradient-
#: boosted trees on the ranker's features, rows and sign constraints, with settings fixed in
#: advance. It lost to the logistic ranker on the newcomer and external protocols (README).
BOOSTED = "boosted trees"
#: The ranker with its settings chosen inside each fold (nested cross-validation): among
#: :data:`NESTED_GRID`, the one with the best newcomer MRR over :data:`NESTED_FOLDS` groups of
#: the fold's own training organisations, so the choice never sees the fold's held-out pairs.
NESTED = "ranker (nested)"
OPTIONAL = (BOOSTED, NESTED)
#: (C, cold-start weight) settings the nested ranker chooses among; the served ranker uses
#: (DEFAULT_C, DEFAULT_COLD_START), chosen earlier on the newcomer and leave-one-pair-out folds.
NESTED_GRID = tuple((C, cold) for C in (0.1, 1.0, 10.0) for cold in (0.0, 1.0))
NESTED_FOLDS = 5
BOOSTED_SETTINGS = {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 8, "min_samples_leaf": 40,
                    "l2_regularization": 1.0}

Scorer = Callable[[FeatureContext], np.ndarray]


def tfidf_matrix(texts: Sequence[str]) -> np.ndarray:
    """Row-normalised TF-IDF vectors of the profile texts (unsupervised; no pair information)."""
    return text_vectorizer().fit_transform(texts).toarray().astype(np.float64)


def scorers(organisations: Sequence[Organisation], texts: Sequence[str], C: float, negatives: int, seed: int) -> dict[str, Scorer]:
    """Score matrices (n_eu x n_mx) for every method, from a fold's context."""
    tfidf = tfidf_matrix(texts)
    rows = {o.id: i for i, o in enumerate(organisations)}
    cache: list[tuple[FeatureContext, np.ndarray, np.ndarray]] = []

    def ranker_scores(ctx: FeatureContext) -> tuple[np.ndarray, np.ndarray]:
        # Every ranker row of a fold shares one fit; the context itself is the cache key.
        if not cache or cache[0][0] is not ctx:
            grid = ctx.grid()
            model = fit_ranker(ctx, C=C, negatives=negatives, seed=seed, grid=grid)
            cache[:] = [(ctx, model.score_features(grid), fits(grid))]
        return cache[0][1], cache[0][2]

    def ranker_probabilities(ctx: FeatureContext) -> np.ndarray:
        return ranker_scores(ctx)[0]

    def ranker_fit_rule(ctx: FeatureContext) -> np.ndarray:
        probabilities, fit = ranker_scores(ctx)
        return probabilities + fit  # probabilities lie in (0, 1): fitting candidates all rank first

    boosted_cache: list[tuple[FeatureContext, np.ndarray]] = []

    def boosted_probabilities(ctx: FeatureContext) -> np.ndarray:
        if not boosted_cache or boosted_cache[0][0] is not ctx:
            grid = ctx.grid()
            e, m, y, w = ctx.training_rows(negatives, seed)
            X, y, w = cold_start_rows(grid[e, m], y, w, DEFAULT_COLD_START)
            model = HistGradientBoostingClassifier(monotonic_cst=monotone_constraints(FEATURE_NAMES), random_state=seed,
                                                   **BOOSTED_SETTINGS).fit(X, y, sample_weight=w)
            flat = model.predict_proba(grid.reshape(-1, grid.shape[-1]))[:, 1]
            boosted_cache[:] = [(ctx, flat.reshape(grid.shape[:2]))]
        return boosted_cache[0][1]

    nested_cache: list[tuple[FeatureContext, np.ndarray]] = []

    def nested_probabilities(ctx: FeatureContext) -> np.ndarray:
        if not nested_cache or nested_cache[0][0] is not ctx:
            C_best, cold_best = nested_choice(ctx, negatives, seed)
            grid = ctx.grid()
            model = fit_ranker(ctx, C=C_best, negatives=negatives, seed=seed, grid=grid, cold_start=cold_best)
            nested_cache[:] = [(ctx, model.score_features(grid))]
            nested_probabilities.choices.append((C_best, cold_best))  # type: ignore[attr-defined]
        return nested_cache[0][1]

    nested_probabilities.choices = []  # type: ignore[attr-defined]  # the setting chosen in each fold, in order

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
        return ctx.adjacency.eu_degree[:, None] + ctx.adjacency.mx_degree[None, :].astype(float)

    def sector_overlap(ctx: FeatureContext) -> np.ndarray:
        a, b = ctx.eu.expanded, ctx.mx.expanded
        inter = a @ b.T
        union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)

    return {
        RANKER: ranker_probabilities,
        RANKER_FIT: ranker_fit_rule,
        RANKER_RECIPROCAL: lambda ctx: reciprocal_scores(ranker_probabilities(ctx)),
        "random": lambda ctx: np.zeros((len(ctx.eu_ids), len(ctx.mx_ids))),
        "popularity": popularity,
        "sector overlap": once("sector overlap", sector_overlap),
        "tf-idf": once("tf-idf", tfidf_scores),
        "embedding": once("embedding", lambda ctx: (ctx.eu.vectors @ ctx.mx.vectors.T).astype(np.float64)),
        BOOSTED: boosted_probabilities,
        NESTED: nested_probabilities,
    }


def nested_choice(ctx: FeatureContext, negatives: int, seed: int) -> tuple[float, float]:
    """The (C, cold-start weight) of :data:`NESTED_GRID` with the best newcomer MRR inside ``ctx``.

    The organisations with documented pairs in ``ctx`` are shared out, at random (seeded), into
    :data:`NESTED_FOLDS` groups; each group's pairs are held out in turn, a ranker of every
    setting is fitted on the rest, and each held-out pair is ranked both ways among the
    counterpart side (the query's other documented partners left out, as in the evaluation).
    Ties in MRR go to the earlier setting of the grid."""
    if len(active_organisations(ctx)) < 2:
        return DEFAULT_C, DEFAULT_COLD_START
    total = np.zeros(len(NESTED_GRID))
    count = 0
    for _, held, sub in newcomer_groups(ctx, NESTED_FOLDS, seed):
        grid = sub.grid()
        probabilities = [fit_ranker(sub, C=C, negatives=negatives, seed=seed, grid=grid, cold_start=cold)
                         .score_features(grid) for C, cold in NESTED_GRID]
        for eu, mx in sorted({c.pair for c in ctx.cooperations if c.eu in held or c.mx in held}):
            for query, target in ((eu, mx), (mx, eu)):
                side, qrow = ctx.position(query)
                _, trow = ctx.position(target)
                known = ctx.adjacency.known(side, qrow)
                known[trow] = False
                candidates = np.flatnonzero(~known)
                for i, prob in enumerate(probabilities):
                    line = prob[qrow] if side is Side.EU else prob[:, qrow]
                    greater, ties, _ = rank_of(line, candidates, trow)
                    total[i] += reciprocal_rank(greater, ties)
                count += 1
    if not count:
        return DEFAULT_C, DEFAULT_COLD_START
    return NESTED_GRID[int(np.argmax(total))]
