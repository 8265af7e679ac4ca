"""Every ranker feature in one place: its column, what it measures, how it is constrained and worded.

:data:`FEATURE_SPECS` is ordered: its order is the column order of every feature matrix, and
so of every saved ranker. :mod:`matcher.features` (names, meanings, history features, sign
constraints) and :mod:`matcher.explain` (sentences, features left out for the asking side)
read their tables from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from matcher.profiles import Organisation, OrgType, Side
from matcher.taxonomy import Taxonomy

#: ``sentence(value, high, eu, mx, taxonomy)``: the feature of the pair (eu, mx) in plain words;
#: ``high`` says whether its value is above the training mean (a feature with a negative weight
#: raises the score when it is low, and is worded so).
Sentence = Callable[[float, bool, Organisation, Organisation, Taxonomy], str]

ORG_TYPE_WORDS: dict[OrgType, str] = {
    OrgType.CLUSTER: "cluster organisations",
    OrgType.ASSOCIATION: "industry associations",
    OrgType.PUBLIC_AGENCY: "public agencies",
    OrgType.EDUCATION_RESEARCH: "education and research bodies",
    OrgType.COMPANY: "companies",
    OrgType.PARTNERSHIP: "partnerships and networks",
}


@dataclass(frozen=True)
class FeatureSpec:
    """One ranker feature.

    ``monotone``: it can only make a pair more likely (a sign constraint for the ranker).
    ``history``: the side whose cooperation history it describes (unknown, NaN, for an
    organisation with no other documented partner; training adds cold-start copies with it
    unknown). ``query_only``: the side it alone describes; left out
    of explanations when that side asks, since it is the same for every candidate.
    ``sentence``: the explanation wording; None for features worded by the explainer itself.
    """

    name: str
    meaning: str
    monotone: bool = False
    history: Side | None = None
    query_only: Side | None = None
    sentence: Sentence | None = None

    def describe(self, value: float, high: bool, eu: Organisation, mx: Organisation, taxonomy: Taxonomy) -> str:
        """The feature in plain words (its name, spaced, when it has no sentence)."""
        if self.sentence is None:
            return self.name.replace("_", " ")
        return self.sentence(value, high, eu, mx, taxonomy)


def _members(o: Organisation) -> str:
    return f"{o.name} has {o.facts.members} members" if o.facts.members is not None \
        else f"the size of {o.name} is not documented"


def _same_type(value: float, high: bool, eu: Organisation, mx: Organisation, tax: Taxonomy) -> str:
    return f"both are {ORG_TYPE_WORDS[eu.type]}" if high else \
        f"different kinds of organisation ({ORG_TYPE_WORDS[eu.type]} and {ORG_TYPE_WORDS[mx.type]})"


def _type_affinity(value: float, high: bool, eu: Organisation, mx: Organisation, tax: Taxonomy) -> str:
    pair = f"{ORG_TYPE_WORDS[eu.type]} and {ORG_TYPE_WORDS[mx.type]}"
    return f"{pair} often cooperate across the Atlantic" if high else f"{pair} rarely cooperate across the Atlantic"


def _interest_match(value: float, high: bool, eu: Organisation, mx: Organisation, tax: Taxonomy) -> str:
    interest = ", ".join(tax[s].name for s in eu.facts.mexico_interest)
    return f"{eu.name} looks for Mexican partners in {interest}" if interest else "no declared interest in this sector"


def _label(value: float, high: bool, eu: Organisation, mx: Organisation, tax: Taxonomy) -> str:
    labelled = [o.name for o in (eu, mx) if o.facts.label]
    return f"{' and '.join(labelled)} holds a cluster-management quality label" if labelled else \
        "neither holds a cluster-management quality label"


def _either(high_text: str, low_text: str) -> Sentence:
    """A sentence that only depends on whether the value is high."""
    return lambda value, high, eu, mx, tax: high_text if high else low_text


FEATURE_SPECS: tuple[FeatureSpec, ...] = (
    FeatureSpec("embedding_sim", "cosine similarity of the two profile embeddings", monotone=True,
                sentence=lambda v, high, eu, mx, tax: f"{'similar' if high else 'different'} profiles (embedding similarity {v:.2f})"),
    FeatureSpec("text_sim", "TF-IDF cosine similarity of the two profile texts (words and word pairs)", monotone=True,
                sentence=lambda v, high, eu, mx, tax: f"their profiles use the same words (word overlap {v:.2f})" if high
                else "different wording"),
    FeatureSpec("sector_jaccard", "Jaccard overlap of the declared sectors", monotone=True,
                sentence=lambda v, high, eu, mx, tax: f"{v:.0%} of their declared sectors are shared"),
    FeatureSpec("parent_overlap", "Jaccard overlap of the sectors with all their parent sectors", monotone=True,
                sentence=_either("related sectors under the same parent sectors", "few related sectors")),
    FeatureSpec("root_overlap", "Jaccard overlap of the top-level sectors", monotone=True,
                sentence=_either("the same broad industries", "different broad industries")),
    FeatureSpec("sector_affinity", "smoothed log-lift of the pair's top-level sectors among documented cooperations",
                monotone=True,
                sentence=_either("organisations of these industries have often cooperated across the Atlantic",
                                 "organisations of these industries have rarely cooperated across the Atlantic")),
    FeatureSpec("same_type", "both organisations are of the same type", sentence=_same_type),
    FeatureSpec("type_affinity", "smoothed log-lift of this pair of organisation types among cooperations",
                sentence=_type_affinity),
    FeatureSpec("eu_mexico_interest", "the European side declared an interest in Mexico", monotone=True,
                query_only=Side.EU,
                sentence=lambda v, high, eu, mx, tax: f"{eu.name} has declared an interest in Mexico" if high
                else f"{eu.name} has not declared a sector of interest in Mexico"),
    FeatureSpec("interest_match", "the European side's declared Mexico interest covers the Mexican side's sectors",
                monotone=True, sentence=_interest_match),
    FeatureSpec("label", "cluster-management quality labels (mean over both sides)", sentence=_label),
    FeatureSpec("eccp_member", "registered on the European Cluster Collaboration Platform (mean over both sides)",
                sentence=_either("registered on the European Cluster Collaboration Platform",
                                 "not registered on the European Cluster Collaboration Platform")),
    FeatureSpec("network_member", "member of a network or strategic partnership (mean over both sides)",
                sentence=_either("part of an international cluster network or strategic partnership",
                                 "not part of an international cluster network")),
    FeatureSpec("shared_network", "both belong to the same network or strategic partnership", monotone=True,
                sentence=lambda v, high, eu, mx, tax: "both belong to the same network or partnership"),
    FeatureSpec("partner_sim_mx", "similarity of the Mexican side to the European side's known partners",
                monotone=True, history=Side.EU),
    FeatureSpec("partner_sim_eu", "similarity of the European side to the Mexican side's known partners",
                monotone=True, history=Side.MX),
    FeatureSpec("eu_size", "log of the European side's member count (0 when unknown)", query_only=Side.EU,
                sentence=lambda v, high, eu, mx, tax: _members(eu)),
    FeatureSpec("mx_size", "log of the Mexican side's member count (0 when unknown)", query_only=Side.MX,
                sentence=lambda v, high, eu, mx, tax: _members(mx)),
    FeatureSpec("eu_size_known", "the European side's member count is known", query_only=Side.EU,
                sentence=lambda v, high, eu, mx, tax: _members(eu)),
    FeatureSpec("mx_size_known", "the Mexican side's member count is known", query_only=Side.MX,
                sentence=lambda v, high, eu, mx, tax: _members(mx)),
)

#: Each feature's spec by name.
SPECS: dict[str, FeatureSpec] = {spec.name: spec for spec in FEATURE_SPECS}
