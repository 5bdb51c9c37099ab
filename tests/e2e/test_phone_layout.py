"""At 390 px wide (a phone) nothing scrolls sideways and the header stays small (issue 12).

Wide content (tables, request bodies) scrolls inside its own box; the page itself never does.
"""

import io

import pytest

from provisioning.bulk import jobs
from provisioning.models import Namespace
from provisioning.sandbox import seed
from tests.bulk.conftest import csv_bytes, make_draft
from tests.e2e.conftest import expect

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
NAMESPACE = "com.acme.sensors.with.a.rather.long.namespace"
VENDOR = ["Serial number of the device", "Secret", "Model and its description"]


@pytest.fixture
def phone(page):
    page.set_viewport_size(PHONE)
    return page


@pytest.fixture
def sandbox_config(server, team_a):
    tenant = seed.create_tenant(f"{server.url}/sandbox", namespaces=[NAMESPACE])
    config = seed.dashboard_config(team_a, tenant, name="Sandbox with a long configuration name")
    Namespace.objects.create(team=team_a, name=NAMESPACE, client=config)
    return config


def page_width(page):
    return page.evaluate("document.documentElement.scrollWidth")


def assert_fits(page, what):
    assert page_width(page) <= PHONE["width"], f"{what} scrolls sideways: {page_width(page)} px wide"
    header = page.locator(".site-header").bounding_box()
    assert header["height"] < PHONE["height"] / 5, f"{what}: the header is {header['height']} px high"


def test_the_builder_history_and_a_job_fit_a_phone(phone, login, team_a, admin_a, sandbox_config, shot):
    login(phone, admin_a)
    assert_fits(phone, "the team page")

    phone.goto("/t/team-a/devices/new/")
    phone.get_by_label("Device name").fill("a-device-with-a-long-name-0001")
    phone.get_by_label("Attribute 1 key").fill("location")
    phone.get_by_label("Attribute 1 value").fill('{"building": "north-campus-building-7", "room": "3.14"}')
    expect(phone.locator("#device-preview")).to_contain_text("north-campus-building-7")
    assert_fits(phone, "the device builder")
    shot(phone, "phone-device-builder")

    phone.get_by_role("button", name="Send").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Device created")
    assert_fits(phone, "the result page")

    phone.goto("/t/team-a/history/")
    expect(phone.locator("table.history")).to_be_visible()
    assert_fits(phone, "history")
    shot(phone, "phone-history")

    rows = [
        [f"a-device-with-a-rather-long-name-{n:04d}", "", "", "true", "", "", "north", "1"] for n in range(3)
    ]
    namespace = Namespace.objects.get(name=NAMESPACE)
    job = make_draft(team_a, admin_a, sandbox_config, namespace, csv_bytes(rows))
    vendor = csv_bytes([["SN-0001-with-a-long-serial", "", "a model with a long description"]], header=VENDOR)
    matching = jobs.upload(
        team=team_a,
        actor=admin_a,
        config=sandbox_config,
        namespace=namespace,
        upload=io.BytesIO(vendor),
        file_name="vendor-export.csv",
        credentials_type="hashed-password",
        auth_scope="__default__",
        concurrency=4,
    )
    pages = ["/t/team-a/connections/", f"/t/team-a/connections/{sandbox_config.pk}/", "/t/team-a/namespaces/"]
    pages += ["/t/team-a/members/", "/t/team-a/bulk/", "/t/team-a/bulk/new/", f"/t/team-a/bulk/{job.pk}/"]
    pages += [f"/t/team-a/bulk/{matching.pk}/columns/"]
    for path in pages:
        phone.goto(path)
        assert_fits(phone, path)
    shot(phone, "phone-bulk-job")
