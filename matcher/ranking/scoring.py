"""Dense scores: every (EU, MX) pair's probability and reciprocal score, and scores of unsaved profiles.

For every pair the ranker gives a probability; the reciprocal score is the geometric mean of
the pair's percentile in both sides' candidate lists (:func:`matcher.ranker.reciprocal_scores`).
Up to ``Settings().dense_pair_limit`` pairs these are precomputed as matrices; beyond it the
state keeps the reference probabilities of :mod:`matcher.ranking.estimates` instead.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

from matcher.embeddings import CachedEncoder, Encoder
from matcher.errors import InvalidProfile
from matcher.explain import Explainer
from matcher.features import FeatureContext
from matcher.profiles import Organisation, Side
from matcher.ranker import PairRanker, percentile_of, reciprocal_scores
from matcher.ranking.estimates import REFERENCE_FILE, large_pair_scores, reference
from matcher.ranking.state import State, unique_names
from matcher.settings import Settings
from matcher.taxonomy import Taxonomy
from matcher.text import profile_text

log = logging.getLogger("c2c.suggest")


def build_state(version: str, ctx: FeatureContext, model: PairRanker, orgs: Sequence[Organisation],
                held: dict[str, set[str]], generation: int, settings: Settings, progress: bool = False) -> State:
    """Scores for one data version: dense matrices, or reference probabilities on a large registry."""
    if len(ctx.eu_ids) * len(ctx.mx_ids) <= settings.dense_pair_limit:
        grid = ctx.grid()
        prob = model.score_features(grid) if grid.size else np.zeros(grid.shape[:2])
        return State(version, ctx, grid, prob, reciprocal_scores(prob), Explainer(ctx, model), unique_names(orgs),
                     generation=generation, held=held)
    log.info("large registry (%d x %d pairs): scoring index candidates per query", len(ctx.eu_ids), len(ctx.mx_ids))
    sample, ref = reference(ctx, model, settings, progress, cache=settings.home / REFERENCE_FILE, version=version)
    return State(version, ctx, None, None, None, Explainer(ctx, model), unique_names(orgs), sample, ref,
                 generation=generation, held=held)


def encode_unsaved(encoder: Encoder, taxonomy: Taxonomy, orgs: Sequence[Organisation]) -> np.ndarray:
    """Vectors of profiles that are not saved, never added to the encoder's disk cache
    (each ``/match`` request brings a new text; persisting them would grow the cache)."""
    texts = [profile_text(o, taxonomy) for o in orgs]
    if isinstance(encoder, CachedEncoder):
        return np.asarray(encoder.encode(texts, persist=False), dtype=np.float32)
    return np.asarray(encoder.encode(texts), dtype=np.float32)


def external_scores(state: State, model: PairRanker, org: Organisation, vector: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(probability row, reciprocal row) of an unregistered profile against the counterpart side."""
    prob = model.score_features(state.ctx.external(org, vector))
    n = len(prob)
    own = percentile_of(np.searchsorted(np.sort(prob), prob, side="right"), n, joins=False) if n else prob
    # The profile joins each candidate's list: its percentile there counts itself once.
    others = state.prob if org.side is Side.EU else state.prob.T  # (n_same_side, n_counterpart)
    theirs = percentile_of((others <= prob[None, :]).sum(0), others.shape[0])
    return prob, np.sqrt(own * theirs)


def pair_scores(state: State, model: PairRanker, eu: Sequence[Organisation], mx: Sequence[Organisation],
                taxonomy: Taxonomy, encode: Callable[[Sequence[Organisation]], np.ndarray]) -> np.ndarray:
    """Reciprocal scores (len(eu), len(mx)) of organisations on their given sides.

    Registered, unchanged profiles read the precomputed scores; when any profile is new or
    edited, the scores come from a context that includes the given profiles (``encode`` gives
    the vectors of those not saved).
    """
    ctx = state.ctx

    def registered(org: Organisation) -> bool:
        return org.id in ctx and ctx.org(*ctx.position(org.id)) == org

    if all(registered(o) for o in list(eu) + list(mx)):
        rows = [ctx.position(o.id)[1] for o in eu]
        cols = [ctx.position(o.id)[1] for o in mx]
        if state.dense:
            return state.recip[np.ix_(rows, cols)]
        return large_pair_scores(state, model, np.array(rows, dtype=int), np.array(cols, dtype=int))
    if not state.dense:
        raise InvalidProfile("on a registry this large, event scores need every participant to be a "
                             "saved, unchanged profile; save the new or edited profiles first", "participants")
    given = {o.id: o for o in list(eu) + list(mx)}
    orgs = [given.get(o.id, o) for o in ctx.eu_orgs + ctx.mx_orgs] + [o for o in given.values() if o.id not in ctx]
    new = [o for o in orgs if not registered(o)]
    fresh = dict(zip([o.id for o in new], encode(new)))
    vectors = np.stack([fresh[o.id] if o.id in fresh else ctx.side_arrays(ctx.position(o.id)[0]).vectors[ctx.position(o.id)[1]]
                        for o in orgs])
    coops = [c for c in ctx.cooperations if c.eu in {o.id for o in orgs} and c.mx in {o.id for o in orgs}]
    big = FeatureContext.build(orgs, coops, vectors, taxonomy)
    recip = reciprocal_scores(model.score_features(big.grid()))
    rows = [big.position(o.id)[1] for o in eu]
    cols = [big.position(o.id)[1] for o in mx]
    return recip[np.ix_(rows, cols)]
