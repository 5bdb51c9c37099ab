"""The commands: provision_bulk runs a job from a file; worker runs queued jobs (db_worker inside)."""

import csv
import io
import os
import stat

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from provisioning.bulk import credentials, jobs
from provisioning.bulk.models import BulkJob, JobStatus, RowState
from provisioning.models import AuditEvent, Namespace
from provisioning.sandbox import store
from tests.factories import make_config

from .conftest import NS, csv_bytes, device_rows, make_draft

pytestmark = pytest.mark.django_db(transaction=True)


def provision_bulk(path, *extra, user="oscar"):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command(
            "provision_bulk",
            "--user",
            user,
            "--team",
            "team-a",
            "--client",
            "Sandbox",
            "--namespace",
            NS,
            str(path),
            *extra,
            stdout=out,
            stderr=err,
        )
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_provision_bulk_creates_the_devices_and_writes_the_credentials_once(
    operator_a, sandbox_config, sandbox_ns, tmp_path
):
    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes(device_rows(12)))
    creds = tmp_path / "creds.csv"

    code, out, err = provision_bulk(source, "--concurrency", "3", "--credentials-out", creds)

    assert code == 0, out + err
    assert "will create:                12" in out
    assert "Job " in out and "12 created" in out
    assert "12/12 100%" in err  # the progress line (no terminal here: plain lines)
    assert len(store.device_ids(sandbox_config.service_instance_id)) == 12
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(creds.read_text())))
    assert len(rows) == 12
    assert all(
        store.device_secret_matches(sandbox_config.service_instance_id, r["auth_id"], r["password"])
        for r in rows
    )
    job = BulkJob.objects.get()
    assert job.credentials_downloaded_at and not credentials.credentials_available(job)
    assert rows[0]["password"] not in out + err
    assert (
        AuditEvent.objects.filter(action="device.provision", phase="intent", actor_name="oscar").count() == 12
    )


def test_provision_bulk_exits_non_zero_and_writes_the_failed_rows(
    operator_a, sandbox_config, sandbox_ns, tmp_path
):
    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes([*device_rows(3), ["bad/name", "", "", "", "", "", "", ""]]))
    failed = tmp_path / "failed.csv"

    code, out, err = provision_bulk(source, "--failed-out", failed, "--no-progress")

    assert code == 3
    assert "line 5: name: A device name cannot contain '/'" in out
    assert "3 created" in out and err == ""
    assert "bad/name" in failed.read_text()
    intent = AuditEvent.objects.filter(action="device.provision", phase="intent").first()
    assert intent.actor_name == "oscar"


def test_failed_out_is_written_with_its_header_when_every_row_was_created(
    operator_a, sandbox_config, sandbox_ns, tmp_path
):
    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes(device_rows(2)))
    failed = tmp_path / "failed.csv"

    code, out, _ = provision_bulk(source, "--failed-out", failed, "--no-progress")

    assert code == 0 and "2 created" in out
    assert list(csv.reader(io.StringIO(failed.read_text()))) == [
        [*next(csv.reader(io.StringIO(csv_bytes(device_rows(1)).decode()))), "error"]
    ]


def test_failed_out_is_written_when_no_row_can_be_sent(operator_a, sandbox_config, sandbox_ns, tmp_path):
    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes([["bad/name", "", "", "", "", "", "", ""]]))
    failed = tmp_path / "failed.csv"

    code, _, err = provision_bulk(source, "--failed-out", failed, "--no-progress")

    assert code == 3 and "No row can be sent" in err
    assert "bad/name" in failed.read_text()


def test_provision_bulk_needs_a_member_who_may_provision(
    operator_a, auditor_a, admin_b, sandbox_config, sandbox_ns, tmp_path
):
    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes(device_rows(1)))

    with pytest.raises(CommandError, match="the following arguments are required: --user"):
        call_command(
            "provision_bulk", "--team", "team-a", "--client", "Sandbox", "--namespace", NS, str(source)
        )
    with pytest.raises(CommandError, match="'bob' is not a member of team 'team-a'"):
        provision_bulk(source, user="bob")
    with pytest.raises(CommandError, match="is an auditor and cannot provision"):
        provision_bulk(source, user="audrey")
    assert store.device_ids(sandbox_config.service_instance_id) == []


def test_provision_bulk_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        call_command("provision_bulk", "--help")

    help_text = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 every row was created" in help_text and "4 the job was cancelled" in help_text


def test_provision_bulk_dry_run_sends_nothing(operator_a, sandbox_config, sandbox_ns, tmp_path):
    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes(device_rows(3, password=lambda n: f"Typed-Pass-{n}")))

    code, out, _ = provision_bulk(source, "--dry-run")

    assert code == 0
    assert "Dry run: nothing was sent." in out and "********" in out and "Typed-Pass" not in out
    assert store.device_ids(sandbox_config.service_instance_id) == []
    assert not BulkJob.objects.exists()


def test_provision_bulk_refuses_what_it_cannot_use(
    operator_a, auditor_a, sandbox_config, sandbox_ns, tmp_path
):
    source = tmp_path / "devices.csv"
    source.write_bytes(b"device\nx\n")
    with pytest.raises(CommandError, match="must be \u201cname\u201d"):
        provision_bulk(source)
    source.write_bytes(csv_bytes(device_rows(1)))
    with pytest.raises(CommandError, match="cannot provision"):
        provision_bulk(source, user="audrey")
    with pytest.raises(CommandError, match="no namespace"):
        call_command(
            "provision_bulk",
            "--user",
            "oscar",
            "--team",
            "team-a",
            "--client",
            "Sandbox",
            "--namespace",
            "x.y",
            str(source),
        )
    other = make_config(sandbox_config.team, name="Other", secret=None)
    Namespace.objects.create(team=sandbox_config.team, name="com.acme.other", client=other)
    with pytest.raises(CommandError, match=r"com\.acme\.other is reserved for “Other”"):
        call_command(
            "provision_bulk",
            "--user",
            "oscar",
            "--team",
            "team-a",
            "--config",
            "Sandbox",
            "--namespace",
            "com.acme.other",
            str(source),
        )


def test_the_worker_runs_a_confirmed_job(operator_a, sandbox_config, sandbox_ns):
    job = make_draft(sandbox_ns.team, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(5)))
    jobs.start(job, operator_a)  # enqueued on commit

    call_command("worker", "--batch", "--no-startup-delay", "--sweep", "0", verbosity=0)

    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert job.row_counts()[RowState.CREATED] == 5
    assert len(store.device_ids(sandbox_config.service_instance_id)) == 5
