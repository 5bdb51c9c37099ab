"""The device builder from the keyboard and under a slow or busy provider (issue 12): Enter
never removes a row or sends, focus follows "Add"/"Remove", the curl panel stays open, Send
says it is working and cannot be pressed twice, waits for Retry-After are on the page, and a
typed password is never silently swapped for a generated one.

The provider is the built-in sandbox on the same live server, over real HTTP.
"""

import pytest

from provisioning.models import Namespace
from provisioning.sandbox import knobs, seed, store
from tests.e2e.conftest import expect

pytestmark = pytest.mark.e2e

NAMESPACE = "com.acme.sensors"


@pytest.fixture
def sandbox_config(server, team_a):
    knobs.reset()
    tenant = seed.create_tenant(f"{server.url}/sandbox", namespaces=[NAMESPACE])
    config = seed.dashboard_config(team_a, tenant, name="Sandbox A")
    Namespace.objects.create(team=team_a, name=NAMESPACE, client=config)
    yield config
    knobs.reset()
    knobs.clear_faults()


def test_enter_updates_the_preview_and_never_removes_a_row_or_sends(page, login, operator_a, sandbox_config):
    login(page, operator_a)
    page.goto("/t/team-a/devices/new/")
    expect(page.get_by_role("button", name="Update preview")).to_have_count(1)  # the default one is hidden
    page.get_by_label("Attribute 1 key").fill("site")
    page.get_by_label("Attribute 1 value").fill("north")
    page.get_by_label("Device name").fill("e2e-enter")
    page.get_by_label("Device name").press("Enter")
    page.get_by_label("Attribute 1 value").press("Enter")

    expect(page.locator("#device-preview")).to_contain_text('"id": "com.acme.sensors:e2e-enter"')
    expect(page.locator("#device-preview")).to_contain_text('"site": "north"')
    expect(page.get_by_label("Attribute 1 key")).to_have_value("site")
    assert page.url.endswith("/t/team-a/devices/new/")
    assert store.device_ids(sandbox_config.service_instance_id) == []


def test_focus_follows_add_and_remove_and_the_curl_panel_stays_open(page, login, operator_a, sandbox_config):
    login(page, operator_a)
    page.goto("/t/team-a/devices/new/")
    page.get_by_label("Device name").fill("e2e-focus")
    page.get_by_role("button", name="Add an attribute").click()
    expect(page.get_by_label("Attribute 2 key")).to_be_focused()
    page.keyboard.type("floor")
    page.get_by_role("button", name="Add an attribute").click()
    expect(page.get_by_label("Attribute 3 key")).to_be_focused()

    page.get_by_role("button", name="Remove attribute 2").click()  # "floor": row 3 moves up
    expect(page.get_by_label("Attribute 2 key")).to_be_focused()
    expect(page.get_by_label("Attribute 3 key")).to_have_count(0)
    page.get_by_role("button", name="Remove attribute 2").click()  # the last row
    expect(page.get_by_role("button", name="Add an attribute")).to_be_focused()

    page.get_by_text("As curl").click()
    page.get_by_label("Device name").fill("e2e-focus-2")
    expect(page.locator("#device-preview")).to_contain_text("e2e-focus-2")
    expect(page.locator("#device-preview details")).to_have_attribute("open", "")
    expect(page.locator("#device-preview [data-copy-source=curl]")).to_contain_text('Bearer $TOKEN"')


def test_send_says_sending_and_takes_no_second_click(page, login, operator_a, sandbox_config):
    login(page, operator_a)
    page.goto("/t/team-a/devices/new/")
    page.get_by_label("Device name").fill("e2e-slow")
    # Hold the page as it is while a Send is in flight: submissions are counted and not let go
    # (a listener on window runs after the page's own, as the browser's navigation would).
    page.evaluate(
        "window.submits = 0;"
        "window.addEventListener('submit', (e) => { window.submits += 1; e.preventDefault(); })"
    )
    send = page.get_by_role("button", name="Send")
    send.click()
    busy = page.get_by_role("button", name="Sending…")
    expect(busy).to_be_disabled()
    expect(busy).to_have_attribute("aria-busy", "true")
    busy.click(force=True)  # a second click does nothing
    assert page.evaluate("window.submits") == 1
    assert store.device_ids(sandbox_config.service_instance_id) == []


def test_a_wait_for_retry_after_is_shown_while_sending_and_after(page, login, operator_a, sandbox_config):
    login(page, operator_a)
    page.goto("/t/team-a/devices/new/")
    page.get_by_label("Device name").fill("e2e-busy")
    said = []

    def note(route):  # the page's polls pass through here on their way to the server
        response = route.fetch()
        said.append(response.text())
        route.fulfill(response=response)

    page.route("**/devices/new/progress/**", note)
    knobs.inject_fault("429", retry_after=3)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Device created", timeout=15_000)
    # What the page polled while it waited, and put in its status line.
    assert "The provider answered 429 and asked to wait 3 s; sending again then, attempt 2 of 4." in said
    expect(page.get_by_role("status").filter(has_text="sent again 1 time")).to_be_visible()
    assert store.device_ids(sandbox_config.service_instance_id) == ["com.acme.sensors:e2e-busy"]


def test_a_typed_password_is_asked_for_again_never_replaced(page, login, operator_a, sandbox_config):
    login(page, operator_a)
    page.goto("/t/team-a/devices/new/")
    page.get_by_label("Device name").fill("e2e-typed")
    page.get_by_label("Password").fill("Typed-Pa55-word-0001")
    page.get_by_label("Definition").fill("not a definition")
    page.get_by_role("button", name="Send").click()  # refused by the form: the page comes back whole
    expect(page.get_by_label("Password")).to_have_value("")
    page.get_by_label("Definition").fill("")
    page.get_by_role("button", name="Send").click()

    expect(page.locator("#id_password_error")).to_contain_text("Type the password again")
    assert store.device_ids(sandbox_config.service_instance_id) == []

    page.get_by_label("Generate one instead").check()
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Device created")
    expect(page.locator("main")).to_contain_text("was generated for the device")
