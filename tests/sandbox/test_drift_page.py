"""The history entry's Check at provider: the button, the result panel (htmx and plain POST),
who may use it, and an unknown attempt settled by it, against the sandbox over real HTTP."""

import pytest
from django.test import override_settings

from provisioning.models import AuditEvent
from provisioning.sandbox import knobs, seed
from provisioning.services import provision_device
from tests.views import assert_is_partial

from .conftest import device_body
from .test_drift import DEVICE, PASSWORD, send, wait_for


def entry_url(result, phase="outcome"):
    row = AuditEvent.objects.get(correlation_id=result.correlation_id, phase=phase)
    return f"/t/team-a/history/{row.pk}/"


def htmx_post(client, url):
    return client.post(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{url}")


@pytest.fixture
def operator(client, operator_a):
    client.force_login(operator_a)
    return client


def test_a_created_entry_offers_the_check_and_htmx_gets_the_panel(operator, c2e, operator_a, ditto):
    result = send(c2e, operator_a)
    url = entry_url(result)
    page = operator.get(url).content.decode()
    assert f'action="{url}check/"' in page and "Check at provider</button>" in page
    ditto.thing("PUT", DEVICE, json={"policyId": DEVICE, "attributes": {"serial": "1"}})
    html = assert_is_partial(htmx_post(operator, f"{url}check/"), "check-result")
    assert "At the provider, but different." in html
    for title in ("Hono device:", "Hono credentials (auth-id and type):", "Policy:", "Twin (thing):"):
        assert title in html
    assert "attributes.serial" in html and "&quot;4711&quot;" in html and "&quot;1&quot;" in html
    assert PASSWORD not in html
    check = AuditEvent.objects.get(action="device.check")
    assert f"?correlation={check.correlation_id}" in html
    # The check's own entry links back to the attempt it checked.
    own = operator.get(f"/t/team-a/history/{check.pk}/").content.decode()
    assert f"?correlation={result.correlation_id}" in own and "Check at provider</button>" not in own


def test_without_javascript_the_entry_page_comes_back_with_the_panel(operator, c2e, operator_a):
    result = send(c2e, operator_a)
    response = operator.post(f"{entry_url(result)}check/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page and 'id="check-result"' in page and "At the provider, as sent." in page


def test_an_unknown_attempt_is_settled_and_send_again_is_withdrawn_when_it_was_made(
    operator, c2e, operator_a
):
    result = send(c2e, operator_a, fault=("device", 500, {}))
    url = entry_url(result)
    assert "Send again…" in operator.get(url).content.decode()
    html = htmx_post(operator, f"{url}check/").content.decode()
    assert "Not at the provider." in html and "it did not create the device" in html
    page = operator.get(url).content.decode()
    assert "Settled by" in page and "this attempt had not created the device" in page
    assert "Send again…" in page  # not made: sending it again is what to do


def test_a_failed_read_is_told_plainly_not_as_a_500(operator, c2e, operator_a):
    result = send(c2e, operator_a, fault=("device", 500, {}))
    knobs.inject_fault(401, target="hono")
    response = htmx_post(operator, f"{entry_url(result)}check/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "The check failed." in html and "refused this connection&#x27;s credentials (401)" in html
    assert "Settled by" not in operator.get(entry_url(result)).content.decode()


def test_a_refused_attempt_cannot_be_checked(operator, c2e, operator_a):
    knobs.inject_fault(402, target="hono")
    result = send(c2e, operator_a)
    assert result.status == "refused"
    url = entry_url(result)
    assert "Check at provider</button>" not in operator.get(url).content.decode()
    assert operator.post(f"{url}check/").status_code == 404


def test_an_auditor_sees_no_button_and_is_refused(client, auditor_a, c2e, operator_a):
    result = send(c2e, operator_a)
    client.force_login(auditor_a)
    url = entry_url(result)
    assert "Check at provider</button>" not in client.get(url).content.decode()
    assert client.post(f"{url}check/").status_code == 403
    assert not AuditEvent.objects.filter(action="device.check").exists()


def test_a_bosch_entry_without_things_url_explains(operator, team_a, operator_a, tenant):
    config = seed.dashboard_config(team_a, tenant, name="Sandbox")
    outcome = provision_device(
        actor=operator_a, team=team_a, config=config, body=device_body("com.acme.sensors:boiler-1")
    )
    row = AuditEvent.objects.get(correlation_id=outcome.correlation_id, phase="outcome")
    html = htmx_post(operator, f"/t/team-a/history/{row.pk}/check/").content.decode()
    assert "Nothing could be checked." in html and "Things base URL" in html
    assert not AuditEvent.objects.filter(action="device.check").exists()


def test_the_sandbox_page_gives_the_things_base_url(client, operator_a, settings):
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8001/sandbox"
    client.force_login(operator_a)
    assert "<code>http://127.0.0.1:8001/sandbox/things</code>" in client.get("/sandbox/").content.decode()


def test_an_attempt_a_check_found_made_is_not_sent_again_from_an_old_link(operator, c2e, operator_a):
    with override_settings(OUTBOUND_READ_TIMEOUT=1):
        result = send(c2e, operator_a, fault=("thing", "slow", {"seconds": 2}))
    wait_for("thing")
    url = entry_url(result)
    assert "Send again…" in operator.get(url).content.decode()
    assert "it created the device" in htmx_post(operator, f"{url}check/").content.decode()

    assert "Send again…" not in operator.get(url).content.decode()
    again = operator.get(f"/t/team-a/devices/new/?again={result.correlation_id}").content.decode()
    assert 'name="resolves"' not in again
