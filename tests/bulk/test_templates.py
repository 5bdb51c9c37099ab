"""A bulk upload started from a template: a row's cells override the template's values unless it
fixes them (then a cell that differs makes the line invalid, with the reason), the template
fills what the file does not give, and the job's rows are sent with the version it was uploaded
with, named on their audit rows and devices. The intake's other promises are tests/bulk's."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from provisioning.bulk import intake
from provisioning.bulk.models import BulkJob, BulkRow, RowState
from provisioning.models import AuditEvent, Device, TemplateVersion
from provisioning.sandbox import store
from tests.factories import make_template

from .conftest import NS, csv_bytes, make_draft, run_job

DEFINITION = "com.acme:boiler:1.0.0"


@pytest.fixture
def boiler(team_a):
    return make_template(
        team_a,
        definition=DEFINITION,
        definition_fixed=True,
        features={"temperature": {"properties": {"value": 21.5}}},
        attributes={"manufacturer": "ACME", "floor": "3"},
        fixed_attributes=["manufacturer"],
        enabled=False,
    )


def rows_of(job):
    return {row.line: row for row in BulkRow.objects.filter(job=job)}


@pytest.mark.django_db
def test_cells_override_the_template_except_where_it_fixes_them(
    team_a, operator_a, offline_config, offline_ns, boiler
):
    header = ["name", "enabled", "definition", "attr.manufacturer", "attr.floor", "attr.room"]
    data = csv_bytes(
        [
            ["b-1", "", "", "", "", ""],  # everything from the template
            ["b-2", "true", DEFINITION, "ACME", "7", "12"],  # the fixed values as they are; floor changed
            ["b-3", "", "com.acme:boiler:9.9.9", "", "", ""],  # a fixed definition changed
            ["b-4", "", "", "OTHER", "", ""],  # a fixed attribute changed
            ["b-5", "maybe", "", "", "", ""],  # as before: a bad cell is said
        ],
        header=header,
    )
    job = make_draft(team_a, operator_a, offline_config, offline_ns, data, template=boiler.latest())

    rows = rows_of(job)
    assert [rows[line].state for line in (2, 3, 4, 5, 6)] == [
        "pending",
        "pending",
        "invalid",
        "invalid",
        "invalid",
    ]
    assert rows[4].message == (
        "definition: the template “Boiler” (version 1) fixes it to “com.acme:boiler:1.0.0”; "
        "leave the cell empty or write that value."
    )
    assert rows[5].message.startswith(
        "attr.manufacturer: the template “Boiler” (version 1) fixes it to “ACME”"
    )
    assert rows[6].message.startswith("enabled: use true or false (or leave it empty for the template).")

    form, problems, _ = intake.row_form(job, intake.Layout.for_job(job), rows[2].cells)
    assert problems == [] and form.is_valid(), form.errors
    body = form.to_body(generated_secret="Generated-Pa55-1")
    assert body["hub"]["device"]["enabled"] is False  # the template's, as the cell is empty
    thing = body["things"]["thing"]
    assert thing["definition"] == DEFINITION and thing["features"] == {
        "temperature": {"properties": {"value": 21.5}}
    }
    assert thing["attributes"] == {"manufacturer": "ACME", "floor": 3}

    form, _, _ = intake.row_form(job, intake.Layout.for_job(job), rows[3].cells)
    assert form.is_valid()
    body = form.to_body(generated_secret="Generated-Pa55-1")
    assert "enabled" not in body["hub"]["device"]  # the cell's: true, which Bosch takes by default
    assert body["things"]["thing"]["attributes"] == {"manufacturer": "ACME", "floor": 7, "room": 12}


@pytest.mark.django_db
def test_a_fixed_enabled_or_gateway_cell_that_differs_is_refused(
    team_a, operator_a, offline_config, offline_ns
):
    template = make_template(
        team_a, enabled=True, enabled_fixed=True, via="com.acme.bulk:gw-1", via_fixed=True
    )
    data = csv_bytes(
        [["g-1", "false", ""], ["g-2", "", "com.acme.bulk:gw-2"], ["g-3", "yes", ""]],
        header=["name", "enabled", "via"],
    )
    job = make_draft(team_a, operator_a, offline_config, offline_ns, data, template=template.latest())
    rows = rows_of(job)
    assert rows[2].message.startswith("enabled: the template “Boiler” (version 1) fixes it to true")
    assert rows[3].message.startswith(
        "via: the template “Boiler” (version 1) fixes it to “com.acme.bulk:gw-1”"
    )
    assert rows[4].state == RowState.PENDING


@pytest.mark.django_db
def test_the_template_policy_reaches_every_row(team_a, operator_a, offline_config, offline_ns):
    template = make_template(team_a, policy_mode="existing", policy_id="com.acme.bulk:shared")
    job = make_draft(
        team_a,
        operator_a,
        offline_config,
        offline_ns,
        csv_bytes([["p-1"]], header=["name"]),
        template=template.latest(),
    )
    form, _, _ = intake.row_form(job, intake.Layout.for_job(job), rows_of(job)[2].cells)
    assert form.is_valid()
    assert form.to_body(generated_secret="x" * 12)["things"]["thing"]["policyId"] == "com.acme.bulk:shared"


@pytest.mark.django_db(transaction=True)
def test_a_jobs_rows_are_sent_with_its_version_even_after_an_edit(
    team_a, operator_a, sandbox_config, sandbox_ns, boiler
):
    data = csv_bytes([["t-1", ""], ["t-2", "5"]], header=["name", "attr.floor"])
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, data, template=boiler.latest())
    # An edit after the upload: a new version, which this job does not take up.
    TemplateVersion.objects.create(template=boiler, number=2, definition="com.acme:boiler:2.0.0")

    assert run_job(job, operator_a) == "done"
    sid = sandbox_config.service_instance_id
    things = {name: store.get_device(sid, f"{NS}:{name}")["thing"] for name in ("t-1", "t-2")}
    assert {t["definition"] for t in things.values()} == {DEFINITION}
    assert things["t-2"]["attributes"] == {"manufacturer": "ACME", "floor": 5}
    rows = AuditEvent.objects.filter(action="device.provision")
    assert rows.count() == 4 and set(rows.values_list("template_ref", "template_version")) == {(boiler.pk, 1)}
    assert set(Device.objects.values_list("template_version", "bulk_job")) == {(1, job.public_id)}
    assert AuditEvent.objects.get(action="bulk.start").template_version == 1


# --- the upload page -------------------------------------------------------------------------------


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
    return client.post("/t/team-a/bulk/new/", {k: v for k, v in form.items() if v is not None})


@pytest.mark.django_db
def test_the_upload_page_starts_from_a_template(as_user, cast, offline_config, offline_ns, boiler):
    html = as_user(cast["operator"]).get(f"/t/team-a/bulk/new/?template={boiler.pk}").content.decode()
    assert f'name="template_version" value="{boiler.latest().pk}"' in html
    assert "Started from" in html and "an empty cell, or a column the file does not have" in html


@pytest.mark.django_db
def test_an_upload_with_a_template_makes_a_job_with_its_version(
    as_user, cast, offline_config, offline_ns, boiler
):
    response = upload(
        as_user(cast["operator"]),
        offline_config,
        offline_ns,
        csv_bytes([["u-1"]], header=["name"]),
        template_version=str(boiler.latest().pk),
    )
    job = BulkJob.objects.get()
    assert response.status_code == 302 and job.template_version == boiler.latest()
    assert "starting from template Boiler, version 1" in AuditEvent.objects.get(action="bulk.upload").message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "fields", "field", "words"),
    [
        (
            {"credentials_type": "none", "credentials_type_fixed": True},
            {"credentials_type": "hashed-password"},
            "credentials_type",
            "fixes Credentials to “none”",
        ),
        (
            {"auth_scope": "subscription", "auth_scope_fixed": True},
            {"auth_scope": "__default__"},
            "auth_scope",
            "fixes authScope to “subscription”",
        ),
        ({"credentials_type": "psk", "credentials_type_fixed": True}, {}, "__all__", "pre-shared keys"),
        ({"kind": "ditto", "credentials_type": "none"}, {}, "config", "is for Eclipse Ditto connections"),
    ],
)
def test_an_upload_that_breaks_its_template_is_refused(
    as_user, cast, team_a, offline_config, offline_ns, values, fields, field, words
):
    template = make_template(team_a, **values)
    data = csv_bytes([["u-1"]], header=["name"])
    response = upload(
        as_user(cast["operator"]),
        offline_config,
        offline_ns,
        data,
        template_version=str(template.latest().pk),
        **fields,
    )
    assert response.status_code == 400
    assert any(words in error for error in response.context["form"].errors[field]), response.context[
        "form"
    ].errors
    assert not BulkJob.objects.exists()


@pytest.mark.django_db
def test_an_upload_with_a_retired_template_is_refused(as_user, cast, offline_config, offline_ns, boiler):
    version = boiler.latest()
    boiler.retired_at = "2026-01-01T00:00:00Z"
    boiler.save()
    response = upload(
        as_user(cast["operator"]),
        offline_config,
        offline_ns,
        csv_bytes([["u-1"]], header=["name"]),
        template_version=str(version.pk),
    )
    assert response.status_code == 400 and "was retired or deleted" in response.content.decode()
    assert not BulkJob.objects.exists()


@pytest.mark.django_db
def test_the_draft_page_names_the_template_and_previews_its_values(
    as_user, cast, team_a, operator_a, offline_config, offline_ns, boiler
):
    job = make_draft(
        team_a,
        operator_a,
        offline_config,
        offline_ns,
        csv_bytes([["d-1"]], header=["name"]),
        template=boiler.latest(),
    )
    html = as_user(cast["auditor"]).get(f"/t/team-a/bulk/{job.pk}/").content.decode()
    assert "Boiler, version 1" in html and f"/t/team-a/templates/{boiler.pk}/versions/1/" in html
    assert "com.acme:boiler:1.0.0" in html and "&quot;manufacturer&quot;: &quot;ACME&quot;" in html


def test_a_row_form_built_again_reads_the_same(team_a, operator_a, offline_config, offline_ns, boiler, db):
    """The executor builds each row's body at send time from its stored cells: with the job's
    version, the same body the dry run checked."""
    data = csv_bytes([["r-1", "9"]], header=["name", "attr.floor"])
    job = make_draft(team_a, operator_a, offline_config, offline_ns, data, template=boiler.latest())
    job = BulkJob.objects.get(pk=job.pk)  # as the executor loads it
    layout = intake.Layout.for_job(job)
    bodies = [intake.row_form(job, layout, rows_of(job)[2].cells)[0] for _ in range(2)]
    assert all(form.is_valid() for form in bodies)
    assert bodies[0].to_body(generated_secret="x" * 12) == bodies[1].to_body(generated_secret="x" * 12)
    assert bodies[0].cleaned_data["attributes"] == {"manufacturer": "ACME", "floor": 9}
