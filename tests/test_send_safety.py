# ruff: noqa: F811 - the sandbox fixtures are imported from tests.workflow
"""Send keeps the device's secret and says what it is doing (issue 12): the copied curl
runs as it is, with the token and the secret from shell variables."""

import html
import json
import os
import re
import subprocess
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning import held_results
from provisioning.models import AuditEvent, HeldResult, Namespace
from provisioning.sandbox import knobs, store
from tests.provider import SID, TokenIssuer, make_config
from tests.workflow import (  # noqa: F401 - fixtures
    DEVICE_URL,
    NAMESPACE,
    device_data,
    form_token,
    sandbox_config,
    sandbox_namespace,
    send,
    tenant,
    text,
)

pytestmark = pytest.mark.django_db

TYPED = "Typed-Pa55-word-7731"


@pytest.fixture
def scripted(team_a, httpserver):
    httpserver.expect_request("/token", method="POST").respond_with_handler(TokenIssuer())
    config = make_config(team_a, httpserver, name="Ops\nrm -rf ~")
    namespace = Namespace.objects.create(team=team_a, name=NAMESPACE)
    return config, namespace


def copied_curl(client, config, namespace, **fields):
    response = client.post(
        DEVICE_URL, device_data(config, namespace, action="preview", **fields), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    return html.unescape(re.search(r'data-copy-source="curl">(.*?)</code>', text(response), re.S)[1])


@pytest.mark.parametrize("kind", ["hashed-password", "psk"])
def test_the_copied_curl_runs_in_a_shell_with_the_token_and_secret_from_variables(
    as_user, cast, scripted, httpserver, kind
):
    config, namespace = scripted
    client = as_user(cast["operator"])
    typed = {"password": TYPED} if kind == "hashed-password" else {"psk_key": "a" * 32}
    curl = copied_curl(client, config, namespace, credentials_type=kind, **typed)
    variable = "DEVICE_PASSWORD" if kind == "hashed-password" else "DEVICE_PSK"
    assert TYPED not in curl and "a" * 32 not in curl and "********" not in curl
    # Every line before the command is a comment, even where the configuration's name has a line break.
    head = curl.partition("curl -X POST")[0]
    assert all(line.startswith("#") for line in head.strip().splitlines())
    assert config.token_url in head and "$CLIENT_SECRET" in head and variable in head

    captured = []

    def answer(request):
        from werkzeug import Response

        captured.append((request.headers.get("Authorization"), json.loads(request.data)))
        return Response("{}", status=201, content_type="application/json")

    httpserver.expect_request(f"/api/1/{SID}/devices", method="POST").respond_with_handler(answer)
    env = {"PATH": os.environ["PATH"], "TOKEN": "tok-from-shell", variable: "Shell-Secret-0001"}
    run = subprocess.run(["bash", "-c", curl], env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    ((authorization, body),) = captured
    assert authorization == "Bearer tok-from-shell"
    secret = body["hub"]["credentials"]["secrets"][0]
    assert secret == (
        {"password": "Shell-Secret-0001"} if kind == "hashed-password" else {"key": "Shell-Secret-0001"}
    )
    assert body["id"].startswith(NAMESPACE + ":")


def test_an_unknown_outcome_with_a_generated_password_reaches_a_second_submission_once(
    as_user, cast, scripted, httpserver
):
    """The device may exist with the generated password: a second submission of the form
    (the browser dropped the first answer) shows it once, as the first answer did."""
    config, namespace = scripted
    httpserver.expect_request(f"/api/1/{SID}/devices", method="POST").respond_with_data(
        "upstream broke", status=502
    )
    client = as_user(cast["operator"])
    token = form_token(client)

    first = send(client, config, namespace, token=token)
    generated = re.search(r'readonly value="([^"]+)"[^>]*data-copy-source="secret"', text(first))[1]
    again = send(client, config, namespace, token=token)
    third = send(client, config, namespace, token=token)

    assert again.status_code == 409
    assert "ended <strong>outcome unknown</strong>" in text(again) and text(again).count(generated) == 1
    assert third.status_code == 409 and generated not in text(third)
    assert len([r for r in httpserver.log if r[0].path.endswith("/devices")]) == 1
    assert not HeldResult.objects.exists()


def test_a_held_result_is_sealed_kept_minutes_and_only_for_its_user(operator_a, admin_a):
    correlation_id = uuid.uuid4()
    held_results.hold(correlation_id, operator_a, {"kind": "unknown", "secret": TYPED, "secret_kind": "psk"})
    (row,) = HeldResult.objects.all()
    assert TYPED not in row.sealed
    assert timedelta(minutes=4) < row.expires_at - timezone.now() <= held_results.HOLD_FOR

    assert held_results.claim(correlation_id, admin_a) is None  # another user's
    assert held_results.claim(correlation_id, operator_a)["secret"] == TYPED
    assert held_results.claim(correlation_id, operator_a) is None  # taken

    held_results.hold(correlation_id, operator_a, {"secret": TYPED})
    HeldResult.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert held_results.claim(correlation_id, operator_a) is None  # expired
    held_results.hold(uuid.uuid4(), operator_a, {"secret": TYPED})
    assert HeldResult.objects.count() == 1  # the expired one was purged


# --- an attempt whose outcome is unknown, sent again from its history entry --------------------


@pytest.mark.parametrize(
    ("fault", "created_first", "answer", "says"),
    [
        ("500", False, 201, "had not created the device; it is created now"),
        (
            "garbage",
            True,
            200,
            "the device already existed, so the attempt whose outcome was unknown had created it",
        ),
    ],
)
def test_an_unknown_attempt_is_sent_again_from_its_entry_and_both_entries_link(
    as_user, cast, team_a, sandbox_config, sandbox_namespace, tenant, fault, created_first, answer, says
):
    client = as_user(cast["operator"])
    attributes = {"attr_key": ["site", "code"], "attr_value": ["north", '"42"']}
    knobs.inject_fault(fault)
    first = send(client, sandbox_config, sandbox_namespace, name="maybe-1", **attributes)
    assert "Outcome unknown" in text(first)
    sid = tenant["service_instance_id"]
    assert store.device_ids(sid) == ([f"{NAMESPACE}:maybe-1"] if created_first else [])
    unknown = AuditEvent.objects.get(phase="outcome", status="unknown")

    entry = text(client.get(f"/t/team-a/history/{unknown.pk}/"))
    again_url = re.search(r'href="(/t/team-a/devices/new/\?again=[^"]+)">Send again', entry)[1]
    builder = client.get(again_url)
    page = text(builder)
    assert "Sending again" in page and 'name="resolves"' in page
    assert 'value="maybe-1"' in page and 'value="site"' in page and 'value=""42""' in page
    token = re.search(r'name="form_token" value="([^"]+)"', page)[1]
    resolves = re.search(r'name="resolves" value="([^"]+)"', page)[1]
    assert resolves == str(unknown.correlation_id)

    second = send(
        client,
        sandbox_config,
        sandbox_namespace,
        token=token,
        name="maybe-1",
        resolves=resolves,
        **attributes,
    )
    assert says in text(second)
    assert second.status_code == (201 if answer == 201 else 200)
    assert store.get_device(sid, f"{NAMESPACE}:maybe-1")["thing"]["attributes"] == {
        "site": "north",
        "code": "42",
    }

    later = AuditEvent.objects.filter(phase="outcome").exclude(pk=unknown.pk).get()
    assert later.status == ("created" if answer == 201 else "conflict")
    assert f"/t/team-a/history/{later.pk}/" in text(client.get(f"/t/team-a/history/{unknown.pk}/"))
    assert f"?correlation={unknown.correlation_id}" in text(client.get(f"/t/team-a/history/{later.pk}/"))


def test_send_again_is_offered_only_for_an_unknown_outcome_and_to_those_who_may_provision(
    as_user, cast, team_a, sandbox_config, sandbox_namespace, tenant
):
    operator = as_user(cast["operator"])
    send(operator, sandbox_config, sandbox_namespace, name="fine-1")
    created = AuditEvent.objects.get(phase="outcome", status="created")
    assert "Send again" not in text(operator.get(f"/t/team-a/history/{created.pk}/"))
    knobs.inject_fault("500")
    send(operator, sandbox_config, sandbox_namespace, name="maybe-2")
    unknown = AuditEvent.objects.get(phase="outcome", status="unknown")
    assert "Send again" in text(operator.get(f"/t/team-a/history/{unknown.pk}/"))
    assert "Send again" not in text(as_user(cast["auditor"]).get(f"/t/team-a/history/{unknown.pk}/"))
    # A made-up or settled attempt is not sent "again": the builder opens as usual.
    for value in ("not-a-uuid", str(created.correlation_id), str(uuid.uuid4())):
        page = text(operator.get(f"{DEVICE_URL}?again={value}"))
        assert "Sending again" not in page and 'name="resolves"' not in page
