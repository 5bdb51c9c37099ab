"""A Hono + Ditto connection with two OAuth2 clients, against the sandbox's two token endpoints
(Suite Auth style for Hono, Nexeed style for Ditto) over real HTTP: each endpoint calls with
its own client's token, each token is fetched once and cached apart, a 401 renews each once,
and Test connection reports a refused Ditto client on Ditto's line alone."""

import pytest

from provisioning import tokens
from provisioning.models import AuditEvent, Namespace
from provisioning.sandbox import knobs
from provisioning.sandbox.models import DittoPolicy
from tests.factories import make_hono_ditto
from tests.workflow import send

from .conftest import HONO_TENANT, parts_at_sandbox

DEVICE = "org.acme:boiler-0042"


@pytest.fixture
def namespace(team_a):
    return Namespace.objects.create(team=team_a, name="org.acme")


@pytest.fixture
def two_clients(team_a, sandbox_url, hono, tenant, nexeed_tenant):
    assert tenant["token_url"] != nexeed_tenant["token_url"]
    config = make_hono_ditto(
        team_a,
        name="Two clients",
        url=sandbox_url,
        hono_tenant=HONO_TENANT,
        hono_auth="oauth2",
        hono_username="",
        token_url=tenant["token_url"],
        client_id=tenant["client_id"],
        scope=tenant["scope"],
        ditto_auth="oauth2_own",
        ditto_username="",
        ditto_token_url=nexeed_tenant["token_url"],
        ditto_client_id=nexeed_tenant["client_id"],
        ditto_scope=nexeed_tenant["scope"],
    )
    config.set_secret(tenant["client_secret"])
    config.set_sealed("ditto_client_secret", nexeed_tenant["client_secret"])
    config.save()
    return config


def policy_subjects(device_id):
    return set(DittoPolicy.objects.get(policy_id=device_id).entries["DEFAULT"]["subjects"])


def test_each_endpoint_calls_with_its_own_clients_token_fetched_once(
    as_user, cast, two_clients, namespace, tenant, nexeed_tenant
):
    client = as_user(cast["operator"])
    before = knobs.token_count()
    response = send(client, two_clients, namespace)
    assert response.status_code == 201
    assert parts_at_sandbox(DEVICE) == {"device": 1, "credentials": 1, "policy": 1, "thing": 1}
    # Ditto saw the caller as the Ditto client (the policy's own subject is the request's);
    # the Hono client never reached Ditto.
    subjects = policy_subjects(DEVICE)
    assert f"sandbox:{nexeed_tenant['client_id']}" in subjects
    assert f"sandbox:{tenant['client_id']}" not in subjects
    assert knobs.token_count() - before == 2  # one per client
    assert tokens.is_cached(two_clients) and tokens.is_cached(two_clients.ditto_client())

    send(client, two_clients, namespace, name="boiler-0043")
    assert parts_at_sandbox("org.acme:boiler-0043")["thing"] == 1
    assert knobs.token_count() - before == 2  # both from the cache


def test_expired_tokens_are_renewed_once_per_client(as_user, cast, two_clients, namespace):
    client = as_user(cast["operator"])
    send(client, two_clients, namespace)
    knobs.expire_tokens()  # both cached tokens now answer 401
    before = knobs.token_count()
    send(client, two_clients, namespace, name="boiler-0043")
    assert parts_at_sandbox("org.acme:boiler-0043") == {
        "device": 1,
        "credentials": 1,
        "policy": 1,
        "thing": 1,
    }
    assert knobs.token_count() - before == 2


def test_a_refused_ditto_client_fails_ditto_s_line_only(as_user, cast, two_clients, nexeed_tenant):
    two_clients.set_sealed("ditto_client_secret", "not-the-secret")
    two_clients.config_version += 1
    two_clients.save()
    response = as_user(cast["operator"]).post(f"/t/team-a/connections/{two_clients.pk}/test/")
    check = response.context["check"]
    hono, ditto = check.endpoints
    assert (hono.endpoint, hono.ok, hono.http_status) == ("hono", True, 200)
    assert (ditto.endpoint, ditto.ok) == ("ditto", False)
    assert "refused the client id or secret" in ditto.message
    page = response.content.decode()
    assert "not-the-secret" not in page and nexeed_tenant["client_secret"] not in page
    row = AuditEvent.objects.get(action="client.test")
    assert row.status == "failed" and "not-the-secret" not in row.message


def test_both_clients_pass_test_connection(as_user, cast, two_clients):
    response = as_user(cast["operator"]).post(f"/t/team-a/connections/{two_clients.pk}/test/")
    check = response.context["check"]
    assert [(c.endpoint, c.ok) for c in check.endpoints] == [("hono", True), ("ditto", True)]
