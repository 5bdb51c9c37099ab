""" "Send again" of a Hono + Ditto or Ditto attempt whose outcome is unknown, in the device builder,
against the sandbox over real HTTP: the builder is filled from the attempt's recorded steps
(never a secret), the page says where Send continues and which password the device ends up
with, and the Send completes the attempt from its first unconfirmed step with nothing made twice.
"""

import re
import time

import pytest
from django.test import override_settings

from provisioning.models import AuditEvent, Namespace
from provisioning.sandbox import knobs
from provisioning.sandbox.models import HonoCredential, secret_matches
from tests.workflow import DEVICE_URL, device_data, form_token, text

from .conftest import BASIC_USER, parts_at_sandbox

DEVICE = "org.acme:boiler-0042"
SHARED_POLICY = "org.acme:shared-policy"
TYPED = "Typed-Pa55-word-1"
RETYPED = "Typed-Pa55-word-2"


@pytest.fixture
def namespace(team_a):
    return Namespace.objects.create(team=team_a, name="org.acme")


@pytest.fixture
def ditto_alone(team_a, sandbox_url, ditto):
    from tests.factories import make_hono_ditto

    config = make_hono_ditto(
        team_a, name="Ditto A", kind="ditto", url=sandbox_url, ditto_username=BASIC_USER[0]
    )
    config.set_sealed("ditto_password", BASIC_USER[1])
    config.save()
    return config


@pytest.fixture
def shared_policy(ditto):
    """An existing policy at the sandbox's Ditto that lets the connection's user make things."""
    grant = {"grant": ["READ", "WRITE"], "revoke": []}
    body = {
        "entries": {
            "OWNER": {
                "subjects": {f"nginx:{BASIC_USER[0]}": {"type": "test"}},
                "resources": {"thing:/": grant, "policy:/": grant, "message:/": grant},
            }
        }
    }
    assert ditto.policy("PUT", SHARED_POLICY, json=body).status_code == 201
    return SHARED_POLICY


def send(client, config, namespace, token=None, **fields):
    token = token or form_token(client)
    return client.post(DEVICE_URL, device_data(config, namespace, action="send", form_token=token, **fields))


def shown_secret(response):
    found = re.search(r'readonly value="([^"]+)"[^>]*data-copy-source="secret"', text(response))
    return found[1] if found else None


def device_password_is(password):
    (credential,) = HonoCredential.objects.filter(device__device_id=DEVICE)
    return secret_matches(password, credential.secrets[0]["hidden"]["hash"])


def open_send_again(client, unknown):
    """Follow the history entry's "Send again" link; the builder's page."""
    entry = text(client.get(f"/t/team-a/history/{unknown.pk}/"))
    again_url = re.search(r'href="(/t/team-a/devices/new/\?again=[^"]+)">Send again', entry)[1]
    page = client.get(again_url)
    assert page.status_code == 200
    return page


def form_values(page):
    return {
        "token": re.search(r'name="form_token" value="([^"]+)"', text(page))[1],
        "resolves": re.search(r'name="resolves" value="([^"]+)"', text(page))[1],
    }


def provision_steps(correlation_id):
    rows = AuditEvent.objects.filter(correlation_id=correlation_id, action="device.step").order_by("id")
    return [(row.request["step"], row.status) for row in rows if row.request["stage"] == "provision"]


MANY_FIELDS = {
    "enabled": "",
    "via": "org.acme:gateway-7",
    "auth_id": "boiler-auth-42",
    "definition": "org.acme:boiler:1.0.0",
    "features": '{"temperature": {"properties": {"value": 21.5}}}',
    "attr_key": ["site", "code"],
    "attr_value": ["north", '"42"'],
    "policy_mode": "existing",
}


def test_a_thing_step_that_timed_out_is_completed_and_nothing_is_made_twice(
    as_user, cast, c2e, namespace, shared_policy
):
    client = as_user(cast["operator"])
    fields = {**MANY_FIELDS, "policy_id": shared_policy}
    knobs.inject_fault("slow", seconds=2, target="ditto")  # the thing: the first call to Ditto here
    with override_settings(OUTBOUND_READ_TIMEOUT=1):
        first = send(client, c2e, namespace, **fields)
    assert first.context["outcome"].status == "unknown" and "Outcome unknown" in text(first)
    generated = shown_secret(first)  # the credentials were sent: this may be the device's password
    assert generated and device_password_is(generated)
    unknown = AuditEvent.objects.get(phase="outcome", action="device.provision", status="unknown")

    page = open_send_again(client, unknown)
    form = page.context["form"]
    assert {name: form.initial[name] for name in ("name", "enabled", "via", "auth_id", "policy_mode")} == {
        "name": "boiler-0042",
        "enabled": False,
        "via": "org.acme:gateway-7",
        "auth_id": "boiler-auth-42",
        "policy_mode": "existing",
    }
    assert form.initial["policy_id"] == shared_policy
    assert form.initial["definition"] == "org.acme:boiler:1.0.0"
    assert form.initial["attributes"] == {"site": "north", "code": '"42"'}
    assert '"temperature"' in form.initial["features"] and form.initial["config"] == c2e.pk
    words = " ".join(text(page).split())
    assert "It made these steps: device, credentials; they are not sent again." in words
    assert "Send continues from the thing step." in words and "Ditto 412" in words
    assert "The device keeps the credentials that attempt set" in words
    assert 'name="password"' not in text(page)  # nothing typed there would be sent
    assert "provider answers 409 and the device keeps the password" not in words  # Bosch's words
    assert generated not in text(page)

    # The slow request acts after the client gave up: the thing exists before it is sent again.
    deadline = time.monotonic() + 10
    while parts_at_sandbox(DEVICE)["thing"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # the slow request's handler finishes its writes
    values = form_values(page)
    second = send(client, c2e, namespace, token=values["token"], resolves=values["resolves"], **fields)
    assert second.status_code == 201, text(second)[:3000]
    result = " ".join(text(second).split())
    assert "is complete now. Made now: nothing; the rest that attempt had made." in result
    assert "The device keeps the credentials that attempt set." in result
    assert shown_secret(second) is None  # the new attempt set no password: none to show
    assert parts_at_sandbox(DEVICE) == {"device": 1, "credentials": 1, "policy": 0, "thing": 1}
    assert device_password_is(generated)

    later = AuditEvent.objects.get(phase="outcome", action="device.provision", status="created")
    assert provision_steps(later.correlation_id) == [("thing", "pending"), ("thing", "already")]
    intent = AuditEvent.objects.get(correlation_id=later.correlation_id, phase="intent")
    assert intent.request["origin"] == {"resolves": str(unknown.correlation_id)}
    entry = " ".join(text(client.get(f"/t/team-a/history/{unknown.pk}/")).split())
    assert "the steps this attempt had not confirmed were sent then, and the device is complete" in entry
    assert "Send again…" not in entry
    # Settled: its old "Send again" address opens a plain builder, and a form still naming it
    # sends nothing on its behalf (resumed from its own steps, it would undo a working device).
    again = text(client.get(f"{DEVICE_URL}?again={unknown.correlation_id}"))
    assert "Sending again" not in again and 'name="resolves"' not in again
    stale = send(client, c2e, namespace, resolves=str(unknown.correlation_id), **fields)
    assert stale.context["outcome"].status == "conflict" and stale.context["resolves"] is None
    assert parts_at_sandbox(DEVICE) == {"device": 1, "credentials": 1, "policy": 0, "thing": 1}


def test_a_policy_step_that_failed_is_resumed_and_the_device_keeps_its_first_password(
    as_user, cast, c2e, namespace
):
    client = as_user(cast["operator"])
    knobs.inject_fault(500, target="ditto")  # the generated policy: the first call to Ditto
    first = send(client, c2e, namespace, password=TYPED)
    assert first.context["outcome"].status == "unknown"
    assert "Use Send again on this attempt's history entry: it continues from this step" in text(first)
    assert "a 409 then means it does" not in text(first)  # Bosch's next step, for one request
    unknown = AuditEvent.objects.get(phase="outcome", action="device.provision", status="unknown")
    assert f'href="{DEVICE_URL}?again={unknown.correlation_id}">Send again…' in text(first)

    page = open_send_again(client, unknown)
    assert page.context["form"].initial["policy_mode"] == "generated"
    assert "Send continues from the policy step." in " ".join(text(page).split())
    assert TYPED not in text(page)

    values = form_values(page)
    preview = client.post(
        DEVICE_URL,
        device_data(c2e, namespace, action="preview", resolves=values["resolves"], password=RETYPED),
        HTTP_HX_REQUEST="true",
    )
    assert text(preview).count("Made by the attempt you are completing: not sent again.") == 2

    again = {"token": values["token"], "resolves": values["resolves"]}
    second = send(client, c2e, namespace, password=RETYPED, **again)
    assert second.status_code == 201, text(second)[:3000]
    assert "Made now: policy, thing" in text(second) and RETYPED not in text(second)
    later = AuditEvent.objects.get(phase="outcome", action="device.provision", status="created")
    assert [name for name, status in provision_steps(later.correlation_id) if status == "pending"] == [
        "policy",
        "thing",
    ]
    assert parts_at_sandbox(DEVICE) == {"device": 1, "credentials": 1, "policy": 1, "thing": 1}
    assert device_password_is(TYPED)


def test_when_the_credentials_are_sent_again_the_new_password_is_the_devices_and_shown_once(
    as_user, cast, c2e, namespace
):
    client = as_user(cast["operator"])
    knobs.inject_fault(500, target="hono")  # the device: refused before it was made
    first = send(client, c2e, namespace)
    assert first.context["outcome"].status == "unknown"
    # The credentials were never sent: no password of this attempt can be the device's.
    assert shown_secret(first) is None
    unknown = AuditEvent.objects.get(phase="outcome", action="device.provision", status="unknown")

    page = open_send_again(client, unknown)
    words = " ".join(text(page).split())
    assert "None of its steps was confirmed." in words and "Send continues from the device step." in words
    assert "leave it empty to have a new one generated and shown once" in words

    values = form_values(page)
    second = send(client, c2e, namespace, token=values["token"], resolves=values["resolves"])
    assert second.status_code == 201
    secret = shown_secret(second)
    assert secret and device_password_is(secret)
    assert "This password was generated for the device." in text(second)
    assert parts_at_sandbox(DEVICE) == {"device": 1, "credentials": 1, "policy": 1, "thing": 1}


def test_a_change_to_a_step_already_made_or_to_the_device_is_refused_and_nothing_sent(
    as_user, cast, c2e, namespace
):
    client = as_user(cast["operator"])
    knobs.inject_fault(500, target="ditto")
    send(client, c2e, namespace, password=TYPED)
    unknown = AuditEvent.objects.get(phase="outcome", action="device.provision", status="unknown")
    values = form_values(open_send_again(client, unknown))
    before = AuditEvent.objects.count()

    changed = send(client, c2e, namespace, token=values["token"], resolves=values["resolves"], enabled="")
    assert changed.status_code == 400
    assert "made these already, with the values it was sent with: device." in text(changed)
    other = send(
        client, c2e, namespace, token=values["token"], resolves=values["resolves"], name="boiler-0043"
    )
    assert other.status_code == 400
    assert f"completes the attempt for {DEVICE} through “{c2e.name}”" in text(other)
    assert AuditEvent.objects.count() == before
    assert parts_at_sandbox(DEVICE) == {"device": 1, "credentials": 1, "policy": 0, "thing": 0}


def test_a_ditto_attempt_is_sent_again_without_credentials(as_user, cast, ditto_alone, namespace):
    client = as_user(cast["operator"])
    knobs.inject_fault(500, target="ditto")  # the policy
    send(client, ditto_alone, namespace, credentials_type="none", attr_key=["a"], attr_value=["1"])
    unknown = AuditEvent.objects.get(phase="outcome", action="device.provision", status="unknown")

    page = open_send_again(client, unknown)
    initial = page.context["form"].initial
    assert initial["credentials_type"] == "none" and initial["config"] == ditto_alone.pk
    assert initial["attributes"] == {"a": "1"}
    words = " ".join(text(page).split())
    assert "Send continues from the policy step." in words
    assert "The credentials are sent now" not in words and "keeps the credentials" not in words

    values = form_values(page)
    second = send(
        client,
        ditto_alone,
        namespace,
        token=values["token"],
        resolves=values["resolves"],
        credentials_type="none",
        attr_key=["a"],
        attr_value=["1"],
    )
    assert second.status_code == 201, text(second)[:3000]
    assert parts_at_sandbox(DEVICE) == {"device": 0, "credentials": 0, "policy": 1, "thing": 1}
