"""The device builder on a Hono + Ditto or Ditto connection, against the sandbox over real HTTP:
fields the provider cannot honour explained, the preview of every request in order with the
curl script, Send as one attempt (created, refused and undone), the show-once password, and a
second submission answered without sending again."""

import re

import pytest

from provisioning.models import AuditEvent, HeldResult, Namespace
from provisioning.sandbox import knobs
from provisioning.sandbox.models import DittoThing
from tests.views import entry_steps
from tests.workflow import DEVICE_URL, device_data, form_token

from .conftest import BASIC_USER, HONO_TENANT, parts_at_sandbox

DEVICE = "org.acme:boiler-0042"
TYPED = "Typed-Pa55-word-1"


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


def at_sandbox():
    return parts_at_sandbox(DEVICE)


def post(client, config, namespace, **fields):
    return client.post(DEVICE_URL, device_data(config, namespace, **fields))


def test_the_preview_shows_every_request_in_order_and_the_curl_script(as_user, cast, c2e, namespace):
    client = as_user(cast["operator"])
    response = post(client, c2e, namespace, action="preview", password=TYPED, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    preview = response.context["preview"]
    assert [step["method"] for step in preview["steps"]] == ["POST", "PUT", "PUT", "PUT"]
    titles = re.findall(r"<h3>([^<]+)</h3>", page)
    assert titles == [
        "Create the Hono device",
        "Set the device&#x27;s credentials",
        "Create the twin&#x27;s policy",
        "Create the twin (thing)",
    ]
    assert f"/v1/devices/{HONO_TENANT}/{DEVICE}" in page and f"/api/2/things/{DEVICE}" in page
    assert "If-None-Match: *" in page and "Basic &lt;" in page
    assert TYPED not in page and "$DEVICE_PASSWORD" in page and "$HONO_PASSWORD" in page
    assert at_sandbox() == {"device": 0, "credentials": 0, "policy": 0, "thing": 0}


def test_what_ditto_alone_cannot_do_is_explained_at_its_field(as_user, cast, ditto_alone, namespace):
    client = as_user(cast["operator"])
    response = post(client, ditto_alone, namespace, action="preview", via="org.acme:gateway-1")
    errors = response.context["form"].errors
    assert "credentials are registered in Hono" in errors["credentials_type"][0]
    assert "gateway is a Hono setting" in errors["via"][0]
    response = post(client, ditto_alone, namespace, action="preview", credentials_type="none")
    assert [step["url"].split("/api/2/")[1] for step in response.context["preview"]["steps"]] == [
        f"policies/{DEVICE}",
        f"things/{DEVICE}",
    ]


def test_send_creates_every_part_and_shows_the_generated_password_once(as_user, cast, c2e, namespace):
    client = as_user(cast["operator"])
    token = form_token(client)
    response = post(client, c2e, namespace, action="send", form_token=token)
    page = response.content.decode()
    assert response.status_code == 201, page
    assert at_sandbox() == {"device": 1, "credentials": 1, "policy": 1, "thing": 1}
    secret = re.search(r'readonly value="([^"]+)" class="wide mono" aria-label="Device secret"', page).group(
        1
    )
    assert len(secret) >= 16
    assert "At the provider, in order: device, credentials, policy, thing." in page
    assert f"<code>org.acme_boiler-0042@{HONO_TENANT}</code>" in page
    # The password is not in the audit log, and the held result is sealed.
    assert secret not in str(list(AuditEvent.objects.values()))
    assert HeldResult.objects.count() == 1 and secret not in HeldResult.objects.get().sealed

    # A second submission of the same form sends nothing and shows the first one's result.
    again = post(client, c2e, namespace, action="send", form_token=token)
    assert again.status_code == 201 and secret in again.content.decode()
    assert "This form had been sent already" in again.content.decode()
    assert AuditEvent.objects.filter(phase="intent", action="device.provision").count() == 1


def test_a_refused_step_undoes_the_earlier_ones_and_says_so(as_user, cast, c2e, namespace):
    client = as_user(cast["operator"])
    token = form_token(client)
    knobs.inject_fault(402, target="ditto")  # the policy PUT, the first call to Ditto
    response = post(client, c2e, namespace, action="send", form_token=token, password=TYPED)
    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["outcome"].status == "refused"
    assert "Undone: device, credentials." in page and "Step that failed: policy." in page
    assert at_sandbox() == {"device": 0, "credentials": 0, "policy": 0, "thing": 0}
    assert TYPED not in page


def test_ditto_alone_creates_the_policy_and_the_thing(as_user, cast, ditto_alone, namespace):
    client = as_user(cast["operator"])
    response = post(
        client, ditto_alone, namespace, action="send", form_token=form_token(client), credentials_type="none"
    )
    assert response.status_code == 201, response.content.decode()[:2000]
    assert at_sandbox() == {"device": 0, "credentials": 0, "policy": 1, "thing": 1}
    assert "At the provider, in order: policy, thing." in response.content.decode()


# --- history and de-provisioning ----------------------------------------------------------


def provisioned(client, config, namespace, **fields):
    response = post(client, config, namespace, action="send", form_token=form_token(client), **fields)
    assert response.status_code == 201, response.content.decode()[:2000]
    return AuditEvent.objects.get(phase="outcome", action="device.provision", target=DEVICE)


def test_history_lists_the_attempt_once_and_its_entry_shows_the_steps_in_order(as_user, cast, c2e, namespace):
    client = as_user(cast["operator"])
    outcome = provisioned(client, c2e, namespace, password=TYPED)
    assert AuditEvent.objects.filter(action="device.step").count() == 8
    for query in ("", f"?correlation={outcome.correlation_id}", "?q=boiler-0042"):
        listed = client.get(f"/t/team-a/history/{query}")
        actions = [row.action for row in listed.context["items"]]
        # The attempt's own rows only (its intent too, when all of one attempt is asked for).
        assert set(actions) == {"device.provision"} and len(actions) <= 2, (query, actions)
        assert "device.step" not in listed.content.decode()

    entry = client.get(f"/t/team-a/history/{outcome.pk}/").content.decode()
    assert entry_steps(entry) == [
        "Provision: device, before the call",
        "Provision: device",
        "Provision: credentials, before the call",
        "Provision: credentials",
        "Provision: policy, before the call",
        "Provision: policy",
        "Provision: thing, before the call",
        "Provision: thing",
    ]
    assert TYPED not in entry and "De-provision…" in entry


def test_deprovision_removes_every_part_in_reverse_and_does_not_offer_keeping_credentials(
    as_user, cast, c2e, namespace
):
    client = as_user(cast["operator"])
    outcome = provisioned(client, c2e, namespace)
    url = f"/t/team-a/history/{outcome.pk}/deprovision/"
    confirm = client.get(url).content.decode()
    assert 'name="keep_credentials"' not in confirm
    assert "Eclipse Hono deletes a device&#x27;s credentials together with the device" in confirm
    assert 'name="keep_policy"' in confirm

    refused = client.post(url, {"keep_credentials": "on"})  # not offered, but sent anyway
    assert refused.status_code == 400 and "Nothing was sent." in refused.content.decode()
    assert "deletes a device&#x27;s credentials together with the device" in refused.content.decode()
    assert at_sandbox() == {"device": 1, "credentials": 1, "policy": 1, "thing": 1}

    done = client.post(url, {})
    page = done.content.decode()
    assert done.status_code == 200 and "De-provisioned." in page, page
    assert done.context["outcome"].status == "deleted"
    assert at_sandbox() == {"device": 0, "credentials": 0, "policy": 0, "thing": 0}
    steps = [
        (row.request["step"], row.status)
        for row in AuditEvent.objects.filter(action="device.step", request__stage="deprovision")
        .exclude(status="pending")
        .order_by("id")
    ]
    assert steps == [("thing", "deleted"), ("policy", "deleted"), ("device", "deleted")]
    # Done once: the entry no longer offers it, and the page says so.
    assert "already de-provisioned" in client.get(url).content.decode()


def test_deprovision_keeps_the_policy_when_asked_and_a_part_gone_is_not_an_error(
    as_user, cast, ditto_alone, namespace
):
    client = as_user(cast["operator"])
    outcome = provisioned(client, ditto_alone, namespace, credentials_type="none")
    DittoThing.objects.filter(thing_id=DEVICE).delete()  # removed elsewhere meanwhile
    url = f"/t/team-a/history/{outcome.pk}/deprovision/"
    assert 'name="keep_credentials"' not in client.get(url).content.decode()
    done = client.post(url, {"keep_policy": "on"})
    assert done.context["outcome"].status == "deleted"
    assert "Already gone: thing." in done.content.decode()
    assert at_sandbox()["policy"] == 1
