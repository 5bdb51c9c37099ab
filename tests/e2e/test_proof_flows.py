"""Proof in a real browser: the per-user theme, a bulk job's moving progress bar, the "/" shortcut,
and screenshots of the main pages in both themes.

The provider is the built-in sandbox on the same live server; a thread stands in for the bulk
worker (``bulk_worker`` in conftest.py).
"""

import csv
import io
import re

import pytest

from provisioning import services
from provisioning.models import Preference
from provisioning.sandbox import knobs, store
from tests import workflow
from tests.e2e.conftest import expect, log_in
from tests.workflow import NAMESPACE

pytestmark = pytest.mark.e2e

# The sandbox fixtures of the workflow tests: a tenant on the live server, team A's client
# configuration "Sandbox" for it, and the namespace com.acme.sensors.
tenant = workflow.tenant
sandbox_config = workflow.sandbox_config
sandbox_namespace = workflow.sandbox_namespace

LIGHT_BG = "rgb(246, 247, 249)"  # --bg of the light palette (static/css/app.css)
DARK_BG = "rgb(13, 17, 23)"  # --bg of the dark palette


def background(page):
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def theme_attr(page):
    return page.evaluate("document.documentElement.getAttribute('data-theme')")


def theme_button(page, name):
    return page.get_by_role("group", name="Theme").get_by_role("button", name=name, exact=True)


def new_page(browser, server, **options):
    context = browser.new_context(
        base_url=server.url, viewport={"width": 1280, "height": 900}, locale="en-US", **options
    )
    context.set_default_timeout(10_000)
    return context.new_page()


# --- the theme --------------------------------------------------------------------------------


def test_dark_mode_is_remembered_per_user(
    browser, server, page, login, admin_a, operator_a, shot, browser_errors
):
    page.emulate_media(color_scheme="light")
    login(page, admin_a)
    expect(page.get_by_role("heading", level=1)).to_have_text("Team A")
    assert theme_attr(page) is None
    assert background(page) == LIGHT_BG
    expect(theme_button(page, "System")).to_have_attribute("aria-pressed", "true")

    page.evaluate("window.notReloaded = true")
    theme_button(page, "Dark").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(theme_button(page, "Dark")).to_have_attribute("aria-pressed", "true")
    expect(theme_button(page, "System")).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("window.notReloaded === true")  # switched in place, no page load
    assert background(page) == DARK_BG
    assert page.evaluate("document.querySelector('meta[name=color-scheme]').content") == "dark"
    assert Preference.objects.get(user=admin_a).theme == "dark"

    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background(page) == DARK_BG
    page.goto("/t/team-a/history/")
    assert background(page) == DARK_BG
    shot(page, "theme-dark-history")

    # Another user, in another browser, is not affected: the system's (here light) setting.
    other = new_page(browser, server, color_scheme="light")
    try:
        log_in(other, operator_a)
        assert theme_attr(other) is None
        assert background(other) == LIGHT_BG
        expect(theme_button(other, "System")).to_have_attribute("aria-pressed", "true")
    finally:
        other.context.close()
    assert not Preference.objects.filter(user=operator_a).exists()

    # Back to the system's setting: the attribute goes, the OS decides again.
    theme_button(page, "System").click()
    expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile(".*"))
    assert background(page) == LIGHT_BG
    assert browser_errors == []


def test_the_system_preference_follows_the_os_and_a_choice_overrides_it(
    page, login, operator_a, browser_errors
):
    page.emulate_media(color_scheme="dark")
    page.goto("/accounts/login/")  # anonymous: the OS decides
    assert theme_attr(page) is None
    assert background(page) == DARK_BG

    Preference.objects.create(user=operator_a, theme="system")  # chosen explicitly
    login(page, operator_a)
    assert theme_attr(page) is None
    assert background(page) == DARK_BG
    expect(theme_button(page, "System")).to_have_attribute("aria-pressed", "true")

    theme_button(page, "Light").click()  # a choice wins over the OS
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert background(page) == LIGHT_BG
    page.reload()
    assert background(page) == LIGHT_BG
    assert browser_errors == []


def test_the_theme_control_works_from_the_keyboard_with_visible_focus(page, login, admin_a, browser_errors):
    page.emulate_media(color_scheme="light")
    login(page, admin_a)
    page.locator("body").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate(
            "document.activeElement.name === 'theme' && document.activeElement.value === 'dark'"
        ):
            break
    else:
        raise AssertionError("Tab never reached the Dark button")
    style = "getComputedStyle(document.activeElement)"
    outline = page.evaluate(f"[{style}.outlineStyle, {style}.outlineWidth]")
    assert outline == ["solid", "3px"], outline  # :focus-visible

    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate("document.activeElement.value") == "dark"  # focus stays where it was
    page.keyboard.press("Shift+Tab")  # to Light
    page.keyboard.press("Space")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect(theme_button(page, "Light")).to_be_focused()
    assert Preference.objects.get(user=admin_a).theme == "light"
    assert browser_errors == []


def test_the_theme_control_works_without_javascript(browser, server, admin_a):
    page = new_page(browser, server, java_script_enabled=False)
    try:
        log_in(page, admin_a)
        page.goto("/t/team-a/history/?q=com.acme")
        theme_button(page, "Dark").click()  # a plain form POST, then the redirect back
        expect(page).to_have_url(re.compile(r"/t/team-a/history/\?q=com\.acme$"))
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(theme_button(page, "Dark")).to_have_attribute("aria-pressed", "true")
    finally:
        page.context.close()


# --- a bulk job, watched in the browser ---------------------------------------------------------


def counts(page):
    """The job's counts as {label: number}, read from the progress card."""
    cells = page.locator("#job-progress .counts > div")
    return {
        cells.nth(i).locator("dt").inner_text(): int(cells.nth(i).locator("dd").inner_text())
        for i in range(cells.count())
    }


def test_a_bulk_upload_runs_to_completion_with_the_progress_bar_moving(
    page, login, operator_a, sandbox_config, sandbox_namespace, bulk_worker, shot, browser_errors, tmp_path
):
    good = 48
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["name", "password", "attr.site", "attr.floor"])
    writer.writerows([f"proof-{n:03d}", "", "north", str(n % 5)] for n in range(good))
    writer.writerows([["bad/name", "", "", ""], ["", "", "south", "1"]])
    source = tmp_path / "proof-devices.csv"
    source.write_text(out.getvalue(), encoding="utf-8")
    knobs.configure(latency_ms=250)  # every sandbox request takes a while, so the bar visibly moves

    login(page, operator_a)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Bulk").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bulk jobs")
    page.get_by_role("link", name="Upload a CSV").click()
    page.get_by_label("CSV file").set_input_files(source)
    page.get_by_label("Rows sent at the same time").fill("2")
    page.get_by_role("button", name="Check the file").click()

    # The dry run: nothing is sent yet.
    expect(page.get_by_role("heading", name="Preview: nothing has been sent")).to_be_visible()
    expect(page.locator(".preview-counts")).to_contain_text(f"{good} will be created")
    expect(page.locator(".preview-counts")).to_contain_text("2 invalid")
    assert store.device_ids(sandbox_config.service_instance_id) == []
    shot(page, "proof-bulk-preview")

    page.get_by_role("button", name=f"Send {good} devices").click()
    bar = page.locator("#job-bar")
    expect(bar).to_be_visible()
    assert bar.get_attribute("max") == str(good)

    observed = []  # the bar's value each time it changed, in order
    finished = page.get_by_role("heading", name=re.compile("^Finished"))
    shot_taken = False
    for _ in range(600):  # at most about a minute
        if finished.count():
            break
        try:
            value = int(bar.get_attribute("value", timeout=2_000))
        except Exception:  # swapped out between two looks (the poll), or reloading: look again
            continue
        if not observed or value != observed[-1]:
            observed.append(value)
            if 0 < value < good and not shot_taken:
                shot(page, "proof-bulk-progress", full_page=False)  # the top: facts, bar, counts, latest rows
                shot_taken = True
        page.wait_for_timeout(100)
    expect(finished).to_be_visible(timeout=30_000)

    print(f"progress bar values seen: {observed}")
    moving = [v for v in observed if 0 < v < good]
    assert len(moving) >= 2, f"the bar was seen at {observed}"
    assert observed == sorted(observed), f"the bar went backwards: {observed}"
    assert int(bar.get_attribute("value")) == good  # the finished page: full
    assert counts(page) == {
        "Created": good,
        "Conflict": 0,
        "Failed": 0,
        "Unknown": 0,
        "Remaining": 0,
        "Skipped": 2,
    }
    assert len(store.device_ids(sandbox_config.service_instance_id)) == good
    expect(page.get_by_role("link", name="Download the failed rows (CSV)")).to_be_visible()
    expect(page.get_by_role("link", name="Get the generated passwords (once)")).to_be_visible()
    shot(page, "proof-bulk-finished")

    with page.expect_download() as failed:
        page.get_by_role("link", name="Download the failed rows (CSV)").click()
    assert "bad/name" in failed.value.path().read_text(encoding="utf-8-sig")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Bulk").click()
    row = page.get_by_role("row").filter(has_text="proof-devices.csv")
    expect(row).to_contain_text("Finished")
    expect(row).to_contain_text(f"{good} created")
    assert browser_errors == []


# --- the "/" shortcut -----------------------------------------------------------------------------


def test_slash_focuses_the_search_but_not_while_typing(page, login, admin_a, sandbox_config, browser_errors):
    body = {"id": f"{NAMESPACE}:slash-1", "hub": {"device": {}}, "things": {"thing": {}}}
    services.provision_device(actor=admin_a, team=sandbox_config.team, config=sandbox_config, body=body)
    login(page, admin_a)
    page.goto("/t/team-a/history/")
    search = page.get_by_role("searchbox", name="Device id")
    expect(search).not_to_be_focused()

    page.keyboard.press("/")
    expect(search).to_be_focused()
    expect(search).to_have_value("")  # the "/" itself is not typed

    # In another text field a "/" is just a character: focus stays there.
    who = page.get_by_label("Who")
    who.click()
    page.keyboard.type("ops/night")
    expect(who).to_be_focused()
    expect(who).to_have_value("ops/night")
    expect(search).to_have_value("")

    # In the search box itself, too.
    search.click()
    page.keyboard.type(f"{NAMESPACE}:slash")
    expect(search).to_have_value(f"{NAMESPACE}:slash")
    expect(search).to_be_focused()

    # From a button (not a text field), "/" jumps to the search again and selects its text.
    theme_button(page, "Light").focus()
    page.keyboard.press("/")
    expect(search).to_be_focused()
    assert page.evaluate(
        "document.activeElement.selectionStart === 0 && document.activeElement.selectionEnd > 0"
    )
    assert browser_errors == []


# --- the main pages in both themes ----------------------------------------------------------------

MAIN_PAGES = [
    ("team", "/t/team-a/"),
    ("device-builder", "/t/team-a/devices/new/"),
    ("history", "/t/team-a/history/"),
    ("bulk-jobs", "/t/team-a/bulk/"),
    ("bulk-upload", "/t/team-a/bulk/new/"),
    ("clients", "/t/team-a/connections/"),
    ("namespaces", "/t/team-a/namespaces/"),
    ("members", "/t/team-a/members/"),
]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_of_the_main_pages(
    page, login, admin_a, sandbox_config, sandbox_namespace, theme, shot, browser_errors
):
    body = {
        "id": f"{NAMESPACE}:shot-1",
        "hub": {"device": {}},
        "things": {"thing": {"attributes": {"site": "north"}}},
    }
    outcome = services.provision_device(
        actor=admin_a, team=sandbox_config.team, config=sandbox_config, body=body
    )
    Preference.objects.create(user=admin_a, theme=theme)  # the user's choice, not the OS's
    page.emulate_media(color_scheme="light" if theme == "dark" else "dark")
    login(page, admin_a)
    expected = DARK_BG if theme == "dark" else LIGHT_BG
    for name, path in MAIN_PAGES:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert background(page) == expected, name
        shot(page, f"{theme}-{name}")

    page.goto(f"/t/team-a/connections/{sandbox_config.pk}/")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-test .ok")).to_contain_text("Connected")
    assert background(page) == expected
    shot(page, f"{theme}-client-detail")

    page.goto(f"/t/team-a/history/?correlation={outcome.correlation_id}")
    page.get_by_role("row").filter(has_text="shot-1").get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{NAMESPACE}:shot-1")
    assert background(page) == expected
    shot(page, f"{theme}-history-entry")

    page.goto("/t/team-a/devices/new/")
    page.get_by_label("Device name").fill("shot-2")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Device created")
    shot(page, f"{theme}-device-created", mask=[page.get_by_label("Device secret")])
    assert browser_errors == []
