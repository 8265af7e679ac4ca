"""The HTTP API end to end through FastAPI's TestClient, on SQLite and PostgreSQL.

Every test gets a fresh store holding the twelve fixture profiles of ``api_fixtures`` and a
Suggester with the fast keyword encoder, injected into ``create_app``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from api_fixtures import COOPERATIONS, ORGANISATIONS, VOCABULARY, Api, api, error_of, key_header, make_api, new_profile  # noqa: F401
from fastapi.testclient import TestClient

from api.app import create_app
from matcher.errors import StoreUnavailable
from matcher.store.feedback import FeedbackStore
from matcher.store.registry import Registry


def partner_ids(client: TestClient, org_id: str, **params: Any) -> list[str]:
    response = client.get(f"/clusters/{org_id}/partners", params={"k": 20, **params})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# --- service ------------------------------------------------------------------------------


def test_health_and_docs(api: Api):
    assert api.client.get("/health").json()["status"] == "ok"
    assert api.client.get("/docs").status_code == 200
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ["/clusters", "/clusters/{id}", "/clusters/{id}/partners", "/match", "/cooperations",
                 "/feedback", "/model", "/admin/retrain", "/export/clusters", "/export/cooperations"]:
        assert path in paths
    limit = next(p for p in paths["/clusters"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == api.settings.api_max_page_size


def test_ready_reports_store_and_index(api: Api):
    body = api.client.get("/ready").json()
    assert body["status"] == "ready"
    assert body["checks"]["store"]["organisations"] == len(ORGANISATIONS)
    assert body["checks"]["index"]["indexed"] == len(ORGANISATIONS)


def test_ready_is_503_when_index_and_store_disagree(api: Api):
    api.suggester.index.remove("soft-bay")
    err = error_of(api.client.get("/ready"), 503, "not_ready")
    assert "index" in err["message"]


def test_ready_is_503_when_store_is_unreachable(api: Api, monkeypatch, caplog):
    def down(*args, **kwargs):
        raise StoreUnavailable("connection refused")

    monkeypatch.setattr(api.registry, "count_organisations", down)
    with caplog.at_level(logging.WARNING, logger="c2c.api"):
        err = error_of(api.client.get("/ready"), 503, "not_ready")
    assert "store" in err["message"] and "connection refused" not in err["message"]
    assert "connection refused" in caplog.text  # the reason is logged on the server
    assert api.client.get("/health").status_code == 200


# --- listing and reading ------------------------------------------------------------------


def test_list_clusters_paginates_with_total(api: Api):
    first = api.client.get("/clusters", params={"limit": 5}).json()
    second = api.client.get("/clusters", params={"limit": 5, "offset": 5}).json()
    assert first["total"] == second["total"] == len(ORGANISATIONS)
    assert len(first["items"]) == 5 and len(second["items"]) == 5
    assert not {o["id"] for o in first["items"]} & {o["id"] for o in second["items"]}
    everything = api.client.get("/clusters", params={"limit": 200}).json()["items"]
    assert sorted(o["id"] for o in everything) == sorted(o.id for o in ORGANISATIONS)


def test_list_clusters_filters(api: Api):
    def ids(**params):
        return sorted(o["id"] for o in api.client.get("/clusters", params=params).json()["items"])

    assert ids(side="MX") == sorted(o.id for o in ORGANISATIONS if o.side.value == "MX")
    assert ids(country="DK") == ["wind-coast"]
    assert ids(sector="energy") == ["energia-norte", "wind-coast"]  # includes subsectors
    assert ids(sector="aerospace", side="EU") == ["aero-north"]
    assert ids(q="automotriz") == ["auto-centro"]
    assert ids(type="public_agency") == []
    total = api.client.get("/clusters", params={"side": "EU", "limit": 1}).json()["total"]
    assert total == 6


def test_list_clusters_rejects_bad_parameters(api: Api):
    max_page = api.settings.api_max_page_size
    error_of(api.client.get("/clusters", params={"limit": max_page + 1}), 422, "validation_error", "limit")
    error_of(api.client.get("/clusters", params={"limit": 0}), 422, "validation_error", "limit")
    error_of(api.client.get("/clusters", params={"offset": -1}), 422, "validation_error", "offset")
    error_of(api.client.get("/clusters", params={"side": "US"}), 422, "validation_error", "side")
    error_of(api.client.get("/clusters", params={"country": "spain"}), 422, "validation_error", "country")
    error_of(api.client.get("/clusters", params={"sector": "underwater-basket-weaving"}), 422)


def test_get_cluster_and_unknown_id(api: Api):
    org = api.client.get("/clusters/aero-bajio").json()
    assert org["name"] == "Aero Bajío Cluster" and org["region"] == "Querétaro"
    err = error_of(api.client.get("/clusters/aero-bajo"), 404, "not_found")
    assert "aero-bajo" in err["message"]


def test_contact_details_only_for_keyed_callers(api: Api):
    assert api.client.get("/clusters/aero-north").json()["contact"] is None
    keyed = api.client.get("/clusters/aero-north", headers=api.read).json()
    assert keyed["contact"]["email"] == "ana@aero-north.example"
    listed = api.client.get("/clusters", params={"q": "aero north"}).json()["items"]
    assert listed and all(o["contact"] is None for o in listed)
    listed = api.client.get("/clusters", params={"q": "aero north"}, headers=api.read).json()["items"]
    assert listed[0]["contact"]["name"] == "Ana Pérez"


def test_wrong_key_is_401_even_on_open_reads(api: Api):
    error_of(api.client.get("/clusters", headers={"X-API-Key": "c2c_nope_nothing"}), 401, "unauthorized", "X-API-Key")
    error_of(api.client.get("/clusters", headers={"X-API-Key": "garbage"}), 401)


def test_reads_can_require_a_key(store_url: str, tmp_path: Path):
    app, registry, suggester, _ = make_api(store_url, tmp_path, api_read_key_required=True)
    with TestClient(app) as client:
        error_of(client.get("/clusters"), 401, "unauthorized")
        error_of(client.get("/clusters/aero-north/partners"), 401)
        assert client.get("/clusters", headers=key_header(registry, "read")).status_code == 200
        assert client.get("/health").status_code == 200
    registry.close()


# --- writes -------------------------------------------------------------------------------


def test_create_needs_a_write_key(api: Api):
    body = new_profile()
    error_of(api.client.post("/clusters", json=body), 401, "unauthorized")
    error_of(api.client.post("/clusters", json=body, headers=api.read), 403, "forbidden")
    error_of(api.client.post("/clusters", json=body, headers={"X-API-Key": "c2c_x_y"}), 401)
    assert api.client.get("/clusters/new-aero").status_code == 404


def test_create_cluster(api: Api):
    response = api.client.post("/clusters", json=new_profile(), headers=api.write)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/clusters/new-aero"
    assert api.registry.get("new-aero").country == "PT"
    # admin implies write; sector names are resolved to ids; the id defaults to a slug of the name
    body = {**new_profile(), "name": "Cluster Aeroespacial Atlántico"}
    body.pop("id")
    body["sectors"] = ["Aeroespacial"]
    created = api.client.post("/clusters", json=body, headers=api.admin).json()
    assert created["id"] == "cluster-aeroespacial-atlantico" and created["sectors"] == ["aerospace"]


def test_create_cluster_bad_input(api: Api):
    post = lambda body: api.client.post("/clusters", json=body, headers=api.write)  # noqa: E731
    error_of(post({**new_profile(), "colour": "blue"}), 422, "validation_error", "colour")
    error_of(post({**new_profile(), "sectors": ["not-a-sector"]}), 422, "unknown_sector", "sectors")
    error_of(post({**new_profile(), "sectors": []}), 422, "validation_error", "sectors")
    error_of(post({**new_profile(), "side": "MX", "country": "PT"}), 422, "invalid")
    error_of(post({**new_profile(), "id": "Not A Slug"}), 422, "validation_error", "id")
    body = new_profile()
    body.pop("name")
    error_of(post(body), 422, "validation_error", "name")
    error_of(post({**new_profile(), "id": "aero-north"}), 409, "duplicate")
    error_of(api.client.post("/clusters", content=b"{", headers={**api.write, "Content-Type": "application/json"}), 422)


def test_an_oversized_member_count_is_refused_and_suggestions_keep_working(api: Api):
    """A member count too large for a float once broke every suggestion until the profile was
    deleted; now it is a 422 naming the field, and nothing is written."""
    body = {**new_profile(), "facts": {"members": 10 ** 400}}
    error_of(api.client.post("/clusters", json=body, headers=api.write), 422, field="facts.members")
    error_of(api.client.get("/clusters/new-aero"), 404)
    assert api.client.get("/clusters/aero-north/partners").status_code == 200
    error_of(api.client.patch("/clusters/aero-north", json={"facts": {"members": 10 ** 12}}, headers=api.write),
             422, field="facts.members")
    assert api.client.get("/clusters/aero-north/partners").status_code == 200


def test_new_profile_is_suggested_and_gets_suggestions_at_once(api: Api):
    before = partner_ids(api.client, "aero-bajio")
    assert "new-aero" not in before
    api.client.post("/clusters", json=new_profile(), headers=api.write).raise_for_status()
    assert "new-aero" in partner_ids(api.client, "aero-bajio")
    own = partner_ids(api.client, "new-aero")
    assert own and own[0] == "aero-bajio"


def test_patch_cluster(api: Api):
    response = api.client.patch("/clusters/soft-bay", json={"description": "Aircraft software and avionics."},
                                headers=api.write)
    assert response.status_code == 200, response.text
    assert response.json()["description"] == "Aircraft software and avionics."
    assert response.json()["name"] == "Soft Bay ICT Cluster"
    assert api.registry.get("soft-bay").description == "Aircraft software and avionics."
    error_of(api.client.patch("/clusters/soft-bay", json={"description": "x"}), 401)
    error_of(api.client.patch("/clusters/soft-bay", json={"id": "other"}, headers=api.write), 422, field="id")
    error_of(api.client.patch("/clusters/soft-bay", json={"sectors": ["nope"]}, headers=api.write), 422, field="sectors")
    error_of(api.client.patch("/clusters/nobody", json={"description": "x"}, headers=api.write), 404)


def test_patch_changes_suggestions_at_once(api: Api):
    before = partner_ids(api.client, "salud-golfo")
    assert before.index("soft-bay") > before.index("med-lake")
    api.client.patch("/clusters/soft-bay", json={"sectors": ["medical-devices", "health"],
                                                 "description": "Medical devices and hospitals."},
                     headers=api.write).raise_for_status()
    after = partner_ids(api.client, "salud-golfo")
    assert after.index("soft-bay") < before.index("soft-bay") and after.index("soft-bay") <= 1


def test_delete_cluster_removes_it_everywhere(api: Api):
    assert "med-lake" in partner_ids(api.client, "salud-golfo")  # also fills the suggestion cache
    error_of(api.client.delete("/clusters/med-lake"), 401)
    error_of(api.client.delete("/clusters/med-lake", headers=api.read), 403)
    response = api.client.delete("/clusters/med-lake", headers=api.write)
    assert response.status_code == 204 and response.content == b""
    error_of(api.client.get("/clusters/med-lake"), 404)
    error_of(api.client.get("/clusters/med-lake/partners"), 404)
    for mx in [o.id for o in ORGANISATIONS if o.side.value == "MX"]:
        assert "med-lake" not in partner_ids(api.client, mx)
    assert "med-lake" not in api.suggester.index
    error_of(api.client.delete("/clusters/med-lake", headers=api.write), 404)


def test_delete_empties_the_rendered_suggestions_at_once(api: Api):
    partner_ids(api.client, "salud-golfo")
    rendered = api.client.app.state.rendered
    assert len(rendered) == 1
    assert api.client.delete("/clusters/med-lake", headers=api.write).status_code == 204
    assert len(rendered) == 0  # not merely unreachable: gone


def test_repeated_partner_requests_are_computed_once(api: Api, monkeypatch):
    calls = []
    original = api.suggester.suggest
    monkeypatch.setattr(api.suggester, "suggest", lambda *a, **kw: calls.append(a) or original(*a, **kw))
    first = api.client.get("/clusters/aero-north/partners", params={"k": 3})
    second = api.client.get("/clusters/aero-north/partners", params={"k": 3})
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert len(calls) == 1
    other = api.client.get("/clusters/aero-north/partners", params={"k": 2})  # another request, computed anew
    assert len(calls) == 2 and len(other.json()["items"]) == 2


def test_rendered_suggestions_are_recomputed_after_a_write_elsewhere_or_a_refit(api: Api, monkeypatch):
    calls = []
    original = api.suggester.suggest
    monkeypatch.setattr(api.suggester, "suggest", lambda *a, **kw: calls.append(a) or original(*a, **kw))
    api.client.get("/clusters/aero-north/partners")
    before = api.suggester.results_version()
    api.suggester.train()  # a refit changes scores without changing the data
    assert api.suggester.results_version() != before
    api.client.get("/clusters/aero-north/partners")
    assert len(calls) == 2
    # A write by another process is seen through the data version, not through a callback.
    other = Registry.open(api.settings, init=False)
    try:
        other.delete("med-lake")
    finally:
        other.close()
    assert "med-lake" not in partner_ids(api.client, "salud-golfo")
    assert len(calls) == 3


# --- suggestions --------------------------------------------------------------------------


def test_partners_have_scores_and_explanations(api: Api):
    body = api.client.get("/clusters/aero-north/partners", params={"k": 3}).json()
    assert body["query"] == {"id": "aero-north", "name": "Aero North Cluster", "side": "EU",
                             "sectors": ["aerospace", "mro"]}
    items = body["items"]
    assert 1 <= len(items) <= 3
    assert all(i["side"] == "MX" for i in items)
    assert [i["rank"] for i in items] == list(range(1, len(items) + 1))
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    top = items[0]
    assert top["id"] == "aero-bajio"
    assert "Aerospace" in top["explanation"]["shared_sectors"]
    assert top["explanation"]["summary"]


def test_partners_filters_and_options(api: Api):
    assert partner_ids(api.client, "auto-centro", country="DE") == ["auto-valley"]
    assert set(partner_ids(api.client, "wind-coast", sector="energy")) <= {"energia-norte"}
    assert "aero-bajio" in partner_ids(api.client, "aero-north")
    assert "aero-bajio" not in partner_ids(api.client, "aero-north", exclude_existing=True)
    diversified = partner_ids(api.client, "aero-north", diversify=True)
    assert sorted(diversified) == sorted(partner_ids(api.client, "aero-north"))


def test_partners_bad_input(api: Api):
    max_k = api.settings.api_max_k
    error_of(api.client.get("/clusters/aero-north/partners", params={"k": max_k + 1}), 422, field="k")
    error_of(api.client.get("/clusters/aero-north/partners", params={"k": 0}), 422, field="k")
    error_of(api.client.get("/clusters/aero-north/partners", params={"exclude_existing": "perhaps"}), 422)
    error_of(api.client.get("/clusters/nobody-here/partners"), 404, "not_found")
    error_of(api.client.get("/clusters/aero-nort/partners"), 404, "not_found")  # no fuzzy ids in paths


def test_match_a_profile_that_is_not_stored(api: Api):
    body = {"name": "Parque Eólico Demo", "side": "MX", "sectors": ["energía eólica"],
            "description": "Wind farm operators and solar energy."}
    response = api.client.post("/match", json=body, params={"k": 5})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["query"]["id"] is None and result["query"]["side"] == "MX"
    assert result["items"] and result["items"][0]["id"] == "wind-coast"
    assert all(i["side"] == "EU" for i in result["items"])
    assert api.client.get("/clusters", params={"q": "demo"}).json()["total"] == 0


def test_match_reads_the_sectors_from_the_text_when_none_are_given(api: Api):
    """Like ``c2c suggest --text``: no sectors in the body, the sectors are read (in Spanish here)
    and the response says which."""
    body = {"name": "Parque Eólico Demo", "side": "MX",
            "description": "Operadores de parques eólicos y de aerogeneradores en Oaxaca: viento y eólica."}
    response = api.client.post("/match", json=body, params={"k": 5})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["query"]["sectors"] == ["wind"]
    assert result["items"] and result["items"][0]["id"] == "wind-coast"


def test_match_bad_input(api: Api):
    good = {"name": "Demo", "side": "EU", "sectors": ["wind"]}
    error_of(api.client.post("/match", json={**good, "sectors": ["warp-drives"]}), 422, "unknown_sector", "sectors.0")
    error_of(api.client.post("/match", json={**good, "extra": True}), 422, "validation_error", "extra")
    error_of(api.client.post("/match", json={"side": "EU", "sectors": ["wind"]}), 422, field="name")
    error_of(api.client.post("/match", json={**good, "side": "XX"}), 422, field="side")
    error_of(api.client.post("/match", json=good, params={"k": api.settings.api_max_k + 1}), 422, field="k")


# --- cooperations and feedback ------------------------------------------------------------


def test_cooperations_list_and_filter(api: Api):
    listing = api.client.get("/cooperations").json()
    assert listing["total"] == len(COOPERATIONS)
    mine = api.client.get("/cooperations", params={"org": "aero-bajio"}).json()
    assert [c["id"] for c in mine["items"]] == ["aero-north-aero-bajio"]
    assert api.client.get("/cooperations", params={"limit": 1, "offset": 1}).json()["items"][0]["id"] == \
        sorted(c.id for c in COOPERATIONS)[1]
    error_of(api.client.get("/cooperations", params={"org": "nobody"}), 404)
    error_of(api.client.get("/cooperations", params={"limit": api.settings.api_max_page_size + 1}), 422, field="limit")


def test_create_cooperation(api: Api):
    body = {"eu": "med-lake", "mx": "salud-golfo", "type": "mou_under_discussion", "year": 2024}
    error_of(api.client.post("/cooperations", json=body), 401)
    error_of(api.client.post("/cooperations", json=body, headers=api.read), 403)
    response = api.client.post("/cooperations", json=body, headers=api.write)
    assert response.status_code == 201, response.text
    assert response.json()["id"] == "med-lake-salud-golfo-mou-under-discussion-2024"
    assert api.client.get("/cooperations").json()["total"] == len(COOPERATIONS) + 1
    assert "salud-golfo" not in partner_ids(api.client, "med-lake", exclude_existing=True)
    error_of(api.client.post("/cooperations", json=body, headers=api.write), 409, "duplicate")
    error_of(api.client.post("/cooperations", json={**body, "eu": "salud-golfo", "id": "x"}, headers=api.write),
             422, field="eu")
    error_of(api.client.post("/cooperations", json={**body, "type": "handshake"}, headers=api.write), 422, field="type")


def test_feedback_is_stored(api: Api):
    body = {"org": "aero-north", "partner": "aero-bajio", "verdict": "met", "note": "Met at the fair."}
    error_of(api.client.post("/feedback", json=body), 401)
    error_of(api.client.post("/feedback", json=body, headers=api.read), 403)
    response = api.client.post("/feedback", json=body, headers=api.write)
    assert response.status_code == 201, response.text
    assert response.json()["verdict"] == "met" and response.json()["id"] >= 1
    stored = FeedbackStore(api.registry.store).list("aero-north")
    assert [(f.suggested_id, f.verdict.value, f.comment) for f in stored] == [("aero-bajio", "met", "Met at the fair.")]
    assert stored[0].api_key_id is not None
    for verdict in ["accepted", "declined", "agreement_signed"]:
        assert api.client.post("/feedback", json={**body, "verdict": verdict}, headers=api.write).status_code == 201
    error_of(api.client.post("/feedback", json={**body, "verdict": "maybe"}, headers=api.write), 422, field="verdict")
    error_of(api.client.post("/feedback", json={**body, "partner": "nobody"}, headers=api.write), 404)
    error_of(api.client.post("/feedback", json={**body, "partner": "aero-north"}, headers=api.write), 422,
             field="partner")


# --- model, retraining, keys --------------------------------------------------------------


def test_model_card(api: Api):
    card = api.client.get("/model").json()
    assert card["embedding_model"].startswith("keyword-") and card["embedding_dim"] == len(VOCABULARY) + 1
    assert card["data_version"] == api.registry.data_version()
    assert card["ranker_training_pairs"] == len(COOPERATIONS)
    unknown = card["ranker"]["unknown_history"]["values"]
    assert set(unknown) == {"partner_sim_mx", "partner_sim_eu"} and all(0 <= v <= 1 for v in unknown.values())
    results = api.settings.home / "evaluation" / "results.json"
    results.parent.mkdir(parents=True)
    results.write_text(json.dumps({"settings": {"pairs": 4}, "protocols": {"leave-one-pair-out": {
        "pairs": 4, "methods": {"ranker": {"mrr": {"value": 0.5, "low": 0.2, "high": 0.8}}}}}}))
    evaluation = api.client.get("/model").json()["evaluation"]
    assert evaluation["file"] == "evaluation/results.json"  # relative to the home folder
    assert evaluation["protocols"]["leave-one-pair-out"]["methods"]["ranker"]["mrr"] == 0.5


def test_retrain_needs_admin(api: Api):
    error_of(api.client.post("/admin/retrain"), 401)
    error_of(api.client.post("/admin/retrain", headers=api.write), 403)
    api.client.post("/cooperations", json={"eu": "med-lake", "mx": "salud-golfo", "type": "signed_mou"},
                    headers=api.write).raise_for_status()
    response = api.client.post("/admin/retrain", headers=api.admin)
    assert response.status_code == 200, response.text
    assert response.json()["ranker_training_pairs"] == len(COOPERATIONS) + 1
    assert api.client.get("/model").json()["ranker_training_pairs"] == len(COOPERATIONS) + 1


def test_key_management_over_http(api: Api):
    error_of(api.client.post("/admin/keys", json={"scope": "write"}, headers=api.write), 403)
    created = api.client.post("/admin/keys", json={"scope": "write", "name": "partner portal"}, headers=api.admin)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["scope"] == "write" and key["secret"]
    fresh = {"X-API-Key": key["secret"]}
    assert api.client.post("/clusters", json=new_profile("via-new-key"), headers=fresh).status_code == 201
    listed = api.client.get("/admin/keys", headers=api.admin).json()
    assert key["id"] in {k["id"] for k in listed}
    assert all("secret" not in k for k in listed)
    assert api.client.delete(f"/admin/keys/{key['id']}", headers=api.admin).status_code == 204
    error_of(api.client.post("/clusters", json=new_profile("after-revoke"), headers=fresh), 401)
    error_of(api.client.delete("/admin/keys/nokey", headers=api.admin), 404)
    error_of(api.client.post("/admin/keys", json={"scope": "root"}, headers=api.admin), 422, field="scope")


# --- exports ------------------------------------------------------------------------------


def test_export_clusters_csv_is_formula_escaped_and_hides_contacts(api: Api):
    evil = {**new_profile("evil"), "description": "=HYPERLINK(\"http://x.example\",\"click\")",
            "contact": {"name": "Eve", "email": "eve@evil.example"}}
    api.client.post("/clusters", json=evil, headers=api.write).raise_for_status()
    response = api.client.get("/export/clusters", params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(ORGANISATIONS) + 1
    evil_row = next(r for r in rows if r["id"] == "evil")
    assert not evil_row["description"].startswith("=")
    assert "eve@evil.example" not in response.text and "ana@aero-north.example" not in response.text
    keyed = api.client.get("/export/clusters", params={"format": "csv"}, headers=api.read)
    assert "ana@aero-north.example" in keyed.text


def test_export_json_and_cooperations(api: Api):
    clusters = api.client.get("/export/clusters", params={"format": "json"}).json()
    assert sorted(o["id"] for o in clusters) == sorted(o.id for o in ORGANISATIONS)
    coops = api.client.get("/export/cooperations", params={"format": "json"}).json()
    assert sorted(c["id"] for c in coops) == sorted(c.id for c in COOPERATIONS)
    rows = list(csv.DictReader(io.StringIO(api.client.get("/export/cooperations").text)))
    assert {r["eu"] for r in rows} == {c.eu for c in COOPERATIONS}
    error_of(api.client.get("/export/clusters", params={"format": "xml"}), 422, field="format")


# --- limits -------------------------------------------------------------------------------


def test_body_size_limit(store_url: str, tmp_path: Path):
    app, registry, _, _ = make_api(store_url, tmp_path, api_max_body_bytes=2_000)
    with TestClient(app) as client:
        write = key_header(registry, "write")
        big = {**new_profile(), "description": "x" * 3_000}
        error_of(client.post("/clusters", json=big, headers=write), 413, "payload_too_large")
        assert client.post("/clusters", json=new_profile(), headers=write).status_code == 201
    registry.close()


def test_rate_limit_per_client_and_per_key(store_url: str, tmp_path: Path):
    app, registry, suggester, _ = make_api(store_url, tmp_path)
    app = create_app(app.state.settings.model_copy(update={"api_rate_per_minute": 5}),
                     registry=registry, suggester=suggester)
    with TestClient(app) as client:
        statuses = [client.get("/clusters").status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        refused = client.get("/clusters/aero-north")
        error_of(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1
        assert client.get("/clusters", headers=key_header(registry, "read")).status_code == 200
        assert client.get("/health").status_code == 200
    registry.close()


def test_timeout_is_504(api: Api, monkeypatch):
    slow_app = create_app(api.settings.model_copy(update={"api_request_timeout_s": 1.0}),
                          registry=api.registry, suggester=api.suggester)
    original = api.suggester.suggest
    finished = threading.Event()

    def slow(*args, **kwargs):
        try:
            time.sleep(2.5)
            return original(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(api.suggester, "suggest", slow)
    with TestClient(slow_app) as client:
        started = time.perf_counter()
        error_of(client.get("/clusters/aero-north/partners"), 504, "timeout")
        assert time.perf_counter() - started < 2.4  # answered at the deadline, not when the work ended
        assert client.get("/clusters/aero-north").status_code == 200
    # The abandoned call still runs in a worker thread and queries the store; let it end before
    # the fixture closes the store, or its late query races the next test's set-up.
    assert finished.wait(10)


def test_unexpected_error_is_500_without_stack_trace(api: Api, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("internal detail /srv/secret.py line 3")

    monkeypatch.setattr(api.suggester, "suggest", broken)
    with TestClient(api.client.app, raise_server_exceptions=False) as client:
        response = client.get("/clusters/aero-north/partners")
    error_of(response, 500, "internal_error")
    assert "secret" not in response.text and "Traceback" not in response.text


def test_unknown_route_and_method(api: Api):
    error_of(api.client.get("/nowhere"), 404, "not_found")
    error_of(api.client.put("/clusters/aero-north", json={}), 405, "method_not_allowed")


def test_cors(store_url: str, tmp_path: Path):
    app, registry, _, _ = make_api(store_url, tmp_path, cors_origins=["https://portal.example"])
    with TestClient(app) as client:
        preflight = client.options("/clusters", headers={
            "Origin": "https://portal.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-API-Key"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://portal.example"
        assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
        simple = client.get("/clusters", headers={"Origin": "https://portal.example"})
        assert simple.headers["access-control-allow-origin"] == "https://portal.example"
        other = client.get("/clusters", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    registry.close()


def test_one_registry_and_one_suggester_per_app(api: Api):
    service = api.client.app.state.service
    assert service.registry is api.registry and service.suggester is api.suggester
    assert api.suggester.registry is api.registry


def test_nul_characters_are_refused_not_crashing_the_store(api: Api):
    for url in ["/clusters?q=%00", "/clusters/a%00b", "/clusters/a%00b/partners", "/cooperations?org=x%00"]:
        error_of(api.client.get(url), 422, "validation_error")
    body = {**new_profile("nul"), "description": "a\x00b"}
    error_of(api.client.post("/clusters", json=body, headers=api.write), 422, "validation_error", "description")
    body = {**new_profile("nul"), "sources": [{"document": "d\x00", "section": "s"}]}
    error_of(api.client.post("/clusters", json=body, headers=api.write), 422, field="sources.0.document")
    error_of(api.client.post("/match", json={"name": "x\x00y", "side": "EU", "sectors": ["wind"]}), 422, field="name")
    error_of(api.client.get("/clusters", headers={"X-API-Key": "c2c_a\x00b_c"}), 401)
    assert api.client.get("/clusters/nul").status_code == 404


WRITE_ROUTES = [
    ("POST", "/clusters", "write"), ("PATCH", "/clusters/aero-north", "write"), ("DELETE", "/clusters/aero-north", "write"),
    ("POST", "/cooperations", "write"), ("POST", "/feedback", "write"), ("POST", "/events", "write"),
    ("POST", "/events/some-event/participants", "write"), ("POST", "/events/some-event/plan", "write"),
    ("POST", "/admin/retrain", "admin"), ("GET", "/admin/keys", "admin"), ("POST", "/admin/keys", "admin"),
    ("DELETE", "/admin/keys/some-key", "admin"),
]


def test_every_protected_route_checks_the_key_before_anything_else(api: Api):
    for method, path, scope in WRITE_ROUTES:
        lower = api.read if scope == "write" else api.write
        for headers, status in [({}, 401), ({"X-API-Key": "c2c_unknown_secret"}, 401), (lower, 403)]:
            response = api.client.request(method, path, json={}, headers=headers)
            error_of(response, status)
            assert response.json()["error"]["field"] == "X-API-Key", (method, path)
    assert api.registry.exists("aero-north")
