"""Partner suggestions: the :class:`Suggester` every interface calls.

Pipeline: profiles -> embeddings (vector index) -> candidates on the counterpart side ->
pair features -> ranker probability -> reciprocal score -> filters -> explanations.

The suggester owns the index lifecycle. On first use it makes sure the saved vector index
matches the registry (rebuilding or patching it, with a log line), subscribes to the
registry's writes so single profiles are added, updated or removed in the index at once, and
loads the ranker kept in the store under ``Settings().ranker_name`` (training and saving it when there
is none).
Whenever the registry's data version moves (a profile or a cooperation changed, in this
process or another) the feature context and the score matrices are rebuilt on the next call
(in a background thread with ``Settings().background_rebuild``). A rebuild reads only the
organisations written since the last one (:mod:`~matcher.ranking.snapshot`), tokenises only new
texts for the TF-IDF model and encodes only changed profiles; the features and scores of every
pair are then recomputed, since several of them (TF-IDF weights, sector and type shares) depend
on every organisation, and the result equals a rebuild from nothing.
Results are not cached here: a server caches its rendered responses by request and by
:meth:`Suggester.results_version` (:mod:`api.present`), which keeps long-lived Python objects,
and so garbage-collection pauses, small.

Scores. For every (EU, MX) pair the ranker gives a probability ``p``. The suggestion
``score`` is reciprocal: the geometric mean of the pair's percentile in the asking side's
candidate list and in the candidate's own list of candidates
(:func:`matcher.ranker.reciprocal_scores`), so a pair ranks high only when it suits both.
Everything is precomputed as (n_eu x n_mx) matrices, so a suggestion for a registered
organisation is a row lookup, a sort and ten explanations.

Threshold. A candidate is shown only when its probability is at least the 5th percentile
of the probabilities the ranker gives the documented cooperations it was trained on: a pair
weaker than 95% of the known cooperations is not called a suggestion. The value is fixed at
training time and saved with the ranker (``min_probability``). A candidate must also fit the
query at all (:func:`fits`: a shared top-level sector, a declared interest, or shared profile
content). When fewer than ``k`` candidates clear both, the list is shorter and ``note`` says
so; the list is never padded.

Order. Candidates are ordered by the pair probability; the reciprocal score (below) is shown
beside it. Under the newcomer, external and leave-one-pair-out protocols the one-way
probability put the true partner higher than the reciprocal score.

Large registries. Above ``Settings().dense_pair_limit`` EU x MX pairs (default 2,000,000,
about 1,400 x 1,400 organisations) the dense matrices are not built: a query takes
``max(200, 10 k)`` candidates from the vector index (counterpart side, the query's filters),
computes the pair features of those candidates only, and scores them with the same ranker.
The two percentiles of the reciprocal score are then estimated, not exact. Once per data
version, a fixed, seeded sample of ``Settings().reference_sample`` organisations is drawn on
each side, and every organisation's probabilities against the other side's sample are
computed and kept sorted (n x 128 float32 values: 51 MB at 100,000 profiles). A pair's
percentile in an organisation's list is estimated as its probability's rank among that
organisation's reference probabilities (plus one for the pair itself). With 128 values the
percentiles have a resolution of about 1%, and scores differ slightly from what the exact
dense computation would give; small registries always use the dense path, so their results
do not change.

Freshness. Writes made through this process's registry are seen at once: the registry
calls back after every profile and cooperation write. Writes by other processes are seen
through the registry's data version, read on every call by default, or at most every
``data_version_ttl_s`` seconds when that is set above zero. A ranker saved by another process
(a second server worker answering ``POST /admin/retrain``, or ``c2c train``) is noticed the
same way, by the identity of the ranker file, and loaded.

Diversify. With ``diversify=True`` the list is re-ordered by maximal marginal relevance:
each next item maximises ``0.7 * score - 0.3 * (max embedding similarity to the items
already chosen)``, so ten near-identical organisations do not fill the list.

Modules: :mod:`~matcher.ranking.suggester` (the facade), :mod:`~matcher.ranking.state` (what is
precomputed per data version), :mod:`~matcher.ranking.snapshot` (the organisations a rebuild
read last), :mod:`~matcher.ranking.models` (the ranker's lifecycle),
:mod:`~matcher.ranking.indexes` (the vector index's lifecycle), :mod:`~matcher.ranking.scoring`
(dense scores), :mod:`~matcher.ranking.estimates` (estimated scores on large registries),
:mod:`~matcher.ranking.candidates`, :mod:`~matcher.ranking.selection` (threshold, order, MMR,
notes) and :mod:`~matcher.ranking.results` (the response models).
"""

from matcher.ranking.results import QueryInfo, Suggestion, SuggestionList
from matcher.ranking.suggester import Suggester

__all__ = ["QueryInfo", "Suggester", "Suggestion", "SuggestionList"]
