"""Bulk jobs through Eclipse Hono + Ditto and Ditto alone (issue 13), against the sandbox's Hono
registry and Ditto over real HTTP: every row one attempt of its plan's calls, each call with its
step rows; a refused step undone, an unknown one leaving the row unknown and then resumed, a busy
provider waited out and resumed, and a row an executor left ``sending`` after some of its steps
continued from the first step not confirmed.
"""

import csv
import json
import time
import uuid
from collections import Counter

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from provisioning import hono_ditto_service, services
from provisioning.bulk import credentials, dry_run, executor, intake, jobs, lease, tasks
from provisioning.bulk.csvfile import Layout
from provisioning.bulk.forms import UploadForm
from provisioning.bulk.models import BulkRow, JobStatus, RowState, seal_secret
from provisioning.models import AuditEvent, Device, DeviceState, OpenAttempt
from provisioning.providers import hono_ditto as hd
from provisioning.providers.hono_ditto_connection import auths_for, settings_for
from provisioning.sandbox import knobs
from provisioning.sandbox.models import HonoCredential, secret_matches
from tests.factories import make_hono_ditto
from tests.views import entry_steps

from .conftest import (
    BASIC_USER,
    HONO_TENANT,
    NS,
    csv_bytes,
    device_rows,
    make_draft,
    parts,
    run_job,
    with_passwords,
)

pytestmark = pytest.mark.django_db(transaction=True)

ALL = {"device": 1, "credentials": 1, "policy": 1, "thing": 1}
STEPS = ["device", "credentials", "policy", "thing"]


def device_id(n, prefix="dev"):
    return f"{NS}:{prefix}-{n:05d}"


def step_rows(correlation_id):
    """(step, status) of every step row of one attempt, in order."""
    rows = AuditEvent.objects.filter(correlation_id=correlation_id, action=hono_ditto_service.STEP_ACTION)
    return [(row.request["step"], row.status) for row in rows.order_by("created_at", "id")]


def attempts_of(target):
    """The correlation ids of the provisioning attempts of ``target``, oldest first."""
    intents = AuditEvent.objects.filter(action="device.provision", phase="intent", target=target)
    return list(intents.order_by("created_at", "id").values_list("correlation_id", flat=True))


def password_matches(device, password):
    entry = HonoCredential.objects.get(device__device_id=device)
    return secret_matches(password, entry.secrets[0]["hidden"]["hash"])


def test_a_hono_ditto_job_sends_every_row_as_one_attempt_of_its_four_calls(
    team_a, operator_a, c2e_config, hd_ns
):
    rows = device_rows(12, password=lambda n: f"Typed-Pass-{n:05d}" if n % 2 else "")
    job = make_draft(team_a, operator_a, c2e_config, hd_ns, csv_bytes(rows), concurrency=4)
    assert job.row_counts()[RowState.PENDING] == 12

    assert run_job(job, operator_a) == "done"

    assert job.status == JobStatus.DONE
    assert Counter(job.rows.values_list("state", flat=True)) == {RowState.CREATED: 12}
    for n in range(12):
        assert parts(device_id(n)) == ALL
        (attempt,) = attempts_of(device_id(n))
        phases = Counter(AuditEvent.objects.filter(correlation_id=attempt).values_list("phase", flat=True))
        assert phases == {
            "intent": 1,
            "outcome": 1,
            "event": 8,
        }  # one attempt: 4 calls, a row before and after
        assert step_rows(attempt) == [(step, status) for step in STEPS for status in ("pending", "created")]
        intent = AuditEvent.objects.get(correlation_id=attempt, phase="intent")
        assert intent.request["origin"] == {"bulkJob": str(job.public_id), "line": n + 2}
        assert intent.request["provider"] == "hono_ditto"
    assert not OpenAttempt.objects.exists()
    # The inventory has each device once, created by this job.
    assert set(Device.objects.values_list("device_id", "state", "bulk_job")) == {
        (device_id(n), DeviceState.CREATED, job.public_id) for n in range(12)
    }
    assert password_matches(device_id(1), "Typed-Pass-00001")
    # The generated passwords: sealed, downloadable once, and the ones the devices got.
    text = credentials.take_credentials(job, operator_a)
    generated = {line["device_id"]: line["password"] for line in csv.DictReader(text.splitlines())}
    assert sorted(generated) == [device_id(n) for n in range(0, 12, 2)]
    assert all(password_matches(device, password) for device, password in generated.items())
    assert credentials.take_credentials(job, operator_a) is None
    audit = json.dumps(list(AuditEvent.objects.values("request", "response", "message")))
    assert "Typed-Pass-00001" not in audit and not any(p in audit for p in generated.values())
    assert BASIC_USER[1] not in audit


def test_a_ditto_job_makes_each_twin_and_its_policy(team_a, operator_a, ditto_config, hd_ns):
    job = make_draft(
        team_a, operator_a, ditto_config, hd_ns, csv_bytes(device_rows(5)), credentials_type="none"
    )

    assert run_job(job, operator_a) == "done"

    assert Counter(job.rows.values_list("state", flat=True)) == {RowState.CREATED: 5}
    for n in range(5):
        assert parts(device_id(n)) == {"device": 0, "credentials": 0, "policy": 1, "thing": 1}
        (attempt,) = attempts_of(device_id(n))
        assert [step for step, status in step_rows(attempt) if status == "created"] == ["policy", "thing"]


def test_a_refused_step_undoes_the_earlier_ones_and_fails_only_its_row(team_a, operator_a, c2e_config, hd_ns):
    knobs.inject_fault(402, target="ditto")  # the first row's policy
    job = make_draft(team_a, operator_a, c2e_config, hd_ns, csv_bytes(device_rows(3)), concurrency=1)

    assert run_job(job, operator_a) == "done"

    first = job.rows.get(line=2)
    assert first.state == RowState.FAILED and first.http_status == 402
    assert "Undone: device, credentials." in first.message
    assert parts(device_id(0)) == {"device": 0, "credentials": 0, "policy": 0, "thing": 0}
    (attempt,) = attempts_of(device_id(0))
    assert step_rows(attempt)[-2:] == [("device", "pending"), ("device", "deleted")]  # the undo, audited
    assert [parts(device_id(n)) for n in (1, 2)] == [ALL, ALL]
    assert not first.secret_sealed  # nothing of it exists: its generated password is dropped


def test_an_unknown_step_leaves_the_row_unknown_and_sending_it_again_resumes(
    team_a, operator_a, c2e_config, hd_ns
):
    # The first row's thing is made by the sandbox after the client gave up waiting.
    knobs.inject_fault("slow", seconds=2, target="ditto", count=1)
    job = make_draft(team_a, operator_a, c2e_config, hd_ns, csv_bytes(device_rows(2)), concurrency=1)
    with override_settings(OUTBOUND_READ_TIMEOUT=1):
        assert run_job(job, operator_a) == "done"

    row = job.rows.get(line=2)
    assert row.state == RowState.UNKNOWN and row.secret_sealed  # kept: it is sent again with it
    assert "Made before it: device, credentials." in row.message
    first_attempt = row.correlation_id
    deadline = time.monotonic() + 10
    while parts(device_id(0))["policy"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # the slow request's handler finishes its writes
    assert parts(device_id(0)) == {"device": 1, "credentials": 1, "policy": 1, "thing": 0}

    assert jobs.retry_unknown(job, operator_a) == (1, 0)
    assert executor.run(job.pk) == "done"

    row.refresh_from_db()
    assert row.state == RowState.CREATED
    again = attempts_of(device_id(0))[-1]
    assert again == row.correlation_id != first_attempt
    # Only what the first attempt did not confirm was sent; its unanswered policy is taken as
    # made, once read back and found as this attempt would have made it.
    assert step_rows(again) == [
        ("policy", "pending"),
        ("policy", "already"),
        ("policy", "present"),
        ("thing", "pending"),
        ("thing", "created"),
    ]
    intent = AuditEvent.objects.get(correlation_id=again, phase="intent")
    assert intent.request["origin"]["resolves"] == str(first_attempt)
    assert parts(device_id(0)) == ALL and parts(device_id(1)) == ALL


def test_a_busy_provider_pauses_the_job_and_the_row_resumes_after_its_made_steps(
    team_a, operator_a, c2e_config, hd_ns
):
    # The first row's policy: 429 four times (the call's own three waits, then the job's back-off).
    knobs.inject_fault(429, count=4, retry_after=0, target="ditto")
    job = make_draft(team_a, operator_a, c2e_config, hd_ns, csv_bytes(device_rows(3)), concurrency=1)

    assert run_job(job, operator_a) == "done"

    assert job.throttled >= 1
    row = job.rows.get(line=2)
    assert row.state == RowState.CREATED and row.busy_retries == 1 and row.attempts == 2
    first, second = attempts_of(device_id(0))
    assert AuditEvent.objects.get(correlation_id=first, phase="outcome").status == "failed"
    assert [s for s, status in step_rows(first) if status == "created"] == ["device", "credentials"]
    assert [s for s, status in step_rows(second) if status == "created"] == ["policy", "thing"]
    assert all(parts(device_id(n)) == ALL for n in range(3))


def test_a_token_error_pauses_the_job_and_resume_continues_the_row_from_its_step(
    team_a, operator_a, sandbox, hono_sandbox, hd_ns
):
    """Hono on HTTP Basic, Ditto on OAuth2 with a wrong client secret: the first row's policy
    cannot be sent, so the job pauses for the operator (every row would fail alike); fixed and
    resumed, the row continues from its policy."""
    config = make_hono_ditto(
        team_a,
        name="Mixed",
        url=hono_sandbox,
        hono_tenant=HONO_TENANT,
        hono_username=BASIC_USER[0],
        ditto_auth="oauth2",
        ditto_username="",
        token_url=sandbox["token_url"],
        client_id=sandbox["client_id"],
        scope=sandbox["scope"],
    )
    config.set_secret("not-the-client-secret")
    with_passwords(config)
    job = make_draft(team_a, operator_a, config, hd_ns, csv_bytes(device_rows(2)), concurrency=1)

    assert run_job(job, operator_a) == "paused"

    assert job.status == JobStatus.PAUSED and "Step that stopped: policy." in job.paused_reason
    # The rows already begun when it paused were sent, and stopped at the same step.
    for row in job.rows.all():
        assert row.state == RowState.PENDING and row.resumes == attempts_of(row.device_id)[0]
        assert parts(row.device_id) == {"device": 1, "credentials": 1, "policy": 0, "thing": 0}

    config.set_secret(sandbox["client_secret"])
    config.save()
    assert jobs.resume(job, operator_a)
    assert executor.run(job.pk) == "done"

    for row in job.rows.all():
        assert row.state == RowState.CREATED and row.attempts == 2
        again = attempts_of(row.device_id)[-1]
        assert [step for step, status in step_rows(again) if status == "pending"] == ["policy", "thing"]
        assert parts(row.device_id) == ALL


def test_a_row_left_sending_after_some_steps_continues_from_the_first_unconfirmed_one(
    team_a, operator_a, c2e_config, hd_ns
):
    """What a worker killed after a row's second call leaves: the intent, the device confirmed,
    its credentials sent (their answer row goes in with the next call's row, which was never
    written), no outcome. Recovery resumes the row; nothing is made twice."""
    job = make_draft(team_a, operator_a, c2e_config, hd_ns, csv_bytes(device_rows(2)))
    jobs.start(job, operator_a, run_in_worker=False)
    row = job.rows.get(line=2)
    cid = uuid.uuid4()
    BulkRow.objects.filter(pk=row.pk).update(state=RowState.SENDING, correlation_id=cid, attempts=1)
    form, _, _ = intake.row_form(job, Layout.for_job(job), row.cells, password="Killed-Pass-0001")
    assert form.is_valid()
    settings = settings_for(c2e_config)
    sender = hono_ditto_service.Sender(operator_a, team_a, settings, auths_for(c2e_config), c2e_config)
    plan = hd.plan(settings, form.to_spec())
    half = hono_ditto_service.PlannedAttempt(sender, plan[:2], device_id=row.device_id, correlation_id=cid)
    services.begin([half.attempt])
    half.run()  # the device and its credentials; the outcome row is never written
    assert parts(row.device_id) == {"device": 1, "credentials": 1, "policy": 0, "thing": 0}

    job.refresh_from_db()
    assert lease.recover(job) == 0
    row.refresh_from_db()
    assert (row.state, row.resumes, row.correlation_id) == (RowState.PENDING, cid, None)

    BulkRow.objects.filter(pk=row.pk).update(
        secret_sealed=seal_secret(job.public_id, row.line, "Killed-Pass-0001"), secret_origin="typed"
    )
    assert executor.run(job.pk) == "done"
    row.refresh_from_db()
    assert row.state == RowState.CREATED and row.resumes is None
    assert step_rows(cid) == [("device", "pending"), ("device", "created"), ("credentials", "pending")]
    again = attempts_of(row.device_id)[-1]
    # The credentials PUT, maybe made, is made again (it replaces the set); the device is not.
    assert [s for s, status in step_rows(again) if status == "pending"] == ["credentials", "policy", "thing"]
    assert parts(row.device_id) == ALL and parts(device_id(1)) == ALL
    assert password_matches(row.device_id, "Killed-Pass-0001")


# --- what a Hono + Ditto or Ditto job cannot do, said before anything is sent --------------------


def test_cells_a_ditto_connection_cannot_honour_are_a_reason_on_their_line(
    team_a, operator_a, ditto_config, hd_ns
):
    rows = [
        ["ok-1", "", "", "", "", "", "north", "1"],
        ["pw-1", "Would-Be-Pass-1", "", "", "", "", "", ""],
        ["auth-1", "", "auth-one", "", "", "", "", ""],
        ["gw-1", "", "", "", f"{NS}:gateway", "", "", ""],
        ["off-1", "", "", "false", "", "", "", ""],
    ]
    job = make_draft(team_a, operator_a, ditto_config, hd_ns, csv_bytes(rows), credentials_type="none")

    found = {row.line: row for row in job.rows.all()}
    assert found[2].state == RowState.PENDING
    assert (
        found[3].state == RowState.INVALID
        and "password: A Ditto connection registers no credentials" in found[3].message
    )
    assert (
        found[4].state == RowState.INVALID
        and "auth_id: A Ditto connection registers no credentials" in found[4].message
    )
    assert found[5].state == RowState.INVALID and "via: A gateway is a Hono setting" in found[5].message
    assert (
        found[6].state == RowState.INVALID
        and "enabled: Enabling and disabling is a Hono setting" in found[6].message
    )
    assert "Would-Be-Pass-1" not in json.dumps(list(job.rows.values("cells", "message")))


def test_a_hono_ditto_row_the_registry_would_refuse_is_invalid_with_the_reason(
    team_a, operator_a, c2e_config, hd_ns
):
    rows = [["ok-1", "", "", "", "", "", "", ""], ["bad-auth", "", "a b", "", "", "", "", ""]]
    job = make_draft(team_a, operator_a, c2e_config, hd_ns, csv_bytes(rows))

    bad = job.rows.get(line=3)
    assert bad.state == RowState.INVALID and bad.message.startswith("auth_id: ")
    preview = dry_run.first_preview(job)
    assert [step["step"] for step in preview["steps"]] == STEPS and preview["line"] == 2
    assert '"pwd-plain"' in preview["steps"][1]["body"]


def test_the_upload_form_says_what_a_ditto_connection_cannot_do_for_every_row(team_a, ditto_config, hd_ns):
    form = UploadForm(
        {
            "config": ditto_config.pk,
            "namespace": hd_ns.pk,
            "credentials_type": "hashed-password",
            "auth_scope": "subscription",
            "concurrency": "4",
        },
        {"file": SimpleUploadedFile("d.csv", b"name\nx\n")},
        team=team_a,
    )
    assert not form.is_valid()
    assert "Choose None" in form.errors["credentials_type"][0]
    assert "Bosch IoT Suite setting" in form.errors["auth_scope"][0]


# --- through the pages --------------------------------------------------------------------------


def test_an_operator_uploads_a_csv_for_a_hono_ditto_connection_and_every_row_has_its_steps_in_history(
    as_user, cast, team_a, c2e_config, hd_ns, django_capture_on_commit_callbacks
):
    client = as_user(cast["operator"])
    rows = device_rows(3, password=lambda n: f"Typed-Pass-{n:05d}")
    page = client.get("/t/team-a/bulk/new/")
    assert c2e_config in page.context["form"].fields["config"].queryset
    form = {
        "config": c2e_config.pk,
        "namespace": hd_ns.pk,
        "credentials_type": "hashed-password",
        "auth_scope": "__default__",
        "concurrency": "2",
        "file": SimpleUploadedFile("devices.csv", csv_bytes(rows), content_type="text/csv"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/t/team-a/bulk/new/", form).status_code == 302
    job = team_a.bulk_jobs.get()
    assert tasks.validate_upload.call(job.pk) == "draft"

    preview = client.get(f"/t/team-a/bulk/{job.pk}/").content.decode()
    assert "The requests of the first row (line 2)" in preview
    for title in ("Create the Hono device", "Set the device&#x27;s credentials", "Create the twin (thing)"):
        assert title in preview
    assert "Typed-Pass-00000" not in preview and "********" in preview
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(f"/t/team-a/bulk/{job.pk}/start/").status_code == 302
    assert executor.run(job.pk) == "done"

    done = client.get(f"/t/team-a/bulk/{job.pk}/").content.decode()
    assert "Created" in done
    assert f'href="/t/team-a/devices/?job={job.public_id}">Devices this job created' in done
    assert "authScope" not in done  # a Bosch setting: not shown for a Hono + Ditto job
    created = client.get(f"/t/team-a/devices/?job={job.public_id}").content.decode()
    assert all(device_id(n) in created for n in range(3))
    for n in range(3):
        outcome = AuditEvent.objects.get(action="device.provision", phase="outcome", target=device_id(n))
        assert outcome.status == "created" and outcome.actor_name == "oscar"
        entry = client.get(f"/t/team-a/history/{outcome.pk}/").content.decode()
        assert entry_steps(entry) == [
            f"Provision: {step}{when}" for step in STEPS for when in (", before the call", "")
        ]
        assert f"Typed-Pass-{n:05d}" not in entry
    other = as_user(cast["other"]).get(f"/t/team-a/bulk/{job.pk}/")
    assert other.status_code == 404
