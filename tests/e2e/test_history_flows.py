"""History in a real browser (issue 12): a row opens its entry wherever it is clicked, and each
filter in use is a chip that removes it."""

import re

import pytest

from provisioning import services
from provisioning.models import Namespace
from provisioning.sandbox import seed
from tests.e2e.conftest import expect

pytestmark = pytest.mark.e2e

NAMESPACE = "com.acme.sensors"


@pytest.fixture
def provisioned(server, team_a, admin_a):
    tenant = seed.create_tenant(f"{server.url}/sandbox", namespaces=[NAMESPACE])
    config = seed.dashboard_config(team_a, tenant, name="Sandbox A")
    Namespace.objects.create(team=team_a, name=NAMESPACE, client=config)
    for name in ("row-click-1", "row-click-2"):
        body = {"id": f"{NAMESPACE}:{name}", "hub": {"device": {}}, "things": {"thing": {}}}
        services.provision_device(actor=admin_a, team=team_a, config=config, body=body)
    return config


def test_a_row_opens_its_entry_and_a_chip_removes_its_filter(page, login, auditor_a, provisioned):
    login(page, auditor_a)
    page.goto("/t/team-a/history/")
    row = page.get_by_role("row").filter(has_text=f"{NAMESPACE}:row-click-1")
    box = row.get_by_text("device.provision").bounding_box()  # not the link: elsewhere on the row
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{NAMESPACE}:row-click-1")

    page.goto("/t/team-a/history/?status=created")
    chip = page.get_by_role("link", name=re.compile("Remove the filter Status: Created"))
    expect(chip).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="entries match these filters")).to_be_visible()
    chip.click()
    expect(page).to_have_url(re.compile(r"/t/team-a/history/$"))
    expect(page.locator(".chips")).to_have_count(0)
