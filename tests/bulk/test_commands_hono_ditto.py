"""`provision` and `provision_bulk` through Eclipse Hono + Ditto and Ditto connections, against
the sandbox's Hono registry and Ditto: the same output as for Bosch, every step of a single
device printed, the same exit codes."""

import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from provisioning.bulk.models import BulkJob, RowState
from provisioning.models import AuditEvent
from provisioning.sandbox import knobs

from .conftest import NS, csv_bytes, device_rows, parts
from .test_hono_ditto import password_matches

pytestmark = pytest.mark.django_db(transaction=True)

ALL = {"device": 1, "credentials": 1, "policy": 1, "thing": 1}


def command(name, *argv):
    """Call a command; (exit code, stdout, stderr). A CommandError is exit code 1."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command(name, *argv, stdout=out, stderr=err)
    except SystemExit as exc:
        code = exc.code
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


def provision(connection, *extra, name="cli-1"):
    argv = ["--user", "oscar", "--team", "team-a", "--connection", connection, "--namespace", NS]
    return command("provision", *argv, "--name", name, *extra)


def provision_bulk(connection, path, *extra):
    argv = ["--user", "oscar", "--team", "team-a", "--connection", connection, "--namespace", NS]
    return command("provision_bulk", *argv, str(path), *extra)


def test_provision_sends_the_plan_and_prints_every_step(operator_a, c2e_config, hd_ns):
    code, out, err = provision("Cloud2Edge", "--password-generate", "--attribute", "site=north")

    assert code == 0, err
    device = f"{NS}:cli-1"
    assert out.splitlines()[:4] == [
        "  provision device: created (201)",
        "  provision credentials: created (204)",
        "  provision policy: created (201)",
        "  provision thing: created (201)",
    ]
    assert f"Created {device}" in out
    secret = out.split("Secret (shown once): ", 1)[1].strip()
    assert password_matches(device, secret) and parts(device) == ALL
    assert secret not in str(list(AuditEvent.objects.values()))


def test_provision_prints_the_undo_of_a_refused_step_and_exits_as_refused(operator_a, c2e_config, hd_ns):
    knobs.inject_fault(402, target="ditto")

    code, out, err = provision("Cloud2Edge", "--credentials", "none")

    assert code == 4
    assert "  provision policy: refused (402)" in out and "  undo device: deleted (204)" in out
    assert "refused: " in err and "Undone: device." in err
    assert parts(f"{NS}:cli-1") == {"device": 0, "credentials": 0, "policy": 0, "thing": 0}


def test_provision_dry_run_prints_each_request_and_sends_nothing(operator_a, ditto_config, hd_ns):
    code, out, err = provision("Twins", "--credentials", "none", "--dry-run")

    assert code == 0, err
    assert "1. Create the twin's policy\nPUT " in out and "2. Create the twin (thing)\nPUT " in out
    assert "If-None-Match: *" in out
    assert not AuditEvent.objects.exists() and parts(f"{NS}:cli-1")["thing"] == 0


def test_provision_says_what_a_ditto_connection_cannot_do(operator_a, ditto_config, hd_ns):
    code, _, err = provision("Twins", "--password-generate")
    assert code == 1 and "A Ditto connection creates the twin and its policy only" in err
    code, _, err = provision("Twins", "--credentials", "none", "--auth-scope", "subscription")
    assert code == 1 and "authScope is a Bosch IoT Suite setting" in err
    assert not AuditEvent.objects.exists()


def test_provision_bulk_runs_a_hono_ditto_job_and_writes_the_credentials(
    operator_a, c2e_config, hd_ns, tmp_path
):
    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes(device_rows(6)))
    creds = tmp_path / "creds.csv"

    code, out, err = provision_bulk("Cloud2Edge", source, "--concurrency", "3", "--credentials-out", creds)

    assert code == 0, out + err
    assert "will create:                6" in out
    assert "The 4 requests of each row, as line 2's (secrets masked):" in out
    assert "1. Create the Hono device: POST " in out and "4. Create the twin (thing): PUT " in out
    assert "6 created" in out and "6/6 100%" in err
    rows = list(csv.DictReader(io.StringIO(creds.read_text())))
    assert [row["auth_id"] for row in rows] == [f"{NS}_dev-{n:05d}" for n in range(6)]
    assert all(password_matches(row["device_id"], row["password"]) for row in rows)
    assert all(parts(row["device_id"]) == ALL for row in rows)


def test_provision_bulk_runs_a_ditto_job(operator_a, ditto_config, hd_ns, tmp_path):
    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes(device_rows(3)))

    code, out, err = provision_bulk("Twins", source, "--credentials", "none", "--no-progress")

    assert code == 0, out + err
    assert "3 created" in out
    assert BulkJob.objects.get().row_counts()[RowState.CREATED] == 3


def test_provision_bulk_refuses_credentials_a_ditto_connection_cannot_register(
    operator_a, ditto_config, hd_ns, tmp_path
):
    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes(device_rows(1)))

    code, _, err = provision_bulk("Twins", source)

    assert code == 1 and "--credentials: A Ditto connection creates the twins" in err
    assert not BulkJob.objects.exists()
