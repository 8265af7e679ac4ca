"""A tiny hand-made registry for the ranking tests: 6 European and 6 Mexican organisations,
5 documented cooperations, and a keyword encoder so every similarity is exact."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.embeddings import KeywordEncoder
from matcher.features import FEATURE_NAMES, FeatureContext
from matcher.profiles import Cooperation, CooperationType, Facts, Label, Organisation, OrgType, Side, Source
from matcher.taxonomy import load_taxonomy
from matcher.text import profile_text

SRC = [Source(document="fixture", section="tests")]
VOCABULARY = ["energy", "wind", "solar", "aerospace", "maintenance", "automotive", "software", "food", "mining"]


def org(id: str, side: Side, sectors: list[str], description: str = "", country: str | None = None,
        type: OrgType = OrgType.CLUSTER, **facts) -> Organisation:
    return Organisation(
        id=id, name=id.replace("-", " ").title(), side=side, country=country or ("MX" if side is Side.MX else "ES"),
        type=type, sectors=sectors, description=description, facts=Facts(**facts), sources=SRC,
    )


def organisations() -> list[Organisation]:
    EU, MX = Side.EU, Side.MX
    return [
        org("eu-wind", EU, ["wind"], "wind energy cluster", mexico_interest=["renewable-energy"], members=120,
            label=Label(level="gold"), eccp_member=True),
        org("eu-solar", EU, ["solar", "energy-efficiency"], "solar energy association", country="DE",
            type=OrgType.ASSOCIATION, members=40),
        org("eu-aero", EU, ["aerostructures"], "aerospace cluster", country="FR", mexico_interest=["aerospace"],
            escp4i=["Aero Partnership"]),
        org("eu-mro", EU, ["mro"], "aerospace maintenance", country="FR"),
        org("eu-auto", EU, ["auto-parts"], "automotive suppliers", country="DE", members=300),
        org("eu-soft", EU, ["software"], "software cluster", country="PT"),
        org("mx-energy", MX, ["energy"], "energy cluster", members=80, eccp_member=True),
        org("mx-wind", MX, ["wind", "solar"], "wind and solar energy", type=OrgType.ASSOCIATION),
        org("mx-aero", MX, ["aerospace"], "aerospace cluster", escp4i=["Aero Partnership"], members=60),
        org("mx-aero-school", MX, ["mro", "education-training"], "aerospace maintenance school",
            type=OrgType.EDUCATION_RESEARCH),
        org("mx-auto", MX, ["automotive"], "automotive cluster"),
        org("mx-food", MX, ["agrifood"], "food cluster"),
    ]


def cooperations() -> list[Cooperation]:
    def coop(id: str, eu: str, mx: str, type: CooperationType, year: int | None = None) -> Cooperation:
        return Cooperation(id=id, eu=eu, mx=mx, type=type, year=year, sources=SRC)

    return [
        coop("c1", "eu-wind", "mx-energy", CooperationType.SIGNED_MOU, 2018),
        coop("c2", "eu-solar", "mx-wind", CooperationType.INFORMATION),
        coop("c3", "eu-aero", "mx-aero", CooperationType.LISTED),
        coop("c4", "eu-mro", "mx-aero-school", CooperationType.TRAINING),
        coop("c5", "eu-auto", "mx-auto", CooperationType.DELEGATION, 2017),
        coop("c6", "eu-aero", "mx-aero-school", CooperationType.TRAINING),
    ]


def encoder() -> KeywordEncoder:
    return KeywordEncoder(VOCABULARY)


def vectors(orgs: list[Organisation]) -> np.ndarray:
    tax = load_taxonomy()
    return encoder().encode([profile_text(o, tax) for o in orgs])


#: Column of each feature in a feature grid.
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


@pytest.fixture(scope="module", name="orgs")
def orgs_fixture() -> list[Organisation]:
    return organisations()


@pytest.fixture(scope="module", name="vectors")
def vectors_fixture(orgs: list[Organisation]) -> np.ndarray:
    return vectors(orgs)


@pytest.fixture(scope="module", name="ctx")
def ctx_fixture(orgs: list[Organisation], vectors: np.ndarray) -> FeatureContext:
    """The feature context of the fixture registry and its cooperations."""
    return FeatureContext.build(orgs, cooperations(), vectors, load_taxonomy())
