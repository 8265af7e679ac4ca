"""The :class:`Suggester`: partner suggestions over a registry (see :mod:`matcher.ranking`)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from matcher.bulk import collection_paused
from matcher.embeddings import Encoder, get_encoder
from index.atomic import write_text_atomic
from matcher.errors import InvalidProfile, NotTrained, UnknownOrganisation
from matcher.features import FeatureContext
from matcher.priority import lower_this_thread
from matcher.profiles import Organisation, Side
from matcher.ranker import RANKER_FILE
from matcher.ranking.candidates import candidates
from matcher.ranking.estimates import large_scores, single_threaded
from matcher.ranking.indexes import IndexKeeper
from matcher.ranking.models import RankerKeeper
from matcher.ranking.results import SuggestionList
from matcher.ranking.scoring import build_state, encode_unsaved, external_scores, pair_scores
from matcher.ranking.selection import check_k, select
from matcher.ranking.snapshot import Snapshot
from matcher.ranking.state import Choice, Request, State, split_cooperations
from matcher.sector_reading import MainSectorReader
from matcher.settings import Settings
from matcher.taxonomy import Taxonomy, load_taxonomy
from matcher.text import normalise
from matcher.textmodel import TEXT_MODEL_FILE, TextModelCache

log = logging.getLogger("c2c.suggest")

CANDIDATE_POOL = 2000


#: Pause between two background rebuilds while writes keep coming (seconds).
REBUILD_PAUSE_S = 2.0

class Suggester:
    """Suggestions over a registry (see :mod:`matcher.ranking` for the pipeline).

    ``encoder`` defaults to the configured sentence-transformers model; ``min_probability``
    overrides the threshold saved with the ranker; ``progress`` shows a progress bar while the
    index is (re)built; above ``candidate_pool`` counterpart organisations only that many
    nearest profiles from the vector index are ranked.

    With ``Settings().background_rebuild`` (on in ``c2c serve``), a write does not make the
    next read rebuild the scores: reads keep the previous results version while a background
    thread builds the new one, and switch when it is ready. A request for an organisation the
    previous version does not hold yet waits for the new one.
    """

    def __init__(self, registry: Any, settings: Settings | None = None, encoder: Encoder | None = None,
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
        self._indexes = IndexKeeper(registry, self.settings, self.taxonomy, progress)
        self._ranker = RankerKeeper(registry, self.settings)
        self._texts = TextModelCache(self.settings.home / TEXT_MODEL_FILE)
        self._profiles = Snapshot(registry, self.taxonomy)
        self._state: State | None = None
        self._seen = ""  # the newest data version read from the store
        self._refresher: threading.Thread | None = None
        self._refresh_lock = threading.Lock()
        self._closed = False
        self._sectors: MainSectorReader | None = None

    @property
    def encoder(self) -> Encoder:
        """The encoder, the configured model unless one was given (loaded on first use)."""
        if self._encoder is None:
            self._encoder = get_encoder(self.settings)
        return self._encoder

    @property
    def index(self) -> Any:
        """The vector index, in step with the store's current data version (waits for a rebuild).

        Without a ranker (no cooperations to learn from) the index is still brought in step."""
        try:
            self._current(wait=True)
        except NotTrained:
            self._indexes.follow(self.registry.all_organisations(), self.registry.data_version(), self.encoder,
                                 self._on_write)
        return self._index

    @property
    def _index(self) -> Any:
        return self._indexes.index

    @property
    def _meta(self) -> dict[str, Any]:
        return self._ranker.meta

    def results_version(self) -> str:
        """The version of the results served now; changes whenever a suggestion may change (every
        data version, every refit). Callers that keep results (the API's rendered responses) key
        them by this. While a background rebuild runs it stays the previous version's: those
        lists still stand, except for organisations deleted since, which :meth:`all_registered`
        checks."""
        return self._current().results_version

    def all_registered(self, results_version: str, org_ids: Iterable[str]) -> bool:
        """Whether every one of ``org_ids``, named by a list made on ``results_version``, is still
        registered. True at once when that is the version served and it is the store's current
        data version; otherwise (a rebuild is running or due, or the list is older than what is
        served) the store is asked."""
        state = self._state
        if state is not None and state.results_version == results_version and state.version == self._seen:
            return True
        wanted = set(org_ids)
        return not wanted or self.registry.existing(wanted) == wanted

    def read_sectors(self, text: str) -> list[str]:
        """The main sector of a free-text profile, read alike in Spanish and English
        (:class:`~matcher.sector_reading.MainSectorReader` over this suggester's encoder)."""
        return self._sector_reader.read(text)

    @property
    def _sector_reader(self) -> MainSectorReader:
        if self._sectors is None:  # two racing first calls build two equal readers: harmless
            self._sectors = MainSectorReader(self.encoder, self.taxonomy)
        return self._sectors

    def warm_up(self) -> None:
        """Load the index, the ranker and the encoding model now rather than on a first request
        (the model is otherwise loaded when something must be encoded: fast command-line calls,
        but a server's first ``/match`` would pay for it), and the sector prototypes that a
        profile without sectors is read with."""
        self._current()
        self._sector_reader.prototypes

    def close(self) -> None:
        """Stop following the registry (after a background rebuild in progress has finished)."""
        self._closed = True
        refresher = self._refresher
        if refresher is not None:
            refresher.join()
        self._indexes.close()

    def flush_index(self) -> None:
        """Save the vector index now if a write changed it (otherwise it is saved shortly after)."""
        self._indexes.flush()

    def _on_write(self, event: str, org_id: str) -> None:
        """Registry callback: apply the write to the index now, rebuild scores on next use.

        With background rebuilds the rebuild brings the index in step instead, so that a write
        request does no derived work; a written profile is encoded ahead, in the background."""
        if self.settings.background_rebuild:
            if event in ("created", "updated"):
                self._indexes.encode_soon(org_id, self.encoder)
            self._checked_at = 0.0
            return
        with self._lock:
            with self._indexes.lock:
                self._indexes.apply(event, org_id)
            self._state = None
            self._checked_at = 0.0

    def _current(self, wait: bool = False) -> State:
        """The precomputed state for the registry's current data version.

        With background rebuilds on and a previous state at hand, a new data version starts a
        rebuild and the previous state is returned meanwhile, unless ``wait``.
        """
        state = self._state
        now = time.monotonic()
        if state is not None and not wait and now - self._checked_at < self.settings.data_version_ttl_s:
            return state
        ranker = self._ranker
        version, stamp = ranker.versions()
        self._checked_at = now
        self._seen = version
        same_ranker = ranker.stamp is None or stamp == ranker.stamp
        if state is not None and state.version == version and same_ranker:
            return state
        if state is not None and same_ranker and not wait and self.settings.background_rebuild:
            self._refresh_soon()
            return state
        with self._lock:
            if ranker.stamp is not None and stamp != ranker.stamp:
                # Another process (a second server worker, `c2c train`) saved a new ranker:
                # load it, so every worker serves the same model.
                log.info("the saved ranker changed; loading it")
                ranker.forget()
                self._state = None
            if self._state is not None and self._state.version == version:
                return self._state
            self._state = self._build(version)
            return self._state

    def _refresh_soon(self) -> None:
        """Start the background rebuild unless one is running."""
        with self._refresh_lock:
            if self._closed or (self._refresher is not None and self._refresher.is_alive()):
                return
            self._refresher = threading.Thread(target=self._refresh, name="c2c-rebuild", daemon=True)
            self._refresher.start()

    def _refresh(self) -> None:
        """Build states until one matches the store's data version; then it is served.

        Under a stream of writes the rebuilds are spaced by :data:`REBUILD_PAUSE_S`, so that
        they leave the processor to the requests (the lists lag the writes by that much more).
        """
        lower_this_thread()
        try:
            for attempt in range(10):  # writes keep coming: serve a recent version rather than chase the newest
                if attempt:
                    time.sleep(REBUILD_PAUSE_S)
                version = self.registry.data_version()
                with self._lock:
                    if self._state is not None and self._state.version == version:
                        return
                    self._state = self._build(version)
                if self._closed:
                    return
        except Exception:  # the next read retries, synchronously if it must
            log.exception("rebuilding the suggestions in the background failed")

    def _build(self, version: str) -> State:
        """Read the registry, bring the index in step, load or train the ranker, and score."""
        with collection_paused():
            orgs, texts = self._profiles.read()
            # Profiles and cooperations are two reads: a cooperation of a profile written by
            # another process between them belongs to a newer data version, which the next
            # rebuild reads whole; this one leaves it out rather than fail.
            read = {o.id for o in orgs}
            coops, held = split_cooperations([c for c in self.registry.all_cooperations()
                                              if c.eu in read and c.mx in read])
            self._indexes.follow(orgs, version, self.encoder, self._on_write)
            vectors = self._indexes.vectors(orgs, self.encoder) if orgs else np.zeros((0, self.encoder.dim), np.float32)
            text_model = self._texts.get(texts)
        with single_threaded(), collection_paused():
            ctx = FeatureContext.build(orgs, coops, vectors, self.taxonomy, text=text_model)
            if self._ranker.model is None:
                self._ranker.load_or_train(ctx, version, self.encoder.name)
            state = build_state(version, ctx, self._ranker.model, orgs, held, self._ranker.generation,
                                self.settings, self.progress)
            state.calibration = self._ranker.calibration
            return state

    @property
    def min_probability(self) -> float:
        """The probability a candidate needs to be shown (see :mod:`matcher.ranking`)."""
        if self._ranker.model is None:
            self._current()
        return self._min_probability if self._min_probability is not None else float(self._meta["min_probability"])

    def train(self) -> dict[str, Any]:
        """Refit the ranker from the registry's cooperations, save it, and return a summary."""
        with self._lock:
            state = self._current()
            meta = self._ranker.fit(state.ctx, state.version, self.encoder.name)
            self._state = None
            summary = dict(meta)
            summary["coefficients"] = self._ranker.coefficients()
            return summary

    def export_ranker(self, directory: Path | str) -> Path:
        """Write the served ranker's JSON document to ``directory/ranker.json``."""
        self._current()
        stored = self._ranker.models.load(self.settings.ranker_name)
        if stored is None:
            raise NotTrained("no ranker is stored yet; run `c2c train`")
        target = Path(directory) / RANKER_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, stored[0])
        return target

    def model_card(self) -> dict[str, Any]:
        """What the ranker is, what it learned from, and how scores are made."""
        state = self._current()
        return self._ranker.card(state.ctx, state.version, self.encoder.name, self.min_probability)

    def suggest(self, ref: str, k: int = 10, sector: Choice = None, country: Choice = None, type: Choice = None,
                exclude_existing: bool = False, diversify: bool = False) -> SuggestionList:
        """Suggestions for a registered organisation named by id, name, acronym or alias."""
        with single_threaded():
            return self._suggest(ref, Request(k, sector, country, type, exclude_existing, diversify))

    def _suggest(self, ref: str, request: Request) -> SuggestionList:
        state = self._current()
        ctx = state.ctx
        org_id = ref if ref in ctx else state.names.get(normalise(ref)) or self.registry.lookup(ref).id
        if org_id not in ctx and self.settings.background_rebuild:
            state = self._current(wait=True)  # written since the served version was built
            ctx = state.ctx
        if org_id not in ctx:
            raise UnknownOrganisation(ref)
        if state.version != self._seen and not self.registry.exists(org_id):
            raise UnknownOrganisation(ref)  # deleted since the served version was built
        side, row = ctx.position(org_id)
        known = ctx.adjacency.known(side, row)
        held = [p for p in state.held.get(org_id, ()) if p in ctx]
        if held:
            known[[ctx.position(p)[1] for p in held]] = True
        query = ctx.org(side, row)
        vector = ctx.side_arrays(side).vectors[row]
        if state.dense:
            prob = state.prob[row] if side is Side.EU else state.prob[:, row]
            recip = state.recip[row] if side is Side.EU else state.recip[:, row]
            features = state.grid[row] if side is Side.EU else state.grid[:, row]
            return self._select(state, query, org_id, vector, prob, recip, features, known, request)
        rows = self._pool(state, side, vector, request)

        def block(eu_rows: np.ndarray | None, mx_rows: np.ndarray | None) -> np.ndarray:
            if side is Side.EU:
                return ctx.grid(np.array([row]), mx_rows)[0]
            return ctx.grid(eu_rows, np.array([row]))[:, 0]

        prob, recip, features = large_scores(state, self._ranker.model, side, rows, block, self.candidate_pool,
                                             query_row=row)
        return self._select(state, query, org_id, vector, prob, recip, features, known, request, rows)

    def suggest_for_profile(self, org: Organisation, k: int = 10, sector: Choice = None, country: Choice = None,
                            type: Choice = None, diversify: bool = False) -> SuggestionList:
        """Suggestions for a profile that is not saved (it has no documented cooperations)."""
        with single_threaded():
            return self._suggest_for_profile(org, Request(k, sector, country, type, False, diversify))

    def _suggest_for_profile(self, org: Organisation, request: Request) -> SuggestionList:
        k = request.k
        state = self._current()
        model = self._ranker.model
        if not state.dense:
            check_k(k, self.settings.api_max_k)
            vector = self._encode_unsaved([org])[0]
            rows = self._pool(state, org.side, vector, request)

            def block(eu_rows: np.ndarray | None, mx_rows: np.ndarray | None) -> np.ndarray:
                return state.ctx.external(org, vector, mx_rows if org.side is Side.EU else eu_rows)

            prob, recip, features = large_scores(state, model, org.side, rows, block, self.candidate_pool)
            known = np.zeros(len(prob), dtype=bool)
            return self._select(state, org, None, vector, prob, recip, features, known, request, rows)
        vector = self._encode_unsaved([org])[0]
        prob, recip = external_scores(state, model, org, vector)
        features = state.ctx.external(org, vector)
        known = np.zeros(len(prob), dtype=bool)
        return self._select(state, org, None, vector, prob, recip, features, known, request)

    def score_pairs(self, eu: Sequence[Organisation], mx: Sequence[Organisation]) -> np.ndarray:
        """Reciprocal scores (len(eu), len(mx)) for the event planner.

        Registered, unchanged profiles read the precomputed matrix; when any profile is new or
        edited, the scores come from a context that includes the given profiles.
        """
        for org, side in [(o, Side.EU) for o in eu] + [(o, Side.MX) for o in mx]:
            if org.side is not side:
                raise InvalidProfile(f"{org.id} is not on the {side.value} side", "side")
        state = self._current()
        return pair_scores(state, self._ranker.model, eu, mx, self.taxonomy, self._encode_unsaved)

    def _encode_unsaved(self, orgs: Sequence[Organisation]) -> np.ndarray:
        return encode_unsaved(self.encoder, self.taxonomy, orgs)

    def _pool(self, state: State, side: Side, vector: np.ndarray, request: Request) -> np.ndarray:
        """The index's candidates on a large registry: ``max(200, 10 k)`` nearest profiles passing the filters."""
        check_k(request.k, self.settings.api_max_k)
        return candidates(state, self._index, self.taxonomy, self.candidate_pool, side, vector, request,
                          pool=max(200, 10 * request.k))

    def _select(self, state: State, query: Organisation, query_id: str | None, vector: np.ndarray,
                prob: np.ndarray, recip: np.ndarray, features: Any, known: np.ndarray, request: Request,
                rows: np.ndarray | None = None) -> SuggestionList:
        """Check ``k``, take the candidates when not given, and select the list.

        On a version served while a rebuild runs, organisations deleted since are left out."""
        check_k(request.k, self.settings.api_max_k)
        if rows is None:
            rows = candidates(state, self._index, self.taxonomy, self.candidate_pool, query.side, vector, request)
        result = select(state, query, query_id, vector, prob, recip, features, known, rows, request,
                        self.min_probability, self.require_fit)
        if state.version != self._seen:
            stored = self.registry.existing(item.id for item in result.items)
            kept = [item for item in result.items if item.id in stored]
            if len(kept) < len(result.items):
                result.items = [item.model_copy(update={"rank": rank}) for rank, item in enumerate(kept, start=1)]
        return result
