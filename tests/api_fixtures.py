"""Small, self-made fixtures for the API tests: a dozen profiles, a few cooperations.

The profiles are invented for the tests (they are not the shipped dataset), so the tests do not
depend on the dataset being curated, and their expected answers follow from the fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from matcher.embeddings import KeywordEncoder
from matcher.profiles import Cooperation, Organisation
from matcher.store.keys import ApiKeys
from matcher.store.registry import Registry
from matcher.settings import Settings
from matcher.ranking import Suggester

SOURCE = [{"document": "test-fixture", "section": "api"}]


def _org(id: str, name: str, side: str, country: str, sectors: list[str], description: str,
         **extra: object) -> Organisation:
    return Organisation.model_validate({
        "id": id, "name": name, "side": side, "country": country, "type": "cluster_organisation",
        "sectors": sectors, "description": description, "sources": SOURCE, **extra,
    })


ORGANISATIONS: list[Organisation] = [
    _org("aero-north", "Aero North Cluster", "EU", "ES", ["aerospace", "mro"],
         "Aircraft maintenance and aerostructures suppliers of a northern region.",
         acronym="ANC", contact={"name": "Ana Pérez", "email": "ana@aero-north.example"}),
    _org("wind-coast", "Wind Coast Energy Cluster", "EU", "DK", ["wind", "renewable-energy"],
         "Offshore wind turbines, blades and grid integration."),
    _org("auto-valley", "Auto Valley Cluster", "EU", "DE", ["automotive", "auto-parts"],
         "Automotive suppliers and electromobility research."),
    _org("agri-plain", "Agri Plain Food Cluster", "EU", "FR", ["agrifood", "processed-foods"],
         "Food processing and agricultural technology companies."),
    _org("soft-bay", "Soft Bay ICT Cluster", "EU", "IE", ["software", "ict"],
         "Software companies, cloud services and data analytics."),
    _org("med-lake", "Med Lake Health Cluster", "EU", "IT", ["medical-devices", "health"],
         "Medical device manufacturers and hospitals."),
    _org("aero-bajio", "Aero Bajío Cluster", "MX", "MX", ["aerospace", "aerostructures"],
         "Aerospace manufacturing and maintenance in central Mexico.", region="Querétaro"),
    _org("energia-norte", "Clúster de Energía del Norte", "MX", "MX", ["renewable-energy", "solar", "wind"],
         "Renewable energy developers, wind and solar parks."),
    _org("auto-centro", "Clúster Automotriz del Centro", "MX", "MX", ["automotive", "auto-parts"],
         "Automotive plants and tier-one suppliers.",
         contact={"name": "Luis Gómez", "email": "luis@auto-centro.example"}),
    _org("agro-sur", "Clúster Agroalimentario del Sur", "MX", "MX", ["agrifood", "agriculture"],
         "Agricultural producers and food exporters."),
    _org("ti-occidente", "Clúster TI de Occidente", "MX", "MX", ["software", "ict"],
         "Software development and IT services."),
    _org("salud-golfo", "Clúster de Salud del Golfo", "MX", "MX", ["medical-devices", "health"],
         "Medical devices and health services."),
]

COOPERATIONS: list[Cooperation] = [
    Cooperation(id="aero-north-aero-bajio", eu="aero-north", mx="aero-bajio", type="signed_mou", year=2018,
                sources=SOURCE),
    Cooperation(id="wind-coast-energia-norte", eu="wind-coast", mx="energia-norte", type="delegation_visit",
                year=2019, sources=SOURCE),
    Cooperation(id="auto-valley-auto-centro", eu="auto-valley", mx="auto-centro", type="training_resource_sharing",
                year=2017, sources=SOURCE),
    Cooperation(id="soft-bay-ti-occidente", eu="soft-bay", mx="ti-occidente", type="information_exchange",
                year=2020, sources=SOURCE),
]

#: Vocabulary of the fast fake encoder: the fixtures' sector words in both languages.
VOCABULARY: list[str] = [
    "aerospace", "aircraft", "aeroespacial", "maintenance", "aerostructures", "wind", "eólica", "solar",
    "renewable", "energy", "energía", "automotive", "automotriz", "auto parts", "autopartes",
    "electromobility", "food", "agrifood", "agroalimentario", "agricultural", "agriculture", "software",
    "ict", "cloud", "data", "medical", "health", "salud", "devices", "hospitals",
]


def new_profile(id: str = "new-aero", side: str = "EU", country: str = "PT") -> dict:
    """A JSON body for ``POST /clusters`` of an aerospace cluster not in the fixtures."""
    return {
        "id": id, "name": f"New Aero Cluster {id}", "side": side, "country": country,
        "type": "cluster_organisation", "sectors": ["aerospace", "aerostructures"],
        "description": "Aerostructures and aircraft maintenance companies.",
        "sources": SOURCE,
    }


@dataclass
class Api:
    client: TestClient
    registry: Registry
    suggester: Suggester
    settings: Settings
    read: dict[str, str]
    write: dict[str, str]
    admin: dict[str, str]


def make_api(store_url: str, home: Path, **settings: Any) -> tuple[Any, Registry, Suggester, Settings]:
    config = Settings(database_url=store_url, home=home, **{"api_rate_per_minute": 0,
                                                             "api_auth_failures_per_minute": 0, **settings})
    registry = Registry.open(config, init=False)
    registry.init(seed=False)
    registry.import_records(ORGANISATIONS, COOPERATIONS)
    # Threshold 0 and no fit rule: these tests check the API's plumbing, not where the ranker
    # draws its line.
    suggester = Suggester(registry, config, encoder=KeywordEncoder(VOCABULARY), min_probability=0.0,
                          require_fit=False)
    return create_app(config, registry=registry, suggester=suggester), registry, suggester, config


def key_header(registry: Registry, scope: str) -> dict[str, str]:
    _, secret = ApiKeys(registry.store).create(f"test {scope}", scope)
    return {"X-API-Key": secret}


@pytest.fixture
def api(store_url: str, tmp_path: Path) -> Iterator[Api]:
    app, registry, suggester, settings = make_api(store_url, tmp_path)
    with TestClient(app) as client:
        yield Api(client, registry, suggester, settings, key_header(registry, "read"),
                  key_header(registry, "write"), key_header(registry, "admin"))
    suggester.close()
    registry.close()


def error_of(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message", "field"}
    assert body["error"]["status"] == status
    if code is not None:
        assert body["error"]["code"] == code
    if field is not None:
        assert body["error"]["field"] == field
    return body["error"]
