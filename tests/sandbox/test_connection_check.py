"""Test connection of Hono + Ditto and Ditto connections against the sandbox over real HTTP:
each endpoint checked (Hono: the tenant read; Ditto: a thing read whose 404 after
authentication means the credentials work) and reported on its own, the test audited."""

from provisioning.models import AuditEvent
from tests.factories import make_hono_ditto

from .conftest import BASIC_USER, HONO_TENANT


def run_test(client, config):
    return client.post(f"/t/team-a/connections/{config.pk}/test/")


def test_both_endpoints_pass_and_the_test_is_audited(as_user, cast, c2e):
    response = run_test(as_user(cast["operator"]), c2e)
    page = response.content.decode()
    assert response.status_code == 200
    check = response.context["check"]
    assert check.ok and [c.endpoint for c in check.endpoints] == ["hono", "ditto"]
    assert [c.http_status for c in check.endpoints] == [200, 404]
    assert "Connected." in page and f"/v1/tenants/{HONO_TENANT}" in page
    event = AuditEvent.objects.get(action="client.test")
    assert event.status == "ok" and event.client_ref == c2e.pk
    assert "Eclipse Hono: ok (HTTP 200" in event.message and "Eclipse Ditto: ok (HTTP 404" in event.message
    assert BASIC_USER[1] not in str(event.__dict__)
    c2e.refresh_from_db()
    assert c2e.last_success_at is not None and not c2e.last_error


def test_each_endpoint_is_reported_on_its_own(as_user, cast, c2e):
    c2e.set_sealed("ditto_password", "wrong-password")
    c2e.save()
    response = run_test(as_user(cast["admin"]), c2e)
    check = response.context["check"]
    hono, ditto = check.endpoints
    assert hono.ok and not ditto.ok and not check.ok
    assert ditto.http_status == 401 and "refused this connection's credentials" in ditto.message
    assert "The connection test failed." in response.content.decode()
    event = AuditEvent.objects.get(action="client.test")
    assert (event.status, event.http_status) == ("failed", 401)
    c2e.refresh_from_db()
    assert "Eclipse Ditto: failed (HTTP 401" in c2e.last_error


def test_a_tenant_that_does_not_exist_fails_the_hono_endpoint(as_user, cast, c2e):
    c2e.hono_tenant = "no-such-tenant"
    c2e.save()
    check = run_test(as_user(cast["admin"]), c2e).context["check"]
    assert [c.ok for c in check.endpoints] == [False, True]
    assert check.endpoints[0].http_status == 404
    assert "Check the connection's tenant" in check.endpoints[0].next_step


def test_a_ditto_connection_on_oauth2_checks_ditto_only(as_user, cast, team_a, sandbox_url, tenant, ditto):
    config = make_hono_ditto(
        team_a,
        kind="ditto",
        url=sandbox_url,
        ditto_auth="oauth2",
        ditto_username="",
        token_url=tenant["token_url"],
        client_id=tenant["client_id"],
        scope=tenant["scope"],
    )
    config.set_secret(tenant["client_secret"])
    config.save()
    response = run_test(as_user(cast["operator"]), config)
    check = response.context["check"]
    assert [(c.endpoint, c.ok, c.http_status) for c in check.endpoints] == [("ditto", True, 404)]


def test_htmx_gets_the_partial_with_each_endpoint(as_user, cast, c2e):
    response = as_user(cast["operator"]).post(f"/t/team-a/connections/{c2e.pk}/test/", HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "<html" not in page and "Eclipse Hono:" in page and "Eclipse Ditto:" in page
