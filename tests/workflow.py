"""Helpers shared by the operator-workflow tests (device builder, history, command, redaction).

Fixtures here are imported by the test modules that use them. The sandbox ones put a
tenant on pytest-django's live server and a team A connection pointing at
it, so every request crosses real HTTP.
"""

import re

import pytest

from provisioning.models import AuditEvent, Namespace
from provisioning.sandbox import knobs, seed

NAMESPACE = "com.acme.sensors"
DEVICE_URL = "/t/team-a/devices/new/"


@pytest.fixture
def tenant(live_server):
    """A sandbox service instance (namespaces NAMESPACE and com.example.demo) and its client."""
    knobs.reset()
    return seed.create_tenant(f"{live_server.url}/sandbox", namespaces=[NAMESPACE, "com.example.demo"])


@pytest.fixture
def sandbox_config(team_a, tenant):
    """Team A's connection "Sandbox", for the sandbox tenant."""
    return seed.dashboard_config(team_a, tenant, name="Sandbox")


@pytest.fixture
def sandbox_namespace(team_a, sandbox_config):
    return Namespace.objects.create(team=team_a, name=NAMESPACE)


def form_token(client, url=DEVICE_URL):
    """The one-time form token of a freshly loaded device page."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    match = re.search(r'name="form_token" value="([^"]+)"', page.content.decode())
    assert match, "the device page has no form token"
    return match.group(1)


def device_data(config, namespace, **fields):
    """The device form as a browser posts it; lists become repeated fields."""
    data = {
        "config": str(config.pk),
        "namespace": str(namespace.pk),
        "name": "boiler-0042",
        "enabled": "on",
        "via": "",
        "credentials_type": "hashed-password",
        "auth_id": "",
        "password": "",
        "psk_key": "",
        "definition": "",
        "features": "",
        "policy_mode": "generated",
        "policy_id": "",
        "auth_scope": "__default__",
        "attr_key": [""],
        "attr_value": [""],
    }
    data.update(fields)
    return data


def send(client, config, namespace, url=DEVICE_URL, token=None, **fields):
    """Load the page (for its form token) and press Send."""
    token = token or form_token(client, url)
    return client.post(url, device_data(config, namespace, action="send", form_token=token, **fields))


def outcomes(**filters):
    return list(AuditEvent.objects.filter(phase=AuditEvent.Phase.OUTCOME, **filters).order_by("id"))


def text(response):
    """The response body as text (streamed or not), with HTML entities of quotes undone."""
    if getattr(response, "streaming", False):
        raw = b"".join(response.streaming_content)
    else:
        raw = response.content
    return raw.decode().replace("&#x27;", "'").replace("&quot;", '"').replace("&amp;", "&")
