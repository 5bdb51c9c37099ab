"""The mapping step: a vendor's spreadsheet with its own column names is matched to the fields
on the upload page, checked like any upload, and its mapping offered again for the same header."""

import io
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from provisioning.bulk import credentials, csvfile, downloads, intake, tasks
from provisioning.bulk.columns import header_signature
from provisioning.bulk.models import (
    BulkJob,
    BulkRow,
    BulkUpload,
    ColumnMapping,
    JobStatus,
    RowState,
    SecretOrigin,
    open_secret,
)
from provisioning.models import AuditEvent, Namespace
from tests.factories import make_config

from .conftest import NS, make_draft

pytestmark = pytest.mark.django_db

VENDOR = (
    b"Serial;Secret;Model;Notes\r\n"
    b"SN-0001;Vendor-Pa55-1;X100;first batch\r\n"
    b"\r\n"
    b"SN-0002;;X200;\r\n"
    b"SN/0003;short;X100;bad name, short password\r\n"
)
# Serial is the name, Secret the password, Model an attribute, Notes ignored.
VENDOR_MAPPING = {
    "column_0": "name",
    "column_1": "password",
    "column_2": "attribute",
    "key_2": "model",
    "column_3": "ignore",
}


def upload(client, config, namespace, data, team="team-a", name="vendor.csv"):
    return client.post(
        f"/t/{team}/bulk/new/",
        {
            "config": config.pk,
            "namespace": namespace.pk,
            "credentials_type": "hashed-password",
            "auth_scope": "__default__",
            "concurrency": "4",
            "file": SimpleUploadedFile(name, data, content_type="text/csv"),
        },
    )


def selected(html, field):
    """The value of the option selected in the select named ``field``."""
    select = re.search(rf'<select name="{field}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.search(r'<option value="([^"]*)" selected>', select).group(1)


@pytest.fixture
def operator(as_user, cast):
    return as_user(cast["operator"])


def test_a_header_of_unknown_names_gets_the_mapping_step_and_the_file_waits(
    operator, offline_config, offline_ns
):
    response = upload(operator, offline_config, offline_ns, VENDOR)

    job = BulkJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/t/team-a/bulk/{job.pk}/columns/"
    assert job.status == JobStatus.MAPPING
    assert BulkUpload.objects.get(job=job).data == VENDOR  # kept: nobody uploads it again
    assert not DBTaskResult.objects.exists()  # nothing is checked before the columns are matched
    assert not BulkRow.objects.exists()
    page = operator.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert "Not known here: “Serial”, “Secret”, “Model”, “Notes”." in html
    assert "No column is called name" in html
    for label in ("Serial", "Secret", "Model", "Notes"):
        assert f"Use “{label}” as" in html and f"<code>{label}</code>" in html
    assert "<code>SN-0001</code> <code>SN-0002</code> <code>SN/0003</code>" in html  # the first values
    assert "<code>X100</code> <code>X200</code> <code>X100</code>" in html
    # The Secret column's values are never shown.
    assert "Vendor-Pa55-1" not in html and "<code>short</code>" not in html
    assert "Not shown: it may hold passwords" in html
    assert all(selected(html, f"column_{i}") == "ignore" for i in range(4))
    # The job page says it waits; the job list does not list it yet.
    assert "Its columns are to be matched" in operator.get(f"/t/team-a/bulk/{job.pk}/").content.decode()
    assert "vendor.csv" not in operator.get("/t/team-a/bulk/").content.decode()


def test_variants_of_the_known_names_are_read_without_the_step(operator, offline_config, offline_ns):
    data = b"Device ID\tPASSWORD\tAuth-Id\tattr. Room\r\nboiler-1\tTyped-Pa55-1\tboiler-auth\t12\r\n"

    response = upload(operator, offline_config, offline_ns, data)

    job = BulkJob.objects.get()
    assert response["Location"] == f"/t/team-a/bulk/{job.pk}/" and job.status == JobStatus.VALIDATING
    assert tasks.validate_upload.call(job.pk) == "draft"
    row = BulkRow.objects.get(job=job)
    assert row.state == RowState.PENDING and row.device_id == f"{NS}:boiler-1"
    assert row.cells == ["boiler-1", "", "boiler-auth", "12"]
    assert csvfile.recognise(["device_id", " Device Name ", "AUTH_ID", "attr.Room", "Serial"]) == [
        "name",
        "name",
        "auth_id",
        "attr.Room",
        "",
    ]


@pytest.mark.parametrize(
    "header, reason",
    [
        ("name;password;Model", "Not known here: “Model”."),
        ("password;auth_id", "No column is called name (the device name)."),
        ("name;Device ID", "The columns “name” and “Device ID” (columns 1 and 2) are both name."),
        ("name;attr.a/b", "The column “attr.a/b”: The attribute key cannot contain &#x27;/&#x27;."),
        ("name;;password", "Column 2 has no name."),
    ],
)
def test_a_header_that_does_not_fit_says_why(operator, offline_config, offline_ns, header, reason):
    response = upload(operator, offline_config, offline_ns, f"{header}\r\ndev-1;;\r\n".encode())

    assert response["Location"].endswith("/columns/")
    assert reason in operator.get(response["Location"]).content.decode()


def test_refused_choices_say_why_and_keep_the_file_and_the_choices(operator, offline_config, offline_ns):
    location = upload(operator, offline_config, offline_ns, VENDOR)["Location"]
    job = BulkJob.objects.get()

    no_name = operator.post(location, {**VENDOR_MAPPING, "column_0": "ignore"})
    twice = operator.post(location, {**VENDOR_MAPPING, "column_3": "name"})
    same_key = operator.post(location, {**VENDOR_MAPPING, "column_3": "attribute", "key_3": "model"})
    bad_key = operator.post(location, {**VENDOR_MAPPING, "key_2": "model/type"})
    missing = operator.post(location, {"column_0": "name"})

    assert {r.status_code for r in (no_name, twice, same_key, bad_key, missing)} == {400}
    assert "Choose the column that holds the device name (name): it is required." in no_name.content.decode()
    html = twice.content.decode()
    assert "“Serial” and “Notes” would both be name: a field takes one column." in html
    assert "“Serial” is name already." in html
    assert selected(html, "column_3") == "name" and selected(html, "column_1") == "password"  # kept
    assert "would both be attribute model: give each attribute its own key." in same_key.content.decode()
    assert "The attribute key cannot contain &#x27;/&#x27;." in bad_key.content.decode()
    assert "This field is required." in missing.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.MAPPING and BulkUpload.objects.filter(job=job).exists()
    assert not ColumnMapping.objects.exists() and not DBTaskResult.objects.exists()
    # The password column chosen on the refused form stays masked.
    assert "Vendor-Pa55-1" not in html


def test_a_matched_file_keeps_every_promise_of_the_upload(
    operator, offline_config, offline_ns, django_capture_on_commit_callbacks
):
    location = upload(operator, offline_config, offline_ns, VENDOR)["Location"]
    job = BulkJob.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(location, VENDOR_MAPPING)

    assert response.status_code == 302 and response["Location"] == f"/t/team-a/bulk/{job.pk}/"
    job.refresh_from_db()
    assert job.status == JobStatus.VALIDATING
    assert DBTaskResult.objects.get(id=job.task_id).task_path == "provisioning.bulk.tasks.validate_upload"
    assert job.columns == ["name", "password", "attr.model"] and job.ignored_columns == ["Notes"]
    assert tasks.validate_upload.call(job.pk) == "draft"

    rows = {row.line: row for row in BulkRow.objects.filter(job=job)}
    assert sorted(rows) == [2, 4, 5]  # the file's own line numbers; the empty line 3 is skipped
    assert rows[2].cells == ["SN-0001", "", "X100"]  # no password, no Notes
    assert open_secret(job.public_id, 2, rows[2].secret_sealed) == "Vendor-Pa55-1"
    assert rows[2].secret_origin == SecretOrigin.TYPED
    assert rows[4].state == RowState.PENDING and rows[4].device_id == f"{NS}:SN-0002"
    assert rows[5].state == RowState.INVALID
    # The reasons name the file's columns, with the field each was matched to.
    assert rows[5].message.startswith("Serial (name): A device name cannot contain '/'.")
    assert "Secret (password): Use at least 8 characters." in rows[5].message
    stored = str(list(BulkRow.objects.filter(job=job).values_list()))
    assert "Vendor-Pa55" not in stored and "first batch" not in stored
    page = operator.get(f"/t/team-a/bulk/{job.pk}/").content.decode()
    assert "Preview: nothing has been sent" in page
    assert "<li><code>Serial</code> → name</li>" in page  # which mapping was used
    assert "<li><code>Model</code> → attribute model</li>" in page
    assert '<li><code>Notes</code> → <span class="muted">ignored</span></li>' in page
    assert "&quot;model&quot;: &quot;X100&quot;" in page and "Vendor-Pa55-1" not in page
    # The failed rows come back with the fields' names: the file can be uploaded again as it is.
    failed = "".join(downloads.failed_rows_csv(job))
    assert failed.startswith("name,password,attr.model,error\r\nSN/0003,,X100,")
    entry = AuditEvent.objects.get(action="bulk.columns")
    assert entry.message == (
        "Columns matched (Serial: name, Secret: password, Model: attribute model, Notes: ignored)."
    )


def test_a_mapping_is_remembered_for_the_team_and_offered_for_the_same_header(
    operator, as_user, cast, team_b, offline_config, offline_ns
):
    location = upload(operator, offline_config, offline_ns, VENDOR)["Location"]
    operator.post(location, VENDOR_MAPPING)
    remembered = ColumnMapping.objects.get()
    assert remembered.team == offline_ns.team and remembered.updated_by_name == "oscar"

    # The same header, written a little differently, comma-separated, in another file.
    again = b"serial,SECRET, model ,NOTES\r\nSN-0100,,X300,\r\n"
    page = operator.get(upload(operator, offline_config, offline_ns, again, name="next.csv")["Location"])
    html = page.content.decode()
    assert "Prefilled with what was chosen for this header" in html and "by oscar" in html
    assert [selected(html, f"column_{i}") for i in range(4)] == ["name", "password", "attribute", "ignore"]
    assert 'name="key_2" value="model"' in html
    # Changed this time: the new choice replaces the old one.
    job = BulkJob.objects.get(file_name="next.csv")
    operator.post(
        f"/t/team-a/bulk/{job.pk}/columns/", {**VENDOR_MAPPING, "column_3": "attribute", "key_3": "note"}
    )
    assert ColumnMapping.objects.get().targets == ["name", "password", "attr.model", "attr.note"]

    # Another team uploading the same header is offered nothing of team A's.
    config_b = make_config(team_b, name="Offline B", secret="b-secret")
    namespace_b = Namespace.objects.create(team=team_b, name="com.acme.other")
    other = as_user(cast["other"])
    html = other.get(upload(other, config_b, namespace_b, VENDOR, team="team-b")["Location"]).content.decode()
    assert "Prefilled" not in html and selected(html, "column_0") == "ignore"


def test_a_column_matched_to_password_shows_no_values(operator, team_a, offline_config, offline_ns):
    header = ["Serial", "Col2", "Token"]
    targets = ["name", "password", ""]
    ColumnMapping.objects.create(team=team_a, signature=header_signature(header), targets=targets)
    data = b"Serial,Col2,Token\r\nSN-1,Hidden-Pa55-1,tok-123\r\n"

    html = operator.get(upload(operator, offline_config, offline_ns, data)["Location"]).content.decode()

    assert "<code>SN-1</code>" in html
    assert "Hidden-Pa55-1" not in html and "tok-123" not in html  # matched to password; named like one
    assert html.count("Not shown: it may hold passwords") == 2


def test_the_mapping_step_is_for_provisioners_of_the_team(
    as_user, cast, operator, offline_config, offline_ns
):
    location = upload(operator, offline_config, offline_ns, VENDOR)["Location"]

    assert as_user(cast["auditor"]).get(location).status_code == 403
    assert as_user(cast["auditor"]).post(location, VENDOR_MAPPING).status_code == 403
    assert as_user(cast["other"]).get(location.replace("team-a", "team-b")).status_code == 404
    assert (
        as_user(cast["other"]).post(location.replace("team-a", "team-b"), VENDOR_MAPPING).status_code == 404
    )
    assert as_user(cast["admin"]).get(location).status_code == 200
    assert BulkJob.objects.get().status == JobStatus.MAPPING


def test_a_second_submission_or_a_checked_job_goes_to_the_job_page(operator, offline_config, offline_ns):
    location = upload(operator, offline_config, offline_ns, VENDOR)["Location"]
    job = BulkJob.objects.get()
    operator.post(location, VENDOR_MAPPING)

    again = operator.post(location, {**VENDOR_MAPPING, "column_3": "attribute", "key_3": "note"})

    assert again.status_code == 302 and again["Location"] == f"/t/team-a/bulk/{job.pk}/"
    assert AuditEvent.objects.filter(action="bulk.columns").count() == 1
    job.refresh_from_db()
    assert job.columns == ["name", "password", "attr.model"]
    assert operator.get(location).status_code == 302


def test_an_upload_waiting_for_its_columns_can_be_discarded_and_is_dropped_when_forgotten(
    operator, team_a, offline_config, offline_ns
):
    upload(operator, offline_config, offline_ns, VENDOR)
    first = BulkJob.objects.get()
    assert operator.post(f"/t/team-a/bulk/{first.pk}/discard/").status_code == 302
    assert not BulkJob.objects.exists() and not BulkUpload.objects.exists()

    upload(operator, offline_config, offline_ns, VENDOR)
    assert BulkJob.objects.get().status == JobStatus.MAPPING
    assert credentials.purge_expired()["dropped"] == 0
    assert credentials.purge_expired(timezone.now() + timedelta(minutes=61))["dropped"] == 1
    assert not BulkUpload.objects.exists()


def test_a_matched_file_is_still_checked_line_by_line_for_what_cannot_be_read(
    operator, offline_config, offline_ns, settings
):
    # Not UTF-8 on line 3002 (past what the upload request reads), and in the second file more
    # rows than allowed: the worker finds both once the columns are matched.
    bad_byte = b"Serial;Secret\r\n" + b"".join(b"SN-%d;\r\n" % n for n in range(1, 3001)) + b"SN-\xe9;\r\n"
    location = upload(operator, offline_config, offline_ns, bad_byte)["Location"]
    html = operator.get(location).content.decode()
    assert "<code>SN-1</code>" in html  # the first rows are shown; the byte is found by the worker
    operator.post(location, {"column_0": "name", "column_1": "password"})
    job = BulkJob.objects.get()
    assert tasks.validate_upload.call(job.pk) == "rejected"
    job.refresh_from_db()
    assert "line 3002 is written in Windows-1252" in job.upload_error and not BulkRow.objects.exists()

    settings.BULK_MAX_ROWS = 2
    location = upload(operator, offline_config, offline_ns, b"Serial\r\nA\r\nB\r\nC\r\n", name="long.csv")[
        "Location"
    ]
    operator.post(location, {"column_0": "name"})
    job = BulkJob.objects.get(file_name="long.csv")
    assert tasks.validate_upload.call(job.pk) == "rejected"
    job.refresh_from_db()
    assert "more than 2 rows" in job.upload_error


def test_a_name_that_holds_the_whole_device_id_is_invalid(team_a, admin_a, offline_config, offline_ns):
    data = f"Device ID\r\n{NS}:boiler-1\r\nboiler-2\r\n".encode()

    job = make_draft(team_a, admin_a, offline_config, offline_ns, data)

    rows = {row.line: row for row in BulkRow.objects.filter(job=job)}
    assert rows[2].state == RowState.INVALID
    assert rows[2].message == (
        f"Device ID (name): This is a whole device id: write only the part after “{NS}:” "
        "(the job's namespace is put in front)."
    )
    assert rows[3].state == RowState.PENDING


def test_the_command_line_still_reads_a_header_by_its_names(team_a, admin_a, offline_config, offline_ns):
    job = make_draft(team_a, admin_a, offline_config, offline_ns, b"Serial,name\r\nSN-1,dev-1\r\n")

    assert job.status == JobStatus.DRAFT and job.column_map == [] and job.ignored_columns == ["Serial"]
    with pytest.raises(csvfile.UploadError, match="one of them must be “name”"):
        intake.create_draft(
            team=team_a,
            actor=admin_a,
            config=offline_config,
            namespace=offline_ns,
            binary=io.BytesIO(VENDOR),
            file_name="vendor.csv",
            credentials_type="hashed-password",
            auth_scope="__default__",
            concurrency=4,
        )


def test_a_field_the_file_does_not_give_is_absent_from_the_row_not_empty():
    # Serial is the name, Secret is ignored, Via is an empty cell: only what the file gives is there.
    layout = csvfile.Layout(["Serial", "Secret", "Via"], ["name", "", "via"])

    data, problems, _ = intake.row_data(layout, ["SN-1", "Pa55word-1", ""])

    assert dict(data) == {"name": "SN-1", "via": "", "enabled": "on"} and problems == []
    assert layout.columns == ["name", "via"] and layout.ignored == ["Secret"]


def test_a_mapped_file_started_from_a_template_takes_what_the_file_does_not_give(
    operator, team_a, offline_config, offline_ns
):
    from tests.factories import make_template

    boiler = make_template(
        team_a,
        definition="com.acme:boiler:1.0.0",
        attributes={"manufacturer": "ACME", "model": "X0"},
        fixed_attributes=["manufacturer"],
    )
    response = operator.post(
        "/t/team-a/bulk/new/",
        {
            "config": offline_config.pk,
            "namespace": offline_ns.pk,
            "credentials_type": "hashed-password",
            "auth_scope": "__default__",
            "concurrency": "4",
            "template_version": str(boiler.latest().pk),
            "file": SimpleUploadedFile("vendor.csv", VENDOR, content_type="text/csv"),
        },
    )
    job = BulkJob.objects.get()
    assert response["Location"] == f"/t/team-a/bulk/{job.pk}/columns/"
    operator.post(f"/t/team-a/bulk/{job.pk}/columns/", VENDOR_MAPPING)
    assert tasks.validate_upload.call(job.pk) == "draft"
    job.refresh_from_db()
    assert job.template_version == boiler.latest()  # kept across the mapping step
    form, problems, _ = intake.row_form(
        job, csvfile.Layout.for_job(job), BulkRow.objects.get(job=job, line=2).cells
    )
    assert problems == [] and form.is_valid(), form.errors
    body = form.to_body()
    # The template's definition and fixed attribute fill in; the file's Model overrides the
    # template's unfixed one; the ignored Notes column gives nothing.
    thing = body["things"]["thing"]
    assert thing["definition"] == "com.acme:boiler:1.0.0"
    assert thing["attributes"] == {"manufacturer": "ACME", "model": "X100"}
