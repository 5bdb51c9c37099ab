"""The /sandbox/ page and `manage.py bootstrap` for the Hono registry and Ditto."""

from io import StringIO

import pytest
from django.core.management import call_command

from provisioning.models import Connection
from provisioning.sandbox import seed
from provisioning.sandbox.models import BasicUser, HonoTenant

from .clients import Ditto, Hono


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("stella", password="a-long-test-password-1", is_staff=True)


@pytest.fixture
def plain_user(django_user_model):
    return django_user_model.objects.create_user("paul", password="a-long-test-password-1")


def test_the_page_lists_the_hono_and_ditto_endpoints_tenants_and_users(client, plain_user, settings):
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8001/sandbox"
    seed.create_hono_tenant("plant-7")
    seed.create_basic_user("machine-user", "Machine-Pa55-word")
    client.force_login(plain_user)
    page = client.get("/sandbox/").content.decode()
    assert "<code>http://127.0.0.1:8001/sandbox/v1</code>" in page
    assert "<code>http://127.0.0.1:8001/sandbox/api/2</code>" in page
    assert "<code>plant-7</code>" in page and "<code>machine-user</code>" in page
    assert "Machine-Pa55-word" not in page and "sha256$" not in page
    assert 'value="basic_user"' not in page  # only staff may set passwords


def test_staff_set_a_basic_password_that_is_shown_once_and_works(client, staff, live_server):
    seed.create_hono_tenant("plant-7")
    client.force_login(staff)
    response = client.post("/sandbox/", {"action": "basic_user", "username": "line-3"})
    assert response.status_code == 200
    password = response.context["new_basic_user"][1]
    assert password in response.content.decode()
    assert password not in client.get("/sandbox/").content.decode()
    hono = Hono(f"{live_server.url}/sandbox", auth=("line-3", password))
    assert hono.tenant("GET", "plant-7").status_code == 200
    refused = client.post("/sandbox/", {"action": "basic_user", "username": "no spaces"})
    assert refused.context["new_basic_user"] is None
    assert not BasicUser.objects.filter(username="no spaces").exists()


def test_a_plain_user_cannot_set_a_basic_password(client, plain_user):
    client.force_login(plain_user)
    assert client.post("/sandbox/", {"action": "basic_user", "username": "x"}).status_code == 403
    assert not BasicUser.objects.exists()


def test_bootstrap_seeds_the_demo_tenant_and_user_and_prints_the_password_once(settings, live_server):
    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    out = StringIO()
    call_command("bootstrap", url="http://127.0.0.1:9999/", stdout=out)
    first = out.getvalue()
    assert HonoTenant.objects.filter(tenant_id=seed.DEMO_HONO_TENANT).exists()
    password = first.split("Basic password: ")[1].split()[0]
    # The demo connections of each kind sign in with it (tests/test_bootstrap_demo.py).
    assert Connection.objects.get(name="Sandbox Ditto").get_sealed("ditto_password") == password
    ditto = Ditto(settings.SANDBOX_BASE_URL, auth=(seed.DEMO_BASIC_USER, password))
    assert ditto.thing("PUT", "com.example.demo:first", json={}).status_code == 201
    out = StringIO()
    call_command("bootstrap", url="http://127.0.0.1:9999/", stdout=out)
    assert "Basic password" not in out.getvalue()
    assert BasicUser.objects.get().check_password(password)


def test_the_admin_shows_basic_users_without_their_hash(client, django_user_model):
    seed.create_basic_user("machine-user", "Machine-Pa55-word")
    root = django_user_model.objects.create_superuser("root", "root@example.com", "a-long-test-password-1")
    client.force_login(root)
    page = client.get(f"/admin/sandbox/basicuser/{BasicUser.objects.get().pk}/change/").content.decode()
    assert "machine-user" in page and "sha256$" not in page
    for model in ("honotenant", "honodevice", "honocredential", "dittothing", "dittopolicy"):
        assert client.get(f"/admin/sandbox/{model}/").status_code == 200
