"""Why a pair was suggested, in plain words.

Each suggestion carries an :class:`Explanation`:

- the sectors both sides declare (``shared_sectors``), and the ``complementary_sectors``:
  sectors only one side declares but that sit under a top-level sector both sides work in
  (aerostructures and maintenance both sit under aerospace);
- the ``top_features``: the three features that pushed the pair's score up the most, measured
  as the ranker's coefficient times the feature's standardised value (its contribution to
  the log-odds), each written as a sentence;
- a ``precedent``: the documented cooperation whose two parties are, on average, most similar
  to this pair's two parties ("like Basque Energy Cluster and CEGISTAM, signed MoU 2018").
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from matcher.feature_specs import FEATURE_SPECS, SPECS
from matcher.features import FEATURE_NAMES, FeatureContext
from matcher.profiles import Cooperation, CooperationType, Organisation, Side
from matcher.ranker import PairRanker

TYPE_PHRASES: dict[CooperationType, str] = {
    CooperationType.SIGNED_MOU: "signed MoU",
    CooperationType.TRAINING: "training and resource sharing",
    CooperationType.MOU_DISCUSSION: "MoU under discussion",
    CooperationType.DELEGATION: "delegation visit",
    CooperationType.INFORMATION: "information exchange",
    CooperationType.LISTED: "listed as cooperating",
}

TOP_FEATURES = 3

#: Features that describe only one side of the pair (left out when that side is asking).
QUERY_ONLY: dict[Side, tuple[str, ...]] = {
    side: tuple(spec.name for spec in FEATURE_SPECS if spec.query_only is side) for side in (Side.EU, Side.MX)
}


SECTOR_PAIR_CACHE = 100_000  # distinct (EU sectors, MX sectors) lists kept by an Explainer


class FeatureReason(BaseModel):
    """One feature that raised the score: its name, a sentence, its log-odds contribution."""

    feature: str
    text: str
    contribution: float


class Precedent(BaseModel):
    """The documented cooperation most like the suggested pair."""

    cooperation_id: str
    eu: str
    eu_name: str
    mx: str
    mx_name: str
    type: CooperationType
    year: int | None = None
    similarity: float
    text: str


class Explanation(BaseModel):
    """Why a pair scores as it does."""

    shared_sectors: list[str] = Field(default_factory=list)
    complementary_sectors: list[str] = Field(default_factory=list)
    top_features: list[FeatureReason] = Field(default_factory=list)
    precedent: Precedent | None = None
    already_cooperating: bool = False
    summary: str = ""


def precedent_text(coop: Cooperation, eu_name: str, mx_name: str) -> str:
    year = f" {coop.year}" if coop.year else ""
    return f"like {eu_name} and {mx_name}, {TYPE_PHRASES[coop.type]}{year}"


class Explainer:
    """Builds explanations from a feature context and a fitted ranker."""

    def __init__(self, ctx: FeatureContext, model: PairRanker):
        self.ctx = ctx
        self.model = model
        self._names = {o.id: o.name for o in ctx.eu_orgs + ctx.mx_orgs}
        coops = [c for c in ctx.cooperations if c.eu in ctx and c.mx in ctx]
        self._coops = coops
        self._pairs = {c.pair for c in coops}
        by_id = {o.id: o for o in ctx.eu_orgs + ctx.mx_orgs}
        self._roots = {c.id: {ctx.taxonomy.root(x) for x in by_id[c.eu].sectors + by_id[c.mx].sectors} for c in coops}
        eu_rows = np.array([ctx.position(c.eu)[1] for c in coops], dtype=int)
        mx_rows = np.array([ctx.position(c.mx)[1] for c in coops], dtype=int)
        self._coop_eu = ctx.eu.vectors[eu_rows] if coops else np.zeros((0, ctx.eu.vectors.shape[1]), np.float32)
        self._coop_mx = ctx.mx.vectors[mx_rows] if coops else np.zeros((0, ctx.mx.vectors.shape[1]), np.float32)
        self._sector_pairs: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        # Precedents: each cooperation's top-level sectors as a boolean row, and its pair.
        tax = ctx.taxonomy
        self._root_of = {sid: tax.root(sid) for sid in tax.sectors}
        roots = sorted({r for c in coops for r in self._roots[c.id]})
        self._root_col = {r: j for j, r in enumerate(roots)}
        self._coop_roots = np.zeros((len(coops), len(roots)), dtype=bool)
        self._coops_of_pair: dict[tuple[str, str], list[int]] = {}
        # Each organisation's documented partners, in the order of the cooperations.
        self._partners: dict[str, list[str]] = {}
        self._last_party: dict[Side, tuple[tuple, np.ndarray, np.ndarray]] = {}
        for i, c in enumerate(coops):
            self._coop_roots[i, [self._root_col[r] for r in self._roots[c.id]]] = True
            self._coops_of_pair.setdefault((c.eu, c.mx), []).append(i)
            self._partners.setdefault(c.eu, []).append(c.mx)
            self._partners.setdefault(c.mx, []).append(c.eu)

    # ------------------------------------------------------------------ parts
    def sectors(self, eu: Organisation, mx: Organisation) -> tuple[list[str], list[str]]:
        """(shared, complementary) sector names of a pair.

        Complementary: declared by one side only, and either an ancestor or descendant of a
        sector of the other side (energy / wind) or its sibling (aerostructures / maintenance).
        The answer depends only on the two sector lists, so it is kept per pair of lists.
        """
        key = (tuple(eu.sectors), tuple(mx.sectors))
        hit = self._sector_pairs.get(key)
        if hit is None:
            if len(self._sector_pairs) >= SECTOR_PAIR_CACHE:
                self._sector_pairs.clear()
            hit = self._sector_pairs[key] = self._sectors(*key)
        return list(hit[0]), list(hit[1])

    def _sectors(self, eu_sectors: tuple[str, ...], mx_sectors: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        tax = self.ctx.taxonomy
        shared = [s for s in eu_sectors if s in set(mx_sectors)]

        def related(a: str, b: str) -> bool:
            return a in tax.ancestors(b) or b in tax.ancestors(a) or (
                tax[a].parent is not None and tax[a].parent == tax[b].parent)

        comp = [s for s, others in [(s, mx_sectors) for s in eu_sectors] + [(s, eu_sectors) for s in mx_sectors]
                if s not in shared and any(related(s, o) for o in others)]
        comp = list(dict.fromkeys(comp))
        return tuple(tax[s].name for s in shared), tuple(tax[s].name for s in comp)

    def precedent(self, eu: Organisation, mx: Organisation, eu_vec: np.ndarray, mx_vec: np.ndarray) -> Precedent | None:
        """The documented cooperation (other than this pair's own) most similar to the pair, among
        those whose parties share a top-level sector with this pair's (a precedent from another
        industry would explain nothing); None when there is none."""
        if not self._coops:
            return None
        eu_sim, eu_roots = self._party(Side.EU, eu, eu_vec)
        mx_sim, mx_roots = self._party(Side.MX, mx, mx_vec)
        eligible = eu_roots & mx_roots
        eligible[self._coops_of_pair.get((eu.id, mx.id), [])] = False
        if not eligible.any():
            return None
        sim = (eu_sim + mx_sim) / 2
        rows = np.flatnonzero(eligible)
        i = int(rows[np.argmax(sim[rows])])  # the most similar; on a tie, the first documented
        coop = self._coops[i]
        eu_name, mx_name = self._names.get(coop.eu, coop.eu), self._names.get(coop.mx, coop.mx)
        return Precedent(cooperation_id=coop.id, eu=coop.eu, eu_name=eu_name, mx=coop.mx, mx_name=mx_name,
                         type=coop.type, year=coop.year, similarity=round(float(sim[i]), 4),
                         text=precedent_text(coop, eu_name, mx_name))

    def _party(self, side: Side, org: Organisation, vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each cooperation's party on ``side``: its similarity to ``vec``, and whether the
        cooperation shares a top-level sector with ``org``. The last answer per side is kept: a
        list explains every candidate against the same query."""
        key = (org.id, tuple(org.sectors), np.asarray(vec).tobytes())
        last = self._last_party.get(side)
        if last is not None and last[0] == key:
            return last[1], last[2]
        coop_vectors = self._coop_eu if side is Side.EU else self._coop_mx
        sim, roots = coop_vectors @ vec, self._shares_roots(org.sectors)
        self._last_party[side] = (key, sim, roots)
        return sim, roots

    def _shares_roots(self, sectors: list[str]) -> np.ndarray:
        """Which documented cooperations have a party in a top-level sector of ``sectors``."""
        cols = {self._root_col.get(self._root_of.get(s) or self.ctx.taxonomy.root(s)) for s in sectors} - {None}
        return self._coop_roots[:, sorted(cols)].any(axis=1)

    def top_features(self, eu: Organisation, mx: Organisation, x: np.ndarray,
                     eu_vec: np.ndarray, mx_vec: np.ndarray, query_side: Side | None = None) -> list[FeatureReason]:
        """The features with the largest positive contribution, as sentences.

        With ``query_side``, features describing only the asking organisation (its size, its
        declared interest) are left out: they are the same for every candidate
        and so say nothing about why this one was chosen.
        """
        model = self.model
        contrib = model.contributions(x)
        skip = set(QUERY_ONLY.get(query_side, ())) if query_side is not None else set()
        out: list[FeatureReason] = []
        for j in np.argsort(-contrib, kind="stable"):
            name = FEATURE_NAMES[j]
            if contrib[j] <= 0 or len(out) == TOP_FEATURES:
                break
            if name in skip:
                continue
            spec = SPECS[name]
            if spec.history is not None:
                partner = self._resembling_partner(spec.history, eu, mx, eu_vec, mx_vec)
                if partner is None:
                    continue  # a resemblance in wording only, with no shared sector, is not a reason
                like, of = (mx, eu) if spec.history is Side.EU else (eu, mx)
                text = f"{like.name} resembles {partner}, a partner of {of.name}"
            else:
                text = spec.describe(float(x[j]), bool(x[j] > model.mean_[j]), eu, mx, self.ctx.taxonomy)
            out.append(FeatureReason(feature=name, text=text, contribution=round(float(contrib[j]), 4)))
        return out

    # ------------------------------------------------------------------ all together
    def explain(self, eu: Organisation, mx: Organisation, x: np.ndarray, eu_vec: np.ndarray, mx_vec: np.ndarray,
                query_side: Side | None = None) -> Explanation:
        """Explanation of the pair (eu, mx) whose feature row is ``x``."""
        shared, comp = self.sectors(eu, mx)
        reasons = self.top_features(eu, mx, x, eu_vec, mx_vec, query_side)
        precedent = self.precedent(eu, mx, eu_vec, mx_vec)
        already = (eu.id, mx.id) in self._pairs
        parts = ["already cooperating"] if already else []
        if shared:
            parts.append("shared: " + ", ".join(shared))
        elif comp:
            parts.append("complementary: " + ", ".join(comp[:3]))
        if reasons:
            parts.append(reasons[0].text)
        if precedent:
            parts.append(precedent.text)
        return Explanation(shared_sectors=shared, complementary_sectors=comp, top_features=reasons,
                           precedent=precedent, already_cooperating=already, summary="; ".join(parts))

    # ------------------------------------------------------------------ wording
    def _resembling_partner(self, history: Side, eu: Organisation, mx: Organisation,
                            eu_vec: np.ndarray, mx_vec: np.ndarray) -> str | None:
        """The known partner of the side whose history the feature describes that most resembles the other side."""
        if history is Side.EU:
            return self._closest_partner(eu.id, mx_vec, exclude=mx.id, sectors=mx.sectors)
        return self._closest_partner(mx.id, eu_vec, exclude=eu.id, sectors=eu.sectors)

    def _closest_partner(self, org_id: str, other_vec: np.ndarray, exclude: str,
                         sectors: list[str] | None = None) -> str | None:
        """Name of the known partner of ``org_id`` most similar to ``other_vec``; with ``sectors``,
        only among partners that share a sector (or a parent sector) with them, so that "resembles"
        always means a resemblance in content."""
        tax = self.ctx.taxonomy
        wanted = tax.expand(sectors) if sectors is not None else None
        best, best_sim = None, -np.inf
        for partner in self._partners.get(org_id, ()):
            if partner == exclude:
                continue
            if wanted is not None:
                side, row = self.ctx.position(partner)
                if not wanted & tax.expand(self.ctx.org(side, row).sectors):
                    continue
            side, row = self.ctx.position(partner)
            sim = float(self.ctx.side_arrays(side).vectors[row] @ other_vec)
            if sim > best_sim:
                best, best_sim = partner, sim
        return self._names.get(best, best) if best else None
