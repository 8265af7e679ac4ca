"""Partner suggestions: the :class:`Suggester` every interface calls.

Pipeline: profiles -> embeddings (vector index) -> candidates on the counterpart side ->
pair features -> ranker probability -> reciprocal score -> filters -> explanations.

The suggester owns the index lifecycle. On first use it makes sure the saved vector index
matches the registry (rebuilding or patching it, with a log line), subscribes to the
registry's writes so single profiles are added, updated or removed in the index at once, and
loads the ranker from ``Settings().ranker_dir`` (training and saving it when there is none).
Whenever the registry's data version moves (a profile or a cooperation changed, in this
process or another) the feature context and the score matrices are rebuilt on the next call.
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
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pydantic import BaseModel, Field, PrivateAttr
from threadpoolctl import threadpool_limits

from matcher.embeddings import CachedEncoder, Encoder, get_encoder
from matcher.errors import InvalidProfile, NotTrained, UnknownOrganisation
from matcher.explain import Explainer, Explanation
from matcher.features import FEATURE_NAMES, FEATURES, FeatureContext, fits
from matcher.feedback import FeedbackRows, feedback_rows
from matcher.intake import parse_org_type
from matcher.profiles import Organisation, OrgType, Side, Split
from matcher.ranker import DEFAULT_C, DEFAULT_NEGATIVES, RANKER_FILE, PairRanker, fit_ranker, load_ranker, reciprocal_scores, save_ranker
from matcher.settings import Settings
from matcher.taxonomy import SectorReader, Taxonomy, load_taxonomy, sector_reader
from matcher.text import normalise, profile_text

log = logging.getLogger("c2c.suggest")

MMR_LAMBDA = 0.7
CANDIDATE_POOL = 2000
THRESHOLD_QUANTILE = 0.05


class Suggestion(BaseModel):
    """One suggested partner."""

    rank: int
    id: str
    name: str
    side: Side
    country: str
    type: OrgType
    sectors: list[str]
    score: float = Field(description="reciprocal score in [0, 1]: how high the pair ranks in both sides' lists")
    probability: float = Field(description="ranker probability that the pair cooperates (the list's order)")
    explanation: Explanation


class QueryInfo(BaseModel):
    id: str | None
    name: str
    side: Side
    sectors: list[str] = Field(default_factory=list, description="the query's sectors (read from its text when none were given)")


class SuggestionList(BaseModel):
    """Suggestions for one organisation, best first, with a note when few score well."""

    query: QueryInfo
    items: list[Suggestion]
    note: str | None = None
    filters: dict[str, Any] = Field(default_factory=dict)
    data_version: str = ""
    # What the list was computed on (:meth:`Suggester.results_version`); not part of the body.
    _results_version: str = PrivateAttr(default="")


@dataclass
class _State:
    """Everything precomputed for one data version."""

    version: str
    ctx: FeatureContext
    grid: np.ndarray | None  # (n_eu, n_mx, F); None on the large-registry path
    prob: np.ndarray | None  # (n_eu, n_mx)
    recip: np.ndarray | None  # (n_eu, n_mx)
    explainer: Explainer
    names: dict[str, str]  # normalised name, acronym or alias -> id, when it names one organisation
    sample: dict[Side, np.ndarray] | None = None  # large path: reference rows per side
    reference: dict[Side, np.ndarray] | None = None  # large path: (n_side, R) sorted probabilities
    generation: int = 0  # the Suggester's ranker generation the scores were made with
    held: dict[str, set[str]] = field(default_factory=dict)  # org id -> partners in the external test part

    @property
    def results_version(self) -> str:
        return f"{self.version}#{self.generation}"

    @property
    def dense(self) -> bool:
        return self.prob is not None


class Suggester:
    """Suggestions over a registry (see the module docstring for the pipeline).

    ``encoder`` defaults to the configured sentence-transformers model; ``min_probability``
    overrides the threshold saved with the ranker; ``progress`` shows a progress bar while the
    index is (re)built; above ``candidate_pool`` counterpart organisations only that many
    nearest profiles from the vector index are ranked.
    """

    def __init__(self, registry, settings: Settings | None = None, encoder: Encoder | None = None,
                 taxonomy: Taxonomy | None = None, min_probability: float | None = None, progress: bool = False,
                 candidate_pool: int = CANDIDATE_POOL, require_fit: bool | None = None):
        self.registry = registry
        self.settings = settings or getattr(registry, "settings", None) or Settings()
        self._encoder = encoder
        self.taxonomy = taxonomy or getattr(registry, "taxonomy", None) or load_taxonomy()
        self._min_probability = min_probability if min_probability is not None else self.settings.min_probability
        self.require_fit = self.settings.require_fit if require_fit is None else require_fit
        self._checked_at = 0.0
        self.progress = progress
        self.candidate_pool = candidate_pool
        self._lock = threading.RLock()
        self._index = None
        self._sync = None
        self._unsubscribe = None
        self._model: PairRanker | None = None
        self._generation = 0  # bumped on every refit or load of a ranker
        self._stamp: tuple[int, int, int] | None = None  # the saved ranker file this model came from
        self._meta: dict[str, Any] = {}
        self._state: _State | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = get_encoder(self.settings)
        return self._encoder

    @property
    def index(self):
        self._current()
        return self._index

    def results_version(self) -> str:
        """Changes whenever a suggestion may change: on every data version, and on every refit.

        Callers that keep results (the API's rendered responses) key them by this.
        """
        return self._current().results_version

    def warm_up(self) -> None:
        """Load the index, the ranker and the encoding model now rather than on a first request.

        The model is otherwise loaded only when something must be encoded, which keeps
        command-line calls fast but would make a server's first ``/match`` pay for it.
        """
        self._current()
        encode = self.encoder.encode
        try:
            encode(["warm-up"], persist=False)
        except TypeError:  # an encoder without a disk cache
            encode(["warm-up"])

    def close(self) -> None:
        """Stop following the registry."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _open_index(self, orgs: list[Organisation], version: str) -> None:
        from matcher.indexing import RegistrySync, ensure_index

        self._index = ensure_index(self.settings.index_dir, orgs, self.encoder, self.taxonomy, version,
                                   hnsw_threshold=self.settings.hnsw_threshold, progress=self.progress)
        self._sync = RegistrySync(self._index, self.registry.get, self.encoder, self.taxonomy,
                                  save_to=self.settings.index_dir, data_version=self.registry.data_version)
        if self._unsubscribe is None:
            self._unsubscribe = self.registry.subscribe(self._on_write)

    def _on_write(self, event: str, org_id: str) -> None:
        """Registry callback: apply the write to the index now, rebuild scores on next use."""
        with self._lock:
            if self._sync is not None:
                self._sync(event, org_id)
            self._state = None
            self._checked_at = 0.0

    def _reconcile_index(self, orgs: list[Organisation]) -> None:
        """Bring the in-memory index in line with profiles written by another process."""
        from matcher.indexing import remove_profile, upsert_profile

        wanted = {o.id for o in orgs}
        for org_id in [i for i in self._index.ids if i not in wanted]:
            remove_profile(self._index, org_id)
        for org in orgs:
            upsert_profile(self._index, org, self.encoder, self.taxonomy)

    def _current(self) -> _State:
        """The precomputed state for the registry's current data version."""
        state = self._state
        now = time.monotonic()
        if state is not None and now - self._checked_at < self.settings.data_version_ttl_s:
            return state
        version = self.registry.data_version()
        stamp = self._ranker_stamp()
        self._checked_at = now
        if state is not None and state.version == version and (self._stamp is None or stamp == self._stamp):
            return state
        with self._lock:
            if self._stamp is not None and stamp != self._stamp:
                # Another process (a second server worker, `c2c train`) saved a new ranker:
                # load it, so every worker serves the same model.
                log.info("the saved ranker changed; loading it")
                self._model, self._stamp, self._state = None, None, None
            if self._state is not None and self._state.version == version:
                return self._state
            orgs = self.registry.all_organisations()
            # The external test part is never trained on, nor used for features; its pairs still
            # count as existing cooperations when a caller excludes those.
            coops, held = [], {}
            for c in self.registry.all_cooperations():
                if c.split is Split.TEST:
                    held.setdefault(c.eu, set()).add(c.mx)
                    held.setdefault(c.mx, set()).add(c.eu)
                else:
                    coops.append(c)
            if self._index is None:
                self._open_index(orgs, version)
            else:
                self._reconcile_index(orgs)
            vectors = self._index.vectors([o.id for o in orgs]) if orgs else np.zeros((0, self.encoder.dim), np.float32)
            with threadpool_limits(limits=1, user_api="blas"):
                ctx = FeatureContext.build(orgs, coops, vectors, self.taxonomy)
                if self._model is None:
                    self._load_or_train(ctx, version)
                if len(ctx.eu_ids) * len(ctx.mx_ids) <= self.settings.dense_pair_limit:
                    grid = ctx.grid()
                    prob = self._model.score_features(grid) if grid.size else np.zeros(grid.shape[:2])
                    self._state = _State(version, ctx, grid, prob, reciprocal_scores(prob),
                                         Explainer(ctx, self._model), _unique_names(orgs), generation=self._generation,
                                         held=held)
                else:
                    log.info("large registry (%d x %d pairs): scoring index candidates per query",
                             len(ctx.eu_ids), len(ctx.mx_ids))
                    sample, reference = self._reference(ctx)
                    self._state = _State(version, ctx, None, None, None, Explainer(ctx, self._model),
                                         _unique_names(orgs), sample, reference, generation=self._generation,
                                         held=held)
            return self._state

    def _ranker_stamp(self) -> tuple[int, int, int] | None:
        """Identity of the saved ranker file (inode, size, modification time), None if absent."""
        try:
            st = os.stat(Path(self.settings.ranker_dir) / RANKER_FILE)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _load_or_train(self, ctx: FeatureContext, version: str) -> None:
        try:
            stamp = self._ranker_stamp()
            self._model, self._meta = load_ranker(self.settings.ranker_dir, FEATURE_NAMES)
            self._stamp = stamp
            self._generation += 1
            if "min_probability" not in self._meta:
                raise NotTrained("ranker file has no threshold")
            if self._meta.get("encoder") != self.encoder.name:
                raise NotTrained(f"ranker was trained with encoder {self._meta.get('encoder')}, not {self.encoder.name}")
        except NotTrained as exc:
            log.info("training the ranker (%s)", exc)
            self._fit(ctx, version)

    def _fit(self, ctx: FeatureContext, version: str) -> dict[str, Any]:
        if not ctx.adjacency.any():
            raise NotTrained("no documented cooperations to learn from; add cooperations first")
        e, m, y, w = ctx.training_rows(DEFAULT_NEGATIVES, self.settings.seed)
        X = ctx.pairs(e, m)
        feedback = self._feedback_rows(ctx)
        model = fit_ranker(ctx, DEFAULT_C, DEFAULT_NEGATIVES, self.settings.seed, feedback=feedback)
        positives = int(y.sum())
        # The threshold is read on documented cooperations only, never on verdicts.
        threshold = float(np.quantile(model.score_features(X[y == 1]), THRESHOLD_QUANTILE))
        extra = {"C": DEFAULT_C, "negatives_per_positive": DEFAULT_NEGATIVES, "seed": self.settings.seed,
                 "positives": positives, "negatives": int(len(y) - positives),
                 "feedback": feedback.summary() if feedback is not None else None,
                 "base_rate": float(w[y == 1].sum() / w.sum()), "min_probability": threshold,
                 "threshold_rule": f"{THRESHOLD_QUANTILE:.0%} quantile of the training cooperations' probabilities",
                 "encoder": self.encoder.name}
        try:
            save_ranker(model, self.settings.ranker_dir, FEATURE_NAMES, positives, version, extra)
            self._stamp = self._ranker_stamp()
        except OSError as exc:
            log.warning("could not save the ranker to %s: %s", self.settings.ranker_dir, exc)
            self._stamp = None
        self._model = model
        self._generation += 1
        self._meta = {"feature_names": list(FEATURE_NAMES), "training_pairs": positives, "data_version": version, **extra}
        log.info("trained the ranker on %d documented pairs and %d sampled non-pairs", positives, len(y) - positives)
        return self._meta

    def _feedback_rows(self, ctx: FeatureContext) -> FeedbackRows | None:
        """Users' verdicts as training rows, or None when the settings leave them out."""
        if not self.settings.train_with_feedback:
            return None
        list_feedback = getattr(self.registry, "list_feedback", None)
        return feedback_rows(ctx, list_feedback()) if callable(list_feedback) else None

    @property
    def min_probability(self) -> float:
        """The probability a candidate needs to be shown (see the module docstring)."""
        if self._model is None:
            self._current()
        return self._min_probability if self._min_probability is not None else float(self._meta["min_probability"])

    # ------------------------------------------------------------------ training and the model card
    def train(self) -> dict[str, Any]:
        """Refit the ranker from the registry's cooperations, save it, and return a summary."""
        with self._lock:
            state = self._current()
            meta = self._fit(state.ctx, state.version)
            self._state = None
            summary = dict(meta)
            summary["coefficients"] = dict(zip(FEATURE_NAMES, np.round(self._model.coef_, 4).tolist()))
            return summary

    def model_card(self) -> dict[str, Any]:
        """What the ranker is, what it learned from, and how scores are made."""
        state = self._current()
        coef = dict(zip(FEATURE_NAMES, np.round(self._model.coef_, 4).tolist()))
        return {
            "model": "PairRanker: L2-penalised logistic regression on standardised pair features, "
                     "similarity features constrained to non-negative weights",
            "features": {name: {"meaning": FEATURES[name], "coefficient": coef[name]} for name in FEATURE_NAMES},
            "intercept": round(self._model.intercept_, 4),
            "training_pairs": self._meta.get("training_pairs"),
            "negatives": self._meta.get("negatives"),
            "feedback": self._meta.get("feedback"),
            "negatives_per_positive": self._meta.get("negatives_per_positive"),
            "trained_on_data_version": self._meta.get("data_version"),
            "current_data_version": state.version,
            "trained_at": self._meta.get("trained_at"),
            "versions": self._meta.get("versions"),
            "encoder": self.encoder.name,
            "score": "reciprocal: geometric mean of the pair probability's percentile in both sides' candidate lists",
            "min_probability": self.min_probability,
            "organisations": {"EU": len(state.ctx.eu_ids), "MX": len(state.ctx.mx_ids)},
            "cooperations": len(state.ctx.cooperations),
            "limitations": "Learned from a few dozen documented EU-Mexico cooperations; scores rank "
                           "candidates, they are not calibrated probabilities of a future agreement.",
        }

    # ------------------------------------------------------------------ suggestions
    def suggest(self, ref: str, k: int = 10, sector: str | Sequence[str] | None = None,
                country: str | Sequence[str] | None = None, type: str | Sequence[str] | None = None,
                exclude_existing: bool = False, diversify: bool = False) -> SuggestionList:
        """Suggestions for a registered organisation named by id, name, acronym or alias."""
        state = self._current()
        org_id = ref if ref in state.ctx else state.names.get(normalise(ref)) or self.registry.lookup(ref).id
        if org_id not in state.ctx:
            raise UnknownOrganisation(ref)
        side, row = state.ctx.position(org_id)
        known = state.ctx.adjacency[row] if side is Side.EU else state.ctx.adjacency[:, row]
        held = [p for p in state.held.get(org_id, ()) if p in state.ctx]
        if held:
            known = known.copy()
            known[[state.ctx.position(p)[1] for p in held]] = True
        query = state.ctx.org(side, row)
        vector = state.ctx.side_arrays(side).vectors[row]
        rows = None
        if state.dense:
            prob = state.prob[row] if side is Side.EU else state.prob[:, row]
            recip = state.recip[row] if side is Side.EU else state.recip[:, row]
            features = state.grid[row] if side is Side.EU else state.grid[:, row]
        else:
            _check_k(k, self.settings.api_max_k)
            rows = self._candidates(state, side, vector, sector, country, type, pool=max(200, 10 * k))

            def block(eu_rows: np.ndarray | None, mx_rows: np.ndarray | None) -> np.ndarray:
                if side is Side.EU:
                    return state.ctx.grid(np.array([row]), mx_rows)[0]
                return state.ctx.grid(eu_rows, np.array([row]))[:, 0]

            prob, recip, features = self._large_scores(state, side, rows, block, query_row=row)
        result = self._select(state, query, org_id, vector, prob, recip, features, known, k, sector, country,
                              type, exclude_existing, diversify, rows=rows)
        return result

    def suggest_for_profile(self, org: Organisation, k: int = 10, sector: str | Sequence[str] | None = None,
                            country: str | Sequence[str] | None = None, type: str | Sequence[str] | None = None,
                            diversify: bool = False) -> SuggestionList:
        """Suggestions for a profile that is not saved (it has no documented cooperations)."""
        state = self._current()
        if not state.dense:
            _check_k(k, self.settings.api_max_k)
            vector = self._encode_unsaved([org])[0]
            rows = self._candidates(state, org.side, vector, sector, country, type, pool=max(200, 10 * k))

            def block(eu_rows: np.ndarray | None, mx_rows: np.ndarray | None) -> np.ndarray:
                return state.ctx.external(org, vector, mx_rows if org.side is Side.EU else eu_rows)

            prob, recip, features = self._large_scores(state, org.side, rows, block)
            known = np.zeros(len(prob), dtype=bool)
            return self._select(state, org, None, vector, prob, recip, features, known, k, sector, country, type,
                                False, diversify, rows=rows)
        vector, prob, recip = self._external_scores(state, org)
        features = state.ctx.external(org, vector)
        known = np.zeros(len(prob), dtype=bool)
        return self._select(state, org, None, vector, prob, recip, features, known, k, sector, country, type,
                            False, diversify)

    def score_pairs(self, eu: Sequence[Organisation], mx: Sequence[Organisation]) -> np.ndarray:
        """Reciprocal scores (len(eu), len(mx)) for the event planner.

        Registered, unchanged profiles read the precomputed matrix; when any profile is new or
        edited, the scores come from a context that includes the given profiles.
        """
        for org, side in [(o, Side.EU) for o in eu] + [(o, Side.MX) for o in mx]:
            if org.side is not side:
                raise InvalidProfile(f"{org.id} is not on the {side.value} side", "side")
        state = self._current()
        ctx = state.ctx

        def registered(org: Organisation) -> bool:
            return org.id in ctx and ctx.org(*ctx.position(org.id)) == org

        if all(registered(o) for o in list(eu) + list(mx)):
            rows = [ctx.position(o.id)[1] for o in eu]
            cols = [ctx.position(o.id)[1] for o in mx]
            if state.dense:
                return state.recip[np.ix_(rows, cols)]
            return self._large_pair_scores(state, np.array(rows, dtype=int), np.array(cols, dtype=int))
        if not state.dense:
            raise InvalidProfile("on a registry this large, event scores need every participant to be a "
                                 "saved, unchanged profile; save the new or edited profiles first", "participants")
        given = {o.id: o for o in list(eu) + list(mx)}
        orgs = [given.get(o.id, o) for o in ctx.eu_orgs + ctx.mx_orgs] + [o for o in given.values() if o.id not in ctx]
        new = [o for o in orgs if not registered(o)]
        fresh = dict(zip([o.id for o in new], self._encode_unsaved(new)))
        vectors = np.stack([fresh[o.id] if o.id in fresh else ctx.side_arrays(ctx.position(o.id)[0]).vectors[ctx.position(o.id)[1]]
                            for o in orgs])
        coops = [c for c in ctx.cooperations if c.eu in {o.id for o in orgs} and c.mx in {o.id for o in orgs}]
        big = FeatureContext.build(orgs, coops, vectors, self.taxonomy)
        recip = reciprocal_scores(self._model.score_features(big.grid()))
        rows = [big.position(o.id)[1] for o in eu]
        cols = [big.position(o.id)[1] for o in mx]
        return recip[np.ix_(rows, cols)]

    # ------------------------------------------------------------------ internals
    def _encode_unsaved(self, orgs: Sequence[Organisation]) -> np.ndarray:
        """Vectors of profiles that are not saved, never added to the encoder's disk cache
        (each ``/match`` request brings a new text; persisting them would grow the cache)."""
        texts = [profile_text(o, self.taxonomy) for o in orgs]
        encoder = self.encoder
        if isinstance(encoder, CachedEncoder):
            return np.asarray(encoder.encode(texts, persist=False), dtype=np.float32)
        return np.asarray(encoder.encode(texts), dtype=np.float32)

    def _reference(self, ctx: FeatureContext) -> tuple[dict[Side, np.ndarray], dict[Side, np.ndarray]]:
        """The seeded reference rows per side, and every organisation's sorted probabilities
        against the other side's reference rows (large-registry path, computed once)."""
        rng = np.random.default_rng(self.settings.seed)
        sample = {}
        for side in (Side.EU, Side.MX):
            n = len(ctx.ids(side))
            sample[side] = np.sort(rng.choice(n, size=min(self.settings.reference_sample, n), replace=False))
        reference = {}
        step = 2048
        for side in (Side.EU, Side.MX):
            n = len(ctx.ids(side))
            starts = range(0, n, step)
            if self.progress:
                from tqdm import tqdm

                starts = tqdm(starts, desc=f"reference scores ({side.value})", unit="block")
            out = np.empty((n, len(sample[side.counterpart])), dtype=np.float32)
            for start in starts:
                rows = np.arange(start, min(start + step, n))
                if side is Side.EU:
                    out[rows] = self._model.score_features(ctx.grid(rows, sample[Side.MX]))
                else:
                    out[rows] = self._model.score_features(ctx.grid(sample[Side.EU], rows)).T
            out.sort(axis=1)
            reference[side] = out
        return sample, reference

    def _large_scores(self, state: _State, side: Side, rows: np.ndarray, block, query_row: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Full-length (counterpart) probability, reciprocal and feature arrays filled at ``rows`` only.

        ``block(eu_rows, mx_rows)`` gives the query's features against the counterpart rows
        named on its side of the call (the query's own side is ``None``). Percentiles are read
        against the precomputed reference probabilities (``query_row``: the query's row when it
        is registered; otherwise its reference probabilities are computed here).
        """
        ctx = state.ctx
        counterpart = side.counterpart
        n = len(ctx.ids(counterpart))
        prob = np.full(n, -np.inf)
        recip = np.zeros(n)
        features = np.zeros((n, len(FEATURE_NAMES))) if n <= self.candidate_pool else _RowStore(len(FEATURE_NAMES))
        if not len(rows):
            return prob, recip, features
        with _blas_single_thread():
            x = block(*((None, rows) if side is Side.EU else (rows, None)))
            p = self._model.score_features(x)
            if query_row is not None:
                own_ref = state.reference[side][query_row]
            else:
                ref_rows = state.sample[counterpart]
                own_ref = np.sort(self._model.score_features(block(*((None, ref_rows) if side is Side.EU else (ref_rows, None)))))
        theirs_ref = state.reference[counterpart][rows]  # (n_rows, R), sorted
        own = (np.searchsorted(own_ref, p, side="right") + 1) / (len(own_ref) + 1)
        theirs = ((theirs_ref <= p[:, None]).sum(1) + 1) / (theirs_ref.shape[1] + 1)
        prob[rows] = p
        recip[rows] = np.sqrt(own * theirs)
        features[rows] = x
        return prob, recip, features

    def _large_pair_scores(self, state: _State, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Reciprocal scores of registered EU rows x MX cols, percentiles estimated as in the large path."""
        ctx, model = state.ctx, self._model
        with _blas_single_thread():
            p = model.score_features(ctx.grid(rows, cols))
        eu_ref = state.reference[Side.EU][rows]  # (a, R)
        mx_ref = state.reference[Side.MX][cols]  # (b, R)
        eu_pct = ((eu_ref[:, None, :] <= p[:, :, None]).sum(2) + 1) / (eu_ref.shape[1] + 1)
        mx_pct = ((mx_ref[None, :, :] <= p[:, :, None]).sum(2) + 1) / (mx_ref.shape[1] + 1)
        return np.sqrt(eu_pct * mx_pct)

    def _external_scores(self, state: _State, org: Organisation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(vector, probability row, reciprocal row) of an unregistered profile."""
        vector = self._encode_unsaved([org])[0]
        prob = self._model.score_features(state.ctx.external(org, vector))
        n = len(prob)
        own = (np.searchsorted(np.sort(prob), prob, side="right") / n) if n else prob
        # The profile joins each candidate's list: its percentile there counts itself once.
        others = state.prob if org.side is Side.EU else state.prob.T  # (n_same_side, n_counterpart)
        theirs = ((others <= prob[None, :]).sum(0) + 1) / (others.shape[0] + 1)
        return vector, prob, np.sqrt(own * theirs)

    def _candidates(self, state: _State, side: Side, vector: np.ndarray, sector, country, type,
                    pool: int | None = None) -> np.ndarray:
        """Counterpart rows passing the filters.

        Up to ``candidate_pool`` counterpart organisations every one is a candidate (filtered
        with numpy masks, the same semantics as the index's filters); beyond that the vector
        index supplies the ``pool`` (default ``candidate_pool``) nearest profiles that pass
        the filters.
        """
        from index import SearchFilters

        counterpart = side.counterpart
        try:
            types = None if type is None else [parse_org_type(t).value for t in _listify(type)]
            filters = SearchFilters(side=counterpart.value, country=_upper(country), sector=_listify(sector),
                                    type=types, taxonomy=self.taxonomy)
        except ValueError as exc:
            raise InvalidProfile(str(exc), "filters") from None
        ctx = state.ctx
        ids = ctx.ids(counterpart)
        if len(ids) > self.candidate_pool:
            hits = self._index.search(vector, k=pool or self.candidate_pool, filters=filters)
            return np.array(sorted(ctx.position(i)[1] for i, _ in hits if i in ctx), dtype=int)
        orgs = ctx.eu_orgs if counterpart is Side.EU else ctx.mx_orgs
        mask = np.ones(len(ids), dtype=bool)
        if filters.country is not None:
            mask &= np.array([o.country in filters.country for o in orgs], dtype=bool)
        if filters.type is not None:
            mask &= np.array([o.type.value in filters.type for o in orgs], dtype=bool)
        if filters.sector is not None:
            cols = [j for j, sid in enumerate(ctx.sector_ids) if sid in filters.sector]
            mask &= ctx.side_arrays(counterpart).sectors[:, cols].any(axis=1) if cols else False
        return np.flatnonzero(mask)

    def _select(self, state: _State, query: Organisation, query_id: str | None, vector: np.ndarray,
                prob: np.ndarray, recip: np.ndarray, features: np.ndarray, known: np.ndarray, k: int,
                sector, country, type, exclude_existing: bool, diversify: bool,
                rows: np.ndarray | None = None) -> SuggestionList:
        _check_k(k, self.settings.api_max_k)
        side = query.side
        ctx = state.ctx
        if rows is None:
            rows = self._candidates(state, side, vector, sector, country, type)
        if exclude_existing:
            rows = rows[~known[rows]]
        floor = self.min_probability
        if self.require_fit and len(rows):
            block = features[rows] if isinstance(features, np.ndarray) else np.stack([features[int(j)] for j in rows])
            fitting = rows[fits(block)]
        else:
            fitting = rows
        passing = fitting[prob[fitting] >= floor]
        # Ordered by the pair probability: in every cross-validated protocol the one-way
        # probability ranked the true partner higher than the reciprocal score did.
        order = passing[np.lexsort((-recip[passing], -prob[passing]))]
        if diversify:
            order = _mmr(order, prob, ctx.side_arrays(side.counterpart).vectors, k)
        chosen = order[:k]
        items = []
        for rank, j in enumerate(chosen, start=1):
            cand = ctx.org(side.counterpart, int(j))
            cand_vec = ctx.side_arrays(side.counterpart).vectors[j]
            eu, mx = (query, cand) if side is Side.EU else (cand, query)
            eu_vec, mx_vec = (vector, cand_vec) if side is Side.EU else (cand_vec, vector)
            explanation = state.explainer.explain(eu, mx, features[j], eu_vec, mx_vec, query_side=side)
            items.append(Suggestion(rank=rank, id=cand.id, name=cand.name, side=cand.side, country=cand.country,
                                    type=cand.type, sectors=cand.sectors, score=round(float(recip[j]), 4),
                                    probability=round(float(prob[j]), 4), explanation=explanation))
        note = None
        if len(items) < k:
            if not len(rows):
                note = "no organisation on the other side matches the filters"
            elif len(fitting) < k and len(fitting) == len(passing):
                note = (f"only {len(fitting)} organisation(s) on the other side share a sector, a declared "
                        f"interest or profile content with {query.name}; the list is not padded with unrelated ones")
            elif not items:
                note = (f"no candidate scores well for {query.name}: every pair probability is below the "
                        f"threshold {floor:.3f}; try a broader profile or fewer filters")
            else:
                note = (f"only {len(items)} candidate(s) score above the threshold {floor:.3f}; "
                        "the list is not padded with weaker ones")
        filters = {"sector": sector, "country": country, "type": type, "exclude_existing": exclude_existing,
                   "diversify": diversify}
        result = SuggestionList(query=QueryInfo(id=query_id, name=query.name, side=side, sectors=query.sectors),
                                items=items, note=note,
                                filters={k_: v for k_, v in filters.items() if v not in (None, False)},
                                data_version=state.version)
        result._results_version = state.results_version
        return result


class _RowStore(dict):
    """Feature rows of the scored candidates only, indexed like the full (n, F) array."""

    def __init__(self, width: int):
        super().__init__()
        self.width = width

    def __setitem__(self, rows, values) -> None:
        for row, value in zip(np.asarray(rows).tolist(), values):
            super().__setitem__(int(row), value)

    def __getitem__(self, row) -> np.ndarray:
        return super().__getitem__(int(row))


_controller = None


def _blas_single_thread():
    """Limit BLAS to one thread (a cached controller: building one per call costs milliseconds)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def _check_k(k: int, limit: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1 or k > limit:
        raise InvalidProfile(f"k must be an integer from 1 to {limit}", "k")


def _unique_names(orgs: Sequence[Organisation]) -> dict[str, str]:
    """Exact-name shortcuts for lookups; a name shared by several organisations is left to the registry."""
    owners: dict[str, set[str]] = {}
    for org in orgs:
        for name in org.all_names():
            owners.setdefault(normalise(name), set()).add(org.id)
    return {key: next(iter(ids)) for key, ids in owners.items() if len(ids) == 1 and key}


def _mmr(order: np.ndarray, relevance: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Maximal marginal relevance re-ordering of ``order`` (best first) for the first k picks."""
    if len(order) <= 1:
        return order
    sims = vectors[order] @ vectors[order].T
    rel = relevance[order]
    chosen: list[int] = [0]
    left = list(range(1, len(order)))
    while left and len(chosen) < k:
        penalty = sims[np.ix_(left, chosen)].max(1)
        gain = MMR_LAMBDA * rel[left] - (1 - MMR_LAMBDA) * penalty
        best = left[int(np.argmax(gain))]
        chosen.append(best)
        left.remove(best)
    return np.concatenate([order[chosen], order[left]])


def _listify(value) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _upper(value):
    items = _listify(value)
    return None if items is None else [v.strip().upper() for v in items]


def infer_sectors(text: str, taxonomy: Taxonomy | None = None) -> list[str]:
    """Sector ids read from free text in Spanish or English (:class:`matcher.taxonomy.SectorReader`)."""
    if taxonomy is None or taxonomy is load_taxonomy():
        return sector_reader().read(text)
    return SectorReader.build(taxonomy).read(text)
