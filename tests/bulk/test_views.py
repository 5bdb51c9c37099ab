"""The bulk pages: upload, preview, progress partials, actions, downloads, and who may do what."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tasks_db.models import DBTaskResult

from provisioning.bulk import jobs, tasks
from provisioning.bulk.models import (
    BulkJob,
    BulkRow,
    BulkUpload,
    JobStatus,
    RowState,
    SecretOrigin,
    seal_secret,
)
from provisioning.models import AuditEvent
from tests.views import assert_is_partial

from .conftest import NS, csv_bytes, device_rows, make_draft

pytestmark = pytest.mark.django_db


def url(job=None, action=""):
    if job is None:
        return f"/t/team-a/bulk/{action}"
    return f"/t/team-a/bulk/{job.pk}/{action}"


def upload(client, config, namespace, data, **fields):
    form = {
        "config": config.pk,
        "namespace": namespace.pk,
        "credentials_type": "hashed-password",
        "auth_scope": "__default__",
        "concurrency": "4",
        "file": SimpleUploadedFile("devices.csv", data, content_type="text/csv"),
    }
    form.update(fields)
    return client.post(url(action="new/"), form)


def test_the_upload_page_lists_the_columns_and_links_the_template(as_user, cast, offline_config, offline_ns):
    response = as_user(cast["operator"]).get(url(action="new/"))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in html
    for column in ("name", "password", "auth_id", "enabled", "via", "definition", "attr.&lt;key&gt;"):
        assert f"<code>{column}</code>" in html
    template = as_user(cast["auditor"]).get(url(action="template.csv"))
    assert template.status_code == 200 and template["Content-Type"].startswith("text/csv")
    assert template.content.startswith("\ufeffname,password,auth_id,enabled,via,definition,attr.".encode())


def test_an_upload_becomes_a_preview_that_masks_the_first_body_and_sends_nothing(
    as_user, cast, offline_config, offline_ns, django_capture_on_commit_callbacks
):
    rows = [
        ["dev-1", "Typed-Secret-1", "", "true", "", "", "north", "3"],
        ["bad/name", "", "", "", "", "", "", ""],
    ]
    client = as_user(cast["operator"])

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, offline_config, offline_ns, csv_bytes(rows))

    job = BulkJob.objects.get()
    assert response.status_code == 302 and response["Location"] == url(job)
    assert job.status == JobStatus.VALIDATING and not BulkRow.objects.exists()  # the worker checks it
    task = DBTaskResult.objects.get(id=job.task_id)
    assert task.task_path == "provisioning.bulk.tasks.validate_upload" and task.status == "READY"
    checking = client.get(url(job))
    assert "Checking the file" in checking.content.decode()
    poll = client.get(url(job), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-validation")
    assert 'hx-trigger="every 1s"' in assert_is_partial(poll, "job-validation")
    assert "HX-Refresh" not in poll

    assert tasks.validate_upload.call(job.pk) == "draft"

    job.refresh_from_db()
    assert (
        client.get(url(job), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-validation")["HX-Refresh"] == "true"
    )
    page = client.get(url(job))
    html = page.content.decode()
    assert job.status == JobStatus.DRAFT
    assert "Preview: nothing has been sent" in html
    assert "<strong>1</strong> will be created" in html and "<strong>1</strong> invalid" in html
    assert f"&quot;id&quot;: &quot;{NS}:dev-1&quot;" in html
    assert "********" in html and "Typed-Secret-1" not in html
    assert "name: A device name cannot contain" in html  # the row table, by line
    assert "Send 1 device</button>" in html
    assert not AuditEvent.objects.filter(action="device.provision").exists()
    assert AuditEvent.objects.get(action="bulk.upload").actor_name == "oscar"


def test_a_file_found_bad_by_the_worker_is_rejected_with_the_reason_and_no_rows(
    as_user, cast, offline_config, offline_ns
):
    # Not UTF-8 on line 3002: past what the upload request reads to check the header.
    data = b"name\n" + b"".join(b"dev-%d\n" % n for n in range(3000)) + b"dev-\xe9\n"
    client = as_user(cast["operator"])

    assert upload(client, offline_config, offline_ns, data).status_code == 302
    job = BulkJob.objects.get()
    assert tasks.validate_upload.call(job.pk) == "rejected"

    job.refresh_from_db()
    assert job.status == JobStatus.REJECTED and "not UTF-8 text" in job.upload_error
    assert not BulkRow.objects.exists() and not BulkUpload.objects.exists()
    page = client.get(url(job)).content.decode()
    assert (
        "The file was not accepted" in page
        and "is not UTF-8 text: line 3002 is written in Windows-1252 (Latin-1)" in page
    )
    assert client.post(url(job, "discard/")).status_code == 302
    assert not BulkJob.objects.exists()


def test_a_bad_file_is_refused_with_the_reason_and_no_job(as_user, cast, offline_config, offline_ns):
    response = upload(
        as_user(cast["operator"]), offline_config, offline_ns, "name\nd\u00e9v\n".encode("utf-16")
    )

    assert response.status_code == 400
    assert "The file was not accepted" in response.content.decode()
    assert "UTF-16" in response.content.decode()
    assert not BulkJob.objects.exists()


def test_a_namespace_reserved_for_another_client_is_refused(
    as_user, cast, offline_config, config_a, namespace_a
):
    response = upload(as_user(cast["operator"]), offline_config, namespace_a, csv_bytes(device_rows(1)))

    assert response.status_code == 400
    assert "is reserved for" in response.content.decode()


def test_confirming_enqueues_the_job_when_the_transaction_commits(
    as_user, cast, offline_config, offline_ns, django_capture_on_commit_callbacks
):
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(device_rows(3)))
    client = as_user(cast["admin"])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url(job, "start/"))
        assert not DBTaskResult.objects.exists()  # nothing is enqueued before the commit
    for callback in callbacks:
        callback()

    job.refresh_from_db()
    assert response.status_code == 302
    assert job.status == JobStatus.QUEUED and job.confirmed_by_name == "alice"
    task = DBTaskResult.objects.get(id=job.task_id)
    assert task.task_path == "provisioning.bulk.tasks.run_job" and task.args_kwargs["args"] == [job.pk]
    assert DBTaskResult.objects.filter(task_path="provisioning.bulk.tasks.purge_job_secrets").exists()
    assert client.post(url(job, "start/")).status_code == 302  # a second click changes nothing
    assert DBTaskResult.objects.filter(task_path="provisioning.bulk.tasks.run_job").count() == 1


def test_the_progress_partial_polls_while_running_and_refreshes_the_page_at_the_end(
    as_user, cast, offline_config, offline_ns
):
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(device_rows(4)))
    jobs.start(job, cast["operator"], run_in_worker=False)
    BulkRow.objects.filter(job=job, line=2).update(state=RowState.CREATED)
    client = as_user(cast["auditor"])

    response = client.get(url(job), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-progress")

    html = assert_is_partial(response, "job-progress")
    assert 'hx-trigger="every 1s"' in html
    assert '<progress id="job-bar" max="4" value="1">' in html
    assert "Cancel the job" not in html  # an auditor sees, but does not act

    BulkJob.objects.filter(pk=job.pk).update(status=JobStatus.DONE)
    done = client.get(url(job), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-progress")
    assert done["HX-Refresh"] == "true"
    assert "hx-trigger" not in done.content.decode()


def test_the_rows_table_filters_by_state_and_pages_by_line(as_user, cast, offline_config, offline_ns):
    rows = [*device_rows(150), ["bad/name", "", "", "", "", "", "", ""]]
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(rows))
    client = as_user(cast["operator"])

    first = client.get(url(job))
    assert "Next rows" in first.content.decode()
    invalid = client.get(url(job), {"state": "invalid"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-rows")
    html = assert_is_partial(invalid, "job-rows")
    assert "<td>152</td>" in html and f"{NS}:dev-00000" not in html
    second = client.get(url(job), {"after": "101"})
    assert "<td>102</td>" in second.content.decode() and "<td>101</td>" not in second.content.decode()


@pytest.mark.parametrize(
    "action", ["start/", "discard/", "cancel/", "resume/", "retry-unknown/", "credentials/"]
)
def test_an_auditor_cannot_act_on_a_job(as_user, cast, offline_config, offline_ns, action):
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(device_rows(1)))
    client = as_user(cast["auditor"])

    assert client.post(url(job, action)).status_code == 403
    assert client.get(url(job)).status_code == 200
    job.refresh_from_db()
    assert job.status == JobStatus.DRAFT


def test_an_auditor_cannot_upload(as_user, cast, offline_config, offline_ns):
    client = as_user(cast["auditor"])
    assert client.get(url(action="new/")).status_code == 403
    assert upload(client, offline_config, offline_ns, csv_bytes(device_rows(1))).status_code == 403
    assert not BulkJob.objects.exists()


def test_another_teams_job_is_not_found(as_user, cast, offline_config, offline_ns):
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(device_rows(1)))
    client = as_user(cast["other"])

    assert client.get(url(job)).status_code == 404
    assert client.get(f"/t/team-b/bulk/{job.pk}/").status_code == 404
    assert client.get(url(job, "failed-rows.csv")).status_code == 404


def test_discard_deletes_a_draft_and_its_sealed_passwords(as_user, cast, offline_config, offline_ns):
    rows = device_rows(2, password=lambda n: f"Typed-Secret-{n}")
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(rows))

    response = as_user(cast["operator"]).post(url(job, "discard/"))

    assert response.status_code == 302 and response["Location"] == url()
    assert not BulkJob.objects.exists() and not BulkRow.objects.exists()
    assert AuditEvent.objects.filter(action="bulk.discard").exists()


def test_cancel_of_a_job_nobody_runs_is_immediate(as_user, cast, offline_config, offline_ns):
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(device_rows(2)))
    jobs.start(job, cast["operator"], run_in_worker=False)

    as_user(cast["operator"]).post(url(job, "cancel/"))

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.cancel_requested_by == "oscar"


def test_the_credentials_page_confirms_then_downloads_once(as_user, cast, offline_config, offline_ns):
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(device_rows(2)))
    jobs.start(job, cast["operator"], run_in_worker=False)
    for row in BulkRow.objects.filter(job=job):
        row.state = RowState.CREATED
        row.secret_origin = SecretOrigin.GENERATED
        row.secret_sealed = seal_secret(job.public_id, row.line, f"Generated-{row.line}-Pass")
        row.save()
    BulkJob.objects.filter(pk=job.pk).update(status=JobStatus.DONE)
    client = as_user(cast["operator"])

    page = client.get(url(job, "credentials/"))
    assert "Download once" in page.content.decode() and "Generated-2" not in page.content.decode()
    download = client.post(url(job, "credentials/"))
    assert "no-store" in download["Cache-Control"]
    assert "Generated-2-Pass" in download.content.decode() and "Generated-3-Pass" in download.content.decode()
    again = client.post(url(job, "credentials/"))
    assert again.status_code == 302
    assert "already downloaded" in client.get(url(job, "credentials/")).content.decode()


def test_cancelling_a_job_asks_for_confirmation_first(as_user, cast, offline_config, offline_ns):
    """The job page links to a confirmation page that says what cancelling ends; only its POST cancels."""
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(device_rows(3)))
    jobs.start(job, cast["operator"], run_in_worker=False)
    client = as_user(cast["operator"])
    assert f'href="{url(job, "cancel/")}"' in client.get(url(job)).content.decode()

    confirm = client.get(url(job, "cancel/"))

    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Cancel bulk job" in html and "the 3 rows not sent yet are not sent" in html
    assert "cannot be resumed" in html
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert not AuditEvent.objects.filter(action="bulk.cancel").exists()
    assert as_user(cast["auditor"]).get(url(job, "cancel/")).status_code == 403

    client = as_user(cast["operator"])
    client.post(url(job, "cancel/"))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    # Nothing left to cancel: the confirmation page sends the visitor back to the job.
    assert client.get(url(job, "cancel/"))["Location"] == url(job)


def test_the_credentials_page_says_the_download_ends_sending_unknown_rows_again(
    as_user, cast, offline_config, offline_ns
):
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(device_rows(3)))
    jobs.start(job, cast["operator"], run_in_worker=False)
    for row in BulkRow.objects.filter(job=job):
        row.state = RowState.UNKNOWN if row.line < 4 else RowState.CREATED
        row.secret_origin = SecretOrigin.GENERATED
        row.secret_sealed = seal_secret(job.public_id, row.line, f"Generated-{row.line}-Pass")
        row.save()
    BulkJob.objects.filter(pk=job.pk).update(status=JobStatus.DONE)
    client = as_user(cast["operator"])
    assert "Send the 2 unknown rows again" in client.get(url(job)).content.decode()

    page = client.get(url(job, "credentials/")).content.decode()

    assert "This also ends “Send the unknown rows again” for 2 rows" in page
    client.post(url(job, "credentials/"))
    assert "unknown rows again" not in client.get(url(job)).content.decode()


def test_the_failed_rows_csv_is_for_every_role_and_has_no_formulas(as_user, cast, offline_config, offline_ns):
    rows = [["=cmd|' /C calc'!A0", "", "", "", "", "", "", ""], *device_rows(1)]
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(rows))

    response = as_user(cast["auditor"]).get(url(job, "failed-rows.csv"))

    text = b"".join(response.streaming_content).decode()
    assert response.status_code == 200
    assert text.startswith("\ufeffname,password,auth_id,enabled,via,definition,attr.site,attr.floor,error")
    assert "\n'=cmd" in text


def test_the_job_list_shows_the_teams_jobs(as_user, cast, offline_config, offline_ns):
    make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(device_rows(3)))

    response = as_user(cast["operator"]).get(url())

    html = response.content.decode()
    assert response.status_code == 200 and "devices.csv" in html and "3 to send" in html
    assert 'aria-current="page">Bulk</a>' in html
    assert ">Bulk</a>" not in as_user(cast["auditor"]).get("/t/team-a/").content.decode()


@pytest.mark.parametrize("query", [{"after": "9" * 40}, {"after": "-5"}, {"after": "x"}, {"state": "nope"}])
def test_odd_row_queries_are_harmless(as_user, cast, offline_config, offline_ns, query):
    job = make_draft(offline_ns.team, cast["operator"], offline_config, offline_ns, csv_bytes(device_rows(2)))

    assert as_user(cast["operator"]).get(url(job), query).status_code == 200


def test_the_upload_page_says_what_the_team_still_needs(as_user, cast, team_a, request):
    browser = as_user(cast["admin"])

    page = browser.get("/t/team-a/bulk/new/").content.decode()
    assert "no connection yet" in page and 'href="/t/team-a/connections/new/"' in page

    request.getfixturevalue("config_a")
    page = browser.get("/t/team-a/bulk/new/").content.decode()
    assert "no namespace yet" in page and "no connection yet" not in page

    request.getfixturevalue("namespace_a")
    page = browser.get("/t/team-a/bulk/new/").content.decode()
    assert "no namespace yet" not in page and 'name="file"' in page
