"""Secrets never land anywhere: a full operator flow with canaries, then every table and the log.

The canaries: a client secret, typed device passwords and a typed pre-shared key, and
the access token (the sandbox's JWT, and a recognisable token from the scripted
provider). After the flow every table of the database is dumped (cache and session
values decoded), with the captured log, and no canary may appear. Sealed columns hold
ciphertext, so a canary cannot appear there either. The show-once page after a 201 is
the one place a device secret may be shown.
"""

import base64
import io
import json
import logging
import pickle
import re

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection

from provisioning import tokens
from provisioning.models import AuditEvent, Connection, Namespace
from provisioning.sandbox import knobs, seed
from tests.provider import SID, make_config
from tests.workflow import NAMESPACE, device_data, form_token, send, text

pytestmark = pytest.mark.django_db

CLIENT_SECRET = "Canary-Client-Secret-5f3a9e"
PASSWORD = "Canary-Device-Pw-7c2e1b"
PASSWORD_CLI = "Canary-Cli-Pw-0d4f8a"
PSK = base64.b64encode(b"Canary-Psk-Key-3b9d").decode()
SCRIPTED_TOKEN = "Canary-Token-e1f2a3b4c5"


def table_dump():
    """Every row of every table, as text; cache and session values decoded too."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                record = dict(zip(columns, row, strict=True))
                chunks.append(f"{table}: {record!r}")
                if table == django_settings.CACHES["default"].get("LOCATION") and "value" in record:
                    chunks.append(repr(pickle.loads(base64.b64decode(record["value"]))))
                if table == "django_session":
                    chunks.append(repr(SessionStore().decode(record["session_data"])))
    if django_settings.REDIS_URL:
        redis = cache._cache.get_client(write=False)
        for key in redis.scan_iter("*"):
            value = redis.get(key)
            try:
                value = pickle.loads(value)
            except Exception:
                pass
            chunks.append(f"redis {key!r}: {value!r}")
    return "\n".join(chunks)


def assert_nowhere(haystack, canaries, where):
    for canary in canaries:
        variants = {canary, json.dumps(canary)[1:-1], base64.b64encode(canary.encode()).decode()}
        for variant in variants:
            assert variant not in haystack, f"{canary!r} found in {where}"


@pytest.fixture
def everything_logged(caplog, settings):
    """Capture every log record the app would print, SQL included (DEBUG turns query logging on)."""
    settings.DEBUG = True
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    return caplog


def test_a_full_flow_leaves_no_secret_behind(
    as_user, cast, team_a, live_server, everything_logged, monkeypatch
):
    knobs.reset()
    tenant = seed.create_tenant(
        f"{live_server.url}/sandbox", namespaces=[NAMESPACE], client_secret=CLIENT_SECRET
    )
    admin = as_user(cast["admin"])
    pages = []  # every page shown, except the show-once result

    # An admin adds the connection through the dashboard, and tests it.
    response = admin.post(
        "/t/team-a/connections/new/",
        {
            "name": "Sandbox",
            "preset": "custom",
            "nexeed_tenant_id": "",
            "token_url": tenant["token_url"],
            "client_id": tenant["client_id"],
            "client_secret": CLIENT_SECRET,
            "scope": tenant["scope"],
            "audience": "",
            "auth_method": "client_secret_post",
            "api_base_url": tenant["api_base_url"],
            "service_instance_id": tenant["service_instance_id"],
            "default_auth_scope": "",
        },
    )
    assert response.status_code == 302, text(response)[:2000]
    config = Connection.objects.get(name="Sandbox")
    namespace = Namespace.objects.create(team=team_a, name=NAMESPACE)
    pages.append(admin.get(f"/t/team-a/connections/{config.pk}/"))
    tested = admin.post(f"/t/team-a/connections/{config.pk}/test/")
    assert "Connected." in text(tested)  # the token was granted (the audit row says "Token granted")
    pages.append(tested)

    # An operator previews, sends, sends again (409), and provisions a psk device.
    operator = as_user(cast["operator"])
    token = form_token(operator)
    pages.append(
        operator.post(
            "/t/team-a/devices/new/",
            device_data(config, namespace, action="preview", password=PASSWORD, form_token=token),
            HTTP_HX_REQUEST="true",
        )
    )
    created = send(operator, config, namespace, token=token, password=PASSWORD)
    assert created.status_code == 201
    assert text(created).count(PASSWORD) == 1  # the show-once page
    conflict = send(operator, config, namespace, password=PASSWORD)
    assert "Already provisioned" in text(conflict)
    pages.append(conflict)
    psk = send(operator, config, namespace, name="psk-1", credentials_type="psk", psk_key=PSK)
    assert psk.status_code == 201
    knobs.inject_fault(500)
    pages.append(send(operator, config, namespace, name="unknown-1", password=PASSWORD))

    # The command line, with its password from the environment.
    monkeypatch.setenv("CANARY_PW", PASSWORD_CLI)
    out = io.StringIO()
    call_command(
        "provision",
        *["--user", "oscar", "--team", "team-a", "--client", "Sandbox", "--namespace", NAMESPACE],
        *["--name", "cli-1", "--password-env", "CANARY_PW"],
        stdout=out,
    )
    assert "Created" in out.getvalue()

    # History, details, exports; then de-provisioning from the entry.
    auditor = as_user(cast["auditor"])
    pages.append(auditor.get("/t/team-a/history/"))
    for row in AuditEvent.objects.all():
        pages.append(auditor.get(f"/t/team-a/history/{row.pk}/"))
    pages.append(auditor.get("/t/team-a/history/export/?format=csv"))
    pages.append(auditor.get("/t/team-a/history/export/?format=jsonl"))
    entry = AuditEvent.objects.get(phase="outcome", status="created", target=f"{NAMESPACE}:boiler-0042")
    operator = as_user(cast["operator"])
    deleted = operator.post(f"/t/team-a/history/{entry.pk}/deprovision/")
    assert "De-provisioned." in text(deleted)
    pages.append(deleted)

    access_token = tokens.get_token(config).access_token
    assert access_token.count(".") == 2  # the sandbox's JWT
    canaries = [CLIENT_SECRET, PASSWORD, PASSWORD_CLI, PSK, access_token, access_token.rsplit(".", 1)[1]]

    dump = table_dump()
    assert "provisioning_auditevent" in dump and "sandbox_" in dump  # every table really was read
    assert config.secret_sealed in dump  # the sealed secret is there, as ciphertext
    assert_nowhere(dump, canaries, "the database")
    assert_nowhere(everything_logged.text, canaries, "the log")
    assert "SELECT" in everything_logged.text  # SQL was logged, and held no secret
    for page in pages:
        assert_nowhere(text(page), canaries, f"a page ({page.status_code})")


def test_a_provider_that_echoes_secrets_is_redacted(as_user, cast, team_a, httpserver, everything_logged):
    """The scripted provider echoes the password in free text of errors; none of it is kept."""
    from werkzeug import Response

    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"access_token": SCRIPTED_TOKEN, "token_type": "bearer", "expires_in": 3600}
    )
    echo = f"The password '{PASSWORD}' is too weak"
    httpserver.expect_oneshot_request(f"/api/1/{SID}/devices", method="POST").respond_with_json(
        {"description": echo, "errorDetails": {"message": echo, "rejected": {"password": PASSWORD}}},
        status=400,
    )
    httpserver.expect_oneshot_request(f"/api/1/{SID}/devices", method="POST").respond_with_response(
        Response(json.dumps({"description": f"internal error near {PASSWORD}"}), status=500)
    )
    config = make_config(team_a, httpserver, secret=CLIENT_SECRET)
    namespace = Namespace.objects.create(team=team_a, name=NAMESPACE)
    operator = as_user(cast["operator"])

    refused = send(operator, config, namespace, password=PASSWORD)
    unknown = send(operator, config, namespace, password=PASSWORD)

    assert "The provider refused the device (HTTP 400)" in text(refused)
    assert "Outcome unknown (HTTP 500)" in text(unknown)
    requests_seen = [req for req, _ in httpserver.log if req.path.endswith("/devices")]
    assert requests_seen[0].headers["Authorization"] == f"Bearer {SCRIPTED_TOKEN}"
    canaries = [CLIENT_SECRET, PASSWORD, SCRIPTED_TOKEN]
    assert_nowhere(table_dump(), canaries, "the database")
    assert_nowhere(everything_logged.text, canaries, "the log")
    for page in (refused, unknown):
        assert_nowhere(text(page), canaries, "the error page")
    config.refresh_from_db()
    assert "[redacted]" in config.last_error
    messages = list(AuditEvent.objects.filter(phase="outcome").values_list("message", flat=True))
    assert all("[redacted]" in m for m in messages), messages
    assert re.search(r"too weak", " ".join(messages))
    assert cache.get("nothing") is None  # the cache is reachable (and was dumped above)
