"""The Devices page in a real browser: an auditor finds a device by the part of its name they
remember (the list follows as they type), reads its state, removes the search's chip, and
opens the device's history, in the OS's light and dark mode, with no accessibility violations.
The devices are provisioned against the sandbox on the same live server, over real HTTP."""

import re

import pytest

from provisioning import services
from provisioning.models import Namespace
from provisioning.sandbox import seed
from tests.e2e.conftest import expect, format_violations

pytestmark = pytest.mark.e2e

NAMESPACE = "com.acme.sensors"


@pytest.fixture
def devices(server, team_a, admin_a):
    tenant = seed.create_tenant(f"{server.url}/sandbox", namespaces=[NAMESPACE])
    config = seed.dashboard_config(team_a, tenant, name="Sandbox A")
    Namespace.objects.create(team=team_a, name=NAMESPACE, client=config)
    for name in ("boiler-7", "boiler-17", "pump-3"):
        body = {"id": f"{NAMESPACE}:{name}", "hub": {"device": {}}, "things": {"thing": {}}}
        outcome = services.provision_device(actor=admin_a, team=team_a, config=config, body=body)
        assert outcome.status == "created", outcome
    services.deprovision_device(actor=admin_a, team=team_a, config=config, device_id=f"{NAMESPACE}:pump-3")
    return config


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_an_auditor_finds_a_device_and_opens_its_history(
    page, login, auditor_a, devices, scheme, shot, axe, browser_errors
):
    page.emulate_media(color_scheme=scheme)
    login(page, auditor_a)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Devices").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Devices")
    expect(page.get_by_role("status")).to_have_text("3 devices, last changed first.")
    pump = page.get_by_role("row").filter(has_text=f"{NAMESPACE}:pump-3")
    expect(pump).to_contain_text("De-provisioned")
    violations = axe(page)

    page.keyboard.press("/")  # the search field, as on the history page
    page.keyboard.type("BOILER-1")
    expect(page).to_have_url(re.compile(r"/t/team-a/devices/\?q=BOILER-1$"))
    rows = page.locator("#device-results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{NAMESPACE}:boiler-17")
    expect(rows.first).to_contain_text("Created")
    expect(page.get_by_role("status")).to_have_text("1 device matches these filters, last changed first.")
    violations += axe(page)
    shot(page, "devices" if scheme == "light" else "dark-devices")

    page.get_by_role("link", name="Remove the filter Device id: BOILER-1").click()
    expect(rows).to_have_count(3)
    page.get_by_role("link", name=f"History of {NAMESPACE}:boiler-7").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("History")
    entries = page.locator("table.history tbody tr")
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text(f"{NAMESPACE}:boiler-7")
    violations += axe(page)
    assert not violations, f"axe found violations:\n{format_violations(violations)}"
    assert browser_errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_an_operator_de_provisions_a_filtered_set_as_one_job(
    page, login, operator_a, devices, bulk_worker, scheme, shot, axe, browser_errors
):
    """Filter the Devices page, choose the devices (all that match, or ticked one by one),
    read the confirmation (count, connection, what is left out), watch the job finish, and
    find the devices de-provisioned."""
    page.emulate_media(color_scheme=scheme)
    login(page, operator_a)
    page.goto("/t/team-a/devices/")
    page.get_by_role("searchbox").fill("boiler")
    rows = page.locator("#device-results tbody tr")
    expect(rows).to_have_count(2)
    violations = axe(page)
    if scheme == "light":
        page.get_by_label("All 2 devices that match these filters").check()
    else:
        page.get_by_label(f"Tick {NAMESPACE}:boiler-7").check()
        page.get_by_label(f"Tick {NAMESPACE}:boiler-17").check()
    page.get_by_role("button", name="De-provision…").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("De-provision 2 devices through “Sandbox A”?")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("Sandbox A")
    expect(facts).to_contain_text(
        "All devices that match Device id “boiler” (2 devices)" if scheme == "light" else "2 rows ticked"
    )
    expect(page.get_by_label("Keep the credentials (keepCredentials)")).not_to_be_checked()
    violations += axe(page)
    if scheme == "light":
        shot(page, "bulk-deprovision-confirm")
    page.get_by_role("button", name="De-provision 2 devices").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("De-provision")
    expect(page.get_by_role("heading", level=2, name=re.compile("^Finished"))).to_be_visible(timeout=30_000)
    counts = page.locator("dl.counts")
    expect(counts).to_contain_text("De-provisioned")
    expect(counts.locator("div").filter(has_text="De-provisioned").locator("dd")).to_have_text("2")
    violations += axe(page)
    if scheme == "light":
        shot(page, "bulk-deprovision-done")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Devices").click()
    for name in ("boiler-7", "boiler-17", "pump-3"):
        expect(page.get_by_role("row").filter(has_text=f"{NAMESPACE}:{name}")).to_contain_text(
            "De-provisioned"
        )
    assert not violations, f"axe found violations:\n{format_violations(violations)}"
    assert browser_errors == []
