"""Check at provider in a real browser: an operator opens the history entry of a Hono + Ditto
device whose twin was changed at the provider, clicks Check at provider, and reads each part's
answer (what differs for the twin), in the OS's light and dark mode, with no accessibility
violations. The sandbox on the same live server plays Hono and Ditto over real HTTP."""

import pytest
import requests

from provisioning import hono_ditto_service as service
from provisioning.models import AuditEvent
from provisioning.providers import hono_ditto as hd
from provisioning.providers import spec as specs
from provisioning.providers.hono_ditto_connection import auths_for, settings_for
from provisioning.providers.spec import DeviceSpec
from provisioning.sandbox import seed
from tests.e2e.conftest import expect, format_violations
from tests.factories import make_hono_ditto

pytestmark = pytest.mark.e2e

TENANT = "e2e-tenant"
USER = ("e2e-hono-user", "E2e-Basic-Pa55")
DEVICE = "org.acme:e2e-check-1"


@pytest.fixture
def provisioned(server, team_a, operator_a):
    """A Hono + Ditto device provisioned by operator A, whose twin was then changed at Ditto."""
    sandbox = f"{server.url}/sandbox"
    seed.create_hono_tenant(TENANT)
    seed.create_basic_user(*USER)
    config = make_hono_ditto(
        team_a, url=sandbox, hono_tenant=TENANT, hono_username=USER[0], ditto_username=USER[0]
    )
    config.set_sealed("hono_password", USER[1])
    config.set_sealed("ditto_password", USER[1])
    config.save()
    settings = settings_for(config)
    spec = DeviceSpec(
        id=DEVICE, credentials=specs.TYPED_PASSWORD, secret="E2e-Device-Pa55", attributes={"room": "A1"}
    )
    sender = service.Sender(operator_a, team_a, settings, auths_for(config), config)
    result = service.provision(sender, hd.plan(settings, spec), device_id=DEVICE)
    assert result.ok, result.message
    changed = requests.put(
        hd.thing_url(settings, DEVICE),
        json={"policyId": DEVICE, "attributes": {"room": "B2"}},
        auth=USER,
        timeout=10,
    )
    assert changed.status_code == 204
    return AuditEvent.objects.get(correlation_id=result.correlation_id, phase="outcome")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_an_operator_checks_a_device_at_the_provider(
    page, login, operator_a, provisioned, scheme, shot, axe, browser_errors
):
    page.emulate_media(color_scheme=scheme)
    login(page, operator_a)
    page.goto(f"/t/team-a/history/{provisioned.pk}/")
    violations = axe(page)
    page.get_by_role("button", name="Check at provider").click()
    result = page.locator("#check-result")
    expect(result).to_contain_text("At the provider, but different.")
    parts = result.locator(".check-parts > li")
    expect(parts).to_have_count(4)
    expect(parts.nth(0)).to_contain_text("Hono device: present")
    expect(parts.nth(1)).to_contain_text("Hono credentials (auth-id and type): present")
    expect(parts.nth(2)).to_contain_text("Policy: present")
    expect(parts.nth(3)).to_contain_text("Twin (thing): different")
    row = parts.nth(3).get_by_role("row").filter(has_text="attributes.room")
    expect(row).to_contain_text('"A1"')
    expect(row).to_contain_text('"B2"')
    assert "E2e-Device-Pa55" not in page.content() and USER[1] not in page.content()
    violations += axe(page)
    shot(page, f"check-at-provider-{scheme}", full_page=False)

    page.get_by_role("link", name="history").last.click()
    rows = page.get_by_role("row").filter(has_text="device.check")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("different")
    assert not violations, f"axe found violations:\n{format_violations(violations)}"
    assert browser_errors == []
