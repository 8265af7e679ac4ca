"""Popularity bias: how the served ranker's top-10 lists spread over the registry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.features import FeatureContext, fits
from matcher.profiles import Side

#: An organisation in more than this share of the other side's top-10 lists is over-suggested,
#: unless it shares a top-level sector with every query whose list it is in.
OVER_SUGGESTED_SHARE = 0.20


@dataclass
class PopularityBias:
    """How the served ranker's top-10 lists spread over the registry (fitted on the training part,
    every registered organisation of both sides asking, documented partners and closed
    organisations left out, the fit rule applied as in the served lists)."""

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
        closed = ctx.side_arrays(side.counterpart).closed  # never suggested, as in the served lists
        for q in range(n_query):
            line = prob[q] if side is Side.EU else prob[:, q]
            known = ctx.adjacency.known(side, q)
            ok = (fit[q] if side is Side.EU else fit[:, q]) & ~known & ~closed
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
