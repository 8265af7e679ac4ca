"""The web page in a real browser: the system's headless Chromium, driven by Playwright.

The app (the test fixtures' registry and fast encoder) runs in a real server on a loopback port.
The tests are skipped, with the reason shown, only when no Chromium is installed on this machine
(``C2C_REQUIRE_BROWSER=1``, set by ``.ci/run``, turns that skip into a failure). Each test saves
screenshots of the pages it visits to ``docs/screenshots/`` (or ``$C2C_SCREENSHOTS``).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
from api_fixtures import make_api
from icalendar import Calendar
from openpyxl import load_workbook
from web_fixtures import BAD_PARTICIPANTS, new_key

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path(os.environ.get("C2C_SCREENSHOTS", ROOT / "docs" / "screenshots"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("C2C_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def _unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return "no Chromium on this machine (apt-get install chromium; or set C2C_CHROMIUM)"
    return None


def big_event_file(eu: int = 40, mx: int = 56) -> str:
    """Participants of a brokerage day: a few registered organisations and guests, ``eu + mx`` in all."""
    eu_sectors = ["wind;renewable energy", "aerospace", "automotive;auto parts", "software", "medical devices"]
    mx_sectors = ["solar;wind", "aerostructures", "auto parts", "ict", "health", "agrifood"]
    rows = ["ref,name,side,sectors,description,available"]
    registered_eu = ["aero-north", "wind-coast", "auto-valley", "soft-bay"]
    registered_mx = ["aero-bajio", "energia-norte", "auto-centro", "ti-occidente"]
    rows += [f"{ref},,,,," for ref in registered_eu + registered_mx]
    rows += [f",European Guest {k:02d},EU,{eu_sectors[k % len(eu_sectors)]},Company {k},"
             for k in range(eu - len(registered_eu))]
    rows += [f",Empresa Mexicana {k:02d},MX,{mx_sectors[k % len(mx_sectors)]},Empresa {k},"
             + ("2026-10-12" if k % 7 == 0 else "") for k in range(mx - len(registered_mx))]
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    reason = _unavailable()
    if reason:
        if os.environ.get("C2C_REQUIRE_BROWSER"):
            pytest.fail(f"the browser tests must run here: {reason}")
        pytest.skip(reason)
    import uvicorn

    home = tmp_path_factory.mktemp("web-home")
    app, registry, suggester, _ = make_api(f"sqlite:///{home / 'c2c.db'}", home)
    evaluation = ROOT / "benchmarks" / "results" / "evaluation" / "results.json"
    (home / "evaluation").mkdir()
    shutil.copyfile(evaluation, home / "evaluation" / "results.json")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", registry
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        suggester.close()
        registry.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    base, _ = server
    context = browser.new_context(base_url=base, locale="en-GB", viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    yield tab
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def sign_in(page, secret: str) -> None:
    page.goto("/web/key")
    page.get_by_label("API key").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_search_and_open_a_profile(page):
    page.goto("/")
    shot(page, "search")
    page.get_by_label("Name or words").fill("aero north")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Aero North Cluster").first.click()
    assert page.locator("h1").inner_text().startswith("Aero North Cluster")
    assert page.get_by_role("link", name="Aero Bajío Cluster").is_visible()  # a documented cooperation
    shot(page, "profile")


def test_suggestions_in_english_then_spanish(page):
    page.goto("/web/organisations/aero-north")
    page.get_by_role("link", name="See suggested partners").click()
    assert "Suggested partners for Aero North Cluster" in page.locator("h1").inner_text()
    first = page.locator("ol.suggestions > li").first
    assert "Why" in first.inner_text() and "Score" in first.inner_text()
    shot(page, "suggestions-en")
    page.get_by_role("link", name="Español").click()
    assert page.locator("html").get_attribute("lang") == "es"
    assert "Socios sugeridos para Aero North Cluster" in page.locator("h1").inner_text()
    text = page.locator("ol.suggestions").inner_text()
    assert "Por qué" in text and "Puntuación" in text and "Aeroespacial" in text
    shot(page, "suggestions-es")


def test_feedback_is_refused_without_a_key_and_recorded_with_one(page, server):
    _, registry = server
    before = len(registry.list_feedback())
    page.goto("/web/organisations/aero-north/partners")

    def send() -> None:
        item = page.locator("ol.suggestions > li").first
        item.locator("summary").click()
        item.get_by_label("We met").check()
        item.get_by_label("Note (optional)").fill("Met at the Bilbao fair")
        item.get_by_role("button", name="Record").click()
        page.wait_for_load_state()

    send()
    assert "Saving needs an API key" in page.locator("main").inner_text()
    assert len(registry.list_feedback()) == before
    page.get_by_role("link", name="Sign in with a key").first.click()
    page.get_by_label("API key").fill(new_key(registry))
    page.get_by_role("button", name="Sign in").click()
    page.goto("/web/organisations/aero-north/partners")
    send()
    assert "Feedback recorded" in page.locator("h1").inner_text()
    stored = registry.list_feedback()
    assert len(stored) == before + 1 and stored[-1].verdict.value == "met"
    shot(page, "feedback")


def _create_event(page, name: str) -> None:
    page.goto("/web/events")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("First day").fill("2026-10-12")
    page.get_by_label("Number of days").fill("2")
    page.get_by_label("Meetings per day per table").fill("8")
    page.get_by_label("Tables", exact=True).fill("24")
    page.get_by_role("button", name="Create the event").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == name


def test_a_bad_participants_file_names_the_row(page, server, tmp_path):
    _, registry = server
    sign_in(page, new_key(registry))
    _create_event(page, "Encuentro con una fila mala")
    bad = tmp_path / "participants.csv"
    bad.write_text(BAD_PARTICIPANTS, encoding="utf-8")
    page.get_by_label("Participants file (.csv or .xlsx)").set_input_files(str(bad))
    page.get_by_role("button", name="Check and save").click()
    problems = page.locator("#problems").inner_text()
    assert "participants.csv was not saved" in problems
    for line, field in (("3", "side"), ("5", "sectors"), ("6", "ref")):
        assert page.locator("#problems tr", has_text=field).filter(has_text=line).count() >= 1
    shot(page, "upload-errors")


def test_plan_a_40_plus_56_event_see_the_grid_and_download_everything(page, server, tmp_path):
    _, registry = server
    sign_in(page, new_key(registry))
    _create_event(page, "Brokerage day Bilbao–Querétaro")
    people = tmp_path / "participants.csv"
    people.write_text(big_event_file(), encoding="utf-8")
    requests = tmp_path / "requests.csv"
    requests.write_text("requester,target,status\naero-north,aero-bajio,accepted\nwind-coast,energia-norte,requested\n",
                        encoding="utf-8")
    page.get_by_label("Participants file (.csv or .xlsx)").set_input_files(str(people))
    page.get_by_label("Meeting requests file").set_input_files(str(requests))
    page.get_by_role("button", name="Check and save").click()
    assert "(96, 2 meeting requests)" in page.locator("#participants").inner_text()
    shot(page, "event")
    page.get_by_label("Seconds the planner may take").fill("5")
    page.get_by_role("button", name="Plan", exact=True).click()
    page.locator("#plan-done").wait_for(timeout=120_000)  # the progress page refreshes itself
    page.get_by_role("link", name="See the plan").click()
    assert "meetings for 96 participants" in page.locator("#plan").locator("..").inner_text()

    with page.expect_download() as caught:
        page.get_by_role("link", name="Download everything (zip)").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(caught.value.path()).read_bytes()))
    names = archive.namelist()
    calendars = [n for n in names if n.endswith(".ics")]
    assert len(calendars) == 96 and len([n for n in names if n.endswith(".html")]) == 96
    for name in calendars:
        Calendar.from_ical(archive.read(name))
    book = load_workbook(io.BytesIO(archive.read(next(n for n in names if n.endswith("schedule.xlsx")))))
    assert len(list(book["Schedule"].iter_rows(values_only=True))) > 40

    page.get_by_role("link", name="See the grid of tables").click()
    assert page.locator("table.grid tbody tr").count() == 16
    shot(page, "grid")
    page.locator("table.grid a", has_text="Aero North Cluster").first.click()
    assert "Agenda of Aero North Cluster" in page.locator("h1").inner_text()
    page.emulate_media(media="print")
    assert not page.locator("header.site").is_visible()  # the print style leaves only the agenda
    page.emulate_media(media="screen")
    shot(page, "agenda")


def test_model_page(page):
    page.goto("/web/model")
    assert page.locator("svg").count() >= 2 and "hit@10" in page.locator("main").inner_text()
    shot(page, "model")
