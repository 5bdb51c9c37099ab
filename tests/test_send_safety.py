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
from provisioning.models import HeldResult, Namespace
from tests.provider import SID, TokenIssuer, make_config
from tests.workflow import DEVICE_URL, NAMESPACE, device_data, form_token, send, text

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
