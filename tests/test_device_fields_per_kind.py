"""Each field of the device builder either applies to the chosen connection's provider, or is
hidden with a note saying why, or is refused at the field when it is sent anyway: a field a
provider cannot honour is never dropped without a word (issue 13).

Bosch IoT Suite honours every field; Eclipse Hono + Ditto every one but authScope; Eclipse
Ditto alone makes the twin and its policy only (no credentials, gateway, enabled switch or
authScope). Nothing here reaches a provider: what is refused is refused before any call.
"""

import re

import pytest

from provisioning.models import AuditEvent, Namespace
from tests.factories import make_config, make_hono_ditto
from tests.workflow import DEVICE_URL, device_data, form_token, text

pytestmark = pytest.mark.django_db

NOT_ON_HONO_OR_DITTO = {"auth_scope": "subscription"}
NOT_ON_DITTO = {
    "auth_scope": "deviceManagementSubscription",
    "via": "org.acme:gateway-1",
    "enabled": "",  # unticked
    "credentials_type": "psk",
}
DITTO_BASE = {"credentials_type": "none"}


@pytest.fixture
def connections(team_a):
    return {
        "bosch": make_config(team_a, name="Bosch A"),
        "hono_ditto": make_hono_ditto(team_a, name="Hono A"),
        "ditto": make_hono_ditto(team_a, name="Ditto A", kind="ditto"),
    }


@pytest.fixture
def namespace(team_a):
    return Namespace.objects.create(team=team_a, name="org.acme")


def send(client, config, namespace, **fields):
    data = device_data(config, namespace, action="send", form_token=form_token(client), **fields)
    return client.post(DEVICE_URL, data)


def preview(client, config, namespace, **fields):
    return client.post(DEVICE_URL, device_data(config, namespace, action="preview", **fields))


CASES = [("hono_ditto", field, value, {}) for field, value in NOT_ON_HONO_OR_DITTO.items()] + [
    ("ditto", field, value, {} if field == "credentials_type" else DITTO_BASE)
    for field, value in NOT_ON_DITTO.items()
]


@pytest.mark.parametrize(("kind", "field", "value", "base"), CASES)
def test_a_field_the_provider_cannot_honour_is_refused_at_the_field_and_nothing_is_sent(
    as_user, cast, connections, namespace, kind, field, value, base
):
    client = as_user(cast["operator"])
    response = send(client, connections[kind], namespace, **{**base, field: value})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    why = r"Bosch IoT Suite setting|Hono setting|registered in Hono|no such switch"
    assert re.search(why, errors[field][0])
    # Shown next to the field, not hidden with it: the field stays on the page with its message.
    assert f'id="id_{field}_error"' in text(response)
    assert not AuditEvent.objects.filter(action="device.provision").exists()


@pytest.mark.parametrize("kind", ["hono_ditto", "ditto"])
def test_choices_that_send_no_auth_scope_are_fine_on_hono_and_ditto(
    as_user, cast, connections, namespace, kind
):
    client = as_user(cast["operator"])
    base = DITTO_BASE if kind == "ditto" else {}
    for choice in ("__default__", "none"):
        response = preview(client, connections[kind], namespace, auth_scope=choice, **base)
        assert response.context["preview"] is not None, response.context["form"].errors
        assert "authScope" not in str(response.context["preview"]["steps"])


def test_bosch_honours_every_field(as_user, cast, connections, namespace):
    client = as_user(cast["operator"])
    fields = {
        "auth_scope": "subscription",
        "via": "org.acme:gateway-1",
        "enabled": "",
        "credentials_type": "psk",
        "auth_id": "boiler-psk",
        "definition": "org.acme:boiler:1.0.0",
        "features": '{"t": {"properties": {"v": 1}}}',
        "policy_mode": "existing",
        "policy_id": "org.acme:shared",
        "attr_key": ["site"],
        "attr_value": ["north"],
    }
    shown = preview(client, connections["bosch"], namespace, **fields).context["preview"]
    assert shown["url"].endswith("/devices?authScope=subscription")
    for piece in (
        '"via": "org.acme:gateway-1"',
        '"enabled": false',
        '"type": "psk"',
        '"authId": "boiler-psk"',
        '"definition": "org.acme:boiler:1.0.0"',
        '"t": {',
        '"policyId": "org.acme:shared"',
        '"site": "north"',
    ):
        assert piece in shown["body"], piece


def test_hono_and_ditto_honour_the_rest(as_user, cast, connections, namespace):
    client = as_user(cast["operator"])
    fields = {
        "via": "org.acme:gateway-1",
        "enabled": "",
        "credentials_type": "psk",
        "auth_id": "boiler-psk",
        "definition": "org.acme:boiler:1.0.0",
        "features": '{"t": {"properties": {"v": 1}}}',
        "policy_mode": "existing",
        "policy_id": "org.acme:shared",
        "attr_key": ["site"],
        "attr_value": ["north"],
    }
    steps = preview(client, connections["hono_ditto"], namespace, **fields).context["preview"]["steps"]
    bodies = {step["step"]: step["body"] for step in steps}
    assert list(bodies) == ["device", "credentials", "thing"]  # an existing policy: none made
    assert '"enabled": false' in bodies["device"] and '"org.acme:gateway-1"' in bodies["device"]
    assert '"type": "psk"' in bodies["credentials"] and '"auth-id": "boiler-psk"' in bodies["credentials"]
    thing = ('"definition": "org.acme:boiler:1.0.0"', '"t": {', '"policyId": "org.acme:shared"', '"site"')
    for piece in thing:
        assert piece in bodies["thing"], piece


def test_the_page_marks_each_connection_with_its_provider_and_explains_what_is_not_offered(
    as_user, cast, connections, namespace
):
    page = text(as_user(cast["operator"]).get(DEVICE_URL))
    for kind, config in connections.items():
        assert re.search(rf'<option value="{config.pk}"[^>]* data-kind="{kind}"', page), kind
    # The stylesheet shows these notes only for the provider they speak of (static/css/app.css).
    assert '<div class="only-bosch">' in page and page.count('<div class="needs-hono">') == 2
    assert "authScope is not offered: it is a Bosch IoT Suite setting" in page
    assert "An Eclipse Ditto connection registers no device and no credentials (Hono does)" in page
    assert "enabling a device and its gateway are Hono settings" in page
