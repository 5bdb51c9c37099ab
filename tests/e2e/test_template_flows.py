"""Device templates in a real browser: an admin makes a template (its errors shown at their
fields), edits it into version 2, reads both versions; an operator starts the builder from it
(fixed fields read-only, what was typed kept), sends a device to the sandbox over real HTTP, and
finds the template on the history entry and the device's row; the template is retired. Every
page is checked by axe, in the OS's light and dark mode."""

import re

import pytest

from provisioning.models import Device, DeviceTemplate, Namespace
from provisioning.sandbox import seed, store
from tests.e2e.conftest import expect, format_violations

pytestmark = pytest.mark.e2e

NAMESPACE = "com.acme.sensors"
DEFINITION = "com.acme:boiler:2.0.0"
README_SHOTS = {"detail": "template-detail", "builder": "template-builder"}


def field(page, label):
    return page.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))


@pytest.fixture
def sandbox(server, team_a):
    tenant = seed.create_tenant(f"{server.url}/sandbox", namespaces=[NAMESPACE])
    config = seed.dashboard_config(team_a, tenant, name="Sandbox A")
    Namespace.objects.create(team=team_a, name=NAMESPACE, client=config)
    return tenant


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_template_is_made_versioned_provisioned_from_and_found_again(
    page, login, admin_a, operator_a, sandbox, scheme, shot, axe, browser_errors
):
    page.emulate_media(color_scheme=scheme)
    found = {}

    def check(name):
        expect(page.get_by_role("heading", level=1).first).to_be_visible()
        shot(page, f"templates-{scheme}-{name}")
        if scheme == "light" and name in README_SHOTS:  # docs/screenshots/, with SCREENSHOTS_DIR
            shot(page, README_SHOTS[name])
        found[name] = axe(page)

    # An admin makes one: first refused with the builder's own message at the field.
    login(page, admin_a)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Templates")
    check("list-empty")
    page.get_by_role("link", name="Add a template").click()
    field(page, "Name").fill("Boiler")
    field(page, "Description").fill("Gas boilers of the B7 series")
    field(page, "Definition").fill("com.acme:boiler:1.0.0")
    page.get_by_label("Fixed: Definition").check()
    field(page, "Features").fill('{"temperature": {"properties": {"value": 21.5}')
    page.locator("#attr-key-0").fill("manufacturer")
    page.locator("#attr-value-0").fill("ACME")
    page.get_by_label("Fixed: attribute 1").check()
    page.get_by_role("button", name="Save the template").click()
    expect(page.locator(".field.has-error .error")).to_contain_text("This is not valid JSON")
    check("form-errors")
    field(page, "Features").fill('{"temperature": {"properties": {"value": 21.5}}}')
    page.get_by_role("button", name="Add an attribute").click()  # htmx: the rows only
    expect(page.locator("#attr-key-1")).to_be_focused()
    page.locator("#attr-key-1").fill("floor")
    page.locator("#attr-value-1").fill("3")
    expect(page.get_by_label("Fixed: attribute 1")).to_be_checked()  # kept through the row edit
    page.get_by_role("button", name="Save the template").click()
    expect(page.get_by_role("status")).to_contain_text("saved as version 1")
    check("detail")

    # Edited: version 2; version 1 stays as it was.
    page.get_by_role("link", name="Edit (makes version 2)").click()
    field(page, "Definition").fill(DEFINITION)
    check("edit")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Saved as version 2 (Definition)")
    page.get_by_role("link", name="its versions (2)").click()
    expect(page.get_by_role("row", name=re.compile("version 2"))).to_contain_text("Definition")
    check("versions")
    page.get_by_role("link", name="version 1", exact=True).click()
    expect(page.locator(".template-values").first).to_contain_text("com.acme:boiler:1.0.0")
    check("version-1")

    # An operator types a name, then starts from the template: the name stays, fixed fields lock.
    page.get_by_role("button", name="Log out").click()
    login(page, operator_a)
    page.goto("/t/team-a/devices/new/")
    field(page, "Device name").fill("boiler-0042")
    page.get_by_label("Template", exact=True).select_option(label="Boiler (Bosch IoT Suite)")
    page.get_by_role("button", name="Use this template").click()
    expect(page.get_by_text("Started from")).to_contain_text("Boiler, version 2")
    expect(field(page, "Device name")).to_have_value("boiler-0042")
    expect(field(page, "Definition")).to_be_disabled()
    expect(field(page, "Definition")).to_have_value(DEFINITION)
    # The rows by their key: PostgreSQL's jsonb keeps an object's keys in an order of its own.
    manufacturer = page.locator(".attr-row", has=page.locator('input[name=attr_key][value="manufacturer"]'))
    floor = page.locator(".attr-row", has=page.locator('input[name=attr_key][value="floor"]'))
    expect(manufacturer.locator("input[name=attr_value]")).to_have_attribute("readonly", "")
    expect(floor.locator("input[name=attr_value]")).not_to_have_attribute("readonly", "")
    preview = page.locator("#device-preview")
    expect(preview).to_contain_text(f'"definition": "{DEFINITION}"')  # the preview follows at once
    expect(preview).to_contain_text('"floor": 3')
    floor.locator("input[name=attr_value]").fill("5")  # not fixed: this device's own
    expect(preview).to_contain_text('"floor": 5')
    check("builder")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("created")
    device = store.get_device(sandbox["service_instance_id"], f"{NAMESPACE}:boiler-0042")
    assert device["thing"]["definition"] == DEFINITION
    assert device["thing"]["attributes"] == {"manufacturer": "ACME", "floor": 5}

    # History and the Devices page name the version it was made from.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    row = page.locator("table.history tbody tr").filter(has_text=f"{NAMESPACE}:boiler-0042")
    expect(row).to_contain_text("template Boiler, version 2")
    row.get_by_role("link").first.click()
    expect(page.get_by_role("link", name="Boiler, version 2").first).to_be_visible()  # intent and outcome
    check("history-entry")
    page.get_by_role("link", name="This device in the inventory").click()
    expect(page.locator("#device-results tbody tr")).to_contain_text("from Boiler, version 2")
    check("devices")
    template = DeviceTemplate.objects.get()
    page.goto(f"/t/team-a/devices/?template={template.pk}&template_version=2")
    expect(page.locator("#device-results tbody tr")).to_have_count(1)
    assert Device.objects.get().template_version == 2
    page.goto(f"/t/team-a/bulk/new/?template={template.pk}")
    check("upload")

    # Used, so it cannot be deleted: the admin retires it.
    page.get_by_role("button", name="Log out").click()
    login(page, admin_a)
    page.goto(f"/t/team-a/templates/{template.pk}/delete/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("cannot be deleted")
    check("delete-refused")
    page.get_by_role("link", name="Retire it…").click()
    check("retire")
    page.get_by_role("button", name="Retire Boiler").click()
    expect(page.get_by_role("status")).to_contain_text("retired")
    page.goto("/t/team-a/templates/")
    check("list-retired")

    print(f"axe checked {len(found)} pages ({scheme}): {'; '.join(found)}")
    report = "\n".join(f"{name}:\n{format_violations(v)}" for name, v in found.items() if v)
    assert not report, f"axe found violations ({scheme} mode):\n{report}"
    assert [e for e in browser_errors if "status of 400" not in e] == []  # the refused save answers 400
