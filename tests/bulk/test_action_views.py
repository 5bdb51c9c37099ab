"""The pages of bulk actions on devices: choosing on the Devices page, the confirmation page
(count, connection, devices left out and why, the options the provider offers), starting the
job, and "De-provision what this job created" on a provisioning job's page. Nothing here is
sent (the connections point nowhere); tests/bulk/test_actions.py runs such jobs for real.
"""

import csv
import html
import re
import uuid

import pytest

from provisioning import audit
from provisioning.bulk import jobs, selection
from provisioning.bulk.models import Action, BulkJob, BulkRow, JobStatus, RowState
from provisioning.models import AuditEvent
from tests.factories import make_config, make_hono_ditto

from .conftest import created, csv_bytes, device_rows, make_draft

pytestmark = pytest.mark.django_db

ACT = "/t/team-a/devices/act/"


@pytest.fixture
def fleet(team_a, operator_a, offline_config):
    return [created(team_a, offline_config, f"pump-{n}", operator_a) for n in range(3)]


def page(response):
    return response.content.decode()


def words(response):
    """The page's text as a reader gets it (tags out, entities read, spaces collapsed)."""
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page(response))))
    return re.sub(r" ([,.:])", r"\1", text)


def test_the_devices_page_offers_the_actions_to_those_who_may_act(as_user, cast, fleet):
    operator = page(as_user(cast["operator"]).get("/t/team-a/devices/"))
    assert 'action="/t/team-a/devices/act/"' in operator
    assert f'name="device" value="{fleet[0].pk}"' in operator
    assert 'value="deprovision"' in operator and 'value="check"' in operator
    assert "All 3 devices of the team" in operator
    auditor = page(as_user(cast["auditor"]).get("/t/team-a/devices/"))
    assert 'name="device" value=' not in auditor and "/devices/act/" not in auditor


def test_the_confirmation_states_the_count_and_the_connection(as_user, cast, fleet, offline_config):
    response = as_user(cast["operator"]).get(
        ACT, {"action": "deprovision", "device": [fleet[0].pk, fleet[1].pk]}
    )
    assert response.status_code == 200
    text = words(response)
    assert "De-provision 2 devices through “Offline”?" in text
    assert "2 rows ticked on the Devices page" in text
    assert "Keep the credentials (keepCredentials)" in text and "Keep the policies" in text
    assert 'name="fingerprint"' in page(response)
    assert not BulkJob.objects.exists()  # a GET changes nothing


def test_all_that_match_a_filter_and_what_is_left_out(as_user, cast, fleet, operator_a, offline_config):
    AuditEvent.objects.append(
        [
            audit.build(
                "device.deprovision",
                actor=operator_a,
                team=fleet[0].team,
                config=offline_config,
                phase=phase,
                status=status,
                target=fleet[2].device_id,
                correlation_id=cid,
            )
            for cid in [uuid.uuid4()]
            for phase, status in (("intent", "pending"), ("outcome", "deleted"))
        ]
    )
    response = as_user(cast["operator"]).get(
        ACT, {"action": "deprovision", "scope": "all", "filter": "q=pump&state="}
    )
    text = words(response)
    assert "All devices that match Device id “pump” (3 devices)" in text
    assert "De-provision 2 devices" in text
    assert "Left out 1 device: it is de-provisioned already" in text


def test_several_connections_are_named_with_a_way_to_choose_one(
    as_user, cast, fleet, team_a, operator_a, offline_config
):
    other = make_config(team_a, name="Second", secret="second-secret-value")
    created(team_a, other, "valve-1", operator_a)
    client = as_user(cast["operator"])
    response = client.get(ACT, {"action": "check", "scope": "all"})
    text = words(response)
    assert "These devices are on 2 connections" in text
    assert "Check the 3 devices of “Offline”" in text and "Check the 1 device of “Second”" in text
    assert "confirm-action" not in page(response)  # nothing to confirm until one is chosen
    link = re.search(rf'href="(\?[^"]*connection={other.pk}[^"]*)"', page(response)).group(1)
    narrowed = client.get(ACT + link.replace("&amp;", "&"))
    assert "Check at the provider: 1 device through “Second”" in words(narrowed)


def test_confirming_starts_the_job_with_the_devices_shown(
    as_user, cast, fleet, offline_config, django_capture_on_commit_callbacks
):
    client = as_user(cast["operator"])
    choice = {"action": "deprovision", "device": [d.pk for d in fleet]}
    shown = client.get(ACT, choice)
    fingerprint = re.search(r'name="fingerprint" value="([0-9a-f]+)"', page(shown)).group(1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            ACT, {**choice, "fingerprint": fingerprint, "keep_policy": "on", "concurrency": "2"}
        )
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/t/team-a/bulk/{job.pk}/"
    assert (job.action, job.status, job.client_id, job.concurrency) == (
        Action.DEPROVISION,
        JobStatus.QUEUED,
        offline_config.pk,
        2,
    )
    assert job.keep_policy and not job.keep_credentials
    assert sorted(job.rows.values_list("device_id", flat=True)) == sorted(d.device_id for d in fleet)
    assert set(job.rows.values_list("state", flat=True)) == {RowState.PENDING}
    assert len(callbacks) == 1  # the worker's task, once the job is committed
    start = AuditEvent.objects.get(action="bulk.start")
    assert start.message == "Confirmed: de-provision 3 devices through “Offline”."

    job_page = words(client.get(response["Location"]))
    assert f"Bulk job {job.pk} De-provision" in job_page
    assert "3 rows ticked on the Devices page" in job_page and "keeping the policies" in job_page


def test_a_choice_that_changed_since_it_was_shown_starts_nothing(
    as_user, cast, fleet, team_a, operator_a, offline_config
):
    client = as_user(cast["operator"])
    choice = {"action": "deprovision", "scope": "all"}
    shown = client.get(ACT, choice)
    fingerprint = re.search(r'name="fingerprint" value="([0-9a-f]+)"', page(shown)).group(1)
    created(team_a, offline_config, "pump-late", operator_a)
    response = client.post(ACT, {**choice, "fingerprint": fingerprint})
    assert response.status_code == 409
    assert "changed since this page was shown" in words(response)
    assert "De-provision 4 devices" in words(response)
    assert not BulkJob.objects.exists()


def test_keeping_credentials_through_hono_is_refused_at_its_field(as_user, cast, team_a, operator_a):
    hono = make_hono_ditto(team_a, name="Hono")
    device = created(team_a, hono, "relay-1", operator_a)
    client = as_user(cast["operator"])
    shown = client.get(ACT, {"action": "deprovision", "device": [device.pk]})
    assert "Keep the credentials" not in words(shown)
    assert "Eclipse Hono deletes a device's credentials together with the device" in words(shown)
    fingerprint = re.search(r'name="fingerprint" value="([0-9a-f]+)"', page(shown)).group(1)
    response = client.post(
        ACT,
        {
            "action": "deprovision",
            "device": [device.pk],
            "fingerprint": fingerprint,
            "keep_credentials": "on",
        },
    )
    assert response.status_code == 400
    assert "Nothing was started. Eclipse Hono deletes" in words(response)
    assert not BulkJob.objects.exists()


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ({"action": "deprovision"}, "No device was chosen"),
        ({"action": "deprovision", "device": ["1; drop"]}, "A ticked row could not be read"),
        ({"action": "reboot", "scope": "all"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_said_plainly(as_user, cast, fleet, query, said):
    response = as_user(cast["operator"]).get(ACT, query)
    assert response.status_code == 400 and said in words(response)


def test_another_teams_devices_cannot_be_ticked(as_user, cast, fleet, team_b, admin_b):
    theirs = make_config(team_b, name="Theirs", secret="theirs-secret-value")
    device = created(team_b, theirs, "secret-1", admin_b)
    response = as_user(cast["operator"]).get(ACT, {"action": "deprovision", "device": [device.pk]})
    assert "0 devices" in words(response) and "Theirs" not in words(response)
    assert as_user(cast["auditor"]).get(ACT, {"action": "check", "scope": "all"}).status_code == 403
    assert as_user(cast["other"]).get(ACT, {"action": "check", "scope": "all"}).status_code == 404


def test_a_finished_provisioning_job_offers_to_de_provision_what_it_created(
    as_user, cast, team_a, operator_a, offline_config, offline_ns
):
    job = make_draft(team_a, operator_a, offline_config, offline_ns, csv_bytes(device_rows(3)))
    BulkJob.objects.filter(pk=job.pk).update(status=JobStatus.DONE)
    BulkRow.objects.filter(job=job).update(state=RowState.CREATED)
    for row in job.rows.all():
        created(
            team_a,
            offline_config,
            row.device_id.split(":", 1)[1],
            operator_a,
            {"bulkJob": str(job.public_id)},
        )
    link = f"/t/team-a/devices/act/?action=deprovision&amp;from_job={job.pk}"
    assert link in page(as_user(cast["operator"]).get(f"/t/team-a/bulk/{job.pk}/"))
    assert link not in page(as_user(cast["auditor"]).get(f"/t/team-a/bulk/{job.pk}/"))

    confirm = as_user(cast["operator"]).get(ACT, {"action": "deprovision", "from_job": job.pk})
    text = words(confirm)
    assert f"The devices bulk job {job.pk} (devices.csv) created" in text
    assert "De-provision 3 devices through “Offline”?" in text
    assert f'href="/t/team-a/bulk/{job.pk}/">← Back to the bulk job' in page(confirm)


def test_a_de_provisioning_jobs_page_and_failed_rows(
    as_user, cast, fleet, team_a, operator_a, offline_config
):
    data = selection.ActionForm({"action": "deprovision", "scope": "all"})
    assert data.is_valid()
    chosen = selection.choose(team_a, data.cleaned_data)
    job, _ = jobs.start_action(
        team_a, operator_a, {**data.cleaned_data, "fingerprint": chosen.fingerprint}, run_in_worker=False
    )
    rows = list(job.rows.order_by("line"))
    BulkRow.objects.filter(pk=rows[0].pk).update(state=RowState.DELETED)
    BulkRow.objects.filter(pk=rows[1].pk).update(state=RowState.GONE, http_status=404)
    BulkRow.objects.filter(pk=rows[2].pk).update(state=RowState.FAILED, http_status=403, message="Refused.")
    BulkJob.objects.filter(pk=job.pk).update(status=JobStatus.DONE)
    text = words(as_user(cast["auditor"]).get(f"/t/team-a/bulk/{job.pk}/"))
    assert "De-provisioned 1" in text and "Already gone 1" in text and "Failed 1" in text
    assert "Created" not in text
    listing = words(as_user(cast["auditor"]).get("/t/team-a/bulk/"))
    assert "1 de-provisioned, 1 already gone, 1 failed of 3" in listing
    failed = as_user(cast["auditor"]).get(f"/t/team-a/bulk/{job.pk}/failed-rows.csv")
    lines = list(csv.reader(b"".join(failed.streaming_content).decode().removeprefix("\ufeff").splitlines()))
    assert lines == [["device_id", "error"], [rows[2].device_id, "Line 3 (Failed, HTTP 403): Refused."]]
