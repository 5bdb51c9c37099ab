"""The operator's day in a real browser: build a device, send it, see it in history, and back out.

The provider is the built-in sandbox on the same live server, over real HTTP.
"""

import csv
import io
import re

import pytest

from provisioning import services
from provisioning.bulk.models import BulkJob, JobStatus
from provisioning.models import Namespace
from provisioning.sandbox import knobs, seed, store
from tests.e2e.conftest import ERROR_STATUS, expect, format_violations

pytestmark = pytest.mark.e2e

NAMESPACE = "com.acme.sensors"


@pytest.fixture
def sandbox_config(server, team_a):
    tenant = seed.create_tenant(f"{server.url}/sandbox", namespaces=[NAMESPACE])
    config = seed.dashboard_config(team_a, tenant, name="Sandbox A")
    Namespace.objects.create(team=team_a, name=NAMESPACE, client=config)
    config.tenant = tenant
    return config


def preview(page):
    return page.locator("#device-preview")


def test_an_operator_builds_sends_and_finds_a_device(
    page, login, operator_a, sandbox_config, shot, browser_errors
):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    login(page, operator_a)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Provision").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Provision a device")

    page.get_by_label("Device name").fill("e2e-boiler-1")
    expect(preview(page)).to_contain_text('"id": "com.acme.sensors:e2e-boiler-1"')
    expect(preview(page)).to_contain_text("[generated on send]")

    page.get_by_label("Attribute 1 key").fill("site")
    page.get_by_label("Attribute 1 value").fill("north")
    expect(preview(page)).to_contain_text('"site": "north"')
    page.get_by_role("button", name="Add an attribute").click()
    # htmx focuses the new row once it has settled: wait for it, or a slow settle would move
    # the focus back there while the value is typed.
    expect(page.get_by_label("Attribute 2 key")).to_be_focused()
    page.get_by_label("Attribute 2 key").fill("floor")
    page.get_by_label("Attribute 2 value").fill("3")
    expect(preview(page)).to_contain_text('"floor": 3')
    shot(page, "device-builder")

    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Device created")
    secret_box = page.get_by_label("Device secret")
    password = secret_box.input_value()
    assert 8 <= len(password) <= 72
    page.get_by_role("button", name="Copy").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == password
    shot(page, "device-created", mask=[secret_box])

    sid = sandbox_config.service_instance_id
    assert store.device_secret_matches(sid, "com.acme.sensors_e2e-boiler-1", password)
    assert store.get_device(sid, "com.acme.sensors:e2e-boiler-1")["thing"]["attributes"] == {
        "site": "north",
        "floor": 3,
    }

    page.get_by_role("link", name="Open history").click()
    row = page.get_by_role("row").filter(has_text="com.acme.sensors:e2e-boiler-1")
    expect(row).to_contain_text("created")
    assert password not in page.content()
    row.get_by_role("link").click()
    expect(page.locator("main")).to_contain_text("[redacted]")
    assert password not in page.content()
    assert browser_errors == []


def test_the_same_id_twice_is_a_conflict_with_a_link_to_history(page, login, admin_a, sandbox_config, shot):
    login(page, admin_a)
    for attempt in range(2):
        page.goto("/t/team-a/devices/new/")
        page.get_by_label("Device name").fill("e2e-twice")
        page.get_by_role("button", name="Send").click()
        if attempt == 0:
            expect(page.get_by_role("heading", level=1)).to_have_text("Device created")

    alert = page.get_by_role("alert").first
    expect(alert).to_contain_text("Already provisioned")
    expect(alert).to_contain_text("409")
    shot(page, "device-conflict")
    alert.get_by_role("link", name="Open its history entry").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("com.acme.sensors:e2e-twice")


def test_a_refresh_of_the_result_does_not_send_again(page, login, admin_a, sandbox_config):
    login(page, admin_a)
    page.goto("/t/team-a/devices/new/")
    page.get_by_label("Device name").fill("e2e-once")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Device created")

    password = page.get_by_label("Device secret").input_value()

    page.once("dialog", lambda dialog: dialog.accept())
    page.reload()  # the browser re-posts the form: nothing is sent, the first result is shown
    expect(page.get_by_role("status").filter(has_text="had been sent already")).to_be_visible()
    assert page.get_by_label("Device secret").input_value() == password

    page.once("dialog", lambda dialog: dialog.accept())
    page.reload()  # and once only
    expect(page.get_by_role("alert").first).to_contain_text("This form was already sent")
    assert password not in page.content()
    sid = sandbox_config.service_instance_id
    assert store.device_ids(sid) == ["com.acme.sensors:e2e-once"]


def test_the_device_builder_works_from_the_keyboard_alone(page, login, operator_a, sandbox_config):
    login(page, operator_a)
    page.goto("/t/team-a/devices/new/")
    page.locator("body").focus()

    def tab_to(predicate, limit=80):
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(predicate):
                return
        raise AssertionError(f"Tab never reached: {predicate}")

    tab_to("document.activeElement.id === 'id_name'")
    page.keyboard.type("e2e-keyboard")
    tab_to("document.activeElement.id === 'attr-key-0'")
    page.keyboard.type("mode")
    page.keyboard.press("Tab")
    page.keyboard.type("keys-only")
    tab_to("document.activeElement.tagName === 'BUTTON' && document.activeElement.value === 'send'")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Device created")
    device = store.get_device(sandbox_config.service_instance_id, "com.acme.sensors:e2e-keyboard")
    assert device["thing"]["attributes"] == {"mode": "keys-only"}


def test_an_auditor_filters_and_exports_history(page, login, admin_a, auditor_a, sandbox_config, shot):
    for name in ("alpha-1", "alpha-2", "beta-1"):
        body = {"id": f"{NAMESPACE}:{name}", "hub": {"device": {}}, "things": {"thing": {}}}
        services.provision_device(actor=admin_a, team=sandbox_config.team, config=sandbox_config, body=body)

    login(page, auditor_a)
    page.goto("/t/team-a/history/")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Provision", exact=True)).to_have_count(0)
    page.keyboard.press("/")
    search = page.get_by_role("searchbox")
    expect(search).to_be_focused()
    page.keyboard.type(f"{NAMESPACE}:alpha")
    expect(page.locator("#history-results tbody tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"q=com.acme.sensors%3Aalpha"))
    shot(page, "history")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert sorted(row["target"] for row in rows) == [f"{NAMESPACE}:alpha-1", f"{NAMESPACE}:alpha-2"]

    page.go_back()
    expect(page.get_by_role("searchbox")).to_have_value(f"{NAMESPACE}:alpha")


def test_an_admin_deprovisions_from_a_history_entry(page, login, admin_a, sandbox_config, shot):
    body = {"id": f"{NAMESPACE}:to-remove", "hub": {"device": {}}, "things": {"thing": {}}}
    services.provision_device(actor=admin_a, team=sandbox_config.team, config=sandbox_config, body=body)

    login(page, admin_a)
    page.goto("/t/team-a/history/")
    page.get_by_role("row").filter(has_text="to-remove").get_by_role("link").click()
    page.get_by_role("link", name="De-provision…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{NAMESPACE}:to-remove")
    page.get_by_label("Keep the policy (keepPolicy)").check()
    shot(page, "deprovision-confirm")
    page.get_by_role("button", name=re.compile("^De-provision")).click()

    expect(page.get_by_role("status")).to_contain_text("De-provisioned")
    left = store.get_device(sandbox_config.service_instance_id, f"{NAMESPACE}:to-remove")
    assert left["device"] is None and left["thing"] is None and left["credentials"] == []
    assert left["policy"]["policyId"] == f"{NAMESPACE}:to-remove"  # kept, as asked


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_operator_pages_have_no_accessibility_violations(
    page, login, admin_a, sandbox_config, bulk_worker, axe, shot, scheme, browser_errors, tmp_path
):
    """The device builder, history, de-provisioning, the connection test, the sandbox page and every
    bulk page (upload, preview, a running and a finished job, the job list, the credentials), in the
    OS's light or dark mode. test_foundation_flows.py checks the other pages."""
    body = {"id": f"{NAMESPACE}:axe-1", "hub": {"device": {}}, "things": {"thing": {}}}
    outcome = services.provision_device(
        actor=admin_a, team=sandbox_config.team, config=sandbox_config, body=body
    )
    admin_a.is_staff = True  # the sandbox page with its forms
    admin_a.save(update_fields=["is_staff"])
    page.emulate_media(color_scheme=scheme)
    login(page, admin_a)
    checked = []

    def check(label):
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        shot(page, f"o-{scheme}-{label}".replace(" ", "-").replace(",", ""))
        violations = axe(page)
        assert violations == [], f"{label} ({scheme}):\n{format_violations(violations)}"
        checked.append(label)

    page.goto("/t/team-a/devices/new/")
    check("device builder")
    page.get_by_label("Device name").fill("axe/bad")
    expect(preview(page)).to_contain_text("Fix these")
    check("device builder with errors")
    page.get_by_label("Device name").fill("axe-2")
    expect(preview(page)).to_contain_text('"id"')
    check("device builder with preview")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Device created")
    check("device created")
    page.goto("/t/team-a/devices/new/")
    page.get_by_label("Device name").fill("axe-1")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert").first).to_contain_text("Already provisioned")
    check("device builder, conflict")
    page.goto("/t/team-a/history/")
    check("history")
    entry = page.get_by_role("row").filter(has_text="axe-1").filter(has_text="created").get_by_role("link")
    entry.click()
    check("history entry")
    page.get_by_role("link", name="De-provision…").click()
    check("de-provision confirm")
    page.goto(f"/t/team-a/history/?correlation={outcome.correlation_id}")
    check("history of one attempt")
    page.goto("/t/team-a/history/?status=unknown")
    check("history, empty result")

    # The connection test's two answers on the client page, and the sandbox's own page.
    page.goto(f"/t/team-a/connections/{sandbox_config.pk}/")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-test .ok")).to_contain_text("Connected")
    check("client, connection tested")
    knobs.inject_fault(500, target="token")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-test [role=alert]")).to_contain_text("failed")
    check("client, connection test failed")
    page.goto("/sandbox/")
    check("sandbox")

    # Bulk: the empty list, the upload (refused, then accepted), the preview, a running job, the end.
    page.goto("/t/team-a/bulk/")
    check("bulk jobs, none yet")
    page.get_by_role("link", name="Upload a CSV").click()
    check("bulk upload")
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator(".field .error").first).to_be_visible()
    check("bulk upload with errors")
    rows = [[f"axe-bulk-{n:02d}", ""] for n in range(16)] + [["bad/name", ""], ["axe-bulk-00", ""]]
    source = tmp_path / "axe.csv"
    source.write_text("name,password\n" + "".join(f"{a},{b}\n" for a, b in rows), encoding="utf-8")
    page.get_by_label("CSV file").set_input_files(source)
    page.get_by_label("Rows sent at the same time").fill("1")
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", name="Preview: nothing has been sent")).to_be_visible()
    check("bulk preview")
    page.get_by_role("link", name="see why, by line").click()
    expect(page.locator("#job-rows")).to_contain_text("bad/name")
    check("bulk preview, invalid rows")
    knobs.configure(latency_ms=400)  # long enough to look at the running job
    page.get_by_role("button", name="Send 16 devices").click()
    expect(page.get_by_role("heading", name="Sending")).to_be_visible(timeout=15_000)
    check("bulk progress")
    knobs.configure(latency_ms=0)
    expect(page.get_by_role("heading", name=re.compile("^Finished"))).to_be_visible(timeout=30_000)
    check("bulk finished")
    job_url = page.url
    page.goto("/t/team-a/bulk/")
    check("bulk jobs")
    page.goto(job_url)
    page.get_by_role("link", name="Get the generated passwords (once)").click()
    check("bulk credentials")
    with page.expect_download():
        page.get_by_role("button", name="Download the credentials file").click()
    page.reload()
    expect(page.get_by_role("heading", name="Not available")).to_be_visible()
    check("bulk credentials, taken")

    # A second job, cancelled while it sends; then shown paused, as a deleted client
    # configuration or a refused credential leaves a job (the worker does not take it up).
    source.write_text(
        "name,password\n" + "".join(f"axe-cancel-{n:02d},\n" for n in range(8)), encoding="utf-8"
    )
    page.goto("/t/team-a/bulk/new/")
    page.get_by_label("CSV file").set_input_files(source)
    page.get_by_label("Rows sent at the same time").fill("1")
    page.get_by_role("button", name="Check the file").click()
    knobs.configure(latency_ms=1000)
    page.get_by_role("button", name="Send 8 devices").click()
    expect(page.get_by_role("heading", name="Sending")).to_be_visible(timeout=15_000)
    page.get_by_role("link", name="Cancel the job…").click()  # asks first (test_account_flows.py)
    page.get_by_role("button", name="Cancel the job").click()
    expect(page.get_by_role("heading", name="Cancelled")).to_be_visible(timeout=30_000)
    knobs.configure(latency_ms=0)
    check("bulk cancelled")
    BulkJob.objects.filter(pk=int(page.url.rstrip("/").rsplit("/", 1)[1])).update(
        status=JobStatus.PAUSED, paused_reason="The provider refused the client's credentials (401)."
    )
    page.reload()
    expect(page.get_by_role("heading", name="Paused")).to_be_visible()
    check("bulk paused")

    print(f"axe checked {len(checked)} pages ({scheme}): {'; '.join(checked)}")
    assert len(checked) == 25
    assert [e for e in browser_errors if not ERROR_STATUS.match(e)] == []
