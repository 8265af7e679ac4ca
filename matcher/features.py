"""Pair features: what the ranker knows about a (European, Mexican) pair of organisations.

A :class:`FeatureContext` is built from the organisations, the cooperations the ranker may
learn from, one embedding vector per organisation and the sector taxonomy. Everything that
depends on cooperations (graph proximity, popularity, type affinity) is derived from the
cooperations given to :meth:`FeatureContext.build` and nothing else, so the evaluation can
build a context without a held-out pair and no feature can see it.

Features are always oriented (EU party, MX party), whichever side asks. Cooperation-derived
features of a pair never use the pair's own edge ("leave-the-edge-out"): the features of a
documented pair are exactly those it would have if it were not documented, so training
positives look like the unseen pairs the ranker is asked about.

All features are computed for whole blocks of pairs at once with numpy
(:meth:`FeatureContext.grid`), which is what makes suggestions fast.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, MutableMapping, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer

from matcher.adjacency import Adjacency
from matcher.errors import InvalidProfile
from matcher.feature_specs import FEATURE_SPECS
from matcher.profiles import COOPERATION_WEIGHTS, Cooperation, Organisation, OrgType, Side
from matcher.taxonomy import Taxonomy
from matcher.text import profile_text

#: Feature names, in column order, with what each one measures (from :data:`FEATURE_SPECS`).
FEATURES: dict[str, str] = {spec.name: spec.meaning for spec in FEATURE_SPECS}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)

#: Features that describe the cooperation history of one party. For an organisation with no
#: other documented partner (a newcomer) they are unknown: NaN, which the ranker fills with the
#: feature's mean over its training rows (:class:`matcher.ranker.PairRanker`), so a candidate
#: without history is neither lifted nor sunk by it. Training adds copies of the training rows
#: with these unknown for one side (cold-start rows), so the ranker also learns to rank without
#: history.
HISTORY: dict[str, tuple[str, ...]] = {
    side.value: tuple(spec.name for spec in FEATURE_SPECS if spec.history is side) for side in (Side.EU, Side.MX)
}
#: Popularity (how many cooperations an organisation already has) is not a feature: it says
#: nothing about a newcomer, made a few well-documented clusters fill most lists, and ranked
#: worse in the newcomer protocol. It stays a baseline of the evaluation.

#: Features that can only make a pair more likely (sign constraints for the ranker): the
#: similarities, and a European side's declared interest in Mexico (in general and in the
#: partner's sectors). The sources list interested clusters and cooperating clusters in
#: different tables, so left free the interest weight comes out negative, which would steer
#: Mexican organisations away from exactly the European clusters that look for them.
MONOTONE_INCREASING: frozenset[str] = frozenset(spec.name for spec in FEATURE_SPECS if spec.monotone)

#: Largest block of distinct rows x distinct columns :meth:`FeatureContext.pairs` computes at once.
PAIRS_BLOCK_LIMIT = 4_000_000
#: Above this many (query x side) similarities, partner features compare with known partners only.
PARTNER_SIM_FULL_LIMIT = 1_000_000

#: A fitted text model and the TF-IDF rows of the texts it was fitted on.
TextModel = tuple[TfidfVectorizer, sparse.csr_matrix]

LABEL_LEVELS = {"gold": 1.0, "silver": 2 / 3, "bronze": 1 / 3}
TYPE_CODES = {t: i for i, t in enumerate(OrgType)}


def monotone_constraints(names: Sequence[str] = FEATURE_NAMES) -> list[int]:
    """+1 for every feature in :data:`MONOTONE_INCREASING`, 0 for the others."""
    return [1 if n in MONOTONE_INCREASING else 0 for n in names]


@dataclass(frozen=True)
class OrgArrays:
    """Per-organisation attributes of one side as aligned arrays (row i = organisation i)."""

    vectors: np.ndarray  # (n, d) float32, L2-normalised
    text: sparse.csr_matrix  # (n, V) L2-normalised TF-IDF rows of the profile texts
    sectors: np.ndarray  # (n, T) 0/1 declared sectors
    expanded: np.ndarray  # (n, T) sectors and their ancestors
    roots: np.ndarray  # (n, T) top-level sectors
    interest: np.ndarray  # (n, T) declared Mexico interest (sector ids)
    interest_roots: np.ndarray  # (n, T) roots of the declared interest
    type_code: np.ndarray  # (n,) int
    label: np.ndarray  # (n,)
    eccp: np.ndarray  # (n,)
    networks: np.ndarray  # (n, K) 0/1 memberships (member_of ids and ESCP-4i names)
    size: np.ndarray  # (n,) log1p(members), 0 when unknown
    size_known: np.ndarray  # (n,)
    closed: np.ndarray  # (n,) bool: closed organisations (``facts.closed``), never suggested

    @property
    def n(self) -> int:
        return self.vectors.shape[0]

    @classmethod
    def build(
        cls,
        orgs: Sequence[Organisation],
        vectors: np.ndarray,
        taxonomy: Taxonomy,
        sector_index: Mapping[str, int],
        network_index: Mapping[str, int],
        text: sparse.csr_matrix,
    ) -> "OrgArrays":
        n, t, k = len(orgs), len(sector_index), len(network_index)
        expanded_cols: dict[str, list[int]] = {}
        root_col: dict[str, int] = {}
        cells: dict[str, tuple[list[int], list[int]]] = {
            name: ([], []) for name in ("sectors", "expanded", "roots", "interest", "interest_roots", "networks")}

        def put(name: str, row: int, cols: list[int]) -> None:
            rows_, cols_ = cells[name]
            rows_.extend([row] * len(cols))
            cols_.extend(cols)

        for i, org in enumerate(orgs):
            for field, values in (("sectors", org.sectors), ("facts.mexico_interest", org.facts.mexico_interest)):
                for sid in values:
                    if sid not in root_col:
                        if sid not in taxonomy:
                            raise InvalidProfile(f"{org.id}: unknown sector {sid!r}", field)
                        root_col[sid] = sector_index[taxonomy.root(sid)]
                        expanded_cols[sid] = [sector_index[a] for a in taxonomy.expand([sid])]
            put("sectors", i, [sector_index[s] for s in org.sectors])
            put("expanded", i, sorted({c for s in org.sectors for c in expanded_cols[s]}))
            put("roots", i, [root_col[s] for s in org.sectors])
            put("interest", i, [sector_index[s] for s in org.facts.mexico_interest])
            put("interest_roots", i, [root_col[s] for s in org.facts.mexico_interest])
            put("networks", i, [network_index[name] for name in _networks(org) if name in network_index])

        def dense(name: str, width: int) -> np.ndarray:
            out = np.zeros((n, width))
            rows_, cols_ = cells[name]
            out[np.array(rows_, dtype=np.intp), np.array(cols_, dtype=np.intp)] = 1
            return out

        sectors, expanded, roots = dense("sectors", t), dense("expanded", t), dense("roots", t)
        interest, interest_roots = dense("interest", t), dense("interest_roots", t)
        networks = dense("networks", k)
        facts = [o.facts for o in orgs]
        members = np.array([f.members if f.members is not None else -1 for f in facts], dtype=float)
        return cls(
            # An empty side keeps its vector width, so its (0, d) arrays still multiply.
            vectors=np.asarray(vectors, dtype=np.float32).reshape(n, np.shape(vectors)[-1] if np.ndim(vectors) == 2 else -1),
            text=sparse.csr_matrix(text),
            sectors=sectors,
            expanded=expanded,
            roots=roots,
            interest=interest,
            interest_roots=interest_roots,
            type_code=np.array([TYPE_CODES[o.type] for o in orgs], dtype=int),
            label=np.array([LABEL_LEVELS.get(f.label.level, 0.0) if f.label else 0.0 for f in facts]),
            eccp=np.array([float(f.eccp_member) for f in facts]),
            networks=networks,
            size=np.where(members >= 0, np.log1p(np.maximum(members, 0)), 0.0),
            size_known=(members >= 0).astype(float),
            closed=np.array([f.closed is not None for f in facts], dtype=bool),
        )


def _networks(org: Organisation) -> list[str]:
    return [f"org:{m}" for m in org.facts.member_of] + [f"escp4i:{p.strip().lower()}" for p in org.facts.escp4i]


def _jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass
class FeatureContext:
    """Everything needed to compute pair features, precomputed once.

    Build it with :meth:`build`; ``cooperations`` are the pairs the features may know about
    (for evaluation: the training pairs only).
    """

    taxonomy: Taxonomy
    eu_ids: list[str]
    mx_ids: list[str]
    eu_orgs: list[Organisation]
    mx_orgs: list[Organisation]
    eu: OrgArrays
    mx: OrgArrays
    sector_ids: list[str]
    network_index: dict[str, int]
    vectorizer: TfidfVectorizer  # fitted on every organisation's profile text (no pair information)
    root_ids: list[str]  # top-level sectors, in the order of the sector-affinity matrices
    root_counts: np.ndarray  # (R, R) documented pairs by (EU top-level sector, MX top-level sector)
    eu_root_share: np.ndarray  # (R,) share of European organisations in each top-level sector
    mx_root_share: np.ndarray  # (R,)
    adjacency: Adjacency  # sparse (n_eu, n_mx): a documented cooperation links the pair
    weights: "PairWeights"  # [eu_rows, mx_rows] training weight of each documented pair (0 elsewhere)
    cooperations: list[Cooperation]
    type_counts: np.ndarray  # (n_types, n_types) documented pairs by (EU type, MX type)
    eu_type_share: np.ndarray
    mx_type_share: np.ndarray

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(
        cls,
        organisations: Sequence[Organisation],
        cooperations: Sequence[Cooperation],
        vectors: np.ndarray | Mapping[str, np.ndarray],
        taxonomy: Taxonomy,
        text: TextModel | None = None,
    ) -> "FeatureContext":
        """Precompute the per-organisation arrays and the cooperation graph.

        ``vectors`` is either an array aligned with ``organisations`` or a mapping id -> vector.
        ``text`` is the text model already fitted on these organisations' profile texts, with
        their TF-IDF rows in the same order (:func:`fit_text_model`); fitted here when not given.
        Raises :class:`InvalidProfile` when a cooperation names an unknown organisation or
        a party on the wrong side, or when an organisation has no vector.
        """
        orgs = list(organisations)
        if isinstance(vectors, Mapping):
            missing = [o.id for o in orgs if o.id not in vectors]
            if missing:
                raise InvalidProfile(f"no embedding vector for {missing[0]!r}", "vectors")
            matrix = np.stack([np.asarray(vectors[o.id], dtype=np.float32) for o in orgs]) if orgs else np.zeros((0, 1), np.float32)
        else:
            matrix = np.asarray(vectors, dtype=np.float32)
            if matrix.shape[0] != len(orgs):
                raise InvalidProfile(f"{matrix.shape[0]} vectors for {len(orgs)} organisations", "vectors")
        by_side = {Side.EU: [], Side.MX: []}
        rows = {Side.EU: [], Side.MX: []}
        for i, org in enumerate(orgs):
            by_side[org.side].append(org)
            rows[org.side].append(i)
        sector_ids = list(taxonomy.sectors)
        sector_index = {s: i for i, s in enumerate(sector_ids)}
        network_names = sorted({name for o in orgs for name in _networks(o)})
        network_index = {name: i for i, name in enumerate(network_names)}
        dim = matrix.shape[1] if matrix.ndim == 2 else 1
        vectorizer, tfidf = text if text is not None else fit_text_model([profile_text(o, taxonomy) for o in orgs])
        if tfidf.shape[0] != len(orgs):
            raise InvalidProfile(f"{tfidf.shape[0]} text rows for {len(orgs)} organisations", "text")

        def arrays(side: Side) -> OrgArrays:
            vecs = matrix[rows[side]] if rows[side] else np.zeros((0, dim), np.float32)
            return OrgArrays.build(by_side[side], vecs, taxonomy, sector_index, network_index,
                                   tfidf[rows[side]] if rows[side] else sparse.csr_matrix((0, tfidf.shape[1])))

        eu_ids = [o.id for o in by_side[Side.EU]]
        mx_ids = [o.id for o in by_side[Side.MX]]
        eu_pos = {oid: i for i, oid in enumerate(eu_ids)}
        mx_pos = {oid: i for i, oid in enumerate(mx_ids)}
        edge_weight: dict[tuple[int, int], float] = {}
        for coop in cooperations:
            if coop.eu not in eu_pos:
                raise InvalidProfile(f"{coop.id}: {coop.eu!r} is not a known European organisation", "eu")
            if coop.mx not in mx_pos:
                raise InvalidProfile(f"{coop.id}: {coop.mx!r} is not a known Mexican organisation", "mx")
            i, j = eu_pos[coop.eu], mx_pos[coop.mx]
            edge_weight[i, j] = max(edge_weight.get((i, j), 0.0), COOPERATION_WEIGHTS[coop.type])
        eu, mx = arrays(Side.EU), arrays(Side.MX)
        n_types = len(TYPE_CODES)
        type_counts = np.zeros((n_types, n_types))
        adjacency = Adjacency(np.array([i for i, _ in edge_weight], dtype=np.intp),
                              np.array([j for _, j in edge_weight], dtype=np.intp), (len(eu_ids), len(mx_ids)))
        ei, mj = adjacency.edges
        np.add.at(type_counts, (eu.type_code[ei], mx.type_code[mj]), 1)
        share = lambda codes: np.bincount(codes, minlength=n_types) / max(len(codes), 1)  # noqa: E731
        root_ids = [sid for sid in sector_ids if taxonomy[sid].parent is None]
        root_cols = [sector_index[r] for r in root_ids]
        eu_roots, mx_roots = eu.roots[:, root_cols], mx.roots[:, root_cols]
        root_counts = eu_roots[ei].T @ mx_roots[mj] if len(ei) else np.zeros((len(root_ids), len(root_ids)))
        root_share = lambda roots: roots.sum(0) / max(roots.shape[0], 1)  # noqa: E731
        return cls(
            taxonomy=taxonomy,
            eu_ids=eu_ids,
            mx_ids=mx_ids,
            eu_orgs=by_side[Side.EU],
            mx_orgs=by_side[Side.MX],
            eu=eu,
            mx=mx,
            sector_ids=sector_ids,
            network_index=network_index,
            vectorizer=vectorizer,
            root_ids=root_ids,
            root_counts=root_counts,
            eu_root_share=root_share(eu_roots),
            mx_root_share=root_share(mx_roots),
            adjacency=adjacency,
            weights=PairWeights(edge_weight, len(mx_ids)),
            cooperations=list(cooperations),
            type_counts=type_counts,
            eu_type_share=share(eu.type_code),
            mx_type_share=share(mx.type_code),
        )

    # ------------------------------------------------------------------ lookups
    def __post_init__(self) -> None:
        self._rows = {oid: (Side.EU, i) for i, oid in enumerate(self.eu_ids)}
        self._rows.update({oid: (Side.MX, i) for i, oid in enumerate(self.mx_ids)})
        self._n_edges = self.adjacency.nnz
        # Sector affinity reads the same top-level columns and lift table for every block.
        self._root_cols = [self.sector_ids.index(r) for r in self.root_ids]
        expected = self._n_edges * np.outer(self.eu_root_share, self.mx_root_share)
        self._root_lift = np.log((self.root_counts + 1.0) / (expected + 1.0))

    def __contains__(self, org_id: object) -> bool:
        return org_id in self._rows

    def position(self, org_id: str) -> tuple[Side, int]:
        """Side and row of a registered organisation."""
        try:
            return self._rows[org_id]
        except KeyError:
            raise InvalidProfile(f"{org_id!r} is not in the feature context", "id") from None

    def rows_of(self, ids: Iterable[str]) -> np.ndarray:
        """Rows (on their own sides) of the registered organisations among ``ids``; others are skipped."""
        found = map(self._rows.get, ids)
        return np.array([hit[1] for hit in found if hit is not None], dtype=int)

    def org(self, side: Side, row: int) -> Organisation:
        return self.eu_orgs[row] if side is Side.EU else self.mx_orgs[row]

    def ids(self, side: Side) -> list[str]:
        return self.eu_ids if side is Side.EU else self.mx_ids

    def side_arrays(self, side: Side) -> OrgArrays:
        return self.eu if side is Side.EU else self.mx

    def arrays_for(self, org: Organisation, vector: np.ndarray) -> OrgArrays:
        """Arrays for a profile that is not (or not yet) in the context."""
        sector_index = {s: i for i, s in enumerate(self.sector_ids)}
        text = self.vectorizer.transform([profile_text(org, self.taxonomy)])
        return OrgArrays.build([org], np.asarray(vector, np.float32)[None, :], self.taxonomy, sector_index,
                               self.network_index, text)

    # ------------------------------------------------------------------ features
    def grid(self, eu_rows: np.ndarray | None = None, mx_rows: np.ndarray | None = None) -> np.ndarray:
        """Features of every pair (eu_rows x mx_rows) of registered organisations: (a, b, F)."""
        eu_rows = np.arange(len(self.eu_ids)) if eu_rows is None else np.asarray(eu_rows, dtype=int)
        mx_rows = np.arange(len(self.mx_ids)) if mx_rows is None else np.asarray(mx_rows, dtype=int)
        return self._grid(_take(self.eu, eu_rows), _take(self.mx, mx_rows), eu_rows, mx_rows)

    def external(self, org: Organisation, vector: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Features of an unregistered profile against the counterpart side: (b, F).

        The profile has no documented cooperations; it is oriented as EU or MX by its side. If
        it shares an id with a registered organisation (an edited copy), that organisation is
        not counted among anyone's partners it could resemble.
        """
        query = self.arrays_for(org, vector)
        twin = self._rows.get(org.id)
        twin_row = twin[1] if twin is not None and twin[0] is org.side else None
        if org.side is Side.EU:
            mx_rows = np.arange(len(self.mx_ids)) if rows is None else np.asarray(rows, dtype=int)
            return self._grid(query, _take(self.mx, mx_rows), None, mx_rows, twin_eu=twin_row)[0]
        eu_rows = np.arange(len(self.eu_ids)) if rows is None else np.asarray(rows, dtype=int)
        return self._grid(_take(self.eu, eu_rows), query, eu_rows, None, twin_mx=twin_row)[:, 0]

    def pairs(self, eu_rows: np.ndarray, mx_rows: np.ndarray) -> np.ndarray:
        """Features of the element-wise pairs (eu_rows[i], mx_rows[i]): (m, F).

        When the block of distinct rows x distinct columns would exceed
        :data:`PAIRS_BLOCK_LIMIT` pairs, the pairs are computed in slices of European rows,
        each against only the Mexican rows it is paired with, so memory stays bounded.
        """
        eu_rows, mx_rows = np.asarray(eu_rows, dtype=int), np.asarray(mx_rows, dtype=int)
        ue, ie = np.unique(eu_rows, return_inverse=True)
        um, im = np.unique(mx_rows, return_inverse=True)
        if len(ue) * len(um) <= PAIRS_BLOCK_LIMIT:
            return self.grid(ue, um)[ie, im]
        out = np.empty((len(eu_rows), len(FEATURE_NAMES)))
        order = np.argsort(eu_rows, kind="stable")
        bounds = np.flatnonzero(np.diff(eu_rows[order])) + 1
        groups = np.split(order, bounds)
        step = max(1, PAIRS_BLOCK_LIMIT // max(len(um), 1))
        for start in range(0, len(groups), step):
            chunk = np.concatenate(groups[start:start + step])
            ce, cie = np.unique(eu_rows[chunk], return_inverse=True)
            cm, cim = np.unique(mx_rows[chunk], return_inverse=True)
            out[chunk] = self.grid(ce, cm)[cie, cim]
        return out

    def _grid(self, E: OrgArrays, M: OrgArrays, eu_rows: np.ndarray | None, mx_rows: np.ndarray | None,
              twin_eu: int | None = None, twin_mx: int | None = None) -> np.ndarray:
        a, b = E.n, M.n
        if eu_rows is not None and mx_rows is not None:
            edge = self.adjacency.block(eu_rows, mx_rows).astype(float)
        else:
            edge = np.zeros((a, b))
        out = np.empty((len(FEATURE_NAMES), a, b))  # one contiguous plane per feature
        col = {name: i for i, name in enumerate(FEATURE_NAMES)}

        out[col["embedding_sim"]] = E.vectors @ M.vectors.T
        out[col["text_sim"]] = (E.text @ M.text.T).toarray()
        out[col["sector_jaccard"]] = _jaccard(E.sectors, M.sectors)
        out[col["parent_overlap"]] = _jaccard(E.expanded, M.expanded)
        out[col["root_overlap"]] = _jaccard(E.roots, M.roots)
        out[col["sector_affinity"]] = self._sector_affinity(E, M, edge)
        out[col["same_type"]] = E.type_code[:, None] == M.type_code[None, :]

        n_pairs = self._n_edges - edge
        observed = self.type_counts[E.type_code[:, None], M.type_code[None, :]] - edge
        expected = n_pairs * self.eu_type_share[E.type_code][:, None] * self.mx_type_share[M.type_code][None, :]
        out[col["type_affinity"]] = np.log((observed + 1.0) / (expected + 1.0))

        has_interest = (E.interest.sum(1) > 0).astype(float)
        out[col["eu_mexico_interest"]] = has_interest[:, None]
        exact = (E.interest @ M.expanded.T) > 0
        related = (E.interest_roots @ M.roots.T) > 0
        out[col["interest_match"]] = np.where(exact, 1.0, np.where(related, 0.5, 0.0))

        out[col["label"]] = (E.label[:, None] + M.label[None, :]) / 2
        out[col["eccp_member"]] = (E.eccp[:, None] + M.eccp[None, :]) / 2
        member_e = (E.networks.sum(1) > 0).astype(float)
        member_m = (M.networks.sum(1) > 0).astype(float)
        out[col["network_member"]] = (member_e[:, None] + member_m[None, :]) / 2
        out[col["shared_network"]] = (E.networks @ M.networks.T) > 0

        out[col["partner_sim_mx"]] = self._partner_sim_mx(E, M, eu_rows, mx_rows, twin_mx)
        out[col["partner_sim_eu"]] = self._partner_sim_eu(E, M, eu_rows, mx_rows, twin_eu)

        out[col["eu_size"]] = E.size[:, None]
        out[col["mx_size"]] = M.size[None, :]
        out[col["eu_size_known"]] = E.size_known[:, None]
        out[col["mx_size_known"]] = M.size_known[None, :]
        return np.ascontiguousarray(np.moveaxis(out, 0, -1))

    def _sector_affinity(self, E: OrgArrays, M: OrgArrays, edge: np.ndarray) -> np.ndarray:
        """[i, j] = mean smoothed log-lift of the (EU top-level sector, MX top-level sector)
        combinations of the pair among documented cooperations, the pair's own edge left out
        (0 when either side has no sector)."""
        er, mr = E.roots[:, self._root_cols], M.roots[:, self._root_cols]
        n_pairs = float(self._n_edges)
        combos = er.sum(1)[:, None] * mr.sum(1)[None, :]
        total = er @ self._root_lift @ mr.T
        if edge.any():
            # A documented pair counts once in every one of its combinations: leave it out.
            for i, j in zip(*np.nonzero(edge)):
                a, b = np.flatnonzero(er[i]), np.flatnonzero(mr[j])
                counts = self.root_counts[np.ix_(a, b)] - 1.0
                exp = (n_pairs - 1.0) * np.outer(self.eu_root_share[a], self.mx_root_share[b])
                total[i, j] = np.log((counts + 1.0) / (exp + 1.0)).sum()
        return np.divide(total, combos, out=np.zeros_like(total), where=combos > 0)

    def _partner_sim_mx(self, E: OrgArrays, M: OrgArrays, eu_rows: np.ndarray | None, mx_rows: np.ndarray | None,
                        twin: int | None = None) -> np.ndarray:
        """[i, j] = max similarity of MX org j to the other MX partners of EU org i (NaN: none)."""
        if eu_rows is None or not self._n_edges:
            return np.full((E.n, M.n), np.nan)
        partners = self.adjacency.partner_lists(Side.EU, np.asarray(eu_rows, dtype=int))
        return _partner_max(M, self.mx, partners, mx_rows, twin, self._partner_sim_full(M.n, len(self.mx_ids)))

    def _partner_sim_eu(self, E: OrgArrays, M: OrgArrays, eu_rows: np.ndarray | None, mx_rows: np.ndarray | None,
                        twin: int | None = None) -> np.ndarray:
        """[i, j] = max similarity of EU org i to the other EU partners of MX org j (NaN: none)."""
        if mx_rows is None or not self._n_edges:
            return np.full((E.n, M.n), np.nan)
        partners = self.adjacency.partner_lists(Side.MX, np.asarray(mx_rows, dtype=int))
        return _partner_max(E, self.eu, partners, eu_rows, twin, self._partner_sim_full(E.n, len(self.eu_ids))).T

    def _partner_sim_full(self, queries: int, side: int) -> bool:
        """Whether partner features compare with every organisation of the side (small registries)
        or with known partners only (large ones, where per-query work must not grow with the
        registry). Both give the same maxima."""
        n_eu, n_mx = self.adjacency.shape
        return queries * side <= PARTNER_SIM_FULL_LIMIT and n_eu * n_mx <= PARTNER_SIM_FULL_LIMIT

    # ------------------------------------------------------------------ training data
    def training_rows(self, negatives_per_positive: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Documented pairs (positives) and seeded cross-side non-pairs (negatives).

        For each positive (e, m) half of the negatives keep e and draw Mexican organisations,
        half keep m and draw European ones (mirroring the two query directions); a negative is
        never a documented pair. Returns (eu_rows, mx_rows, y, sample_weight): positives weigh
        their cooperation type's :data:`COOPERATION_WEIGHTS`, negatives weigh 1.
        """
        rng = np.random.default_rng(seed)
        pos_e, pos_m = self.adjacency.edges
        neg_e: list[int] = []
        neg_m: list[int] = []
        half = negatives_per_positive // 2
        for e, m in zip(pos_e, pos_m):
            free_m = np.flatnonzero(~self.adjacency.known(Side.EU, e))
            free_e = np.flatnonzero(~self.adjacency.known(Side.MX, m))
            if len(free_m):
                picks = rng.choice(free_m, size=min(negatives_per_positive - half, len(free_m)), replace=False)
                neg_e.extend([e] * len(picks))
                neg_m.extend(picks.tolist())
            if len(free_e):
                picks = rng.choice(free_e, size=min(half, len(free_e)), replace=False)
                neg_e.extend(picks.tolist())
                neg_m.extend([m] * len(picks))
        eu_rows = np.concatenate([pos_e, np.array(neg_e, dtype=int)])
        mx_rows = np.concatenate([pos_m, np.array(neg_m, dtype=int)])
        y = np.concatenate([np.ones(len(pos_e), dtype=int), np.zeros(len(neg_e), dtype=int)])
        w = np.concatenate([self.weights[pos_e, pos_m], np.ones(len(neg_e))])
        return eu_rows, mx_rows, y, w

    def training_data(self, negatives_per_positive: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, y, sample_weight) for :class:`matcher.ranker.PairRanker`."""
        eu_rows, mx_rows, y, w = self.training_rows(negatives_per_positive, seed)
        return self.pairs(eu_rows, mx_rows), y, w


class PairWeights:
    """Training weights of the documented pairs, indexed like a dense (n_eu, n_mx) array.

    Only the documented pairs are stored (every other pair weighs 0), so a large registry
    does not need an n_eu x n_mx float matrix. ``weights[e, m]`` takes ints or int arrays.
    """

    def __init__(self, edges: Mapping[tuple[int, int], float], n_mx: int):
        self.n_mx = max(n_mx, 1)
        keys = np.array([i * self.n_mx + j for i, j in edges], dtype=np.int64)
        order = np.argsort(keys)
        self._keys = keys[order]
        self._values = np.array(list(edges.values()), dtype=float)[order]

    def __getitem__(self, index: tuple) -> np.ndarray | float:
        eu_rows, mx_rows = index
        keys = np.asarray(eu_rows, dtype=np.int64) * self.n_mx + np.asarray(mx_rows, dtype=np.int64)
        pos = np.clip(np.searchsorted(self._keys, keys), 0, max(len(self._keys) - 1, 0))
        found = (self._keys[pos] == keys) if len(self._keys) else np.zeros(keys.shape, dtype=bool)
        values = np.where(found, self._values[pos] if len(self._values) else 0.0, 0.0)
        return float(values) if values.ndim == 0 else values


def partner_similarity(a: OrgArrays, b: OrgArrays) -> np.ndarray:
    """Similarity of organisations of one side, as the partner features read it: the cosine of
    their (multilingual) embeddings. A blend with sector overlap was tried and ranked worse in
    the cross-validated protocols; explanations still name a resembling partner only when it
    shares a sector (:mod:`matcher.explain`)."""
    return (a.vectors @ b.vectors.T).astype(float)


def _partner_max(query: OrgArrays, side: OrgArrays, partners: Sequence[np.ndarray], own_rows: np.ndarray | None,
                 twin: int | None, full: bool) -> np.ndarray:
    """(len(partners), query.n): row i holds each query organisation's highest similarity to the
    organisations ``partners[i]`` of ``side`` (its own row and the twin left out), NaN when none:
    without another partner the resemblance is unknown, not low.

    ``full`` compares with every organisation of the side, otherwise only with the partners.
    """
    out = np.full((len(partners), query.n), np.nan)
    active = [i for i, p in enumerate(partners) if len(p)]
    if not active:
        return out
    if full:
        sim = _partner_block(query, side, None, own_rows, twin)
        members = {i: partners[i] for i in active}
    else:
        cols = np.unique(np.concatenate([partners[i] for i in active]))
        sim = _partner_block(query, side, cols, own_rows, twin)
        members = {i: np.searchsorted(cols, partners[i]) for i in active}
    for i in active:
        best = sim[:, members[i]].max(axis=1)
        out[i] = np.where(np.isfinite(best), best, np.nan)
    return out


def _partner_block(query: OrgArrays, side: OrgArrays, cols: np.ndarray | None, own_rows, twin: int | None
                   ) -> np.ndarray:
    """Similarities of ``query`` rows to organisations of one side, each query's own row and the
    twin masked.

    ``cols=None``: to every organisation of the side. Otherwise only to the organisations
    ``cols`` (the only ones a partner feature can use), which keeps per-query work
    independent of the registry size; ``sim[:, c]`` is then the similarity to ``cols[c]``.
    """
    n = side.n
    if cols is None:
        sim = partner_similarity(query, side)
        if own_rows is not None:
            sim[np.arange(query.n), own_rows] = -np.inf
        if twin is not None:
            sim[:, twin] = -np.inf
        return sim
    sim = partner_similarity(query, _take(side, cols))
    position = np.full(n, -1)
    position[cols] = np.arange(len(cols))
    if own_rows is not None:
        at = position[np.asarray(own_rows, dtype=int)]
        hit = at >= 0
        sim[np.flatnonzero(hit), at[hit]] = -np.inf
    if twin is not None and position[twin] >= 0:
        sim[:, position[twin]] = -np.inf
    return sim


def _take(arrays: OrgArrays, rows: np.ndarray) -> OrgArrays:
    return OrgArrays(**{name: getattr(arrays, name)[rows] for name in arrays.__dataclass_fields__})


def fit_text_model(texts: Sequence[str], counted: MutableMapping[str, Counter] | None = None) -> TextModel:
    """The text model fitted on ``texts``, and their L2-normalised TF-IDF rows.

    The same model and rows, bit for bit, as :meth:`TfidfVectorizer.fit_transform` of
    :func:`text_vectorizer` (the terms of each row in the order scikit-learn keeps them, so
    sums come out identical). ``counted`` maps texts to their term counts and is filled with
    the texts it lacks: a caller that keeps it tokenises only new texts on the next fit.
    """
    vectorizer = text_vectorizer()
    if not len(texts):
        return vectorizer, sparse.csr_matrix((0, 0))
    analyse = vectorizer.build_analyzer()
    counts: list[Counter] = []
    for text in texts:
        found = counted.get(text) if counted is not None else None
        if found is None:
            found = Counter(analyse(text))
            if counted is not None:
                counted[text] = found
        counts.append(found)
    first: dict[str, int] = {}  # term -> order of first appearance, as scikit-learn numbers them
    seen = np.array([first.setdefault(term, len(first)) for c in counts for term in c], dtype=np.int64)
    if not first:
        raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
    values = np.array([n for c in counts for n in c.values()], dtype=np.float64)
    lengths = np.array([len(c) for c in counts])
    vocabulary = sorted(first)
    alphabetical = np.empty(len(first), dtype=np.int64)
    alphabetical[[first[term] for term in vocabulary]] = np.arange(len(vocabulary))
    order = np.lexsort((seen, np.repeat(np.arange(len(counts)), lengths)))
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    matrix = sparse.csr_matrix((values[order], alphabetical[seen[order]].astype(np.int32), indptr),
                               shape=(len(counts), len(vocabulary)))
    weigh = TfidfTransformer(norm=vectorizer.norm, use_idf=vectorizer.use_idf, smooth_idf=vectorizer.smooth_idf,
                             sublinear_tf=vectorizer.sublinear_tf)
    tfidf = weigh.fit_transform(matrix)
    vectorizer.vocabulary_ = {term: i for i, term in enumerate(vocabulary)}
    vectorizer.idf_ = weigh.idf_
    return vectorizer, sparse.csr_matrix(tfidf)


def text_vectorizer() -> TfidfVectorizer:
    """The TF-IDF model of profile texts: accents folded, sublinear counts, words and word pairs.

    Fitted on the organisations' texts only (unsupervised), so it carries no pair information.
    """
    return TfidfVectorizer(strip_accents="unicode", sublinear_tf=True, ngram_range=(1, 2), min_df=1)


#: A candidate is suggested only when it fits the query in at least one of these ways.
TEXT_FIT = 0.10  # TF-IDF cosine of the two profile texts


def fits(features: np.ndarray) -> np.ndarray:
    """Which pairs (rows of pair features) fit at all: they share a top-level sector, the European
    side declared an interest in the Mexican side's sectors, or their profile texts share
    content (TF-IDF cosine at least :data:`TEXT_FIT`). Nothing else is suggested, however the
    ranker scores it, so a list runs out instead of filling up with unrelated organisations."""
    f = np.asarray(features)
    return (f[..., _ROOT_OVERLAP] > 0) | (f[..., _INTEREST_MATCH] > 0) | (f[..., _TEXT_SIM] >= TEXT_FIT)


_ROOT_OVERLAP, _INTEREST_MATCH, _TEXT_SIM = (FEATURE_NAMES.index(n) for n in ("root_overlap", "interest_match", "text_sim"))
