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
``ranker (fit rule)`` (the same order with the list rule of the served lists: candidates that
share a top-level sector, a declared interest or content with the query come first),
``ranker (reciprocal)`` (the geometric mean of the pair's percentile in both sides' lists, an
ablation: it ranked the true partner lower in every protocol), and the baselines
``random``, ``popularity`` (candidate's number of training cooperations), ``sector overlap``
(Jaccard of the sectors with their parent sectors), ``tf-idf`` (cosine of TF-IDF vectors of
the profile texts) and ``embedding`` (cosine of the profile embeddings).

Hyper-parameters (``C``, negatives per positive, seed) are fixed in advance; nothing here
looks at a held-out pair when fitting.

Modules: :mod:`~matcher.evaluation.protocols` (folds), :mod:`~matcher.evaluation.metrics`,
:mod:`~matcher.evaluation.bootstrap` (intervals and the paired test),
:mod:`~matcher.evaluation.baselines` (the methods), :mod:`~matcher.evaluation.bias`,
:mod:`~matcher.evaluation.report` (results, JSON, Markdown, CSV) and
:mod:`~matcher.evaluation.runner` (:func:`evaluate`, :func:`evaluate_dataset`).
"""

from matcher.evaluation.baselines import BASELINES, METHODS, RANKER, RANKER_FIT, RANKER_RECIPROCAL, Scorer, scorers, tfidf_matrix
from matcher.evaluation.bias import OVER_SUGGESTED_SHARE, PopularityBias, popularity_bias
from matcher.evaluation.bootstrap import Estimate, PairedTest, bootstrap, paired_test
from matcher.evaluation.metrics import EU_TO_MX, METRICS, MX_TO_EU, RankRecord, metric_values, rank_of, top_k
from matcher.evaluation.protocols import (
    EXTERNAL,
    LOOO,
    LOPO,
    PROTOCOLS,
    Fold,
    fold_context,
    folds,
    pair_key,
    unique_pairs,
)
from matcher.evaluation.report import EvaluationResult, ProtocolResult
from matcher.evaluation.runner import evaluate, evaluate_dataset, run_protocol

__all__ = [
    "BASELINES", "EU_TO_MX", "EXTERNAL", "LOOO", "LOPO", "METHODS", "METRICS", "MX_TO_EU", "OVER_SUGGESTED_SHARE",
    "PROTOCOLS", "RANKER", "RANKER_FIT", "RANKER_RECIPROCAL", "Estimate", "EvaluationResult", "Fold", "PairedTest",
    "PopularityBias", "ProtocolResult", "RankRecord", "Scorer", "bootstrap", "evaluate", "evaluate_dataset",
    "fold_context", "folds", "metric_values", "paired_test", "pair_key", "popularity_bias", "rank_of",
    "run_protocol", "scorers", "tfidf_matrix", "top_k", "unique_pairs",
]
