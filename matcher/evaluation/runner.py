"""The run: every fold of every protocol ranked with every method, then the metrics and the test."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from matcher.calibration import Reliability, cross_fitted, fit_calibration, out_of_fold_scores, reliability
from matcher.errors import InvalidProfile
from matcher.evaluation.baselines import BASELINES, METHODS, OPTIONAL, RANKER, RANKER_FIT, Scorer, scorers
from matcher.evaluation.bias import popularity_bias
from matcher.evaluation.bootstrap import bootstrap, paired_test
from matcher.evaluation.metrics import EU_TO_MX, MX_TO_EU, RankRecord, rank_of, top_k
from matcher.evaluation.protocols import EXTERNAL, LOOO, PROTOCOLS, Fold, fold_context, folds, unique_pairs
from matcher.evaluation.report import EvaluationResult, ProtocolResult
from matcher.features import FEATURE_NAMES, FeatureContext
from matcher.profiles import Cooperation, Organisation, Side, Split
from matcher.ranker import DEFAULT_C, DEFAULT_NEGATIVES, fit_ranker
from matcher.taxonomy import Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from matcher.dataset import Dataset
    from matcher.embeddings import Encoder


def run_protocol(
    protocol: str,
    organisations: Sequence[Organisation],
    cooperations: Sequence[Cooperation],
    vectors: np.ndarray,
    taxonomy: Taxonomy,
    methods: dict[str, Scorer],
    seed: int = 0,
    progress: bool = False,
    samples: list[tuple[np.ndarray, np.ndarray, str]] | None = None,
) -> tuple[list[RankRecord], dict[str, dict[str, set[str]]]]:
    """Rank every held-out pair of every fold with every method.

    Returns the records and, per method, the ids covered by each group's top-10 lists. With
    ``samples`` given, every query's ranker scores over its candidates are appended to it as
    ``(scores, labels, group)`` (label 1 for the held-out partner), for the calibration check.
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
            known = ctx.adjacency.known(side, qrow)
            if side is Side.EU:
                other = [ctx.position(p[1])[1] for p in held if p[0] == query and p[1] != target]
            else:
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
                if samples is not None and method == RANKER:
                    samples.append((line[candidates], (candidates == trow).astype(int), group))
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
        raise InvalidProfile(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS + OPTIONAL)}", "methods")
    selected = {m: all_scorers[m] for m in chosen}
    population = len(organisations)
    out: dict[str, ProtocolResult] = {}
    reliabilities: dict[str, Reliability] = {}
    # The served recipe's context: the training part only (the popularity bias and the external
    # calibration check both read it).
    train_ctx = FeatureContext.build(organisations, [c for c in cooperations if c.split is not Split.TEST],
                                     vectors, taxonomy) if RANKER in chosen else None
    for protocol in protocols:
        n_folds = len(folds(protocol, cooperations))
        if not n_folds:
            continue  # e.g. no external test part in this data
        # Many small matrix products: one BLAS thread is several times faster than two.
        samples: list[tuple[np.ndarray, np.ndarray, str]] | None = [] if RANKER in chosen else None
        with threadpool_limits(limits=1, user_api="blas"):
            records, covers = run_protocol(protocol, organisations, cooperations, vectors, taxonomy, selected, seed,
                                           progress, samples)
            if samples and protocol in (LOOO, EXTERNAL):
                reliabilities[protocol] = _reliability(protocol, samples, train_ctx, C, negatives, seed)
        by_method: dict[str, list[RankRecord]] = {m: [] for m in chosen}
        for r in records:
            by_method[r.method].append(r)
        metrics = {m: bootstrap(by_method[m], covers[m], population, resamples, seed) for m in chosen}
        comparison = None
        baselines = [b for b in chosen if b in BASELINES]
        if RANKER in chosen and baselines:
            best = max(baselines, key=lambda b: metrics[b]["mrr"].value)
            comparison = paired_test(by_method[RANKER], by_method[best], resamples, seed)
        fit_rule = None
        if RANKER in chosen and RANKER_FIT in chosen:
            fit_rule = paired_test(by_method[RANKER_FIT], by_method[RANKER], resamples, seed)
        out[protocol] = ProtocolResult(protocol, metrics, records, comparison, n_folds,
                                       len({r.pair for r in records}), len({r.group for r in records}), fit_rule)
    bias = None
    if train_ctx is not None and train_ctx.adjacency.any():
        grid = train_ctx.grid()
        model = fit_ranker(train_ctx, C=C, negatives=negatives, seed=seed, grid=grid)
        bias = popularity_bias(train_ctx, model.score_features(grid), grid)
    test_pairs = unique_pairs(c for c in cooperations if c.split is Split.TEST)
    settings = {"seed": seed, "bootstrap": resamples, "C": C, "negatives_per_positive": negatives,
                "encoder": encoder_name, "organisations": population, "cooperations": len(cooperations),
                "pairs": len(unique_pairs(cooperations)), "test_pairs": len(test_pairs),
                "features": list(FEATURE_NAMES)}
    return EvaluationResult(out, settings, bias, reliabilities)


def _reliability(protocol: str, samples: list[tuple[np.ndarray, np.ndarray, str]], train_ctx: FeatureContext,
                 C: float, negatives: int, seed: int) -> Reliability:
    """How well the calibrated probability matches what happened, under one protocol.

    Newcomer protocol: each fold's out-of-fold scores are calibrated by a map fitted on the
    other folds' scores only (cross-fitting over ten groups of folds). External test part: the
    served recipe, a calibration fitted on the training part's own out-of-fold scores, applied
    to the scores of the test pairs' queries.
    """
    scores = np.concatenate([s for s, _, _ in samples])
    labels = np.concatenate([y for _, y, _ in samples])
    if protocol == LOOO:
        names = sorted({g for _, _, g in samples})
        bucket = {g: i % 10 for i, g in enumerate(names)}
        groups = np.concatenate([np.full(len(s), bucket[g]) for s, _, g in samples])
        return reliability(cross_fitted(scores, labels, groups), labels)
    oof = out_of_fold_scores(train_ctx, lambda sub: fit_ranker(sub, C=C, negatives=negatives, seed=seed), seed=seed)
    return reliability(fit_calibration(oof.probabilities, oof.labels)(scores), labels)


def evaluate_dataset(encoder: Encoder | None = None, dataset: Dataset | None = None, **kwargs: Any
                     ) -> EvaluationResult:
    """Evaluate on the shipped dataset with ``encoder`` (default: the configured model)."""
    from matcher.dataset import load_dataset
    from matcher.embeddings import get_encoder
    from matcher.text import profile_text

    dataset = dataset or load_dataset()
    encoder = encoder if encoder is not None else get_encoder()
    taxonomy = kwargs.pop("taxonomy", None) or load_taxonomy()
    texts = [profile_text(o, taxonomy) for o in dataset.organisations]
    vectors = encoder.encode(texts)
    return evaluate(dataset.organisations, dataset.cooperations, vectors, taxonomy=taxonomy, texts=texts,
                    encoder_name=getattr(encoder, "name", type(encoder).__name__), **kwargs)
