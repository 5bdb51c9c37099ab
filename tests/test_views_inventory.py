"""The Devices page: the inventory listed with history's search rules, filters, chips, counts,
keyset pages and exports; links both ways between a device and its history."""

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from provisioning import history_search as search
from provisioning import listing
from provisioning.bulk.models import BulkJob, JobStatus
from provisioning.history import unknown_after
from provisioning.models import AuditEvent, Connection, Device, DeviceState, Namespace
from tests.factories import make_config
from tests.views import assert_is_partial, htmx_get
from tests.workflow import text

pytestmark = pytest.mark.django_db

URL = "/t/team-a/devices/"
EXPORT = "/t/team-a/devices/export/"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "Pw-never-shown-0815!"


def attempt(team, target, status, *, at, config=None, actor="oscar", action="device.provision", origin=None):
    """An intent and its outcome, as a provisioning (or de-provisioning) attempt writes them; the
    inventory follows them in the same transaction."""
    cid = uuid.uuid4()
    request = {
        "method": "POST",
        "body": {"id": target, "hub": {"credentials": {"secrets": [{"password": SECRET}]}}},
    }
    if origin:
        request["origin"] = origin
    common = {
        "action": action,
        "actor_name": actor,
        "client_ref": getattr(config, "pk", None),
        "client_name": getattr(config, "name", ""),
        "correlation_id": cid,
        "team_id": team.pk,
        "team_name": team.name,
        "target": target,
    }
    AuditEvent.objects.create(created_at=at, phase="intent", status="pending", request=request, **common)
    if status is None:  # never answered (a crash)
        return None
    return AuditEvent.objects.create(
        created_at=at + timedelta(milliseconds=5), phase="outcome", status=status, **common
    )


def listed(response):
    """The device ids listed on a Devices page, in order."""
    # (A member who may act on devices has a box to tick first.)
    return re.findall(
        r"<tr>\s*(?:<td><input [^>]*></td>\s*)?<td><code>([^<]+)</code>", response.content.decode()
    )


def next_link(response):
    match = re.search(r'<a href="(/t/team-a/devices/\?[^"]*after=[^"]+)"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


@pytest.fixture
def config(team_a):
    return make_config(team_a, name="Plant North")


@pytest.fixture
def fleet(team_a, config):
    """Devices in every state, through one connection, an hour apart (newest last)."""
    other = make_config(team_a, name="Plant South")
    for name in ("com.acme.sensors", "com.acme.pumps"):
        Namespace.objects.create(team=team_a, name=name)
    at = T0
    made = {}
    for target, status, conn in [
        ("com.acme.sensors:dev-1", "created", config),
        ("com.acme.sensors:dev-10", "created", config),
        ("com.acme.pumps:Pump-42", "created", other),
        ("com.acme.sensors:lost-7", "unknown", config),
        ("com.acme.pumps:gone-3", "created", config),
    ]:
        made[target] = attempt(team_a, target, status, at=at, config=conn, actor="alice")
        at += timedelta(hours=1)
    attempt(team_a, "com.acme.pumps:gone-3", "deleted", at=at, config=config, action="device.deprovision")
    return made


# --- who sees what ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "operator", "auditor"])
@pytest.mark.parametrize("url", [URL, EXPORT, EXPORT + "?format=jsonl"])
def test_every_member_sees_the_devices(as_user, cast, fleet, role, url):
    response = as_user(cast[role]).get(url)
    assert response.status_code == 200
    assert "com.acme.pumps:Pump-42" in text(response)


def test_another_team_sees_none_of_them(as_user, cast, fleet, team_b):
    client = as_user(cast["other"])
    assert client.get(URL).status_code == 404
    assert client.get(EXPORT).status_code == 404
    assert client.post(URL).status_code == 405
    # Their own page lists their devices only, searched or not.
    attempt(team_b, "com.acme.sensors:theirs-1", "created", at=T0)
    own = client.get("/t/team-b/devices/")
    assert listed(own) == ["com.acme.sensors:theirs-1"]
    assert listed(client.get("/t/team-b/devices/", {"q": "dev-1"})) == []
    assert "dev-1" not in text(client.get("/t/team-b/devices/export/"))


def test_the_team_navigation_links_the_page(as_user, cast, team_a):
    page = text(as_user(cast["auditor"]).get("/t/team-a/history/"))
    assert f'href="{URL}"' in page


# --- the list ---------------------------------------------------------------------------------


def test_each_device_once_newest_changed_first_with_its_state(as_user, cast, fleet):
    response = as_user(cast["auditor"]).get(URL)
    assert listed(response) == [
        "com.acme.pumps:gone-3",
        "com.acme.sensors:lost-7",
        "com.acme.pumps:Pump-42",
        "com.acme.sensors:dev-10",
        "com.acme.sensors:dev-1",
    ]
    page = text(response)
    assert "5 devices, last changed first." in page
    row = re.search(r"<tr>\s*<td><code>com.acme.pumps:gone-3</code>.*?</tr>", page, re.S).group(0)
    assert "De-provisioned" in row and "by alice" in row
    row = re.search(r"<tr>\s*<td><code>com.acme.sensors:lost-7</code>.*?</tr>", page, re.S).group(0)
    assert "Outcome unknown" in row and "not created" in row
    row = re.search(r"<tr>\s*<td><code>com.acme.pumps:Pump-42</code>.*?</tr>", page, re.S).group(0)
    assert "Plant South" in row and "Created" in row and "never checked" in row
    # The attempt that created it: its history entry.
    entry = fleet["com.acme.pumps:Pump-42"]
    assert f'href="/t/team-a/history/{entry.pk}/"' in row
    assert SECRET not in page


def test_an_open_attempt_reads_in_progress_then_outcome_unknown(as_user, cast, team_a, config):
    now = timezone.now()
    attempt(team_a, "com.acme:fresh-1", None, at=now, config=config)
    attempt(
        team_a, "com.acme:crashed-1", None, at=now - unknown_after() - timedelta(minutes=1), config=config
    )
    client = as_user(cast["auditor"])
    page = text(client.get(URL))
    fresh = re.search(r"<tr>\s*<td><code>com.acme:fresh-1</code>.*?</tr>", page, re.S).group(0)
    crashed = re.search(r"<tr>\s*<td><code>com.acme:crashed-1</code>.*?</tr>", page, re.S).group(0)
    assert "First attempt in progress" in fresh
    assert "Outcome unknown" in crashed
    # The state filter follows the label.
    assert listed(client.get(URL, {"state": "in_progress"})) == ["com.acme:fresh-1"]
    assert listed(client.get(URL, {"state": "unknown"})) == ["com.acme:crashed-1"]


def test_a_created_device_being_deprovisioned_says_so(as_user, cast, team_a, config):
    attempt(team_a, "com.acme:dev-1", "created", at=timezone.now() - timedelta(hours=1), config=config)
    attempt(team_a, "com.acme:dev-1", None, at=timezone.now(), config=config, action="device.deprovision")
    page = text(as_user(cast["auditor"]).get(URL))
    assert "Created" in page and "de-provisioning in progress" in page
    assert listed(as_user(cast["auditor"]).get(URL, {"state": "created"})) == ["com.acme:dev-1"]


def test_a_device_from_a_bulk_job_links_the_job(as_user, cast, team_a, config, operator_a):
    job = BulkJob.objects.create(
        team=team_a, created_by=operator_a, client=config, client_name=config.name, status=JobStatus.DONE
    )
    attempt(
        team_a, "com.acme:bulk-1", "created", at=T0, config=config, origin={"bulkJob": str(job.public_id)}
    )
    attempt(team_a, "com.acme:single-1", "created", at=T0 + timedelta(minutes=1), config=config)
    client = as_user(cast["auditor"])
    page = text(client.get(URL))
    assert f'href="/t/team-a/bulk/{job.pk}/"' in page
    response = client.get(URL, {"job": str(job.public_id)})
    assert listed(response) == ["com.acme:bulk-1"]
    assert "Bulk job: <strong>upload, " in text(response)


def test_empty_states_say_what_to_do(as_user, cast, team_a, config):
    page = text(as_user(cast["operator"]).get(URL))
    assert "No devices yet." in page and 'href="/t/team-a/devices/new/"' in page
    assert "An admin or operator of the team provisions them." in text(as_user(cast["auditor"]).get(URL))
    attempt(team_a, "com.acme:dev-1", "created", at=T0, config=config)
    page = text(as_user(cast["auditor"]).get(URL, {"q": "no-such-thing"}))
    assert "No device matches these filters." in page and "list every device" in page


# --- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("com.acme.sensors:dev-1", ["com.acme.sensors:dev-10", "com.acme.sensors:dev-1"]),  # a prefix
        ("COM.ACME.PUMPS:PUMP-42", ["com.acme.pumps:Pump-42"]),  # the whole id, other case
        ("pump-42", ["com.acme.pumps:Pump-42"]),  # the name without its namespace
        ("ump-4", ["com.acme.pumps:Pump-42"]),  # part of a name
        ("sensors:lo", ["com.acme.sensors:lost-7"]),  # across the colon
        ("dev-10", ["com.acme.sensors:dev-10"]),
        ("no-such-thing", []),
        ("100%", []),  # LIKE's wildcards are plain characters
        ('"dev', []),  # and so is FTS5's quote
    ],
)
def test_search_finds_any_part_of_an_id_in_any_case(as_user, cast, fleet, typed, expected):
    response = as_user(cast["auditor"]).get(URL, {"q": typed})
    assert response.status_code == 200
    assert listed(response) == expected


def test_a_search_too_many_match_for_the_index_finds_the_same(as_user, cast, fleet, team_a, monkeypatch):
    client = as_user(cast["auditor"])
    expected = listed(client.get(URL, {"q": "acme"}))
    assert len(expected) == 5
    monkeypatch.setattr(search, "SEARCH_LIMIT", 1)
    monkeypatch.setattr(search, "WALK_MATCHES", 1)
    if connection.vendor == "sqlite":
        assert search.DEVICES.matches(team_a, "acme") is None
    assert listed(client.get(URL, {"q": "acme"})) == expected


@pytest.mark.parametrize("typed", ["9", "s-"])
def test_a_search_shorter_than_three_characters_lists_nothing_and_says_why(as_user, cast, fleet, typed):
    response = as_user(cast["auditor"]).get(URL, {"q": typed})
    assert response.status_code == 200
    assert listed(response) == []
    assert "Type at least 3 characters." in text(response)


def test_a_device_added_after_the_migrations_is_found_by_the_index(as_user, cast, team_a, config):
    """The index is kept by the database (triggers on SQLite): a new device is found through it."""
    attempt(team_a, "com.acme:Heat-Pump-42", "created", at=T0, config=config)
    if connection.vendor == "sqlite":
        found = Device.objects.filter(pk__in=search.DEVICES.matches(team_a, "pump-4"))
        assert list(found.values_list("device_id", flat=True)) == ["com.acme:Heat-Pump-42"]
    assert listed(as_user(cast["auditor"]).get(URL, {"q": "HEAT-pump"})) == ["com.acme:Heat-Pump-42"]


# --- filters, chips, counts -------------------------------------------------------------------------


def test_each_filter(as_user, cast, team_a, fleet, config):
    client = as_user(cast["auditor"])
    pumps = Namespace.objects.get(name="com.acme.pumps")
    south = Connection.objects.get(team=team_a, name="Plant South")
    assert listed(client.get(URL, {"namespace": pumps.pk})) == [
        "com.acme.pumps:gone-3",
        "com.acme.pumps:Pump-42",
    ]
    assert listed(client.get(URL, {"connection": south.pk})) == ["com.acme.pumps:Pump-42"]
    assert listed(client.get(URL, {"state": "deprovisioned"})) == ["com.acme.pumps:gone-3"]
    assert listed(client.get(URL, {"state": "created"})) == [
        "com.acme.pumps:Pump-42",
        "com.acme.sensors:dev-10",
        "com.acme.sensors:dev-1",
    ]
    # Created between: newest created first (the de-provisioned device was created last).
    response = client.get(URL, {"since": "2026-03-01", "until": "2026-03-01"})
    assert listed(response) == [
        "com.acme.pumps:gone-3",
        "com.acme.pumps:Pump-42",
        "com.acme.sensors:dev-10",
        "com.acme.sensors:dev-1",
    ]
    assert "newest created first" in text(response)
    assert listed(client.get(URL, {"since": "2026-03-02"})) == []
    assert listed(client.get(URL, {"state": "created", "connection": config.pk, "q": "dev"})) == [
        "com.acme.sensors:dev-10",
        "com.acme.sensors:dev-1",
    ]


def test_every_filter_in_use_is_a_chip_that_removes_it(as_user, cast, fleet, config):
    page = text(as_user(cast["auditor"]).get(URL, {"state": "created", "connection": config.pk, "q": "dev"}))
    chips = re.search(r'<ul class="chips".*?</ul>', page, re.S).group(0)
    assert "State: <strong>Created</strong>" in chips
    assert "Connection: <strong>Plant North</strong>" in chips
    assert "Device id: <strong>dev</strong>" in chips
    assert f'href="{URL}?state=created&connection={config.pk}"' in chips
    assert f'href="{URL}?connection={config.pk}&q=dev"' in chips
    assert "2 devices match these filters" in page


def test_the_count_is_exact_up_to_a_limit(as_user, cast, fleet, monkeypatch):
    client = as_user(cast["auditor"])
    assert "5 devices, last changed first." in text(client.get(URL))
    monkeypatch.setattr(listing, "COUNT_LIMIT", 3)
    assert "More than 3 devices, last changed first." in text(client.get(URL))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"state": "bogus"}, "State: Select a valid choice."),
        ({"connection": "999999"}, "Connection: Select a valid choice."),
        ({"connection": "abc"}, "Connection: Select a valid choice."),
        ({"job": "not-a-uuid"}, "Bulk job: “not-a-uuid” is not a valid UUID."),
        ({"job": str(uuid.uuid4())}, "Bulk job: Select a valid choice."),
        ({"since": "2026-13-45"}, "Created from: Enter a valid date."),
        (
            {"since": "2026-03-02", "until": "2026-03-01"},
            "Created to: The end date is before the start date.",
        ),
        ({"q": "x" * 300}, "Device id: Ensure this value has at most 256 characters"),
    ],
)
def test_a_filter_that_cannot_be_used_lists_nothing_and_says_why(as_user, cast, fleet, query, message):
    client = as_user(cast["auditor"])
    response = client.get(URL, query)
    assert response.status_code == 200
    page = text(response)
    assert "Nothing is listed: a filter cannot be used." in page and message in page
    assert listed(response) == []
    export = client.get(EXPORT, query)
    assert export.status_code == 400 and "The export was not made" in text(export)


def test_a_connection_of_another_team_is_not_a_filter(as_user, cast, fleet, team_b):
    theirs = make_config(team_b, name="Theirs")
    page = text(as_user(cast["auditor"]).get(URL, {"connection": theirs.pk}))
    assert "Connection: Select a valid choice." in page


# --- pages ------------------------------------------------------------------------------------------


def test_keyset_pages_list_every_device_once(as_user, cast, team_a, config):
    same_time = T0 + timedelta(days=1)
    Device.objects.bulk_create(
        Device(
            team=team_a,
            connection_ref=config.pk,
            connection_name=config.name,
            device_id=f"com.acme:dev-{n:03d}",
            namespace="com.acme",
            state=DeviceState.CREATED,
            # runs of equal times, as a bulk job's rows get
            changed_at=same_time - timedelta(minutes=n // 7),
            created_at=same_time - timedelta(minutes=n // 7),
        )
        for n in range(120)
    )
    client = as_user(cast["auditor"])
    seen, url = [], URL
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += listed(response)
        url = next_link(response)
    assert len(seen) == 120 and len(set(seen)) == 120
    assert "First page" in text(response)
    # A cursor that cannot be read starts at the first page (nothing is lost, no error).
    assert listed(client.get(URL, {"after": "%%%not-a-cursor"}))[:1] == seen[:1]


def test_the_htmx_partial_is_the_results_only(client, cast, fleet):
    client.force_login(cast["auditor"])
    response = htmx_get(client, URL, {"q": "pump"})
    html = assert_is_partial(response, "device-results")
    assert "com.acme.pumps:Pump-42" in html
    assert response["HX-Push-Url"] == f"{URL}?q=pump"


def test_empty_fields_of_a_plain_submit_are_dropped_from_the_address(as_user, cast, fleet):
    response = as_user(cast["auditor"]).get(URL, {"q": "pump", "state": "", "since": ""})
    assert response.status_code == 302 and response["Location"] == f"{URL}?q=pump"


# --- exports ----------------------------------------------------------------------------------------


def test_the_csv_export_holds_every_matching_device(as_user, cast, fleet):
    response = as_user(cast["auditor"]).get(
        EXPORT, {"namespace": Namespace.objects.get(name="com.acme.pumps").pk}
    )
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="devices-team-a-')
    body = text(response)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["device_id"], r["state"], r["connection"]) for r in rows] == [
        ("com.acme.pumps:gone-3", "deprovisioned", "Plant North"),
        ("com.acme.pumps:Pump-42", "created", "Plant South"),
    ]
    assert rows[1]["created_by"] == "alice" and rows[1]["shown_as"] == "Created"
    assert rows[1]["created_at"].startswith("2026-03-01T14:00:00.005")
    assert SECRET not in body


def test_the_json_lines_export(as_user, cast, fleet):
    response = as_user(cast["auditor"]).get(EXPORT, {"format": "jsonl", "q": "lost"})
    assert response["Content-Type"] == "application/x-ndjson"
    body = text(response)
    records = [json.loads(line) for line in body.splitlines()]
    assert len(records) == 1
    assert records[0]["device_id"] == "com.acme.sensors:lost-7"
    assert records[0]["state"] == "unknown" and records[0]["created_at"] is None
    assert SECRET not in body


def test_a_device_id_that_looks_like_a_formula_is_made_safe(as_user, cast, team_a, config):
    attempt(team_a, "=HYPERLINK(1)", "created", at=T0, config=config)
    rows = list(csv.reader(io.StringIO(text(as_user(cast["auditor"]).get(EXPORT)))))
    assert rows[1][0] == "'=HYPERLINK(1)"


# --- both ways between a device and its history -----------------------------------------------------


def test_a_device_links_its_history_and_its_entries_link_it(as_user, cast, fleet, config):
    client = as_user(cast["auditor"])
    page = text(client.get(URL, {"q": "sensors:dev-1"}))
    link = f"/t/team-a/history/?device=com.acme.sensors%3Adev-1&config={config.pk}"
    assert f'href="{link}"' in page
    history = text(client.get(link))
    # Exactly that device: dev-10 shares its name's start and is not listed.
    assert "com.acme.sensors:dev-1<" in history and "dev-10" not in history
    assert "Device: <strong>com.acme.sensors:dev-1</strong>" in history
    entry = fleet["com.acme.sensors:dev-1"]
    detail = text(client.get(f"/t/team-a/history/{entry.pk}/"))
    back = f"{URL}?device=com.acme.sensors%3Adev-1&connection={config.pk}"
    assert f'href="{back}"' in detail
    assert listed(client.get(back)) == ["com.acme.sensors:dev-1"]


def test_an_entry_of_something_not_in_the_inventory_has_no_device_link(as_user, cast, team_a, config):
    outcome = attempt(team_a, "com.acme:refused-1", "refused", at=T0, config=config)
    assert not Device.objects.exists()
    detail = text(as_user(cast["auditor"]).get(f"/t/team-a/history/{outcome.pk}/"))
    assert "This device in the inventory" not in detail


def test_the_job_select_offers_the_latest_jobs_and_accepts_any(
    as_user, cast, team_a, config, operator_a, monkeypatch
):
    from provisioning.inventory_list import JobChoiceField

    old, _new = (
        BulkJob.objects.create(
            team=team_a,
            created_by=operator_a,
            client=config,
            client_name=config.name,
            file_name=name,
            status=JobStatus.DONE,
            created_at=T0 + timedelta(days=n),
        )
        for n, name in enumerate(["old.csv", "new.csv"])
    )
    attempt(team_a, "com.acme:old-1", "created", at=T0, config=config, origin={"bulkJob": str(old.public_id)})
    monkeypatch.setattr(JobChoiceField, "OFFERED", 1)
    client = as_user(cast["auditor"])
    page = text(client.get(URL))
    assert "new.csv" in page and "old.csv" not in page
    response = client.get(URL, {"job": str(old.public_id)})
    assert listed(response) == ["com.acme:old-1"]
    assert f'<option value="{old.public_id}" selected>old.csv' in text(response)
