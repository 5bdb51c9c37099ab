"""Secret canaries through every page of a full flow, bulk jobs included, against the scripted provider.

The canaries: a client secret typed into the client form, a device password typed into the
device builder, passwords typed into a bulk CSV, and the access token the scripted token
endpoint issues. The flow goes through the dashboard's pages as people use them (client
list, detail and edit, Test connection, the device builder and its preview partial, Send,
history list, partial, entries and both exports, de-provisioning, the bulk upload, job,
rows, failed-rows CSV and credentials pages), with every logger at DEBUG and SQL logged.

Then: the device password is on exactly one page, the show-once panel after the 201, and
exactly once there; so is a generated password whose outcome is unknown, on its own page
(the device may have it now). No other canary is on any page; none is in any table of the
database (sealed columns hold ciphertext) nor in the log, with every logger at DEBUG, even
"django" (its template logger writes a failed lookup with a repr of the whole context).
tests/test_redaction.py does the same against the built-in sandbox (its JWT, a psk, the
provision command); this file adds the scripted token, bulk jobs, a generated password and
the pages that test does not visit.

Sign-in with the identity provider has canaries of its own: the OIDC client secret and the ID
tokens the provider (oauth2-mock-server, tests/idp.py) issues, one accepted and one refused.
"""

import base64
import json
import logging
import re
from urllib.parse import unquote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from werkzeug import Response

from provisioning.bulk import executor, tasks
from provisioning.bulk.models import BulkJob, BulkRow, JobStatus, RowState
from provisioning.models import AuditEvent, Connection, GroupMapping, Namespace, Role
from tests.bulk.conftest import csv_bytes
from tests.idp import configure
from tests.provider import SID
from tests.test_redaction import assert_nowhere, table_dump
from tests.workflow import NAMESPACE, device_data, form_token, text

pytestmark = pytest.mark.django_db(transaction=True)  # the bulk executor sends from threads

CLIENT_SECRET = "Canary-Secret-b71c04"
PASSWORD = "Canary-Device-Pw-93ad1e"
BULK_PASSWORDS = ["Canary-Bulk-Pw-1f0c7a", "Canary-Bulk-Pw-2e8b5d"]
TOKEN = "Canary-Access-Token-5d2e77f0"
OIDC_CLIENT_SECRET = "Canary-OIDC-Client-Secret-4c1e9a"
DEVICES = f"/api/1/{SID}/devices"


class Provider:
    """A small provider: creates each id once (echoing the body, password included, as Bosch
    does), answers 409 after that, 500 (echoing the password) for names starting "broken-",
    and deletes."""

    def __init__(self):
        self.devices = set()

    def provision(self, request):
        body = json.loads(request.data)
        device_id = body["id"]
        if device_id.split(":", 1)[1].startswith("broken-"):
            secret = body["hub"]["credentials"]["secrets"][0]["password"]
            return self.json({"description": f"Internal error near '{secret}'."}, 500)
        if device_id in self.devices:
            return self.json({"description": f"Device '{device_id}' has already been provisioned."}, 409)
        self.devices.add(device_id)
        body["hub"]["device"]["deviceId"] = device_id
        body["hub"]["credentials"].update(tenantId="t-canary", deviceId=device_id)
        body["things"]["thing"].update(thingId=device_id, policyId=device_id)
        return self.json(body, 201)

    def deprovision(self, request):
        device_id = request.path.rsplit("/", 1)[1]
        self.devices.discard(device_id)
        return self.json({"device": "Device deleted successfully"}, 200)

    @staticmethod
    def json(body, status):
        return Response(json.dumps(body), status=status, content_type="application/json")


@pytest.fixture
def provider(httpserver):
    fake = Provider()
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600, "scope": "s"}
    )
    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(fake.provision)
    httpserver.expect_request(re.compile(f"{DEVICES}/.+"), method="DELETE").respond_with_handler(
        fake.deprovision
    )
    return fake


@pytest.fixture
def every_log_at_debug(caplog, settings):
    """Every logger at DEBUG, those the settings quieten (urllib3, authlib, axes) too; SQL logged."""
    settings.DEBUG = True
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


class Pages:
    """Every response of the flow, read once (exports stream) and kept as text."""

    def __init__(self):
        self.seen = []

    def __call__(self, response, what):
        body = text(response)
        assert response.status_code < 500, (what, response.status_code)
        self.seen.append((what, response.status_code, body))
        return body


def test_no_canary_leaves_the_show_once_panel(
    as_user, cast, team_a, httpserver, provider, every_log_at_debug
):
    pages = Pages()

    # An admin adds the connection, edits it, looks at it and tests it.
    admin = as_user(cast["admin"])
    pages(admin.get("/t/team-a/connections/new/"), "client form")
    fields = {
        "name": "Scripted",
        "preset": "custom",
        "nexeed_tenant_id": "",
        "token_url": httpserver.url_for("/token"),
        "client_id": "canary-client",
        "client_secret": CLIENT_SECRET,
        "scope": "s",
        "audience": "",
        "auth_method": "client_secret_post",
        "api_base_url": httpserver.url_for("/api/1"),
        "service_instance_id": SID,
        "default_auth_scope": "",
    }
    response = admin.post("/t/team-a/connections/new/", fields)
    assert response.status_code == 302, text(response)[:2000]
    config = Connection.objects.get(name="Scripted")
    detail = f"/t/team-a/connections/{config.pk}/"
    pages(admin.get(detail), "client detail (edit form)")
    edited = admin.post(detail, {**fields, "name": "Scripted A", "client_secret": ""}, follow=True)
    assert "Scripted A" in pages(edited, "client edited")
    assert "Connected." in pages(admin.post(f"{detail}test/"), "test connection")
    assert "Connected." in pages(admin.post(f"{detail}test/", HTTP_HX_REQUEST="true"), "test partial")
    pages(admin.get("/t/team-a/connections/"), "client list")
    added = admin.post("/t/team-a/namespaces/", {"name": NAMESPACE, "client": config.pk}, follow=True)
    pages(added, "namespaces")
    namespace = Namespace.objects.get(team=team_a, name=NAMESPACE)

    # An operator previews (partial), sends (201: the show-once page), sends again (409),
    # and sends one the provider breaks on (500 echoing the password).
    operator = as_user(cast["operator"])
    token = form_token(operator)
    pages(operator.get("/t/team-a/devices/new/"), "device builder")
    preview = operator.post(
        "/t/team-a/devices/new/",
        device_data(config, namespace, action="preview", password=PASSWORD, form_token=token),
        HTTP_HX_REQUEST="true",
    )
    assert "********" in pages(preview, "preview partial")
    created = operator.post(
        "/t/team-a/devices/new/",
        device_data(config, namespace, action="send", password=PASSWORD, form_token=token),
    )
    assert created.status_code == 201
    show_once = pages(created, "show-once")
    assert show_once.count(PASSWORD) == 1
    for name, expected in (("boiler-0042", "Already provisioned"), ("broken-1", "Outcome unknown")):
        again = operator.post(
            "/t/team-a/devices/new/",
            device_data(
                config,
                namespace,
                action="send",
                name=name,
                password=PASSWORD,
                form_token=form_token(operator),
            ),
        )
        assert expected in pages(again, f"send {name}")
    # A generated password whose outcome is unknown is shown once too: the device may have it now.
    unknown = operator.post(
        "/t/team-a/devices/new/",
        device_data(config, namespace, action="send", name="broken-3", form_token=form_token(operator)),
    )
    page = pages(unknown, "unknown, generated")
    assert "Outcome unknown" in page
    generated = re.search(r'readonly value="([^"]+)"[^>]*data-copy-source="secret"', page).group(1)

    # A bulk job with typed passwords: upload, preview, start, run (here, not in a worker).
    rows = [
        ["bulk-1", BULK_PASSWORDS[0], "", "true", "", "", "north", "1"],
        ["bulk-2", "", "", "true", "", "", "north", "2"],  # generated
        ["boiler-0042", BULK_PASSWORDS[1], "", "true", "", "", "", ""],  # made above: not sent
        ["broken-2", BULK_PASSWORDS[1], "", "true", "", "", "", ""],  # 500 echoing it
    ]
    upload = {
        "config": config.pk,
        "namespace": namespace.pk,
        "credentials_type": "hashed-password",
        "auth_scope": "__default__",
        "concurrency": "2",
        "file": SimpleUploadedFile("devices.csv", csv_bytes(rows), content_type="text/csv"),
    }
    pages(operator.get("/t/team-a/bulk/new/"), "bulk upload form")
    uploaded = operator.post("/t/team-a/bulk/new/", upload)
    assert uploaded.status_code == 302, text(uploaded)[:2000]
    job = BulkJob.objects.get()
    job_url = f"/t/team-a/bulk/{job.pk}/"
    pages(operator.get(job_url), "bulk upload being checked")
    assert tasks.validate_upload.call(job.pk) == "draft"  # what the worker does with the upload
    pages(operator.get(job_url), "bulk preview")
    pages(operator.post(f"{job_url}start/", follow=True), "bulk started")
    assert executor.run(job.pk) == "done"
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    states = dict(BulkRow.objects.filter(job=job).values_list("device_id", "state"))
    assert states == {
        f"{NAMESPACE}:bulk-1": RowState.CREATED,
        f"{NAMESPACE}:bulk-2": RowState.CREATED,
        f"{NAMESPACE}:boiler-0042": RowState.PROVISIONED,
        f"{NAMESPACE}:broken-2": RowState.UNKNOWN,
    }
    pages(operator.get("/t/team-a/bulk/"), "bulk job list")
    pages(operator.get(job_url), "bulk results")
    pages(operator.get(job_url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-rows"), "bulk rows partial")
    pages(operator.get(job_url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-progress"), "bulk progress")
    pages(operator.get(f"{job_url}failed-rows.csv"), "failed rows csv")
    pages(operator.get(f"{job_url}credentials/"), "credentials page")
    credentials = pages(operator.post(f"{job_url}credentials/"), "credentials download")
    assert "bulk-2" in credentials  # the generated password's file; typed ones are the user's own

    # History: list, partial, every entry, both exports; then de-provisioning from an entry.
    auditor = as_user(cast["auditor"])
    pages(auditor.get("/t/team-a/"), "team page")
    pages(auditor.get("/t/team-a/history/"), "history")
    pages(auditor.get("/t/team-a/history/?q=boiler", HTTP_HX_REQUEST="true"), "history partial")
    for pk in AuditEvent.objects.values_list("pk", flat=True):
        pages(auditor.get(f"/t/team-a/history/{pk}/"), f"history entry {pk}")
    pages(auditor.get("/t/team-a/history/export/?format=csv"), "csv export")
    pages(auditor.get("/t/team-a/history/export/?format=jsonl"), "jsonl export")
    entry = AuditEvent.objects.get(phase="outcome", status="created", target=f"{NAMESPACE}:boiler-0042")
    operator = as_user(cast["operator"])
    pages(operator.get(f"/t/team-a/history/{entry.pk}/deprovision/"), "deprovision confirm")
    assert "De-provisioned." in pages(operator.post(f"/t/team-a/history/{entry.pk}/deprovision/"), "deleted")

    # The provider really got the canaries, so finding none below means something.
    sent = [request for request, _ in httpserver.log]
    assert any(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in sent)
    assert any(CLIENT_SECRET in r.get_data(as_text=True) for r in sent if r.path == "/token")
    bodies = " ".join(r.get_data(as_text=True) for r in sent if r.path == DEVICES)
    assert all(secret in bodies for secret in [PASSWORD, generated, *BULK_PASSWORDS])

    everything = [CLIENT_SECRET, PASSWORD, generated, *BULK_PASSWORDS, TOKEN]
    shown_once = {"show-once": PASSWORD, "unknown, generated": generated}
    for page_name, secret in shown_once.items():
        assert [what for what, _, body in pages.seen if secret in body] == [page_name]
    for what, status, body in pages.seen:
        if what in shown_once:
            assert body.count(shown_once[what]) == 1, what
        others = [c for c in everything if c != shown_once.get(what)]
        assert_nowhere(body, others, f"the page {what!r} ({status})")
    assert len(pages.seen) > 30
    dump = table_dump()
    assert "bulk_bulkrow" in dump and "provisioning_auditevent" in dump
    assert_nowhere(dump, everything, "the database")
    log = every_log_at_debug.text
    assert "SELECT" in log  # SQL was logged
    assert any(
        r.name.startswith("urllib3") and r.levelno == logging.DEBUG for r in every_log_at_debug.records
    )
    assert_nowhere(log, everything, "the log")


def id_token_canaries(token):
    """An ID token, and its signature alone (the part no claim could explain)."""
    assert token.count(".") == 2
    return [token, token.rsplit(".", 1)[1]]


def test_no_id_token_or_oidc_client_secret_leaves_the_sign_in(
    client, oidc_provider, settings, team_a, every_log_at_debug
):
    configure(settings, oidc_provider, OIDC_CLIENT_SECRET=OIDC_CLIENT_SECRET)
    GroupMapping.objects.create(team=team_a, group="device-admins", role=Role.ADMIN)
    pages = Pages()

    # Signed in through the provider: the team's pages, members, groups, history, every entry.
    oidc_provider.set_claims(sub="canary-subject", preferred_username="olga", groups=["device-admins"])
    pages(client.get("/accounts/login/"), "login")
    callback = oidc_provider.authorize(client.get("/accounts/oidc/login/")["Location"])
    pages(client.get(callback), "callback")
    accepted = oidc_provider.last()
    pages(client.get("/", follow=True), "team page")
    for path in ("members/", "groups/", "history/", "history/export/?format=csv"):
        pages(client.get(f"/t/team-a/{path}"), path)
    for pk in AuditEvent.objects.values_list("pk", flat=True):
        pages(client.get(f"/t/team-a/history/{pk}/"), f"history entry {pk}")
    pages(client.post("/accounts/logout/"), "sign-out")

    # Refused: an ID token for another application; its page and its log line.
    oidc_provider.set_claims(sub="canary-subject", aud="another-application")
    callback = oidc_provider.authorize(client.get("/accounts/oidc/login/")["Location"])
    assert "another application" in pages(client.get(callback), "refused sign-in")
    refused = oidc_provider.last()

    # The provider really got the secret and issued the tokens, so finding none below means something.
    for answer in (accepted, refused):
        scheme, _, credentials = answer["authorization"].partition(" ")
        assert scheme == "Basic"
        assert unquote(base64.b64decode(credentials).decode()).endswith(f":{OIDC_CLIENT_SECRET}")
    everything = [
        OIDC_CLIENT_SECRET,
        *id_token_canaries(accepted["id_token"]),
        *id_token_canaries(refused["id_token"]),
    ]
    for what, status, body in pages.seen:
        assert_nowhere(body, everything, f"the page {what!r} ({status})")
    dump = table_dump()
    assert "member.add" in dump and "django_session" in dump
    assert_nowhere(dump, everything, "the database")
    log = every_log_at_debug.text
    assert "SELECT" in log and "provisioning.oidc" in log
    assert_nowhere(log, everything, "the log")
