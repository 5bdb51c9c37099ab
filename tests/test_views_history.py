# ruff: noqa: F811 - the sandbox fixtures are imported from tests.workflow
"""History: list, filters, keyset pages, htmx, detail, exports, and de-provisioning from an entry."""

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from provisioning import history as log
from provisioning import history_search as search
from provisioning import listing, services
from provisioning.models import AuditEvent, Device, DeviceState, Namespace, OpenAttempt
from provisioning.sandbox import store
from provisioning.sandbox.models import ServiceInstance
from tests.factories import make_config
from tests.views import assert_is_partial, htmx_get
from tests.workflow import (  # noqa: F401 - fixtures
    NAMESPACE,
    outcomes,
    sandbox_config,
    sandbox_namespace,
    tenant,
    text,
)

pytestmark = pytest.mark.django_db

URL = "/t/team-a/history/"
HISTORY = "/t/team-a/history/"
EXPORT = "/t/team-a/history/export/"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event(
    team, *, at=None, phase="outcome", action="device.provision", status="created", target="", **fields
):
    """One audit row as the services write them (created_at set for ordering tests)."""
    return AuditEvent.objects.create(
        created_at=at or timezone.now(),
        phase=phase,
        action=action,
        status=status,
        team_id=team.pk,
        team_name=team.name,
        target=target,
        **fields,
    )


def attempt(
    team,
    target,
    status,
    *,
    at,
    actor="oscar",
    config=None,
    http_status=None,
    cid=None,
    action="device.provision",
):
    """An intent and its outcome, as one provisioning (or de-provisioning) attempt leaves them."""
    cid = cid or uuid.uuid4()
    common = {
        "action": action,
        "actor_name": actor,
        "client_ref": getattr(config, "pk", None),
        "client_name": getattr(config, "name", ""),
        "correlation_id": cid,
    }
    intent = event(team, at=at, phase="intent", status="pending", target=target, **common)
    outcome = event(
        team,
        at=at + timedelta(milliseconds=5),
        status=status,
        target=target,
        http_status=http_status,
        **common,
    )
    return intent, outcome


def listed_ids(response):
    """The ids of the rows listed on a history page, in order."""
    return [int(pk) for pk in re.findall(r'href="/t/team-a/history/(\d+)/"', response.content.decode())]


def older_link(response):
    match = re.search(r'<a href="(/t/team-a/history/\?[^"]*after=[^"]+)"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


# --- who sees what ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "operator", "auditor"])
@pytest.mark.parametrize("url", [URL, EXPORT, EXPORT + "?format=jsonl", "detail"])
def test_every_role_reads_history(as_user, cast, team_a, role, url):
    _, outcome = attempt(team_a, "com.acme:a", "created", at=T0)
    url = f"{URL}{outcome.pk}/" if url == "detail" else url
    response = as_user(cast[role]).get(url)
    assert response.status_code == 200
    assert "com.acme:a" in text(response)


@pytest.mark.parametrize("url", [URL, EXPORT, "detail", "deprovision"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_it_refuses_other_team(as_user, cast, team_a, config_a, url, method):
    _, outcome = attempt(team_a, "com.acme:a", "created", at=T0, config=config_a)
    client = as_user(cast["other"])
    paths = {"detail": f"{outcome.pk}/", "deprovision": f"{outcome.pk}/deprovision/"}
    url = f"{URL}{paths[url]}" if url in paths else url
    read_only = not url.endswith("/deprovision/")
    response = client.get(url) if method == "GET" else client.post(url)
    assert response.status_code == (405 if method == "POST" and read_only else 404)
    # Nor through the other team's own URL: entries are looked up within the team.
    own = url.replace("/t/team-a/", "/t/team-b/")
    response = client.get(own) if method == "GET" else client.post(own)
    if method == "POST" and read_only:
        assert response.status_code == 405
    elif url in (URL, EXPORT):
        assert response.status_code == 200 and "com.acme:a" not in text(response)
    else:
        assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="device.deprovision").exists()


def test_the_list_shows_only_the_teams_rows(as_user, cast, team_a, team_b):
    attempt(team_a, "com.acme:mine", "created", at=T0)
    attempt(team_b, "com.other:theirs", "created", at=T0)
    html = as_user(cast["other"]).get("/t/team-b/history/").content.decode()
    assert "com.other:theirs" in html and "com.acme:mine" not in html
    html = as_user(cast["auditor"]).get(URL).content.decode()
    assert "com.acme:mine" in html and "com.other:theirs" not in html


def test_a_listed_row_shows_its_cells_escaped(as_user, cast, team_a, config_a):
    config_a.name = "Suite <b>&</b>"
    config_a.save()
    attempt(
        team_a,
        'com.acme:<img src=x onerror="1">',
        "conflict",
        at=T0,
        actor="o'<script>",
        config=config_a,
        http_status=409,
    )
    event(team_a, at=T0 + timedelta(seconds=1), action="client.update", status="changed", target="Suite A")

    html = as_user(cast["auditor"]).get(URL).content.decode()
    rows = re.findall(r"<tr><td>.*?</tr>", html)

    (outcome,) = AuditEvent.objects.filter(phase="outcome", action="device.provision")
    assert rows[1] == (
        f'<tr><td><a href="{URL}{outcome.pk}/">2026-03-01 12:00:00</a></td><td>device.provision</td>'
        "<td><code>com.acme:&lt;img src=x onerror=&quot;1&quot;&gt;</code></td>"
        '<td><span class="badge status-conflict">conflict</span> <span class="muted">409</span></td>'
        "<td>o&#x27;&lt;script&gt;</td><td>Suite &lt;b&gt;&amp;&lt;/b&gt;</td></tr>"
    )
    assert '<span class="badge status-changed">changed</span></td>' in rows[0]  # no HTTP status
    assert "<script>" not in html and "<b>&" not in html


def test_the_list_is_newest_first_and_hides_closed_intents(as_user, cast, team_a):
    _, old = attempt(team_a, "com.acme:old", "created", at=T0)
    _, new = attempt(team_a, "com.acme:new", "conflict", at=T0 + timedelta(minutes=1))

    response = as_user(cast["auditor"]).get(URL)

    assert listed_ids(response) == [new.pk, old.pk]


# --- filters ----------------------------------------------------------------------------


@pytest.fixture
def mixed(team_a, config_a):
    """A spread of rows: several statuses, actions, actors, clients, namespaces, days."""
    other_client = make_config(team_a, name="Second", secret=None)
    Namespace.objects.create(team=team_a, name="com.acme")
    Namespace.objects.create(team=team_a, name="com.acme.sensors")
    rows = {}
    rows["created"] = attempt(team_a, "com.acme:dev-1", "created", at=T0, config=config_a)[1]
    rows["conflict"] = attempt(
        team_a, "com.acme:dev-1", "conflict", at=T0 + timedelta(hours=1), config=config_a, http_status=409
    )[1]
    rows["refused"] = attempt(
        team_a,
        "com.acme.sensors:s-1",
        "refused",
        at=T0 + timedelta(days=1),
        actor="alice",
        config=other_client,
    )[1]
    rows["failed"] = attempt(team_a, "com.acme.sensors:s-2", "failed", at=T0 + timedelta(days=2))[1]
    rows["unknown"] = attempt(team_a, "com.acme:dev-9", "unknown", at=T0 + timedelta(days=3))[1]
    rows["deleted"] = attempt(
        team_a, "com.acme:dev-1", "deleted", at=T0 + timedelta(days=4), action="device.deprovision"
    )[1]
    rows["client"] = event(
        team_a,
        at=T0 + timedelta(days=5),
        phase="event",
        action="client.update",
        status="ok",
        target="Suite A",
    )
    rows["namespace"] = event(
        team_a,
        at=T0 + timedelta(days=6),
        phase="event",
        action="namespace.create",
        status="ok",
        target="com.x",
    )
    return rows, config_a, other_client


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=created", ["created"]),
        ("status=conflict", ["conflict"]),
        ("status=refused", ["refused"]),
        ("status=failed", ["failed"]),
        ("status=unknown", ["unknown"]),
        ("action=device.deprovision", ["deleted"]),
        ("action=client.", ["client"]),
        ("action=namespace.", ["namespace"]),
        ("actor=alice", ["refused"]),
        ("q=com.acme:dev-1", ["deleted", "conflict", "created"]),
        ("q=com.acme.sens", ["failed", "refused"]),
        ("since=2026-03-02&until=2026-03-03", ["failed", "refused"]),
        ("until=2026-03-01", ["conflict", "created"]),
        ("status=created&q=com.acme:dev", ["created"]),
    ],
)
def test_each_filter_narrows_the_list(as_user, cast, mixed, query, expected):
    rows, _, _ = mixed
    response = as_user(cast["auditor"]).get(f"{URL}?{query}")
    assert response.status_code == 200
    assert listed_ids(response) == [rows[name].pk for name in expected]


def test_the_client_filter(as_user, cast, mixed):
    rows, first, second = mixed
    client = as_user(cast["auditor"])
    assert listed_ids(client.get(f"{URL}?config={second.pk}")) == [rows["refused"].pk]
    assert listed_ids(client.get(f"{URL}?config={first.pk}")) == [rows["conflict"].pk, rows["created"].pk]


def test_the_namespace_filter_does_not_match_a_longer_namespace(as_user, cast, mixed, team_a):
    rows, _, _ = mixed
    acme = Namespace.objects.get(team=team_a, name="com.acme")
    sensors = Namespace.objects.get(team=team_a, name="com.acme.sensors")
    client = as_user(cast["auditor"])
    assert listed_ids(client.get(f"{URL}?namespace={sensors.pk}")) == [rows["failed"].pk, rows["refused"].pk]
    assert listed_ids(client.get(f"{URL}?namespace={acme.pk}")) == [
        rows[name].pk for name in ("deleted", "unknown", "conflict", "created")
    ]


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "since=yesterday",
        "config=999999",
        "config=abc",
        "namespace=999999",
        "since=2026-03-05&until=2026-03-01",
        "correlation=not-a-uuid",
        "after=%%%",
        "after=" + "A" * 500,
    ],
)
def test_bad_filters_are_explained_not_a_500(as_user, cast, mixed, query):
    response = as_user(cast["auditor"]).get(f"{URL}?{query}")
    assert response.status_code == 200


def test_another_teams_namespace_is_not_a_valid_filter(as_user, cast, mixed, team_b):
    theirs = Namespace.objects.create(team=team_b, name="com.theirs")
    response = as_user(cast["auditor"]).get(f"{URL}?namespace={theirs.pk}")
    assert "Select a valid choice" in text(response)


def test_a_forged_cursor_is_not_a_500(as_user, cast, mixed):
    import base64

    for raw in ("2026-03-01T12:00:00+00:00|99999999999999999999999", "not a date|1", "2026-03-01|x"):
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        response = as_user(cast["auditor"]).get(f"{URL}?after={cursor}")
        assert response.status_code == 200, raw


def test_a_correlation_shows_every_row_of_one_attempt(as_user, cast, team_a):
    intent, outcome = attempt(team_a, "com.acme:a", "created", at=T0)
    attempt(team_a, "com.acme:b", "created", at=T0)
    response = as_user(cast["auditor"]).get(f"{URL}?correlation={intent.correlation_id}")
    assert listed_ids(response) == [outcome.pk, intent.pk]


# --- keyset pages -----------------------------------------------------------------------


def walk(client, url):
    """Follow the Older links to the end; return every listed id in order."""
    seen, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += listed_ids(response)
        url = older_link(response)
        pages += 1
        assert pages < 50
    return seen, pages


def test_pages_cross_equal_timestamps_without_skipping_or_repeating(as_user, cast, team_a):
    # 137 rows on only 4 distinct instants: most page boundaries fall inside a run of equal times.
    made = [
        event(team_a, at=T0 + timedelta(seconds=n % 4), target=f"com.acme:d-{n}", actor_name="oscar")
        for n in range(137)
    ]
    expected = [row.pk for row in sorted(made, key=lambda r: (r.created_at, r.pk), reverse=True)]

    seen, pages = walk(as_user(cast["auditor"]), URL)

    assert pages == 3
    assert len(seen) == len(set(seen)) == 137
    assert seen == expected


def test_pages_keep_the_filters(as_user, cast, team_a):
    for n in range(120):
        event(team_a, at=T0, target=f"com.acme:d-{n}", status="conflict" if n % 2 else "created")
    conflicts = list(
        AuditEvent.objects.filter(status="conflict")
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    )

    seen, pages = walk(as_user(cast["auditor"]), f"{URL}?status=conflict")

    assert seen == conflicts and pages == 2


def test_page_size_boundary(team_a):
    for n in range(log.PAGE_SIZE):
        event(team_a, at=T0, target=f"d-{n}")
    items, cursor = log.page(log.events(team_a), None)
    assert len(items) == log.PAGE_SIZE and cursor is None


# --- htmx -------------------------------------------------------------------------------


def test_an_htmx_request_gets_the_results_partial(as_user, cast, mixed):
    rows, _, _ = mixed
    response = htmx_get(as_user(cast["auditor"]), f"{URL}?status=conflict")
    html = assert_is_partial(response, "history-results")
    assert listed_ids(response) == [rows["conflict"].pk]
    assert "HX-Request" in response.get("Vary", "")
    assert 'hx-push-url="true"' in html or "Older" not in html
    # The export links are part of the partial, so they follow the filters as they change.
    assert "export/?status=conflict&amp;format=csv" in html


def test_the_address_keeps_only_the_filters_that_are_set(as_user, cast, mixed):
    """The form sends every field; the address to share (and go back to) names only the set ones."""
    rows, _, _ = mixed
    client = as_user(cast["auditor"])
    sent = "q=&status=conflict&action=&config=&namespace=&actor=&since=&until=&correlation="

    partial = htmx_get(client, f"{URL}?{sent}")
    assert partial["HX-Push-Url"] == f"{URL}?status=conflict"
    assert listed_ids(partial) == [rows["conflict"].pk]
    assert "export/?status=conflict&amp;format=csv" in partial.content.decode()

    plain = client.get(f"{URL}?{sent}")  # the form without JavaScript
    assert plain.status_code == 302 and plain["Location"] == f"{URL}?status=conflict"
    assert client.get(f"{URL}?q=&status=").headers["Location"] == URL  # nothing set: the plain list

    assert client.get(f"{URL}?status=conflict").status_code == 200  # already clean: no detour
    assert htmx_get(client, URL)["HX-Push-Url"] == URL


def test_a_history_restore_gets_the_whole_page(as_user, cast, mixed):
    response = as_user(cast["auditor"]).get(
        f"{URL}?status=conflict", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    html = response.content.decode()
    assert "<html" in html and 'id="history-results"' in html and 'role="search"' in html


def test_the_full_page_varies_on_htmx_too(as_user, cast, mixed):
    response = as_user(cast["auditor"]).get(URL)
    assert "HX-Request" in response.get("Vary", "")


def test_the_filter_form_pushes_its_state_into_the_url(as_user, cast, mixed):
    html = as_user(cast["auditor"]).get(f"{URL}?status=conflict&q=com.acme").content.decode()
    assert 'hx-push-url="true"' in html
    assert re.search(r'<option value="conflict" selected>', html)
    assert 'value="com.acme"' in html
    # The export links carry the same filters.
    assert "export/?status=conflict&amp;q=com.acme&amp;format=csv" in html


# --- open attempts ----------------------------------------------------------------------


def open_intent(team, target, started):
    cid = uuid.uuid4()
    row = event(team, at=started, phase="intent", status="pending", target=target, correlation_id=cid)
    OpenAttempt.objects.create(correlation_id=cid, team_id=team.pk, target=target, started_at=started)
    return row


def test_a_stale_open_attempt_is_outcome_unknown_and_a_fresh_one_in_progress(as_user, cast, team_a):
    stale = open_intent(team_a, "com.acme:crashed", timezone.now() - timedelta(hours=1))
    fresh = open_intent(team_a, "com.acme:running", timezone.now())
    client = as_user(cast["auditor"])

    html = client.get(URL).content.decode()
    rows = dict(re.findall(r'history/(\d+)/".*?<span class="badge status-[\w-]+">([^<]+)</span>', html, re.S))
    assert rows[str(stale.pk)] == "outcome unknown"
    assert rows[str(fresh.pk)] == "in progress"

    assert listed_ids(client.get(f"{URL}?status=unknown")) == [stale.pk]
    detail = text(client.get(f"{URL}{stale.pk}/"))
    assert "No outcome was recorded for this attempt" in detail
    assert "This attempt is still in progress" in text(client.get(f"{URL}{fresh.pk}/"))


def test_a_closed_intent_is_not_called_unknown_on_the_detail_page(as_user, cast, team_a):
    _, outcome = attempt(team_a, "com.acme:a", "created", at=T0)

    detail = text(as_user(cast["auditor"]).get(f"{URL}{outcome.pk}/"))

    assert "No outcome was recorded" not in detail
    assert "outcome unknown" not in detail
    assert detail.count('<section class="card">') == 2  # the intent and the outcome


# --- the detail page --------------------------------------------------------------------


def test_the_detail_page_pretty_prints_both_bodies(as_user, cast, team_a):
    cid = uuid.uuid4()
    event(
        team_a,
        at=T0,
        phase="intent",
        status="pending",
        target="com.acme:a",
        correlation_id=cid,
        request={"method": "POST", "body": {"id": "com.acme:a", "hub": {"device": {}}}},
    )
    outcome = event(
        team_a,
        at=T0,
        target="com.acme:a",
        correlation_id=cid,
        http_status=201,
        latency_ms=42,
        response={"id": "com.acme:a", "hub": {"credentials": {"secrets": [{"password": "[redacted]"}]}}},
    )

    page = text(as_user(cast["auditor"]).get(f"{URL}{outcome.pk}/"))

    # Indented JSON (PostgreSQL's jsonb may store the keys in another order).
    assert '\n  "method": "POST"' in page and '\n  "body": {\n    "' in page
    assert '\n    "id": "com.acme:a"' in page
    assert '"password": "[redacted]"' in page
    assert "42 ms" in page and str(cid) in page
    assert "Request (secrets redacted)" in page and "Response (secrets redacted)" in page


def test_an_entry_of_another_team_is_404_by_id(as_user, cast, team_b):
    _, theirs = attempt(team_b, "com.other:x", "created", at=T0)
    assert as_user(cast["auditor"]).get(f"{URL}{theirs.pk}/").status_code == 404


def test_the_auditor_sees_no_deprovision_button(as_user, cast, team_a, config_a):
    _, outcome = attempt(team_a, "com.acme:a", "created", at=T0, config=config_a)
    assert "De-provision" not in text(as_user(cast["auditor"]).get(f"{URL}{outcome.pk}/"))
    assert "De-provision" in text(as_user(cast["operator"]).get(f"{URL}{outcome.pk}/"))


@pytest.mark.parametrize("status", ["conflict", "refused", "failed", "unknown"])
def test_only_a_created_device_offers_deprovisioning(as_user, cast, team_a, config_a, status):
    _, outcome = attempt(team_a, "com.acme:a", status, at=T0, config=config_a)
    client = as_user(cast["operator"])
    assert "De-provision" not in text(client.get(f"{URL}{outcome.pk}/"))
    assert client.post(f"{URL}{outcome.pk}/deprovision/").status_code == 404
    assert not AuditEvent.objects.filter(action="device.deprovision").exists()


# --- exports ----------------------------------------------------------------------------


def export_rows(response):
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_the_csv_export_neutralises_formulas(as_user, cast, team_a):
    dangerous = ["=HYPERLINK(1)", "+1+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain", "a=b"]
    for n, value in enumerate(dangerous):
        event(team_a, at=T0 + timedelta(seconds=n), target=value, actor_name=value, message=value)

    response = as_user(cast["auditor"]).get(f"{EXPORT}?format=csv")

    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="history-team-a-')
    header, *rows = export_rows(response)
    assert header[:4] == ["time", "action", "phase", "status"]
    target, actor, message = header.index("target"), header.index("actor"), header.index("message")
    got = [row[target] for row in reversed(rows)]
    assert got == ["'=HYPERLINK(1)", "'+1+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "plain", "a=b"]
    assert all(row[actor] == row[target] == row[message] for row in rows)


def test_the_jsonl_export_has_one_object_per_line(as_user, cast, team_a):
    attempt(team_a, "com.acme:a", "created", at=T0)
    event(team_a, at=T0 + timedelta(seconds=1), target="=x", response={"password": "[redacted]"})

    response = as_user(cast["auditor"]).get(f"{EXPORT}?format=jsonl")

    assert response["Content-Type"] == "application/x-ndjson"
    lines = b"".join(response.streaming_content).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["target"] for r in records] == ["=x", "com.acme:a"]  # JSON needs no formula guard
    assert records[0]["response"] == {"password": "[redacted]"}
    assert set(records[0]) >= {"time", "action", "status", "actor", "client", "correlation_id", "request"}


def test_the_export_of_an_attempt_carries_its_redacted_request(
    as_user, cast, team_a, admin_a, sandbox_config, sandbox_namespace, tenant
):
    services.provision_device(
        actor=admin_a,
        team=team_a,
        config=sandbox_config,
        body={
            "id": f"{NAMESPACE}:exported",
            "hub": {
                "device": {},
                "credentials": {"type": "hashed-password", "secrets": [{"password": "Pw-123456"}]},
            },
            "things": {"thing": {"attributes": {"site": "north"}}},
        },
    )
    client = as_user(cast["auditor"])
    (record,) = map(json.loads, b"".join(client.get(f"{EXPORT}?format=jsonl").streaming_content).splitlines())
    assert record["status"] == "created"
    assert record["request"]["body"]["things"]["thing"]["attributes"] == {"site": "north"}
    assert "Pw-123456" not in json.dumps(record) and "[redacted]" in json.dumps(record["request"])
    (row,) = csv.DictReader(
        io.StringIO(b"".join(client.get(f"{EXPORT}?format=csv").streaming_content).decode())
    )
    assert json.loads(row["request"]) == record["request"]


def test_the_export_follows_the_filters(as_user, cast, mixed):
    rows, _, _ = mixed
    client = as_user(cast["auditor"])
    for query, expected in (
        ("status=conflict", ["conflict"]),
        ("q=com.acme.sens", ["failed", "refused"]),
        ("action=client.", ["client"]),
    ):
        for fmt in ("csv", "jsonl"):
            response = client.get(f"{EXPORT}?{query}&format={fmt}")
            body = b"".join(response.streaming_content).decode()
            if fmt == "csv":
                records = list(csv.DictReader(io.StringIO(body)))
            else:
                records = [json.loads(line) for line in body.splitlines()]
            ids = [r["correlation_id"] for r in records]
            assert ids == [str(rows[name].correlation_id) for name in expected], (query, fmt)


def test_an_export_with_a_bad_filter_exports_nothing(as_user, cast, mixed):
    response = as_user(cast["auditor"]).get(f"{EXPORT}?status=bogus&format=csv")
    assert response.status_code == 400
    assert not getattr(response, "streaming", False)


def test_the_export_labels_an_open_attempt(as_user, cast, team_a):
    open_intent(team_a, "com.acme:crashed", timezone.now() - timedelta(hours=1))
    open_intent(team_a, "com.acme:running", timezone.now())
    response = as_user(cast["auditor"]).get(f"{EXPORT}?format=jsonl")
    records = {
        r["target"]: r["status"] for r in map(json.loads, b"".join(response.streaming_content).splitlines())
    }
    assert records == {"com.acme:crashed": "unknown", "com.acme:running": "in progress"}


# --- de-provisioning from an entry ------------------------------------------------------


@pytest.fixture
def provisioned(team_a, admin_a, sandbox_config, sandbox_namespace, tenant):
    """A device created through the service (intent and outcome rows), and its outcome row."""
    device_id = f"{NAMESPACE}:to-delete"
    outcome = services.provision_device(
        actor=admin_a,
        team=team_a,
        config=sandbox_config,
        body={
            "id": device_id,
            "hub": {
                "device": {},
                "credentials": {"type": "hashed-password", "secrets": [{"password": "Pw-123456"}]},
            },
            "things": {"thing": {}},
        },
    )
    assert outcome.status == "created"
    return AuditEvent.objects.get(correlation_id=outcome.correlation_id, phase="outcome"), device_id


def test_the_confirm_step_names_the_device(as_user, cast, provisioned, tenant):
    entry, device_id = provisioned
    page = text(as_user(cast["operator"]).get(f"{URL}{entry.pk}/deprovision/"))
    assert f"De-provision <code>{device_id}</code>" in page
    assert 'name="keep_credentials"' in page and 'name="keep_policy"' in page
    assert store.get_device(tenant["service_instance_id"], device_id)["device"] is not None


@pytest.mark.parametrize(
    ("keep", "left"),
    [
        ({}, set()),
        ({"keep_policy": "on"}, {"policy"}),
        ({"keep_credentials": "on"}, {"credentials"}),
        ({"keep_credentials": "on", "keep_policy": "on"}, {"credentials", "policy"}),
    ],
    ids=["nothing-kept", "keep-policy", "keep-credentials", "keep-both"],
)
def test_deprovisioning_deletes_at_the_provider_with_the_keep_flags(
    as_user, cast, provisioned, tenant, keep, left
):
    entry, device_id = provisioned
    sid = tenant["service_instance_id"]

    response = as_user(cast["operator"]).post(f"{URL}{entry.pk}/deprovision/", keep)

    assert response.status_code == 200
    assert "De-provisioned." in text(response)
    remaining = store.get_device(sid, device_id) or {}
    kept = {part for part in ("device", "thing", "policy") if remaining.get(part)}
    if remaining.get("credentials"):
        kept.add("credentials")
    assert kept == left
    intent, outcome = AuditEvent.objects.filter(action="device.deprovision").order_by("id")
    assert (intent.phase, outcome.phase, outcome.status, outcome.actor_name) == (
        "intent",
        "outcome",
        "deleted",
        "oscar",
    )
    assert intent.request["params"] == {
        "keepCredentials": "keep_credentials" in keep,
        "keepPolicy": "keep_policy" in keep,
    }
    # The entry now says so, and offers no second de-provisioning.
    detail = text(as_user(cast["operator"]).get(f"{URL}{entry.pk}/"))
    assert "de-provisioned later" in detail and "De-provision…" not in detail


def test_a_second_deprovision_sends_nothing(as_user, cast, provisioned, tenant):
    entry, _ = provisioned
    client = as_user(cast["operator"])
    assert "De-provisioned." in text(client.post(f"{URL}{entry.pk}/deprovision/"))

    again = client.post(f"{URL}{entry.pk}/deprovision/")

    assert "already de-provisioned" in text(again)
    assert AuditEvent.objects.filter(action="device.deprovision").count() == 2


def test_the_auditor_cannot_deprovision(as_user, cast, provisioned, tenant):
    entry, device_id = provisioned
    client = as_user(cast["auditor"])
    assert client.get(f"{URL}{entry.pk}/deprovision/").status_code == 403
    assert client.post(f"{URL}{entry.pk}/deprovision/").status_code == 403
    assert not AuditEvent.objects.filter(action="device.deprovision").exists()
    assert store.get_device(tenant["service_instance_id"], device_id)["device"] is not None


def test_another_team_cannot_deprovision(as_user, cast, provisioned, tenant):
    entry, device_id = provisioned
    client = as_user(cast["other"])
    assert client.post(f"{URL}{entry.pk}/deprovision/").status_code == 404
    assert client.post(f"/t/team-b/history/{entry.pk}/deprovision/").status_code == 404
    assert store.get_device(tenant["service_instance_id"], device_id)["device"] is not None


def test_a_device_already_gone_at_the_provider_is_reported(
    as_user, cast, provisioned, tenant, sandbox_config
):
    entry, device_id = provisioned
    store.deprovision(ServiceInstance.objects.get(sid=tenant["service_instance_id"]), device_id)

    page = text(as_user(cast["operator"]).post(f"{URL}{entry.pk}/deprovision/"))

    # A 404 is what a de-provision wants (a bulk de-provision sent again meets it too): the
    # device is gone, said so, with what Bosch's 404 does not tell.
    assert "De-provisioned." in page and "Already gone: the provider answered 404" in page
    outcome = outcomes(action="device.deprovision")[0]
    assert (outcome.status, outcome.http_status) == ("deleted", 404)
    assert Device.objects.get(device_id=device_id).state == DeviceState.DEPROVISIONED


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("com.acme:dev-1", ["deleted", "conflict", "created"]),  # the whole id
        ("dev-1", ["deleted", "conflict", "created"]),  # the name without its namespace
        ("DEV-1", ["deleted", "conflict", "created"]),  # any case
        ("Com.Acme.Sensors:S-2", ["failed"]),
        ("ev-9", ["unknown"]),  # a part of the name
        ("sensors:s", ["failed", "refused"]),  # across the colon
        ("s-2", ["failed"]),
        ("v-9", ["unknown"]),
        ("acme", ["deleted", "unknown", "failed", "refused", "conflict", "created"]),
        ("suite a", ["client"]),  # what other events name, too
        ("dev-10", []),
        ("100%", []),  # LIKE's wildcards are plain characters here
        ("dev_1", []),
        ('"dev', []),  # and so is FTS5's quote
    ],
)
def test_search_finds_any_part_of_an_id_in_any_case(as_user, cast, mixed, typed, expected):
    rows, _, _ = mixed
    response = as_user(cast["auditor"]).get(URL, {"q": typed})
    assert response.status_code == 200
    assert listed_ids(response) == [rows[name].pk for name in expected]


def test_a_search_many_rows_match_walks_the_log_and_finds_the_same_rows(as_user, cast, mixed, monkeypatch):
    rows, _, _ = mixed
    client = as_user(cast["auditor"])
    expected = [rows[name].pk for name in ("deleted", "unknown", "failed", "refused", "conflict", "created")]
    assert listed_ids(client.get(URL, {"q": "com.acme"})) == expected
    # Every search now matches "too many" for the index, and "many" for reading them all.
    monkeypatch.setattr(search, "SEARCH_LIMIT", 1)
    monkeypatch.setattr(search, "WALK_MATCHES", 1)
    monkeypatch.setattr(search, "WALK_ROWS", 0)  # and walking would read most of the log
    assert search.search_matches(mixed[1].team, "com.acme") is None
    assert listed_ids(client.get(URL, {"q": "com.acme"})) == expected
    assert listed_ids(client.get(URL, {"q": "ACME.SENS", "status": "failed"})) == [rows["failed"].pk]


def test_a_search_whose_newest_matches_are_recent_walks_the_log_an_old_one_reads_the_index(
    as_user, cast, team_a, monkeypatch
):
    """On SQLite the list is found by walking the log from its newest row when the newest
    matches are near it (a page and the count are then found after a few rows), and through
    the trigram index when they are far back (walking would read most of the log). Either
    way the same rows are listed."""
    old = [attempt(team_a, f"com.acme:old-{n}", "created", at=T0 + timedelta(minutes=n))[1] for n in range(3)]
    new = [
        attempt(team_a, f"com.acme:new-{n}", "created", at=T0 + timedelta(days=1, minutes=n))[1]
        for n in range(3)
    ]
    for n in range(3):  # rows that match neither, logged last
        attempt(team_a, f"com.acme:other-{n}", "created", at=T0 + timedelta(days=2, minutes=n))
    monkeypatch.setattr(search, "WALK_MATCHES", 2)
    monkeypatch.setattr(search, "WALK_ROWS", 8)  # the 2nd newest "new-" row is 7 rows from the newest
    if connection.vendor == "sqlite":
        assert search.search_matches(team_a, "NEW-") is None
        assert search.search_matches(team_a, "old-") is not None
    client = as_user(cast["auditor"])
    assert listed_ids(client.get(URL, {"q": "NEW-"})) == [row.pk for row in reversed(new)]
    assert listed_ids(client.get(URL, {"q": "old-"})) == [row.pk for row in reversed(old)]


@pytest.mark.parametrize(
    ("typed", "looked_up", "from_its_start"),
    [
        ("dev-0012346", "0012346", "0012346"),  # the serial, not "dev" that every id has
        ("dev-001", "001", "-001"),  # a short one: from where it begins, on PostgreSQL
        ("COM.ACME:DEV-0042", "0042", "-0042"),
        ("com.acme2024:boiler-7",) * 3,  # digits only in the namespace: the whole text
        ("sensor-a3f9c2", "a3f9c2", "a3f9c2"),
        ("boiler-north", "boiler-north", "boiler-north"),  # no digits: the whole text
        ("x-12-345", "345", "-345"),
        ("dev_0012", "0012", "_0012"),
        ("0012", "0012", "0012"),  # nothing before it
        ("com.acme:0042", "0042", ":0042"),
    ],
)
def test_the_index_looks_up_the_serial_part(typed, looked_up, from_its_start):
    assert search.index_part(typed) == looked_up
    assert search.index_part(typed, word_start=True) == from_its_start


def test_rows_found_by_the_serial_alone_are_checked_against_the_whole_text(as_user, cast, team_a):
    wanted = attempt(team_a, "com.acme:dev-0042", "created", at=T0)[1]
    attempt(team_a, "com.acme:pump-0042", "created", at=T0 + timedelta(hours=1))
    attempt(team_a, "com.other:dev-0042", "created", at=T0 + timedelta(hours=2))
    client = as_user(cast["auditor"])
    assert listed_ids(client.get(URL, {"q": "Acme:Dev-0042"})) == [wanted.pk]
    assert len(listed_ids(client.get(URL, {"q": "0042"}))) == 3


@pytest.mark.parametrize("typed", ["9", "s-"])
def test_a_search_shorter_than_three_characters_lists_nothing_and_says_why(as_user, cast, mixed, typed):
    response = as_user(cast["auditor"]).get(URL, {"q": typed})
    assert response.status_code == 200
    assert listed_ids(response) == []
    assert "Type at least 3 characters." in response.content.decode()


def test_search_never_lists_another_teams_rows(as_user, cast, mixed, team_b):
    rows, _, _ = mixed
    theirs = attempt(team_b, "com.acme:dev-1", "created", at=T0 + timedelta(days=9))[1]
    client = as_user(cast["auditor"])
    assert listed_ids(client.get(URL, {"q": "dev-1"})) == [
        rows[n].pk for n in ("deleted", "conflict", "created")
    ]
    assert theirs.pk not in listed_ids(client.get(URL, {"q": "acm"}))


def test_rows_logged_after_the_migrations_are_found_by_the_index(as_user, cast, team_a):
    """The index is kept by the database (triggers on SQLite): a new row is found at once,
    through the index, not only by the walk."""
    row = attempt(team_a, "com.acme:Heat-Pump-42", "created", at=T0)[1]
    if connection.vendor == "sqlite":
        both = AuditEvent.objects.filter(correlation_id=row.correlation_id)  # its intent and outcome
        found = AuditEvent.objects.filter(pk__in=search.search_matches(team_a, "pump-4"))
        assert sorted(found.values_list("pk", flat=True)) == sorted(both.values_list("pk", flat=True))
    assert listed_ids(as_user(cast["auditor"]).get(URL, {"q": "HEAT-pump"})) == [row.pk]


def test_rows_written_before_the_namespace_column_get_it_from_the_migration(team_a):
    import importlib

    from django.apps import apps
    from django.db.migrations.state import ProjectState

    migration = importlib.import_module("provisioning.migrations.0004_audit_namespace")
    AuditEvent.objects.bulk_create(  # bulk_create skips save(), as rows of an older version lack it
        [
            AuditEvent(team_id=team_a.pk, action="device.provision", target="com.acme.x:dev-1"),
            AuditEvent(team_id=team_a.pk, action="device.deprovision", target="com.acme:dev-2"),
            AuditEvent(team_id=team_a.pk, action="client.update", target="odd:name"),
        ]
    )
    assert set(AuditEvent.objects.values_list("namespace", flat=True)) == {""}

    # As a migration gets them: models of the project's state, without the app's managers.
    migration.fill_namespace(ProjectState.from_apps(apps).apps, None)

    assert dict(AuditEvent.objects.values_list("target", "namespace")) == {
        "com.acme.x:dev-1": "com.acme.x",
        "com.acme:dev-2": "com.acme",
        "odd:name": "",
    }


# --- counts, chips, filters that cannot be used --------------------------------------------


def test_every_filter_in_use_is_a_chip_that_removes_it(as_user, cast, mixed):
    rows, _, _ = mixed
    correlation = rows["conflict"].correlation_id
    page = text(as_user(cast["auditor"]).get(f"{HISTORY}?status=conflict&correlation={correlation}"))
    chips = re.search(r'<ul class="chips".*?</ul>', page, re.S).group(0)
    assert "Status: <strong>Conflict (already exists)</strong>" in chips
    assert f"Attempt: <strong>{correlation}</strong>" in chips
    # Each chip links to the same list without it.
    assert f'href="{HISTORY}?correlation={correlation}"' in chips
    assert f'href="{HISTORY}?status=conflict"' in chips
    assert "2 entries match these filters." in page  # the attempt: its intent and its outcome


def test_the_list_counts_its_entries_exactly_or_says_more_than(as_user, cast, team_a, monkeypatch):
    for n in range(4):
        attempt(team_a, f"com.acme:dev-{n}", "created", at=T0 + timedelta(minutes=n))
    client = as_user(cast["auditor"])
    assert "4 entries." in text(client.get(HISTORY))
    monkeypatch.setattr(listing, "COUNT_LIMIT", 3)
    assert "More than 3 entries." in text(client.get(HISTORY))


def test_the_first_page_and_the_count_agree_whatever_the_count_limit(as_user, cast, team_a, monkeypatch):
    """The first page and the count are read together; neither limits the other."""
    rows = [
        attempt(team_a, f"com.acme:dev-{n}", "created", at=T0 + timedelta(minutes=n))[1]
        for n in range(listing.PAGE_SIZE + 2)
    ]
    client = as_user(cast["auditor"])
    monkeypatch.setattr(listing, "COUNT_LIMIT", 3)
    first = client.get(HISTORY, {"q": "acme"})
    assert listed_ids(first) == [row.pk for row in reversed(rows)][: listing.PAGE_SIZE]
    assert "More than 3 entries match these filters." in text(first)
    after = re.search(r"after=([\w-]+)", text(first)).group(1)
    assert listed_ids(client.get(HISTORY, {"q": "acme", "after": after})) == [rows[1].pk, rows[0].pk]
    monkeypatch.setattr(listing, "COUNT_LIMIT", 500)
    assert f"{listing.PAGE_SIZE + 2} entries match these filters." in text(client.get(HISTORY, {"q": "acme"}))


def test_the_list_leaves_request_and_response_bodies_in_the_database(as_user, cast, team_a):
    """The list shows no bodies (most of a row's bytes): neither the first page nor a later one reads them."""
    for n in range(listing.PAGE_SIZE + 1):
        attempt(team_a, f"com.acme:dev-{n}", "created", at=T0 + timedelta(minutes=n))
    client = as_user(cast["auditor"])
    first = client.get(HISTORY)
    after = re.search(r"after=([\w-]+)", text(first)).group(1)
    later = client.get(HISTORY, {"after": after})
    for response in (first, later):
        assert response.context["items"]
        assert all({"request", "response"} <= row.get_deferred_fields() for row in response.context["items"])


def test_a_filter_that_cannot_be_used_lists_nothing_and_says_why(as_user, cast, mixed):
    page = text(as_user(cast["auditor"]).get(f"{HISTORY}?status=bogus&since=2026-13-45"))
    assert "Nothing is listed: a filter cannot be used." in page
    assert "Status: Select a valid choice." in page and "From: Enter a valid date." in page
    assert "<table" not in page and "entries" not in page
