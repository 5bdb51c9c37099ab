"""Hono + Ditto in a real browser: an admin adds and tests a connection (the form shows the
chosen kind's fields only), an operator previews every request and sends a device, history
lists the attempt once, and the new pages have no accessibility violations. The sandbox on the
same live server plays Hono and Ditto over real HTTP."""

import re

import pytest

from provisioning.models import Connection, Namespace
from provisioning.sandbox import seed
from provisioning.sandbox.models import DittoThing, HonoDevice
from tests.e2e.conftest import expect, format_violations

pytestmark = pytest.mark.e2e

TENANT = "e2e-tenant"
USER = ("e2e-hono-user", "E2e-Basic-Pa55")


def field(page, label):
    return page.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))


@pytest.fixture
def sandbox_hono(server):
    seed.create_hono_tenant(TENANT, data={"enabled": True})
    seed.create_basic_user(*USER)
    return f"{server.url}/sandbox"


def test_an_admin_adds_tests_and_an_operator_sends_through_hono_and_ditto(
    page, login, admin_a, team_a, sandbox_hono, shot, axe, browser_errors
):
    login(page, admin_a)
    page.goto("/t/team-a/connections/new/")
    expect(field(page, "Service instance id")).to_be_visible()
    expect(field(page, "Hono tenant")).to_be_hidden()

    page.get_by_role("radio", name="Eclipse Hono + Ditto").check()
    expect(field(page, "Service instance id")).to_be_hidden()
    expect(page.get_by_role("radio", name="Bosch IoT Suite Auth")).to_be_hidden()
    expect(field(page, "Token URL")).to_be_hidden()  # both endpoints on HTTP Basic
    expect(field(page, "Hono tenant")).to_be_visible()
    page.get_by_role("group", name="Ditto authentication").get_by_role(
        "radio", name="OAuth2 client credentials (the connection's client)"
    ).check()
    expect(field(page, "Token URL")).to_be_visible()
    expect(field(page, "Ditto user name")).to_be_hidden()
    page.get_by_role("group", name="Ditto authentication").get_by_role("radio", name="HTTP Basic").check()
    expect(field(page, "Token URL")).to_be_hidden()
    violations = axe(page)
    shot(page, "hono-ditto-config-form")

    field(page, "Name").fill("Cloud2Edge (e2e)")
    field(page, "Hono registry base URL").fill(sandbox_hono)
    field(page, "Hono tenant").fill(TENANT)
    field(page, "Hono user name").fill(USER[0])
    field(page, "Hono password").fill(USER[1])
    field(page, "Ditto base URL").fill(sandbox_hono)
    field(page, "Ditto user name").fill(USER[0])
    field(page, "Ditto password").fill(USER[1])
    field(page, "Own subject").fill(f"nginx:{USER[0]}")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cloud2Edge (e2e)")
    assert USER[1] not in page.content()

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-test")).to_contain_text("Connected.")
    expect(page.locator("#connection-test")).to_contain_text("Eclipse Hono:")
    expect(page.locator("#connection-test")).to_contain_text("Eclipse Ditto:")
    violations += axe(page)
    shot(page, "hono-ditto-connection-tested")

    config = Connection.objects.get(name="Cloud2Edge (e2e)")
    Namespace.objects.create(team=team_a, name="org.acme", client=config)
    page.goto("/t/team-a/devices/new/")
    page.get_by_label("Connection").select_option(label="Cloud2Edge (e2e)")
    page.get_by_label("Device name").fill("e2e-sensor-1")
    preview = page.locator("#device-preview")
    expect(preview.locator(".plan-steps > li")).to_have_count(4)
    expect(preview).to_contain_text(f"/v1/devices/{TENANT}/org.acme:e2e-sensor-1")
    expect(preview).to_contain_text("If-None-Match: *")
    violations += axe(page)
    shot(page, "hono-ditto-device-preview")

    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Device created")
    expect(page.locator("main")).to_contain_text(
        "At the provider, in order: device, credentials, policy, thing."
    )
    assert len(page.get_by_label("Device secret").input_value()) >= 16
    assert HonoDevice.objects.filter(device_id="org.acme:e2e-sensor-1").exists()
    assert DittoThing.objects.filter(thing_id="org.acme:e2e-sensor-1").exists()

    page.get_by_role("link", name="Open history").click()
    rows = page.get_by_role("row").filter(has_text="org.acme:e2e-sensor-1")
    expect(rows).to_have_count(1)
    rows.get_by_role("link").first.click()
    # Each call a line of its own (before it, and its answer) that opens to its details.
    calls = page.locator("details.step > summary")
    expect(calls.filter(has_text=re.compile("^Provision: thing"))).to_have_count(2)
    calls.filter(has_text=re.compile("^Provision: thing")).last.click()
    expect(page.get_by_text("HTTP status").last).to_be_visible()
    violations += axe(page)
    shot(page, "hono-ditto-history-entry")

    assert not violations, f"axe found violations:\n{format_violations(violations)}"
    assert browser_errors == []


def test_an_admin_gives_ditto_an_oauth2_client_of_its_own(page, login, admin_a, sandbox_hono, shot, axe):
    """Hono on one identity provider's client, Ditto on another's: the form asks for Ditto's
    client only then, and Test connection passes each endpoint with its own token."""
    hono_client = seed.create_tenant(sandbox_hono, namespaces=["org.acme"])
    ditto_client = seed.create_tenant(sandbox_hono, namespaces=["org.acme"], style="nexeed", tenant="e2e")
    login(page, admin_a)
    page.goto("/t/team-a/connections/new/")
    page.get_by_role("radio", name="Eclipse Ditto").check()
    own = page.get_by_role("radio", name="OAuth2 client credentials, a client of its own")
    expect(own).to_be_hidden()  # a Ditto connection has one client
    page.get_by_role("radio", name="Eclipse Hono + Ditto").check()
    page.get_by_role("group", name="Hono authentication").get_by_role(
        "radio", name="OAuth2 client credentials"
    ).check()
    expect(field(page, "Ditto token URL")).to_be_hidden()
    own.check()
    expect(field(page, "Ditto token URL")).to_be_visible()
    expect(field(page, "Ditto user name")).to_be_hidden()

    field(page, "Name").fill("Two clients (e2e)")
    field(page, "Hono registry base URL").fill(sandbox_hono)
    field(page, "Hono tenant").fill(TENANT)
    field(page, "Ditto base URL").fill(sandbox_hono)
    field(page, "Ditto token URL").fill(ditto_client["token_url"])
    field(page, "Ditto client id").fill(ditto_client["client_id"])
    field(page, "Ditto client secret").fill(ditto_client["client_secret"])
    field(page, "Ditto scope").fill(ditto_client["scope"])
    field(page, "Token URL").fill(hono_client["token_url"])
    field(page, "Client id").fill(hono_client["client_id"])
    field(page, "Client secret").fill(hono_client["client_secret"])
    violations = axe(page)
    shot(page, "hono-ditto-two-clients-form")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Two clients (e2e)")
    assert ditto_client["client_secret"] not in page.content()
    assert hono_client["client_secret"] not in page.content()

    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#connection-test")
    expect(result).to_contain_text("Connected.")
    expect(result.locator("li")).to_have_count(2)
    violations += axe(page)
    shot(page, "hono-ditto-two-clients-tested")
    assert not violations, f"axe found violations:\n{format_violations(violations)}"
