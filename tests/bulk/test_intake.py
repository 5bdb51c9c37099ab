"""The dry run: reading the CSV and validating each row with the device builder's own form."""

import csv
import io

import pytest

from provisioning import audit
from provisioning.bulk import downloads, dry_run, intake
from provisioning.bulk.models import BulkJob, BulkRow, RowState, SecretOrigin, open_secret
from provisioning.models import AuditEvent

from .conftest import HEADER, NS, csv_bytes, device_rows, make_draft

pytestmark = pytest.mark.django_db


def rows_by_line(job):
    return {row.line: row for row in BulkRow.objects.filter(job=job)}


def test_the_template_has_the_builders_columns_and_its_rows_validate(
    team_a, admin_a, offline_config, offline_ns
):
    text = downloads.template_csv()
    header = next(csv.reader(io.StringIO(text)))
    assert header[:6] == ["name", "password", "auth_id", "enabled", "via", "definition"]
    assert all(h.startswith("attr.") for h in header[6:]) and len(header) > 6

    job = make_draft(team_a, admin_a, offline_config, offline_ns, text.encode())

    assert job.ignored_columns == []
    assert job.row_counts()[RowState.PENDING] == len(downloads.TEMPLATE_ROWS)
    preview = dry_run.first_preview(job)
    body = __import__("json").loads(preview["body"])
    assert body["id"] == f"{NS}:sensor-0001"
    assert body["things"]["thing"]["attributes"] == {
        "manufacturer": "ACME",
        "location": "Building 1, floor 3",
    }
    assert body["hub"]["credentials"]["secrets"] == [{"password": "[generated on send]"}]


def test_a_bom_semicolons_quotes_and_blank_lines_are_read_with_the_files_line_numbers(
    team_a, admin_a, offline_config, offline_ns
):
    data = (
        "\ufeffname;password;attr.note\r\n"
        "\r\n"
        'dev-1;;"one; with a semicolon"\r\n'
        'dev-2;;"two\r\nlines"\r\n'
        ";;\r\n"
        "dev-3;;three\r\n"
    ).encode()

    job = make_draft(team_a, admin_a, offline_config, offline_ns, data)

    rows = rows_by_line(job)
    assert sorted(rows) == [3, 4, 7]  # the empty line 2 and the empty record on line 6 are skipped
    assert rows[3].cells == ["dev-1", "", "one; with a semicolon"]
    assert rows[4].cells == ["dev-2", "", "two\r\nlines"]
    assert rows[7].device_id == f"{NS}:dev-3"
    assert all(row.state == RowState.PENDING for row in rows.values())


def test_unknown_columns_are_reported_and_their_cells_are_not_kept(
    team_a, admin_a, offline_config, offline_ns
):
    data = csv_bytes([["dev-1", "S3cret-typo-value", "x"]], header=["name", "pasword", "Auth ID"])

    job = make_draft(team_a, admin_a, offline_config, offline_ns, data)

    assert job.ignored_columns == ["pasword"]
    assert job.columns == ["name", "Auth ID"]
    row = BulkRow.objects.get(job=job)
    assert row.cells == ["dev-1", "x"]
    assert "S3cret-typo-value" not in str(BulkRow.objects.filter(job=job).values_list())


def test_invalid_rows_carry_the_forms_reasons_by_line(team_a, admin_a, offline_config, offline_ns):
    rows = [
        ["good-1", "", "", "true", "", "", "", ""],
        ["bad/name", "", "", "", "", "", "", ""],
        ["short-pw", "1234", "", "", "", "", "", ""],
        ["bad-enabled", "", "", "maybe", "", "", "", ""],
        ["bad-definition", "", "", "", "", "com.acme:only-two", "", ""],
        ["bad-via", "", "", "", "not a device id", "", "", ""],
        ["bad-auth", "", "me@example", "", "", "", "", ""],
        ["", "", "", "", "", "", "north", ""],
        ["good-2", "", "", "no", "", "", "", ""],
    ]

    job = make_draft(team_a, admin_a, offline_config, offline_ns, csv_bytes(rows))

    found = rows_by_line(job)
    assert found[2].state == found[10].state == RowState.PENDING
    assert found[3].message.startswith("name: A device name cannot contain '/'")
    assert "password: Use at least 8 characters." in found[4].message
    assert "enabled: use true or false" in found[5].message
    assert found[6].message.startswith("definition: Use namespace:name:version")
    assert found[7].message.startswith("via: Enter the gateway's full device id")
    assert "auth_id: An auth id cannot contain '@'" in found[8].message
    assert found[9].message.startswith("name: This field is required.")
    assert {line for line, row in found.items() if row.state == RowState.INVALID} == {3, 4, 5, 6, 7, 8, 9}
    assert "1234" not in " ".join(r.message for r in found.values())


def test_a_row_with_more_cells_than_the_header_is_invalid(team_a, admin_a, offline_config, offline_ns):
    data = b"name,password\ndev-1,,\ndev-2,,surprise\n"

    job = make_draft(team_a, admin_a, offline_config, offline_ns, data)

    found = rows_by_line(job)
    assert found[2].state == RowState.PENDING  # an empty trailing cell is harmless
    assert found[3].state == RowState.INVALID
    assert "3 cells, but the header names 2 columns" in found[3].message


def test_an_attribute_error_names_its_column(team_a, admin_a, offline_config, offline_ns):
    data = csv_bytes([["dev-1", "x" * 20001]], header=["name", "attr.blob"])

    job = make_draft(team_a, admin_a, offline_config, offline_ns, data)

    assert BulkRow.objects.get(job=job).message == "attr.blob: the value is too long."


def test_duplicate_device_ids_and_auth_ids_in_the_file_are_marked(
    team_a, admin_a, offline_config, offline_ns
):
    rows = [
        ["dev-1", "", "", "", "", "", "", ""],
        ["dev-2", "", "shared-auth", "", "", "", "", ""],
        ["dev-1", "", "", "", "", "", "", ""],
        ["dev-3", "", "shared-auth", "", "", "", "", ""],
        ["dev-4", "", f"{NS}_dev-1", "", "", "", "", ""],  # the default auth id of dev-1
    ]

    job = make_draft(team_a, admin_a, offline_config, offline_ns, csv_bytes(rows))

    found = rows_by_line(job)
    assert [found[n].state for n in (2, 3)] == [RowState.PENDING, RowState.PENDING]
    assert found[4].state == RowState.DUPLICATE
    assert found[4].message == f"The device id {NS}:dev-1 is already on line 2."
    assert found[5].message == "The auth id shared-auth is already used on line 3."
    assert found[6].message == f"The auth id {NS}_dev-1 is already used on line 2."


def test_devices_this_dashboard_created_are_skipped_unless_deprovisioned_since(
    team_a, admin_a, offline_config, offline_ns
):
    def outcome(action, status, target):
        audit.record(
            action, actor=admin_a, team=team_a, phase=AuditEvent.Phase.OUTCOME, status=status, target=target
        )

    outcome("device.provision", "created", f"{NS}:dev-00001")
    outcome("device.provision", "created", f"{NS}:dev-00002")
    outcome("device.deprovision", "deleted", f"{NS}:dev-00002")
    outcome("device.provision", "conflict", f"{NS}:dev-00003")

    job = make_draft(team_a, admin_a, offline_config, offline_ns, csv_bytes(device_rows(4)))

    states = {row.device_id: row.state for row in BulkRow.objects.filter(job=job)}
    assert states == {
        f"{NS}:dev-00000": RowState.PENDING,
        f"{NS}:dev-00001": RowState.PROVISIONED,
        f"{NS}:dev-00002": RowState.PENDING,
        f"{NS}:dev-00003": RowState.PENDING,
    }


def test_typed_passwords_are_sealed_to_their_row_and_never_stored_readable(
    team_a, admin_a, offline_config, offline_ns
):
    rows = device_rows(3, password=lambda n: f"Typed-Secret-{n}" if n != 1 else "")

    job = make_draft(team_a, admin_a, offline_config, offline_ns, csv_bytes(rows))

    stored = list(BulkRow.objects.filter(job=job).order_by("line"))
    dump = str(list(BulkRow.objects.filter(job=job).values_list())) + str(
        list(BulkJob.objects.filter(pk=job.pk).values_list())
    )
    assert "Typed-Secret" not in dump
    assert [r.secret_origin for r in stored] == [SecretOrigin.TYPED, "", SecretOrigin.TYPED]
    assert open_secret(job.public_id, stored[0].line, stored[0].secret_sealed) == "Typed-Secret-0"
    with pytest.raises(Exception, match="does not open"):
        open_secret(job.public_id, stored[2].line, stored[0].secret_sealed)  # bound to its line
    assert all(row.cells[HEADER.index("password")] == "" for row in stored)
    assert "Typed-Secret" not in dry_run.first_preview(job)["body"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"\n\n", "The file is empty"),
        (b"name,password\n", "a header line but no rows"),
        (b"device,password\nx,y\n", "one of them must be \u201cname\u201d"),
        (b"name,Name\nx,y\n", "appears twice"),
        (b"name,attr.a/b\nx,y\n", "attribute key"),
        ("name\nd\u00e9v\n".encode("utf-16"), "UTF-16"),
        (b"name\ndev-\xe9\n", "not UTF-8 text: line 2 is written in Windows-1252 (Latin-1)"),
        (b"PK\x03\x04\x14\x00\x06\x00", "spreadsheet workbook"),
        (b"name\n" + b'"' + b"x" * 200_000 + b'"\n', "longer than"),
    ],
    ids=["empty", "blank", "no-rows", "no-name", "twice", "bad-attr", "utf16", "latin1", "xlsx", "huge-cell"],
)
def test_unusable_files_are_refused_as_a_whole_and_nothing_is_kept(
    team_a, admin_a, offline_config, offline_ns, data, message
):
    with pytest.raises(intake.UploadError) as caught:
        make_draft(team_a, admin_a, offline_config, offline_ns, data)

    assert message in caught.value.message
    assert not BulkJob.objects.exists() and not BulkRow.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # The text reader decodes ahead in 8 KB chunks: the line it fails on is not the byte's line.
        (
            b"name,password\n" + b"".join(b"dev-%d,\n" % n for n in range(3000)) + b"M\xfcller,\n",
            "line 3002 is written in Windows-1252 (Latin-1), what Excel writes",
        ),
        (b"name\ndev-1\ndev-\x81\n", "line 3 is written in another encoding"),
        (
            b'name,password\ndev-1,"abc\ndev-2,\ndev-3,\n',
            'Line 2: a quote (") opens a cell that is never closed',
        ),
        (b'name,password\ndev-1,"abc\ndev-2,"x"\n', "Line 2: a cell goes on after its closing quote"),
    ],
    ids=["latin1-deep", "not-windows-1252", "unclosed-quote", "quote-closed-on-a-later-line"],
)
def test_a_file_that_cannot_be_read_names_the_encoding_or_the_quote_and_the_right_line(
    team_a, admin_a, offline_config, offline_ns, data, message
):
    with pytest.raises(intake.UploadError) as caught:
        make_draft(team_a, admin_a, offline_config, offline_ns, data)

    assert message in caught.value.message
    assert not BulkJob.objects.exists()


def test_a_tab_separated_file_is_read_as_such(team_a, admin_a, offline_config, offline_ns):
    data = b'name\tpassword\tattr.room\ndev-1\t\t3.14\ndev-2\t\t"a, b; c"\n'

    job = make_draft(team_a, admin_a, offline_config, offline_ns, data)

    rows = rows_by_line(job)
    assert rows[2].cells == ["dev-1", "", "3.14"] and rows[3].cells == ["dev-2", "", "a, b; c"]
    assert all(row.state == RowState.PENDING for row in rows.values())


def test_the_row_limit_is_enforced(team_a, admin_a, offline_config, offline_ns, settings):
    settings.BULK_MAX_ROWS = 3

    with pytest.raises(intake.UploadError, match="more than 3 rows"):
        make_draft(team_a, admin_a, offline_config, offline_ns, csv_bytes(device_rows(4)))
    make_draft(team_a, admin_a, offline_config, offline_ns, csv_bytes(device_rows(3)))

    assert BulkRow.objects.count() == 3


def test_the_size_limit_is_enforced_before_reading(team_a, admin_a, offline_config, offline_ns, settings):
    settings.BULK_MAX_UPLOAD_MB = 1
    data = io.BytesIO(csv_bytes(device_rows(50_000)))
    assert len(data.getvalue()) > 1024 * 1024

    with pytest.raises(intake.UploadError, match="uploads may be at most 1 MB"):
        intake.create_draft(
            team=team_a,
            actor=admin_a,
            config=offline_config,
            namespace=offline_ns,
            binary=data,
            file_name="big.csv",
            credentials_type="hashed-password",
            auth_scope="__default__",
            concurrency=4,
        )


def test_rows_are_validated_without_a_query_per_row(
    team_a, admin_a, offline_config, offline_ns, django_assert_max_num_queries
):
    data = csv_bytes(device_rows(3000))

    # bulk_create splits a batch by the database's parameter limit (SQLite: 999 values, so
    # about 90 rows a statement): a handful of statements per 2,000 rows, never one per row.
    with django_assert_max_num_queries(3000 // 40):
        job = make_draft(team_a, admin_a, offline_config, offline_ns, data)

    assert job.row_counts()[RowState.PENDING] == 3000


def test_credentials_none_stores_no_secret_and_ignores_passwords(team_a, admin_a, offline_config, offline_ns):
    rows = device_rows(2, password=lambda n: f"Would-Be-Secret-{n}")

    job = make_draft(team_a, admin_a, offline_config, offline_ns, csv_bytes(rows), credentials_type="none")

    assert not BulkRow.objects.filter(job=job).exclude(secret_sealed="").exists()
    assert "credentials" not in __import__("json").loads(dry_run.first_preview(job)["body"])["hub"]


def test_a_nul_character_makes_its_row_invalid_and_is_not_stored(team_a, admin_a, offline_config, offline_ns):
    data = b"name,attr.note\ndev-1,fine\ndev-2,bad\x00value\n"

    job = make_draft(team_a, admin_a, offline_config, offline_ns, data)

    found = rows_by_line(job)
    assert found[2].state == RowState.PENDING
    assert found[3].state == RowState.INVALID and "NUL character" in found[3].message
    assert found[3].cells == ["dev-2", "bad\ufffdvalue"]
