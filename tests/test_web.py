"""The web page's routes, through the FastAPI test client: languages, search, profiles,
suggestions, the key session and its CSRF tokens, feedback, uploads and event planning.

The browser itself is exercised in ``test_web_browser.py``.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import pytest
from api_fixtures import make_api
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from icalendar import Calendar
from openpyxl import load_workbook
from web_fixtures import BAD_PARTICIPANTS, GOOD_PARTICIPANTS, create_event, csrf, new_key, sign_in

from api.web import i18n
from api.web.account import safe_next
from api.web.session import Session, Sessions
from api.web.uploads import problem
from matcher.store.keys import ApiKeys

LOCALE = Path(i18n.__file__).parent / "locale"


@pytest.fixture
def web(sqlite_url: str, tmp_path: Path):
    app, registry, suggester, settings = make_api(sqlite_url, tmp_path)
    with TestClient(app) as client:
        yield client, registry
    suggester.close()
    registry.close()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def wait_for_plan(client: TestClient, event: str) -> str:
    for _ in range(240):
        page = client.get(event + "/progress").text
        if "plan-done" in page or "failed" in page:
            return page
        time.sleep(0.25)
    raise AssertionError("planning did not finish")


# --- languages ----------------------------------------------------------------------------------


def test_language_follows_the_browser_then_the_switch(web):
    client, _ = web
    english = client.get("/", headers={"Accept-Language": "de-DE,en;q=0.5"})
    assert english.status_code == 200 and '<html lang="en">' in english.text
    assert "Find organisations" in english.text and "Aerospace" in english.text
    spanish = client.get("/", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.8"})
    assert '<html lang="es">' in spanish.text and "Buscar organizaciones" in spanish.text
    assert "Aeroespacial" in spanish.text  # the taxonomy's Spanish sector name
    switched = client.get("/web/language/es?next=/web/describe", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/web/describe"
    assert "Describa su clúster" in client.get("/web/describe", headers={"Accept-Language": "en"}).text


def test_language_negotiation_weights():
    assert i18n.negotiate("fr;q=0.9, es;q=0.8, en;q=0.7") == "es"
    assert i18n.negotiate("en;q=0.2, es") == "es"
    assert i18n.negotiate("fr, de") is None
    assert i18n.choose("xx", "es", "en") == "es"


def test_every_message_has_a_spanish_translation_and_the_compiled_catalogue_is_current():
    template = read_po(open(LOCALE / "messages.pot", "rb"))
    spanish = read_po(open(LOCALE / "es" / "LC_MESSAGES" / "messages.po", "rb"))
    compiled = read_mo(open(LOCALE / "es" / "LC_MESSAGES" / "messages.mo", "rb"))
    for message in template:
        if not message.id:
            continue
        entry = spanish.get(message.id)
        assert entry is not None and entry.string and all(entry.string if isinstance(entry.string, tuple)
                                                          else [entry.string]), message.id
        made = compiled.get(message.id)
        assert made is not None and tuple(made.string) == tuple(entry.string) if isinstance(entry.string, tuple) \
            else made.string == entry.string, message.id


def test_every_message_of_the_templates_and_code_is_in_the_catalogue():
    from babel.messages.extract import extract_from_dir

    folder = Path(i18n.__file__).parent
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = {m[2] if isinstance(m[2], str) else m[2][0]
             for m in extract_from_dir(str(folder), method_map, options, keywords=keywords)}
    template = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(open(LOCALE / "messages.pot", "rb")) if m.id}
    assert found - template == set(), "run pybabel extract and update (see api/web/babel.cfg)"


# --- reading pages ------------------------------------------------------------------------------


def test_search_by_name_with_a_typo_and_filters(web):
    client, _ = web
    page = client.get("/", params={"q": "aero"})
    assert "Aero North Cluster" in page.text and "Aero Bajío Cluster" in page.text
    typo = client.get("/", params={"q": "Wind Coast Energy Clustr"})
    assert "Best match" in typo.text and "/web/organisations/wind-coast" in typo.text
    unsure = text_of(client.get("/", params={"q": "Aero Nrth Clustr"}).text)
    assert "Did you mean: Aero North Cluster" in unsure
    mexican = text_of(client.get("/", params={"side": "MX", "sector": "aerospace"}).text)
    assert "Aero Bajío Cluster" in mexican and "Aero North Cluster" not in mexican
    odd = client.get("/", params={"side": "nowhere", "country": "<x>", "sector": "zzz", "offset": "-5"})
    assert odd.status_code == 200  # unknown filter values are ignored, not an error page


def test_profile_shows_sectors_cooperations_and_sources(web):
    client, _ = web
    page = client.get("/web/organisations/aero-north")
    assert page.status_code == 200
    body = text_of(page.text)
    assert "Aero North Cluster" in body and "Aerospace" in body and "Aero Bajío Cluster" in body
    assert "Signed memorandum of understanding" in body and "2018" in body
    assert "test-fixture" in body  # the source of the cooperation
    missing = client.get("/web/organisations/nobody-here")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


def test_a_closed_organisation_says_so_and_is_left_out_of_the_partner_lists(web):
    client, registry = web
    partners = {"k": 10, "lang": "en"}
    page = text_of(client.get("/web/organisations/aero-north/partners", params=partners).text)
    first = re.search(r"\b1\. (.+?) Mexico ·", page).group(1)  # the best suggestion's name
    closing = registry.lookup(first)
    registry.update(closing.id, {"facts": {"closed": 2019}})
    body = text_of(client.get(f"/web/organisations/{closing.id}", params={"lang": "en"}).text)
    assert "Closed" in body and "2019" in body and "never suggested as a partner" in body
    assert "Cerrada" in text_of(client.get(f"/web/organisations/{closing.id}", params={"lang": "es"}).text)
    page = text_of(client.get("/web/organisations/aero-north/partners", params=partners).text)
    assert not re.search(rf"\b\d+\. {re.escape(first)} Mexico ·", page)
    assert re.search(r"\b1\. (.+?) Mexico ·", page).group(1) != first


def test_contact_details_only_for_a_session_with_a_key(web):
    client, registry = web
    assert "ana@aero-north.example" not in client.get("/web/organisations/aero-north").text
    sign_in(client, new_key(registry, "read"))
    assert "ana@aero-north.example" in client.get("/web/organisations/aero-north").text


def test_a_script_in_a_profile_name_is_escaped(web):
    client, registry = web
    registry.create({"id": "evil-cluster", "name": "<script>alert('x')</script> Cluster", "side": "EU",
                     "country": "ES", "type": "cluster_organisation", "sectors": ["aerospace"],
                     "description": "<img src=x onerror=alert(1)> aircraft maintenance",
                     "sources": [{"document": "javascript:alert(1)", "section": "<b>s</b>"}]})
    for path in ("/web/organisations/evil-cluster", "/?q=Cluster", "/web/organisations/aero-bajio/partners?k=20"):
        html = client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>s</b>" not in html, path
    profile = client.get("/web/organisations/evil-cluster").text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Cluster" in profile
    assert 'href="javascript:' not in profile


def test_suggestions_with_reasons_in_both_languages(web):
    client, _ = web
    english = text_of(client.get("/web/organisations/aero-north/partners", params={"k": 5}).text)
    assert "Aero Bajío Cluster" in english and "Score" in english and "Why" in english
    assert "Shared sectors: Aerospace" in english
    spanish = text_of(client.get("/web/organisations/aero-north/partners", params={"k": 5, "lang": "es"}).text)
    assert "Puntuación" in spanish and "Sectores compartidos: Aeroespacial" in spanish
    filtered = client.get("/web/organisations/aero-north/partners",
                          params={"sector": "automotive", "exclude_existing": "true"}).text
    assert 'href="/web/organisations/aero-bajio"' not in filtered


def test_describe_your_cluster_runs_the_match_for_an_unsaved_profile(web):
    client, registry = web
    form = client.get("/web/describe?lang=es")
    answer = client.post("/web/describe", data={
        "csrf": csrf(form.text), "name": "Clúster Eólico del Istmo", "side": "MX",
        "description": "Parques de energía eólica y solar en Oaxaca.", "type": "cluster_organisation"})
    assert answer.status_code == 200
    body = text_of(answer.text)
    assert "Socios sugeridos para Clúster Eólico del Istmo" in body and "Wind Coast Energy Cluster" in body
    assert not registry.exists("clster-elico-del-istmo") and registry.count_organisations() == 12
    wrong = client.post("/web/describe", data={"csrf": csrf(form.text), "name": "X", "side": "nowhere"})
    assert wrong.status_code == 422 and "errors" in wrong.text


def test_model_page_shows_the_card_and_the_last_evaluation(web, tmp_path):
    client, _ = web
    page = client.get("/web/model")
    assert page.status_code == 200 and "No evaluation has been run" in page.text
    results = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "evaluation" / "results.json"
    target = tmp_path / "evaluation" / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(results.read_text(encoding="utf-8"), encoding="utf-8")
    page = client.get("/web/model")
    assert "leave-one-organisation-out" in page.text and "<svg" in page.text and "hit@10" in page.text


# --- the key session, CSRF and feedback ---------------------------------------------------------


def test_writes_without_the_form_token_are_refused(web):
    client, registry = web
    sign_in(client, new_key(registry))
    data = {"org": "aero-north", "partner": "aero-bajio", "verdict": "met"}
    assert client.post("/web/feedback", data=data).status_code == 403
    assert client.post("/web/feedback", data={**data, "csrf": "forged"}).status_code == 403
    other = TestClient(client.app)
    stolen = csrf(other.get("/web/describe").text)  # a token of another browser's session
    assert client.post("/web/feedback", data={**data, "csrf": stolen}).status_code == 403
    assert registry.list_feedback() == []
    assert client.post("/web/events", data={"name": "x"}).status_code == 403


def test_feedback_needs_a_key_with_the_write_scope(web):
    client, registry = web
    token = csrf(client.get("/web/describe").text)
    data = {"org": "aero-north", "partner": "aero-bajio", "verdict": "met", "note": "met in Querétaro"}
    refused = client.post("/web/feedback", data={**data, "csrf": token})
    assert refused.status_code == 401 and "Sign in with a key" in refused.text
    sign_in(client, new_key(registry, "read"))
    assert client.post("/web/feedback", data={**data, "csrf": csrf(client.get("/web/describe").text)}).status_code == 403
    sign_in(client, new_key(registry, "write"))
    done = client.post("/web/feedback", data={**data, "csrf": csrf(client.get("/web/describe").text)})
    assert done.status_code == 201 and "Feedback recorded" in done.text
    stored = registry.list_feedback()
    assert [(f.subject_id, f.suggested_id, f.verdict.value, f.comment) for f in stored] == [
        ("aero-north", "aero-bajio", "met", "met in Querétaro")]
    assert stored[0].api_key_id is not None


def test_the_session_cookie_is_http_only_same_site_and_ends_with_the_key(web):
    client, registry = web
    secret = new_key(registry)
    page = client.get("/web/key")
    response = client.post("/web/key", data={"csrf": csrf(page.text), "key": secret}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert secret not in cookie
    assert "Signed in with key" in client.get("/").text
    key_id = secret.split("_")[1]
    ApiKeys(registry.store).revoke(key_id)
    assert "Signed in with key" not in client.get("/").text
    wrong = client.post("/web/key", data={"csrf": csrf(client.get("/web/key").text), "key": "c2c_nope_x"})
    assert wrong.status_code == 401


def test_forged_and_expired_session_cookies_are_ignored(tmp_path):
    sessions = Sessions(b"s" * 32)
    good = Session.anonymous().signed_in("abc", "n", "write")
    assert sessions.load(sessions.dump(good)) == good
    data, _, mac = sessions.dump(good).rpartition(".")
    assert sessions.load(data + "." + ("1" if mac[0] == "0" else "0") + mac[1:]) is None
    assert Sessions(b"t" * 32).load(sessions.dump(good)) is None
    assert sessions.load(sessions.dump(Session("n", expires=1))) is None


def test_return_paths_stay_on_the_site():
    assert safe_next("/web/events?x=1") == "/web/events?x=1"
    for outside in ("https://evil.example/", "//evil.example", "/\\evil.example", "", None):
        assert safe_next(outside) == "/"


def test_api_paths_keep_their_json_errors(web):
    client, _ = web
    assert client.get("/clusters/nobody").json()["error"]["code"] == "not_found"
    assert client.get("/nothing-here").headers["content-type"].startswith("application/json")
    assert client.get("/web/nothing-here").headers["content-type"].startswith("text/html")


# --- event planning -----------------------------------------------------------------------------


def test_an_upload_over_the_limit_is_refused_with_a_page(sqlite_url, tmp_path):
    app, registry, suggester, _ = make_api(sqlite_url, tmp_path, api_max_body_bytes=20_000)
    with TestClient(app) as client:
        sign_in(client, new_key(registry))
        event = create_event(client)
        big = GOOD_PARTICIPANTS.encode() + b"\n" * 30_000
        response = client.post(event + "/participants", data={"csrf": csrf(client.get(event).text)},
                               files={"participants": ("people.csv", big, "text/csv")})
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("text/html")
        assert "larger than this server accepts" in response.text
        assert client.get(event).text.count('name="participant"') == 0
    suggester.close()
    registry.close()


def test_a_bad_participants_file_names_every_bad_row_and_saves_nothing(web):
    client, registry = web
    sign_in(client, new_key(registry))
    event = create_event(client)
    response = client.post(event + "/participants", data={"csrf": csrf(client.get(event).text)},
                           files={"participants": ("people.csv", BAD_PARTICIPANTS.encode(), "text/csv")})
    assert response.status_code == 422
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td>", response.text)
    assert [line for line, _ in rows] == ["3", "5", "6"]
    assert dict(rows)["3"] == "side" and dict(rows)["5"] == "sectors"
    assert "people.csv was not saved" in text_of(response.text)
    assert client.get(event).text.count('name="participant"') == 0
    wrong_type = client.post(event + "/participants", data={"csrf": csrf(client.get(event).text)},
                             files={"participants": ("people.txt", b"ref\naero-north\n", "text/plain")})
    assert wrong_type.status_code == 422 and ".xlsx" in wrong_type.text


def test_problems_of_the_reader_are_split_into_line_field_and_reason():
    found = problem("people.csv, line 7, field 'side': 'XX' is not EU or MX")
    assert (found.line, found.field, found.message) == (7, "side", "'XX' is not EU or MX")
    assert problem("people.csv: the file is empty").line is None


def test_plan_an_event_and_download_every_file(web):
    client, registry = web
    sign_in(client, new_key(registry))
    event = create_event(client, name="Día de negocios <Bilbao>")
    saved = client.post(event + "/participants", data={"csrf": csrf(client.get(event).text)},
                        files={"participants": ("people.csv", GOOD_PARTICIPANTS.encode(), "text/csv")},
                        follow_redirects=False)
    assert saved.status_code == 303
    assert client.get(event).text.count('name="participant"') == 10
    started = client.post(event + "/plan", data={"csrf": csrf(client.get(event).text), "scorer": "sectors",
                                                 "time_limit": "5"}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"].endswith("/progress")
    assert "plan-done" in wait_for_plan(client, event)
    overview = text_of(client.get(event).text)
    assert "meetings for 10 participants" in overview and "&lt;Bilbao&gt;" in client.get(event).text
    grid = client.get(event + "/grid")
    assert grid.status_code == 200 and "Table 1" in grid.text and "Aero North Cluster" in grid.text
    agenda = client.get(event + "/agendas/aero-north")
    assert agenda.status_code == 200 and "Agenda of Aero North Cluster" in agenda.text

    archive = zipfile.ZipFile(io.BytesIO(client.get(event + "/files/plan.zip").content))
    names = archive.namelist()
    calendars = [n for n in names if n.endswith(".ics")]
    assert len(calendars) == 10 and len([n for n in names if n.endswith(".html")]) == 10
    for name in calendars:
        Calendar.from_ical(archive.read(name))
    book = load_workbook(io.BytesIO(archive.read(next(n for n in names if n.endswith("schedule.xlsx")))))
    schedule = list(book["Schedule"].iter_rows(values_only=True))
    assert schedule[0][0] == "day" and len(schedule) > 1
    summary = json.loads(client.get(event + "/files/summary.json").content)
    assert summary["participants"] == 10
    ics = client.get(event + "/files/aero-north.ics")
    assert Calendar.from_ical(ics.content).walk("VEVENT")
    assert client.get(event + "/files/nothing.exe").status_code == 404
    assert client.get(event + "/agendas/nobody").status_code == 404
    # the API serves the same plan
    event_id = event.rsplit("/", 1)[1]
    assert client.get(f"/events/{event_id}/schedule").json()["meetings"]


def test_cancellation_and_late_participant_then_replan_shows_what_moved(web):
    client, registry = web
    sign_in(client, new_key(registry))
    event = create_event(client)
    client.post(event + "/participants", data={"csrf": csrf(client.get(event).text)},
                files={"participants": ("people.csv", GOOD_PARTICIPANTS.encode(), "text/csv")})
    client.post(event + "/plan", data={"csrf": csrf(client.get(event).text), "scorer": "sectors", "time_limit": "5"})
    wait_for_plan(client, event)
    token = csrf(client.get(event).text)
    assert client.post(event + "/cancel", data={"csrf": token, "participant": "wind-coast"},
                       follow_redirects=False).status_code == 303
    late = client.post(event + "/late", data={"csrf": token, "ref": "Clúster de Salud del Golfo"},
                       follow_redirects=False)
    assert late.status_code == 303
    duplicate = client.post(event + "/late", data={"csrf": token, "ref": "aero-north"})
    assert duplicate.status_code == 422 and "already a participant" in duplicate.text
    assert "participants changed since the last plan" in client.get(event).text
    client.post(event + "/plan", data={"csrf": csrf(client.get(event).text), "scorer": "sectors", "time_limit": "5"})
    wait_for_plan(client, event)
    body = text_of(client.get(event).text)
    assert "What changed since the previous plan" in body and "stayed where they were" in body
    assert "Wind Coast Energy Cluster –" in body or "– Wind Coast Energy Cluster" in body  # among the dropped


def test_event_writes_need_a_key(web):
    client, _ = web
    page = client.get("/web/events")
    refused = client.post("/web/events", data={"csrf": csrf(page.text), "name": "x", "first_day": "2026-10-12"})
    assert refused.status_code == 401


def test_a_bad_event_form_shows_the_reason(web):
    client, registry = web
    sign_in(client, new_key(registry))
    page = client.get("/web/events")
    response = client.post("/web/events", data={"csrf": csrf(page.text), "name": "x", "first_day": "2026-10-12",
                                                "days": "1", "slots": "4", "tables": "2", "timezone": "Mars/Base"})
    assert response.status_code == 422 and "Mars/Base" in response.text
