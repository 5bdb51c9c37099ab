"""The bulk pages in a real browser (Playwright, Debian's Chromium), with axe-core, and without JavaScript.

A thread runs the worker's tasks in this process (the crash tests run the real worker):
it validates uploads and runs queued jobs; the provider is the sandbox on the same live server.
"""

import threading
import time

import pytest

from provisioning.bulk import executor, tasks
from provisioning.bulk.models import BulkJob, JobStatus
from provisioning.models import Namespace
from provisioning.sandbox import knobs, seed, store
from tests.e2e.conftest import (  # noqa: F401 - fixtures
    ERROR_STATUS,
    _axe_source,
    axe,
    browser_errors,
    expect,
    format_violations,
    launched_chromium,
    login,
    page,
    server,
    shot,
)

from .conftest import NS, csv_bytes, device_rows

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser():
    """Chromium for this module only. tests/e2e has its own (session-wide) browser, and two
    Playwright instances cannot run at once: this one stops before those tests start."""
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture
def sandbox_config(server, team_a):  # noqa: F811
    tenant = seed.create_tenant(f"{server.url}/sandbox", namespaces=[NS])
    config = seed.dashboard_config(team_a, tenant, name="Sandbox A")
    Namespace.objects.create(team=team_a, name=NS, client=config)
    config.tenant = tenant
    return config


@pytest.fixture
def worker_thread():
    """Validates every upload and runs every queued bulk job, in this process, until the test ends."""
    stop = threading.Event()

    def loop():
        from django.db import connections

        try:
            while not stop.is_set():
                for pk in BulkJob.objects.filter(status=JobStatus.VALIDATING).values_list("pk", flat=True):
                    time.sleep(0.5)  # long enough for the page to show the check under way
                    tasks.validate_upload.call(pk)
                for pk in BulkJob.objects.filter(status=JobStatus.QUEUED).values_list("pk", flat=True):
                    executor.run(pk)
                time.sleep(0.2)
        finally:
            connections.close_all()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


def test_an_operator_uploads_previews_sends_and_takes_the_passwords(
    page,  # noqa: F811
    login,  # noqa: F811
    operator_a,
    sandbox_config,
    worker_thread,
    shot,  # noqa: F811
    axe,  # noqa: F811
    browser_errors,  # noqa: F811
    tmp_path,
):
    rows = [*device_rows(30), ["bad/name", "", "", "", "", "", "", ""]]
    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes(rows))
    knobs.configure(latency_ms=150)
    login(page, operator_a)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Bulk").click()
    page.get_by_role("link", name="Upload a CSV").click()
    violations = axe(page)
    assert not violations, format_violations(violations)

    page.get_by_label("CSV file").set_input_files(source)
    page.get_by_label("Rows sent at the same time").fill("2")
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", name="Preview: nothing has been sent")).to_be_visible()
    expect(page.locator(".preview-counts")).to_contain_text("30 will be created")
    expect(page.locator(".preview-counts")).to_contain_text("1 invalid")
    violations = axe(page)
    assert not violations, format_violations(violations)
    shot(page, "bulk-preview")

    page.get_by_role("button", name="Send 30 devices").click()
    bar = page.get_by_role("progressbar")
    expect(bar).to_be_visible()
    created = page.locator("#job-progress .counts dd").first
    expect(created).not_to_have_text("0", timeout=15_000)  # the poll brings the counts in
    expect(page.get_by_role("heading", name="Sending")).to_be_visible()
    violations = axe(page)
    assert not violations, format_violations(violations)
    shot(page, "bulk-progress")

    # The poll stops and the page reloads with the results when the job ends.
    expect(page.get_by_role("heading", name="Finished", exact=False)).to_be_visible(timeout=30_000)
    expect(page.locator("#job-progress")).not_to_have_attribute("hx-trigger", "every 1s")
    assert len(store.device_ids(sandbox_config.service_instance_id)) == 30
    shot(page, "bulk-finished")
    with page.expect_download() as failed:
        page.get_by_role("link", name="Download the failed rows (CSV)").click()
    assert "bad/name" in failed.value.path().read_text(encoding="utf-8-sig")

    page.get_by_role("link", name="Get the generated passwords (once)").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the credentials file").click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    assert text.count(f"{NS}:dev-") == 30
    page.reload()
    expect(page.get_by_role("heading", name="Not available")).to_be_visible()
    assert not browser_errors


def test_the_bulk_pages_work_without_javascript(
    browser,
    server,  # noqa: F811
    operator_a,
    sandbox_config,
    worker_thread,
    tmp_path,
):
    from tests.conftest import PASSWORD

    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes(device_rows(5)))
    context = browser.new_context(base_url=server.url, java_script_enabled=False)
    page = context.new_page()  # noqa: F811
    try:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(operator_a.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto("/t/team-a/bulk/new/")
        page.get_by_label("CSV file").set_input_files(source)
        page.get_by_role("button", name="Check the file").click()
        for _ in range(60):
            if page.get_by_role("button", name="Send 5 devices").count():
                break
            time.sleep(0.25)
            page.get_by_role("link", name="Refresh").click()  # the file is being checked
        page.get_by_role("link", name="Invalid", exact=False).count()  # the tabs are plain links
        page.get_by_role("button", name="Send 5 devices").click()
        for _ in range(60):
            if "Finished" in page.locator("h2").all_inner_texts()[0]:
                break
            time.sleep(0.25)
            page.get_by_role("link", name="Refresh").click()
        assert page.locator("h2").all_inner_texts()[0].startswith("Finished")
        assert len(store.device_ids(sandbox_config.service_instance_id)) == 5
    finally:
        context.close()


def vendor_file(path, rows):
    """A vendor's export: its own column names, separated by semicolons."""
    path.write_text(
        "Serial;Secret;Model\r\n" + "".join(f"{a};{b};{c}\r\n" for a, b, c in rows), encoding="utf-8"
    )
    return path


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_an_operator_matches_a_vendors_columns_and_sends_the_file(
    page,  # noqa: F811
    login,  # noqa: F811
    operator_a,
    sandbox_config,
    worker_thread,
    shot,  # noqa: F811
    axe,  # noqa: F811
    browser_errors,  # noqa: F811
    tmp_path,
    scheme,
):
    rows = [(f"SN-{n:04d}", f"Vendor-Pa55-{n:04d}" if n % 2 else "", f"X{n}00") for n in range(1, 6)]
    source = vendor_file(tmp_path / "vendor.csv", rows)
    page.emulate_media(color_scheme=scheme)
    login(page, operator_a)
    page.goto("/t/team-a/bulk/new/")
    page.get_by_label("CSV file").set_input_files(source)
    page.get_by_role("button", name="Check the file").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Match the columns")
    expect(page.get_by_role("row", name="1. Serial")).to_contain_text("SN-0001 SN-0002 SN-0003")
    expect(page.get_by_role("row", name="2. Secret")).to_contain_text("Not shown: it may hold passwords")
    assert "Vendor-Pa55" not in page.content()
    violations = axe(page)
    assert not violations, format_violations(violations)
    shot(page, f"bulk-columns-first-{scheme}")

    # Two columns as the name: refused, with the reason; the choices stay as they were.
    page.get_by_label("Use “Serial” as").select_option("name")
    page.get_by_label("Use “Model” as").select_option("name")
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("alert")).to_contain_text("“Serial” and “Model” would both be name")
    expect(page.get_by_label("Use “Model” as")).to_have_value("name")
    violations = axe(page)
    assert not violations, format_violations(violations)
    shot(page, f"bulk-columns-errors-{scheme}")

    page.get_by_label("Use “Secret” as").select_option("password")
    page.get_by_label("Use “Model” as").select_option("attribute")
    expect(page.get_by_label("Attribute key for “Model”")).to_be_visible()  # only for an attribute
    expect(page.get_by_label("Attribute key for “Serial”")).to_be_hidden()
    page.get_by_label("Attribute key for “Model”").fill("model")
    page.get_by_role("button", name="Check the file").click()

    expect(page.get_by_role("heading", name="Preview: nothing has been sent")).to_be_visible()
    expect(page.locator(".preview-counts")).to_contain_text("5 will be created")
    expect(page.locator(".matched-columns")).to_contain_text("Serial → name")
    expect(page.locator(".matched-columns")).to_contain_text("Model → attribute model")
    page.get_by_role("button", name="Send 5 devices").click()
    expect(page.get_by_role("heading", name="Finished", exact=False)).to_be_visible(timeout=30_000)
    sid = sandbox_config.service_instance_id
    assert store.device_ids(sid) == [f"{NS}:SN-{n:04d}" for n in range(1, 6)]
    assert store.get_device(sid, f"{NS}:SN-0003")["thing"]["attributes"] == {"model": "X300"}
    assert store.device_secret_matches(sid, f"{NS}_SN-0001", "Vendor-Pa55-0001")

    # The same header again: the mapping is offered, prefilled.
    page.goto("/t/team-a/bulk/new/")
    page.get_by_label("CSV file").set_input_files(vendor_file(tmp_path / "next.csv", [("SN-0100", "", "X9")]))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("status")).to_contain_text("Prefilled with what was chosen for this header")
    expect(page.get_by_label("Use “Serial” as")).to_have_value("name")
    expect(page.get_by_label("Use “Secret” as")).to_have_value("password")
    expect(page.get_by_label("Use “Model” as")).to_have_value("attribute")
    expect(page.get_by_label("Attribute key for “Model”")).to_have_value("model")
    violations = axe(page)
    assert not violations, format_violations(violations)
    shot(page, "bulk-columns" if scheme == "light" else "bulk-columns-remembered-dark")  # the README's
    assert [e for e in browser_errors if not ERROR_STATUS.match(e)] == []
