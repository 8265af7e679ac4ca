"""Small fixtures for the embeddings and index tests: profiles, a counting fake encoder."""

from __future__ import annotations

import numpy as np

from matcher.embeddings import KeywordEncoder
from matcher.profiles import Organisation

VOCABULARY = [
    "energy", "energia", "wind", "eolica", "solar", "automotive", "automotriz", "aerospace",
    "aeroespacial", "furniture", "mueble", "software", "health", "salud", "water", "agua",
    "logistics", "batteries", "hydrogen", "textile",
]


class CountingEncoder(KeywordEncoder):
    """A keyword encoder that records every text it is asked to encode."""

    def __init__(self, vocabulary: list[str] | None = None):
        super().__init__(vocabulary or VOCABULARY)
        self.calls = 0
        self.texts: list[str] = []

    def encode(self, texts: list[str], show_progress_bar: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        return super().encode(texts)


def org(org_id: str, side: str = "EU", country: str | None = None, sectors: list[str] | None = None,
        description: str = "", type: str = "cluster_organisation", region: str | None = None,
        **extra: object) -> Organisation:
    """A valid organisation with sensible defaults for tests."""
    return Organisation(
        id=org_id, name=extra.pop("name", org_id.replace("-", " ").title()), side=side,
        country=country or ("MX" if side == "MX" else "ES"), region=region, type=type,
        sectors=sectors or ["energy"], description=description, **extra,
    )


def sample_profiles() -> list[Organisation]:
    """A dozen organisations of both sides across a few sectors."""
    return [
        org("eolica-cluster", "EU", "ES", ["wind"], "Wind energy cluster of turbine makers.", region="Navarra"),
        org("solar-valley", "EU", "DE", ["solar"], "Solar energy companies and research.", region="Saxony"),
        org("auto-nord", "EU", "FR", ["automotive"], "Automotive suppliers and batteries."),
        org("aero-sud", "EU", "FR", ["aerospace"], "Aerospace cluster for aerostructures.",
            type="industry_association"),
        org("mobel-net", "EU", "DE", ["furniture"], "Furniture and wood makers."),
        org("health-hub", "EU", "IT", ["health"], "Health technology and medical devices.",
            type="education_research"),
        org("energia-nl", "MX", "MX", ["energy"], "Cluster de energía de Nuevo León, solar y eólica.",
            region="Nuevo León"),
        org("eolica-oax", "MX", "MX", ["wind"], "Energía eólica en Oaxaca.", region="Oaxaca"),
        org("automotriz-coah", "MX", "MX", ["automotive"], "Clúster automotriz de Coahuila.", region="Coahuila"),
        org("aero-bc", "MX", "MX", ["aerospace"], "Clúster aeroespacial de Baja California.",
            region="Baja California", type="industry_association"),
        org("mueble-jal", "MX", "MX", ["furniture"], "Clúster del mueble de Jalisco.", region="Jalisco"),
        org("software-jal", "MX", "MX", ["software"], "Software y servicios digitales.", region="Jalisco",
            type="company"),
    ]


def clustered_vectors(n: int, dim: int, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Unit vectors drawn around random centres (recall on them means something)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    labels = rng.integers(0, clusters, size=n)
    x = centres[labels] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
