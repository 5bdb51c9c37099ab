# ruff: noqa: F811 - the sandbox fixtures are imported from tests.workflow
"""The device builder: page, live preview, attribute rows, Send, show-once result, errors.

Anything that crosses the wire goes to a real HTTP server: the built-in sandbox on
pytest-django's live server, or the scripted provider (pytest-httpserver) where a
test needs an answer the sandbox does not give.
"""

import base64
import json
import re
import threading
import time
from urllib.parse import quote, unquote

import pytest
import requests

from provisioning.models import AuditEvent, Connection, HeldResult, Namespace, OpenAttempt
from provisioning.sandbox import knobs, seed, store
from provisioning.views import devices
from tests import factories
from tests.openapi import errors as schema_errors
from tests.provider import SID, TokenIssuer, api_requests, make_config
from tests.views import assert_is_partial
from tests.workflow import (  # noqa: F401 - fixtures
    DEVICE_URL,
    NAMESPACE,
    device_data,
    form_token,
    outcomes,
    sandbox_config,
    sandbox_namespace,
    send,
    tenant,
    text,
)

pytestmark = pytest.mark.django_db

DEVICES = f"/api/1/{SID}/devices"
TYPED = "Typed-Pa55-word-7731"
DEVICE_ID = f"{NAMESPACE}:boiler-0042"


@pytest.fixture
def scripted(team_a, httpserver):
    """Team A's configuration for the scripted provider, and a namespace for it."""
    httpserver.expect_request("/token", method="POST").respond_with_handler(TokenIssuer())
    config = make_config(team_a, httpserver)
    namespace = Namespace.objects.create(team=team_a, name=NAMESPACE)
    return config, namespace


def htmx_post(client, data, url=DEVICE_URL):
    return client.post(url, data, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{url}")


def echo_201(request):
    """A provider that answers 201 with the body it got (as Bosch does, secrets included)."""
    from werkzeug import Response

    body = json.loads(request.data)
    body["hub"]["device"]["deviceId"] = body["id"]
    if "credentials" in body["hub"]:
        body["hub"]["credentials"].update(tenantId="t-scripted", deviceId=body["id"])
    body["things"]["thing"].update(
        thingId=body["id"], policyId=body["things"]["thing"].get("policyId", body["id"])
    )
    return Response(json.dumps(body), status=201, content_type="application/json")


# --- who may use the page ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_auditor_is_refused(as_user, cast, scripted, httpserver, method):
    config, namespace = scripted
    client = as_user(cast["auditor"])
    data = device_data(config, namespace, action="send", form_token="x", password=TYPED)
    response = client.get(DEVICE_URL) if method == "GET" else client.post(DEVICE_URL, data)
    assert response.status_code == 403
    assert api_requests(httpserver) == [] and not AuditEvent.objects.exists()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_it_refuses_other_team(as_user, cast, scripted, httpserver, method):
    config, namespace = scripted
    client = as_user(cast["other"])
    data = device_data(config, namespace, action="send", form_token="x", password=TYPED)
    response = client.get(DEVICE_URL) if method == "GET" else client.post(DEVICE_URL, data)
    assert response.status_code == 404
    assert api_requests(httpserver) == [] and not AuditEvent.objects.exists()


def test_another_teams_configuration_cannot_be_used_from_ones_own_team(as_user, cast, scripted, httpserver):
    config, namespace = scripted
    client = as_user(cast["other"])
    response = client.post(
        "/t/team-b/devices/new/",
        device_data(config, namespace, action="send", form_token="x", password=TYPED),
    )
    assert response.status_code == 400
    assert api_requests(httpserver) == [] and not AuditEvent.objects.exists()


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_the_page_offers_only_the_teams_configurations_and_namespaces(as_user, cast, scripted, role, team_b):
    other = factories.make_config(
        team_b,
        name="Other team's client",
        secret=None,
    )
    Namespace.objects.create(team=team_b, name="com.otherteam", client=other)
    html = as_user(cast[role]).get(DEVICE_URL).content.decode()
    assert "Scripted" in html and NAMESPACE in html
    assert "Other team" not in html and "com.otherteam" not in html
    assert 'name="form_token"' in html


def test_without_a_configuration_the_page_says_what_to_do(as_user, cast):
    response = as_user(cast["operator"]).get(DEVICE_URL)
    assert response.status_code == 200
    assert "no connection yet" in response.content.decode()
    assert "Ask a team admin" in response.content.decode()


# --- the live preview -------------------------------------------------------------------


def test_the_preview_shows_the_exact_request_with_secrets_masked(as_user, cast, scripted, httpserver):
    config, namespace = scripted
    Connection.objects.filter(pk=config.pk).update(default_auth_scope="subscription")
    client = as_user(cast["operator"])

    response = htmx_post(
        client,
        device_data(
            config,
            namespace,
            action="preview",
            password=TYPED,
            attr_key=["floor", "site"],
            attr_value=["3", "north"],
        ),
    )

    html = assert_is_partial(response, "device-preview")
    page = text(response)
    assert "<strong>POST</strong>" in html
    assert f"{config.api_base_url}/{SID}/devices?authScope=subscription" in page
    assert "Authorization: Bearer &lt;token from the connection&gt;" in html
    assert TYPED not in page
    body = json.loads(re.search(r'data-copy-source="body">(.*?)</code>', page, re.S).group(1))
    assert body["hub"]["credentials"]["secrets"] == [{"password": "********"}]
    assert body["things"]["thing"]["attributes"] == {"floor": 3, "site": "north"}
    assert body["id"] == DEVICE_ID
    curl = re.search(r'data-copy-source="curl">(.*?)</code>', page, re.S).group(1)
    assert "curl -X POST" in curl and '"$DEVICE_PASSWORD"' in curl and TYPED not in curl
    # Nothing left the server, and nothing was recorded.
    assert api_requests(httpserver) == [] and len(httpserver.log) == 0
    assert not AuditEvent.objects.exists()


def test_the_preview_follows_the_auth_scope_override(as_user, cast, scripted):
    config, namespace = scripted
    Connection.objects.filter(pk=config.pk).update(default_auth_scope="subscription")
    client = as_user(cast["operator"])
    page = text(htmx_post(client, device_data(config, namespace, action="preview", auth_scope="none")))
    assert f"{SID}/devices</code>" in page and "authScope" not in page.split("As curl")[0]


def test_the_preview_names_what_to_fix(as_user, cast, scripted):
    config, namespace = scripted
    client = as_user(cast["operator"])

    slash = text(htmx_post(client, device_data(config, namespace, action="preview", name="a/b")))
    too_long = text(htmx_post(client, device_data(config, namespace, action="preview", name="x" * 240)))
    control = text(htmx_post(client, device_data(config, namespace, action="preview", name="a\x07b")))

    assert "Fix these to see the request" in slash and "cannot contain '/'" in slash
    assert "the limit is 256" in too_long
    assert "control character U+0007" in control


@pytest.mark.parametrize(("name", "char"), [("müller-01", "ü"), ("café", "é"), ("no\xa0break", "\\xa0")])
def test_an_accented_letter_is_not_called_a_control_character(as_user, cast, scripted, name, char):
    """Ditto refuses U+0080 to U+00FF; the printable ones among them are named, with what is allowed."""
    config, namespace = scripted

    page = text(
        htmx_post(as_user(cast["operator"]), device_data(config, namespace, action="preview", name=name))
    )

    assert "control character" not in page
    assert f"cannot contain '{char}'" in page
    assert "Use letters a-z and A-Z, digits" in page


def test_a_preview_without_htmx_renders_the_whole_page(as_user, cast, scripted):
    config, namespace = scripted
    response = as_user(cast["operator"]).post(DEVICE_URL, device_data(config, namespace, action="preview"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'id="device-preview"' in html and DEVICE_ID in html


# --- attribute rows ---------------------------------------------------------------------


def rows_of(html):
    keys = re.findall(r'name="attr_key" id="attr-key-\d+" value="([^"]*)"', html)
    values = re.findall(r'name="attr_value" id="attr-value-\d+" value="([^"]*)"', html)
    return list(zip(keys, values, strict=True))


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_rows_are_added_and_removed(as_user, cast, scripted, htmx):
    config, namespace = scripted
    client = as_user(cast["operator"])
    post = htmx_post if htmx else (lambda c, d: c.post(DEVICE_URL, d))

    added = post(client, device_data(config, namespace, action="add-attr", attr_key=["a"], attr_value=["1"]))
    html = assert_is_partial(added, "attributes") if htmx else added.content.decode()
    assert rows_of(html) == [("a", "1"), ("", "")]

    removed = post(
        client,
        device_data(
            config, namespace, action="remove-attr:1", attr_key=["a", "b", "c"], attr_value=["1", "2", "3"]
        ),
    )
    html = assert_is_partial(removed, "attributes") if htmx else removed.content.decode()
    assert rows_of(html) == [("a", "1"), ("c", "3")]
    if not htmx:
        assert "<html" in html and 'id="device-preview"' in html


def test_removing_the_last_row_leaves_an_empty_one(as_user, cast, scripted):
    config, namespace = scripted
    response = htmx_post(
        as_user(cast["operator"]),
        device_data(config, namespace, action="remove-attr:0", attr_key=["a"], attr_value=["1"]),
    )
    assert rows_of(response.content.decode()) == [("", "")]


def test_a_row_edit_does_not_send_anything(as_user, cast, scripted, httpserver):
    config, namespace = scripted
    htmx_post(as_user(cast["operator"]), device_data(config, namespace, action="add-attr", password=TYPED))
    assert len(httpserver.log) == 0 and not AuditEvent.objects.exists()


# --- Send: the happy path ---------------------------------------------------------------


def test_send_creates_the_device_and_shows_the_secret_once(
    as_user, cast, sandbox_config, sandbox_namespace, tenant, caplog
):
    client = as_user(cast["operator"])

    response = send(client, sandbox_config, sandbox_namespace, attr_key=["site"], attr_value=["north"])

    assert response.status_code == 201
    html = response.content.decode()
    secret = re.search(r'data-copy-source="secret"', html) and re.search(
        r'<input type="text" readonly value="([^"]+)"[^>]*data-copy-source="secret"', html
    ).group(1)
    assert secret and len(secret) >= 8
    assert html.count(secret) == 1  # once, in the copy field
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]
    for fact in (
        DEVICE_ID,
        f"{NAMESPACE}_boiler-0042",  # auth id
        tenant["hub_tenant_id"],
        "mqtts://mqtt.bosch-iot-hub.com",
        "https://http.bosch-iot-hub.com",
    ):
        assert fact in html, fact
    # The download holds the connection settings with the secret.
    href = re.search(r'href="data:application/json;base64,([^"]+)" download="([^"]+)"', html)
    settings = json.loads(base64.b64decode(unquote(href.group(1))))
    assert href.group(2) == f"{NAMESPACE}_boiler-0042.json"
    assert settings["password"] == secret
    assert settings["deviceId"] == settings["thingId"] == settings["policyId"] == DEVICE_ID
    assert settings["hubTenantId"] == tenant["hub_tenant_id"]
    assert settings["username"] == f"{NAMESPACE}_boiler-0042@{tenant['hub_tenant_id']}"
    # The device exists at the provider with that password.
    stored = store.get_device(tenant["service_instance_id"], DEVICE_ID)
    assert stored["thing"]["attributes"] == {"site": "north"}
    assert store.device_secret_matches(tenant["service_instance_id"], f"{NAMESPACE}_boiler-0042", secret)
    # Intent and outcome, and the secret nowhere in them, nor in the log.
    (intent,) = AuditEvent.objects.filter(phase="intent")
    (outcome,) = outcomes()
    assert (outcome.status, outcome.http_status, outcome.actor_name) == ("created", 201, "oscar")
    assert intent.correlation_id == outcome.correlation_id
    assert not OpenAttempt.objects.exists()
    stored_rows = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert secret not in stored_rows and "[redacted]" in stored_rows
    assert secret not in caplog.text
    # Never again: not on the history pages, not on a reload of the form.
    for url in ("/t/team-a/history/", f"/t/team-a/history/{outcome.pk}/", DEVICE_URL):
        assert secret not in client.get(url).content.decode()


def test_a_psk_is_generated_on_request_and_shown_once(
    as_user, cast, sandbox_config, sandbox_namespace, tenant
):
    response = send(as_user(cast["admin"]), sandbox_config, sandbox_namespace, credentials_type="psk")

    assert response.status_code == 201
    html = response.content.decode()
    key = re.search(r'readonly value="([^"]+)"[^>]*data-copy-source="secret"', html).group(1)
    assert len(base64.b64decode(key, validate=True)) == 32
    assert html.count(key) == 1 and "Pre-shared key" in html
    assert store.device_secret_matches(
        tenant["service_instance_id"], f"{NAMESPACE}_boiler-0042", base64.b64decode(key), "psk"
    )


def test_a_typed_password_is_shown_once_and_used(as_user, cast, sandbox_config, sandbox_namespace, tenant):
    response = send(as_user(cast["operator"]), sandbox_config, sandbox_namespace, password=TYPED)

    assert response.status_code == 201
    assert response.content.decode().count(TYPED) == 1
    assert "was generated" not in response.content.decode()
    assert store.device_secret_matches(tenant["service_instance_id"], f"{NAMESPACE}_boiler-0042", TYPED)


def test_no_credentials_means_no_secret_panel(as_user, cast, sandbox_config, sandbox_namespace, tenant):
    response = send(as_user(cast["operator"]), sandbox_config, sandbox_namespace, credentials_type="none")

    assert response.status_code == 201
    html = response.content.decode()
    assert "shown once" not in html and "Auth id" not in html
    assert store.get_device(tenant["service_instance_id"], DEVICE_ID)["credentials"] == []


def test_every_body_sent_matches_the_openapi_payload(as_user, cast, scripted, httpserver):
    config, namespace = scripted
    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(echo_201)
    client = as_user(cast["operator"])
    variants = [
        {},
        {"credentials_type": "psk"},
        {"credentials_type": "none", "enabled": ""},
        {
            "password": TYPED,
            "auth_id": "serial-4711",
            "via": f"{NAMESPACE}:gateway-1",
            "attr_key": ["floor", "tags", "meta"],
            "attr_value": ["3", '["a", "b"]', '{"room": "3.14"}'],
            "definition": "com.acme:boiler:1.0.0",
            "features": '{"temperature": {"properties": {"value": 21.5}}}',
            "policy_mode": "existing",
            "policy_id": f"{NAMESPACE}:shared-policy",
            "auth_scope": "deviceManagementSubscription",
        },
    ]
    for number, fields in enumerate(variants):
        response = send(client, config, namespace, name=f"dev-{number}", **fields)
        assert response.status_code == 201, text(response)[:3000]

    sent = api_requests(httpserver)
    assert len(sent) == len(variants)
    for request in sent:
        assert schema_errors("ProvisioningRequestPayload", json.loads(request.data)) == []
    last = json.loads(sent[-1].data)
    assert last["things"]["thing"]["attributes"] == {"floor": 3, "tags": ["a", "b"], "meta": {"room": "3.14"}}
    assert last["hub"]["credentials"]["authId"] == "serial-4711"
    assert sent[-1].args["authScope"] == "deviceManagementSubscription"


# --- double submits ---------------------------------------------------------------------


def test_a_resubmitted_form_is_not_sent_twice(as_user, cast, scripted, httpserver):
    """The first answer may never have been seen (the browser drops it when the form is sent
    again): the next submission shows its result, secret included, once; later ones do not."""
    config, namespace = scripted
    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(echo_201)
    client = as_user(cast["operator"])
    token = form_token(client)

    first = send(client, config, namespace, token=token, password=TYPED)
    again = send(client, config, namespace, token=token, password=TYPED)  # back, then Send again
    third = send(client, config, namespace, token=token, password=TYPED)

    assert first.status_code == 201 and TYPED in text(first)
    assert again.status_code == 201
    assert "had been sent already, so nothing was sent again" in text(again)
    assert text(again).count(TYPED) == 1  # the show-once panel, from the held result
    assert third.status_code == 409
    page = text(third)
    assert "already sent" in page and "ended <strong>created</strong>" in page and TYPED not in page
    (intent,) = AuditEvent.objects.filter(phase="intent")
    assert f"?correlation={intent.correlation_id}" in page
    assert len(api_requests(httpserver)) == 1
    assert AuditEvent.objects.count() == 2
    assert not HeldResult.objects.exists()  # taken by the second submission


def test_a_forged_or_foreign_form_token_sends_nothing(as_user, cast, scripted, httpserver):
    config, namespace = scripted
    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(echo_201)
    foreign = form_token(as_user(cast["admin"]))
    client = as_user(cast["operator"])

    for token in ("forged", foreign):
        response = send(client, config, namespace, token=token)
        assert response.status_code == 400, token
        assert "This form can no longer be sent" in text(response) and "already sent" not in text(response)
    assert api_requests(httpserver) == [] and not AuditEvent.objects.exists()

    # The page carries a fresh token: Send again goes through, once.
    fresh = re.search(r'name="form_token" value="([^"]+)"', response.content.decode()).group(1)
    assert send(client, config, namespace, token=fresh).status_code == 201
    assert len(api_requests(httpserver)) == 1


def test_a_form_older_than_a_day_is_not_sent_and_says_why(as_user, cast, scripted, httpserver, monkeypatch):
    config, namespace = scripted
    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(echo_201)
    client = as_user(cast["operator"])
    token = form_token(client)
    monkeypatch.setattr(devices, "FORM_TOKEN_TTL", -1)  # every token is now older than its lifetime

    response = send(client, config, namespace, token=token)

    assert response.status_code == 400
    assert "opened more than a day ago" in text(response)
    assert api_requests(httpserver) == [] and not AuditEvent.objects.exists()


def test_a_double_click_creates_one_attempt(
    cast, operator_a, sandbox_config, sandbox_namespace, tenant, live_server
):
    """Two Sends of one form racing through the real server: one attempt, one device."""
    from django.test import Client

    django_client = Client()
    django_client.force_login(operator_a)
    session = requests.Session()
    session.cookies.set("sessionid", django_client.cookies["sessionid"].value)
    page = session.get(f"{live_server.url}{DEVICE_URL}", timeout=10)
    assert page.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
    data = device_data(
        sandbox_config, sandbox_namespace, action="send", form_token=token, csrfmiddlewaretoken=csrf
    )
    knobs.configure(latency_ms=400)  # the first Send is still at the provider when the second arrives
    results = []

    def click():
        response = session.post(f"{live_server.url}{DEVICE_URL}", data=data, timeout=30)
        results.append((response.status_code, response.text))

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()

    assert AuditEvent.objects.filter(phase="intent").count() == 1
    assert store.device_ids(tenant["service_instance_id"]) == [DEVICE_ID]
    # The browser shows the second answer: it waited for the first attempt and carries its
    # generated password, the one the device has.
    assert [status for status, _ in results] == [201, 201]
    second = next(page for _, page in results if "had been sent already" in page)
    password = re.search(r'value="([^"]+)" class="wide mono" aria-label="Device secret"', second).group(1)
    assert store.device_secret_matches(tenant["service_instance_id"], DEVICE_ID.replace(":", "_"), password)


# --- provider errors --------------------------------------------------------------------


def error_page(response):
    assert response.status_code == 200, response.status_code
    return text(response)


def one_final_state(status, http_status=None):
    """Exactly one attempt: one intent, one outcome with ``status``, nothing left open."""
    assert AuditEvent.objects.filter(phase="intent").count() == 1
    (outcome,) = outcomes()
    assert outcome.status == status
    if http_status is not None:
        assert outcome.http_status == http_status
    assert not OpenAttempt.objects.exists()
    return outcome


def test_a_400_names_the_field_at_fault(as_user, cast, team_a, sandbox_config, tenant):
    unregistered = Namespace.objects.create(team=team_a, name="com.unregistered")

    page = error_page(send(as_user(cast["operator"]), sandbox_config, unregistered))

    assert "The provider refused the device (HTTP 400)" in page
    assert "The namespace 'com.unregistered' is not registered" in page
    assert "Fix what the provider names" in page
    field = re.search(r'id="id_namespace_error">([^<]*)<', page)
    assert field and "not registered" in field.group(1)
    one_final_state("refused", 400)


def test_a_400_about_a_missing_policy_points_at_the_policy_field(
    as_user, cast, sandbox_config, sandbox_namespace, tenant
):
    page = error_page(
        send(
            as_user(cast["operator"]),
            sandbox_config,
            sandbox_namespace,
            policy_mode="existing",
            policy_id=f"{NAMESPACE}:no-such-policy",
        )
    )

    assert "does not exist" in page
    assert re.search(r'id="id_policy_id_error">[^<]*does not exist', page)
    one_final_state("refused", 400)


@pytest.mark.parametrize(
    ("details", "field"),
    [
        ({"status": 400, "error": "things:id.invalid", "message": "Thing ID 'x' is not valid!"}, "name"),
        ({"status": 400, "field": "hub.credentials.authId", "message": "bad"}, "auth_id"),
        ({"status": 400, "field": "hub.credentials.secrets[0].password", "message": "bad"}, "password"),
        ({"status": 400, "field": "things.thing.definition", "message": "bad"}, "definition"),
        ({"status": 400, "field": "things.thing.features.temp", "message": "bad"}, "features"),
        ({"status": 400, "field": "hub.device.via", "message": "bad"}, "via"),
        ({"status": 400, "error": "policies:id.invalid", "message": "The policy id is bad"}, "policy_id"),
        ({"status": 400, "message": "The definition 'x' is not a valid identifier"}, "definition"),
        ({"status": 400, "message": "The authId must not contain '@'"}, "auth_id"),
    ],
)
def test_a_400_from_another_provider_is_mapped_to_its_field(
    as_user, cast, scripted, httpserver, details, field
):
    config, namespace = scripted
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(
        {"description": "The request was refused.", "errorDetails": details}, status=400
    )

    page = error_page(send(as_user(cast["operator"]), config, namespace, password=TYPED))

    assert "The request was refused." in page
    assert re.search(rf'id="id_{field}_error">The provider refused this', page), field
    assert TYPED not in page
    one_final_state("refused", 400)


def test_a_400_that_names_no_field_is_only_in_the_summary(as_user, cast, scripted, httpserver):
    config, namespace = scripted
    httpserver.expect_request(DEVICES, method="POST").respond_with_json({"description": "Nope."}, status=400)

    page = error_page(send(as_user(cast["operator"]), config, namespace))

    assert "Nope." in page and '_error">The provider refused this' not in page
    one_final_state("refused", 400)


def test_a_second_401_asks_to_check_the_scopes(as_user, cast, sandbox_config, sandbox_namespace, tenant):
    knobs.inject_fault(401, count=2)
    knobs.reset_counters()

    page = error_page(send(as_user(cast["operator"]), sandbox_config, sandbox_namespace))

    assert "refused a freshly fetched token" in page
    assert "check the client's service scopes" in page
    assert knobs.token_count() == 2  # the first token, then one fresh one
    assert store.get_device(tenant["service_instance_id"], DEVICE_ID) is None
    one_final_state("refused", 401)


def test_a_single_401_is_retried_with_a_fresh_token(as_user, cast, sandbox_config, sandbox_namespace, tenant):
    knobs.inject_fault(401, count=1)

    response = send(as_user(cast["operator"]), sandbox_config, sandbox_namespace)

    assert response.status_code == 201
    one_final_state("created", 201)


def test_a_403_asks_to_check_the_scopes(as_user, cast, team_a, tenant, live_server):
    other = seed.create_tenant(f"{live_server.url}/sandbox", namespaces=[NAMESPACE])
    config = seed.dashboard_config(team_a, {**tenant, "service_instance_id": other["service_instance_id"]})
    namespace = Namespace.objects.create(team=team_a, name=NAMESPACE)

    page = error_page(send(as_user(cast["operator"]), config, namespace))

    assert "(HTTP 403)" in page and "Insufficient permissions" in page
    assert "check the client's service scopes" in page
    assert "The provider refused this" not in page  # not the content's fault: no field is marked
    one_final_state("refused", 403)


def test_a_409_links_to_the_history_entry(as_user, cast, sandbox_config, sandbox_namespace, tenant):
    client = as_user(cast["operator"])
    assert send(client, sandbox_config, sandbox_namespace).status_code == 201
    (created,) = outcomes(status="created")

    page = error_page(send(client, sandbox_config, sandbox_namespace))

    assert "Already provisioned (HTTP 409)" in page
    assert "already been provisioned" in page
    assert f'href="/t/team-a/history/{created.pk}/"' in page
    assert "Open its history entry" in page
    (conflict,) = outcomes(status="conflict")
    assert conflict.http_status == 409
    assert AuditEvent.objects.filter(phase="intent").count() == 2


def test_a_409_for_a_device_made_elsewhere_links_to_a_history_search(
    as_user, cast, sandbox_config, sandbox_namespace, tenant
):
    # Made outside the dashboard: straight at the sandbox, with the tenant's own token.
    token = requests.post(
        tenant["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": tenant["client_id"],
            "client_secret": tenant["client_secret"],
            "scope": tenant["scope"],
        },
        timeout=10,
    ).json()["access_token"]
    made = requests.post(
        f"{tenant['api_base_url']}/{tenant['service_instance_id']}/devices",
        json={"id": DEVICE_ID, "hub": {"device": {}}, "things": {"thing": {}}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert made.status_code == 201

    page = error_page(send(as_user(cast["operator"]), sandbox_config, sandbox_namespace))

    assert "Already provisioned" in page
    assert f"/t/team-a/history/?q={quote(DEVICE_ID)}" in page


def test_a_429_is_retried_then_reported_as_nothing_created(
    as_user, cast, sandbox_config, sandbox_namespace, tenant
):
    knobs.inject_fault(429, count=4, retry_after=0)

    page = error_page(send(as_user(cast["operator"]), sandbox_config, sandbox_namespace))

    assert "busy (HTTP 429); nothing was created" in page
    assert "Try again in a moment" in page
    assert knobs.pending_faults() == []  # the first try and three retries
    assert store.get_device(tenant["service_instance_id"], DEVICE_ID) is None
    one_final_state("failed", 429)


def test_a_429_that_clears_is_created(as_user, cast, sandbox_config, sandbox_namespace, tenant):
    knobs.inject_fault(429, count=1, retry_after=0)

    assert send(as_user(cast["operator"]), sandbox_config, sandbox_namespace).status_code == 201
    one_final_state("created", 201)


@pytest.mark.parametrize(("fault", "status"), [(500, 500), (503, 503)])
def test_a_5xx_is_outcome_unknown(as_user, cast, sandbox_config, sandbox_namespace, tenant, fault, status):
    knobs.inject_fault(fault)

    page = error_page(send(as_user(cast["operator"]), sandbox_config, sandbox_namespace))

    assert f"Outcome unknown (HTTP {status})" in page
    assert f"failed (HTTP {status})" in page
    assert "check whether the device exists before retrying" in page
    one_final_state("unknown", status)


def test_a_503_with_retry_after_that_persists_is_nothing_created(
    as_user, cast, sandbox_config, sandbox_namespace, tenant
):
    knobs.inject_fault(503, count=4, retry_after=0)

    page = error_page(send(as_user(cast["operator"]), sandbox_config, sandbox_namespace))

    assert "busy (HTTP 503); nothing was created" in page
    one_final_state("failed", 503)


def test_a_timeout_is_outcome_unknown_and_a_retry_finds_the_device(
    as_user, cast, sandbox_config, sandbox_namespace, tenant, settings
):
    settings.OUTBOUND_READ_TIMEOUT = 1
    knobs.inject_fault("slow", seconds=2)
    client = as_user(cast["operator"])

    page = error_page(send(client, sandbox_config, sandbox_namespace))

    assert "Outcome unknown" in page and "did not answer in time" in page
    assert "check whether the device exists before retrying" in page
    unknown = one_final_state("unknown")
    assert unknown.http_status is None
    # A generated password that may now belong to a device is not thrown away.
    assert 'data-copy-source="secret"' in page
    # The sandbox finishes the request after the client gave up: the device exists.
    deadline = time.monotonic() + 10
    while store.get_device(tenant["service_instance_id"], DEVICE_ID) is None:
        assert time.monotonic() < deadline, "the slow request never finished"
        time.sleep(0.1)
    retry = error_page(send(client, sandbox_config, sandbox_namespace))
    assert "Already provisioned" in retry
    assert f'href="/t/team-a/history/{unknown.pk}/"' in retry


def test_a_garbage_body_is_outcome_unknown(as_user, cast, sandbox_config, sandbox_namespace, tenant):
    knobs.inject_fault("garbage")

    page = error_page(send(as_user(cast["operator"]), sandbox_config, sandbox_namespace))

    assert "Outcome unknown (HTTP 201)" in page
    assert "its body could not be read" in page
    one_final_state("unknown", 201)


def test_a_dropped_connection_is_outcome_unknown(as_user, cast, sandbox_config, sandbox_namespace, tenant):
    knobs.inject_fault("reset")

    page = error_page(send(as_user(cast["operator"]), sandbox_config, sandbox_namespace))

    assert "Outcome unknown" in page and "broke before an answer came" in page
    one_final_state("unknown")


def test_a_refused_token_sends_nothing(as_user, cast, team_a, sandbox_config, sandbox_namespace, tenant):
    sandbox_config.set_secret("not-the-secret")
    sandbox_config.save()

    page = error_page(send(as_user(cast["operator"]), sandbox_config, sandbox_namespace))

    assert "Not sent to the provider" in page
    assert "refused the client id or secret" in page
    assert "use Test connection" in page
    one_final_state("failed")
    assert store.device_ids(tenant["service_instance_id"]) == []


def test_after_an_error_the_form_can_be_fixed_and_sent(as_user, cast, scripted, httpserver):
    config, namespace = scripted
    httpserver.expect_oneshot_request(DEVICES, method="POST").respond_with_json(
        {"description": "No."}, status=400
    )
    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(echo_201)
    client = as_user(cast["operator"])

    refused = send(client, config, namespace)
    token = re.search(r'name="form_token" value="([^"]+)"', refused.content.decode()).group(1)
    again = send(client, config, namespace, token=token)

    assert again.status_code == 201
    assert AuditEvent.objects.filter(phase="intent").count() == 2


# --- fail closed ------------------------------------------------------------------------


def test_nothing_is_sent_when_the_intent_cannot_be_written(
    as_user, cast, scripted, httpserver, audit_refusal
):
    config, namespace = scripted
    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(echo_201)
    client = as_user(cast["operator"])
    token = form_token(client)
    audit_refusal.refuse()

    response = send(client, config, namespace, token=token)

    assert response.status_code == 503
    assert "nothing was sent to the provider" in text(response)
    assert len(httpserver.log) == 0  # not even a token request
    assert not AuditEvent.objects.exists() and not OpenAttempt.objects.exists()
    # Once the log can be written again, the same form goes through.
    audit_refusal.allow()
    assert send(client, config, namespace, token=token).status_code == 201


def test_an_invalid_form_is_not_sent(as_user, cast, scripted, httpserver):
    config, namespace = scripted
    response = send(as_user(cast["operator"]), config, namespace, name="a/b", password="short")
    assert response.status_code == 400
    page = text(response)
    assert "cannot contain '/'" in page and "at least 8" in page
    assert len(httpserver.log) == 0 and not AuditEvent.objects.exists()


# --- NUL characters ---------------------------------------------------------------------


NUL = "character"  # each NUL message names the character
TOO_DEEP = "more than 32 levels deep"


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"name": "boiler\x00"}, NUL),
        ({"password": "pass\x00word-long"}, NUL),
        ({"definition": "com.acme:boiler\x00:1.0"}, NUL),
        ({"attr_key": ["site\x00"], "attr_value": ["north"]}, NUL),
        ({"attr_key": ["site"], "attr_value": ["nor\x00th"]}, NUL),
        ({"attr_key": ["site"], "attr_value": ['"nor\\u0000th"']}, NUL),  # a JSON value that decodes to NUL
        ({"attr_key": ["site"], "attr_value": ['{"a\\u0000": 1}']}, NUL),
        ({"features": '{"f": {"properties": {"p": "\\u0000"}}}'}, NUL),
        ({"attr_key": "site", "attr_value": "[" * 5000 + "]" * 5000}, TOO_DEEP),
        ({"features": '{"f": {"properties": {"v": ' + "[" * 5000 + "]" * 5000 + "}}}"}, TOO_DEEP),
    ],
    ids=[
        "name",
        "password",
        "definition",
        "attr-key",
        "attr-value",
        "attr-json",
        "attr-json-key",
        "features",
        "attr-json-too-deep",
        "features-too-deep",
    ],
)
def test_input_that_cannot_be_stored_or_sent_is_a_field_error_not_a_failure(
    as_user, cast, scripted, httpserver, fields, said
):
    """NUL (PostgreSQL cannot store it in text or JSON) and JSON nested thousands deep (a
    RecursionError once): refused in the form, with the field named."""
    config, namespace = scripted
    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(echo_201)
    client = as_user(cast["operator"])

    for action in ("preview", "send"):
        data = device_data(config, namespace, action=action, form_token=form_token(client), **fields)
        response = client.post(DEVICE_URL, data)
        assert response.status_code in (200, 400), (action, response.status_code)
        assert said in text(response).lower()
    assert api_requests(httpserver) == [] and not AuditEvent.objects.exists()
