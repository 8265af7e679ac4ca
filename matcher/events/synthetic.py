"""Seeded synthetic attendees for demonstrations, load tests and benchmarks.

Real events mix registered cluster organisations with companies that are not in the registry.
:func:`synthetic_organisations` makes such companies: invented names, one to three sectors drawn
from a pool (by default the whole taxonomy), EU countries for the European side. Nothing here is
real data; names say ``Synthetic``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from matcher.events.model import Event, MeetingRequest, Participant, RequestStatus
from matcher.profiles import Organisation, OrgType, Side
from matcher.taxonomy import Taxonomy, load_taxonomy

EU_COUNTRIES = ("DE", "ES", "FR", "IT", "NL", "BE", "PL", "PT", "AT", "DK", "SE", "FI", "CZ", "IE")


def synthetic_organisations(
    n_eu: int,
    n_mx: int,
    seed: int = 0,
    sectors: list[str] | None = None,
    type: OrgType = OrgType.COMPANY,
    prefix: str = "synthetic",
    taxonomy: Taxonomy | None = None,
) -> list[Organisation]:
    """``n_eu`` European and ``n_mx`` Mexican invented organisations, the same for the same seed."""
    taxonomy = taxonomy or load_taxonomy()
    pool = sorted(sectors or taxonomy.sectors)
    rng = np.random.default_rng(seed)
    out: list[Organisation] = []
    for side, count in ((Side.EU, n_eu), (Side.MX, n_mx)):
        for k in range(1, count + 1):
            picked = sorted(set(rng.choice(pool, size=int(rng.integers(1, 4)), replace=True).tolist()))
            country = "MX" if side is Side.MX else EU_COUNTRIES[int(rng.integers(len(EU_COUNTRIES)))]
            main = taxonomy[picked[0]].name if picked[0] in taxonomy else picked[0]
            out.append(Organisation(
                id=f"{prefix}-{side.value.lower()}-{k:04d}",
                name=f"Synthetic {side.value} {'company' if type is OrgType.COMPANY else 'organisation'} {k:04d} ({main})",
                side=side, country=country, type=type, sectors=picked,
                description=f"Invented {side.value} attendee working in " + ", ".join(picked) + ".",
            ))
    return out


def synthetic_wishes(
    participants: list["Participant"],
    scores: np.ndarray | sp.spmatrix | sp.sparray,
    event: "Event",
    seed: int = 0,
    requests_per_participant: int = 2,
    accepted_share: float = 0.3,
    one_day_share: float = 0.2,
    must_meets: int = 0,
) -> tuple[list["Participant"], list["MeetingRequest"]]:
    """Seeded availability, must-meets and meeting requests, the way a real event collects them.

    ``scores`` is the ``(n, n)`` matrix over ``participants``, dense or sparse (for example a
    :func:`matcher.events.candidates.candidate_matrix`). Each participant requests partners
    among its ten best-scored counterparts (with a positive score); a share of requests is accepted. A share of the
    participants attends one day only (events of several days).
    """

    rng = np.random.default_rng(seed)
    people = list(participants)
    n = len(people)
    if len(event.days) > 1:
        for k in np.flatnonzero(rng.random(n) < one_day_share):
            day = event.days[int(rng.integers(len(event.days)))].isoformat()
            people[k] = people[k].model_copy(update={"available": [day]})
    requests: list[MeetingRequest] = []
    rows = sp.csr_matrix(scores) if sp.issparse(scores) else None
    for k, p in enumerate(people):
        if rows is None:
            best = np.argsort(-scores[k], kind="stable")[:10]
            value = scores[k]
        else:
            cols, vals = rows.indices[rows.indptr[k]:rows.indptr[k + 1]], rows.data[rows.indptr[k]:rows.indptr[k + 1]]
            best = cols[np.lexsort((cols, -vals))][:10]
            value = dict(zip(cols.tolist(), vals.tolist()))
        other = [j for j in best if people[j].side is not p.side and value[j] > 0]
        for j in rng.permutation(other)[:requests_per_participant]:
            status = RequestStatus.ACCEPTED if rng.random() < accepted_share else RequestStatus.REQUESTED
            requests.append(MeetingRequest(requester=p.id, target=people[int(j)].id, status=status))
    for k in rng.choice(n, size=min(must_meets, n), replace=False):
        other = [j for j in range(n) if people[j].side is not people[k].side]
        if other:
            j = int(rng.choice(other))
            people[k] = people[k].model_copy(update={"must_meet": [*people[k].must_meet, people[j].id]})
    return people, requests
