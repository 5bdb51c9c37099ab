"""The /sandbox/ page (login to look, staff to change) and the seeding helpers."""

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command

from provisioning.models import Connection
from provisioning.sandbox import knobs, seed
from provisioning.sandbox.models import SandboxClient, ServiceInstance

from .conftest import device_body, request_token, token_for


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("stella", password="a-long-test-password-1", is_staff=True)


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user("paul", password="a-long-test-password-1")


def login(client, user):
    client.force_login(user)
    return client


def test_the_page_needs_a_login(client):
    response = client.get("/sandbox/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_page_shows_instances_clients_and_counters_but_no_secret(client, plain_user, sandbox_url):
    tenant = seed.create_tenant(sandbox_url, label="Plant 7")
    token_for(tenant)
    response = login(client, plain_user).get("/sandbox/")
    page = response.content.decode()
    assert response.status_code == 200
    assert tenant["service_instance_id"] in page
    assert tenant["client_id"] in page
    assert "Plant 7" in page
    assert "Tokens issued</dt><dd>1<" in page
    assert tenant["client_secret"] not in page
    assert "Only staff can change" in page


def test_a_plain_user_cannot_change_anything(client, plain_user):
    response = login(client, plain_user).post(
        "/sandbox/", {"action": "knobs", "latency_ms": 5, "clock_skew_seconds": 0}
    )
    assert response.status_code == 403
    assert knobs.current()["latency_ms"] == 0


def test_staff_can_set_knobs(client, staff):
    response = login(client, staff).post(
        "/sandbox/", {"action": "knobs", "latency_ms": 25, "token_lifetime": 120, "clock_skew_seconds": -5}
    )
    assert response.status_code == 302
    assert knobs.current() == {
        "latency_ms": 25,
        "token_lifetime": 120,
        "clock_skew_seconds": -5,
        "tokens_issued": 0,
    }


def test_staff_get_an_error_for_bad_knobs(client, staff):
    response = login(client, staff).post("/sandbox/", {"action": "knobs", "latency_ms": -1}, follow=True)
    assert "were not saved" in response.content.decode()
    assert knobs.current()["latency_ms"] == 0


def test_staff_can_queue_and_drop_faults(client, staff):
    login(client, staff)
    client.post(
        "/sandbox/", {"action": "fault", "kind": "503", "target": "api", "count": 2, "retry_after": 4}
    )
    assert knobs.pending_faults() == [
        {"target": "api", "kind": "503", "remaining": 2, "retry_after": 4, "seconds": None}
    ]
    page = client.get("/sandbox/").content.decode()
    assert "503 Service Unavailable" in page
    client.post("/sandbox/", {"action": "clear_faults"})
    assert knobs.pending_faults() == []


def test_staff_can_expire_tokens_and_reset_counters(client, staff, api):
    login(client, staff)
    client.post("/sandbox/", {"action": "expire_tokens"})
    assert api.post(device_body()).status_code == 401
    client.post("/sandbox/", {"action": "reset_counters"})
    assert knobs.token_count() == 0


def test_the_page_post_needs_csrf(staff):
    from django.test import Client

    csrf_client = login(Client(enforce_csrf_checks=True), staff)
    assert csrf_client.post("/sandbox/", {"action": "clear_faults"}).status_code == 403


# Seeding


def test_ensure_demo_tenant_creates_a_working_tenant_once(sandbox_url):
    demo = seed.ensure_demo_tenant(sandbox_url)
    assert set(demo) >= {
        "token_url",
        "client_id",
        "client_secret",
        "scope",
        "api_base_url",
        "service_instance_id",
        "namespace",
    }
    assert demo["token_url"] == f"{sandbox_url}/token"
    assert demo["api_base_url"] == f"{sandbox_url}/api/1"
    assert demo["namespace"] == "com.example.demo"
    token = request_token(demo).json()["access_token"]
    body = device_body("com.example.demo:first", password=None)
    response = requests.post(
        f"{demo['api_base_url']}/{demo['service_instance_id']}/devices",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 201

    again = seed.ensure_demo_tenant(sandbox_url)
    assert again["service_instance_id"] == demo["service_instance_id"]
    assert again["client_id"] == demo["client_id"]
    assert again["client_secret"] != demo["client_secret"]  # rotated: only its hash was kept
    assert request_token(demo).status_code == 401
    assert request_token(again).status_code == 200
    assert ServiceInstance.objects.count() == SandboxClient.objects.count() == 1


def test_bootstrap_wires_the_dashboard_to_the_sandbox(settings, capsys):
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:9999/sandbox"
    call_command("bootstrap", url="http://127.0.0.1:9999/")
    client = Connection.objects.get(name="Sandbox")
    assert client.token_url == "http://127.0.0.1:9999/sandbox/token"
    assert client.service_instance_id == ServiceInstance.objects.get().sid
    assert SandboxClient.objects.get().check_secret(client.get_secret())
    call_command("bootstrap", url="http://127.0.0.1:9999/")
    assert SandboxClient.objects.get().check_secret(client.get_secret())
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    assert client.get_secret() not in capsys.readouterr().out


def test_create_tenant_can_share_an_instance(sandbox_url):
    first = seed.create_tenant(sandbox_url, service_instance_id="0081db5c-9765-4ffa-8a54-a3a71021dc67")
    second = seed.create_tenant(
        sandbox_url, service_instance_id=first["service_instance_id"], client_id="second"
    )
    assert second["service_instance_id"] == first["service_instance_id"]
    assert second["hub_tenant_id"] == "t0081db5c97654ffa8a54a3a71021dc67_hub"
    assert ServiceInstance.objects.count() == 1


def test_create_instance_refuses_bad_namespaces_and_taken_ids():
    with pytest.raises(ValueError):
        seed.create_instance(namespaces=["1bad"])
    instance = seed.create_instance()
    with pytest.raises(ValueError):
        seed.create_instance(instance.sid)


def test_create_client_can_limit_scopes(sandbox_url):
    instance = seed.create_instance()
    client, secret = seed.create_client(instances=[instance.sid], scopes=instance.hub_scope)
    assert client.allowed_scopes == [instance.hub_scope]
    facts = seed.connection(sandbox_url, client, secret, instance)
    assert request_token(facts).json()["error"] == "invalid_scope"
    assert request_token(facts, scope=instance.hub_scope).status_code == 200


def test_the_admin_shows_sandbox_clients_without_their_secret(client, django_user_model, sandbox_url):
    tenant = seed.create_tenant(sandbox_url)
    root = django_user_model.objects.create_superuser("root", "root@example.com", "a-long-test-password-1")
    login(client, root)
    pk = SandboxClient.objects.get(client_id=tenant["client_id"]).pk
    page = client.get(f"/admin/sandbox/sandboxclient/{pk}/change/")
    assert page.status_code == 200
    assert tenant["client_secret"] not in page.content.decode()
    assert "sha256$" not in page.content.decode()
    assert client.get("/admin/sandbox/sandboxclient/add/").status_code == 403
    assert client.get("/admin/sandbox/hubdevice/").status_code == 200


def test_the_header_links_the_sandbox_for_staff_only(client, staff, plain_user, settings):
    link = 'href="/sandbox/"'

    assert link in login(client, staff).get("/", follow=True).content.decode()
    assert link not in login(client, plain_user).get("/", follow=True).content.decode()
    settings.SANDBOX_ENABLED = False
    assert link not in login(client, staff).get("/", follow=True).content.decode()


def test_the_page_lists_the_endpoints_of_the_server_that_serves_them(client, plain_user, settings):
    """`make run` serves the sandbox's API from a second server (SANDBOX_BASE_URL), not this one."""
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8001/sandbox"

    page = login(client, plain_user).get("/sandbox/").content.decode()

    assert "<code>http://127.0.0.1:8001/sandbox/token</code>" in page
    assert "<code>http://127.0.0.1:8001/sandbox/api/1</code>" in page
    assert "http://testserver/sandbox" not in page
