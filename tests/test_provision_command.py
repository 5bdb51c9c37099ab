# ruff: noqa: F811 - the sandbox fixtures are imported from tests.workflow
"""`manage.py provision`: the same form, service call and audit rows as the page, from a shell."""

import io
import json
import os

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from provisioning.models import AuditEvent, Namespace, OpenAttempt
from provisioning.sandbox import knobs, store
from tests.gunicorn import manage
from tests.workflow import NAMESPACE, outcomes, sandbox_config, sandbox_namespace, tenant  # noqa: F401

pytestmark = pytest.mark.django_db

DEVICE_ID = f"{NAMESPACE}:cli-1"
TYPED = "Cli-Typed-Pa55-0192"


def run(*args, user="oscar", name="cli-1", namespace=NAMESPACE, client="Sandbox", option="--connection"):
    """Call the command; return (exit code, stdout, stderr). A CommandError is exit code 1."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["--user", user, "--team", "team-a", option, client, "--namespace", namespace, "--name", name]
    try:
        call_command("provision", *argv, *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue()


def test_it_provisions_and_prints_the_secret_once(cast, sandbox_config, sandbox_namespace, tenant):
    code, out, err = run("--password-generate", "--attribute", "site=north", "--attribute", "floor=3")

    assert code == 0, err
    assert f"Created {DEVICE_ID}" in out
    secret = out.split("Secret (shown once): ", 1)[1].strip()
    assert out.count(secret) == 1
    sid = tenant["service_instance_id"]
    assert store.get_device(sid, DEVICE_ID)["thing"]["attributes"] == {"site": "north", "floor": 3}
    assert store.device_secret_matches(sid, f"{NAMESPACE}_cli-1", secret)
    intent, outcome = AuditEvent.objects.order_by("id")
    assert (intent.phase, outcome.phase, outcome.status) == ("intent", "outcome", "created")
    assert intent.actor_name == outcome.actor_name == "oscar"
    assert intent.actor_id == cast["operator"].pk
    assert secret not in json.dumps(list(AuditEvent.objects.values()), default=str)
    assert not OpenAttempt.objects.exists()


def test_a_password_from_the_environment_is_used_and_never_echoed(
    cast, sandbox_config, sandbox_namespace, tenant, monkeypatch
):
    monkeypatch.setenv("DEVICE_PASSWORD", TYPED)

    code, out, err = run("--password-env", "DEVICE_PASSWORD", "--json")
    text = run("--password-env", "DEVICE_PASSWORD", name="cli-2")

    assert code == 0 and text[0] == 0
    assert TYPED not in out + err + text[1] + text[2]
    result = json.loads(out)
    assert result["status"] == "created" and result["deviceId"] == DEVICE_ID
    assert result["httpStatus"] == 201
    assert "secret" not in result
    assert result["request"]["hub"]["credentials"]["secrets"] == [{"password": "********"}]
    assert AuditEvent.objects.filter(phase="outcome", target=DEVICE_ID).get().correlation_id.hex == result[
        "correlationId"
    ].replace("-", "")
    assert store.device_secret_matches(tenant["service_instance_id"], f"{NAMESPACE}_cli-1", TYPED)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_dry_run_prints_the_masked_request_and_sends_nothing(
    cast, sandbox_config, sandbox_namespace, tenant, monkeypatch, as_json
):
    monkeypatch.setenv("DEVICE_PASSWORD", TYPED)
    knobs.reset_counters()

    code, out, _ = run(
        "--password-env",
        "DEVICE_PASSWORD",
        "--dry-run",
        "--attribute",
        "a=1",
        *(["--json"] if as_json else []),
    )

    assert code == 0
    assert TYPED not in out
    url = f"{tenant['api_base_url']}/{tenant['service_instance_id']}/devices"
    if as_json:
        preview = json.loads(out)
        assert preview["method"] == "POST" and preview["url"] == url
        assert preview["body"]["hub"]["credentials"]["secrets"] == [{"password": "********"}]
        assert preview["headers"]["Authorization"].startswith("Bearer <")
    else:
        assert out.startswith(f"POST {url}\n")
        assert "Authorization: Bearer <token from the connection>" in out
        assert '"password": "********"' in out and '"a": 1' in out
    assert knobs.token_count() == 0  # not even a token was fetched
    assert store.get_device(tenant["service_instance_id"], DEVICE_ID) is None
    assert not AuditEvent.objects.exists()


def test_dry_run_shows_a_generated_secret_as_a_placeholder(cast, sandbox_config, sandbox_namespace, tenant):
    code, out, _ = run("--password-generate", "--dry-run")
    assert code == 0 and '"password": "[generated on send]"' in out
    assert not AuditEvent.objects.exists()


def test_a_conflict_exits_3_with_the_next_step(cast, sandbox_config, sandbox_namespace, tenant):
    assert run("--password-generate")[0] == 0

    code, out, err = run("--password-generate")

    assert code == 3
    assert "conflict:" in err and "already been provisioned" in err
    assert "Next step:" in err and "open its history entry" in err
    assert "Secret" not in out
    assert [r.status for r in outcomes()] == ["created", "conflict"]


def test_a_conflict_in_json_is_json_too(cast, sandbox_config, sandbox_namespace, tenant):
    run("--password-generate")
    code, out, _ = run("--password-generate", "--json")
    result = json.loads(out)
    assert code == 3 and result["status"] == "conflict" and "secret" not in result
    assert result["nextStep"].startswith("The device is already provisioned")


def test_a_refusal_exits_4(cast, team_a, sandbox_config, tenant):
    Namespace.objects.create(team=team_a, name="com.unregistered")
    code, _, err = run("--password-generate", namespace="com.unregistered")
    assert code == 4 and "is not registered" in err
    assert outcomes()[0].status == "refused"


def test_a_busy_provider_exits_5(cast, sandbox_config, sandbox_namespace, tenant):
    knobs.inject_fault(429, count=4, retry_after=0)
    code, _, err = run("--password-generate")
    assert code == 5 and "nothing was created" in err


def test_an_unknown_outcome_exits_6_and_keeps_a_generated_secret(
    cast, sandbox_config, sandbox_namespace, tenant
):
    knobs.inject_fault(500)
    code, out, err = run("--password-generate")
    assert code == 6 and "Outcome unknown" in err
    # The device may exist with that secret: printed once, like the page does.
    assert "If the device was created, its secret is: " in out
    assert outcomes()[0].status == "unknown"


def test_an_invalid_device_is_refused_before_anything_is_sent(
    cast, sandbox_config, sandbox_namespace, tenant
):
    code, _, err = run("--password-generate", name="a/b")
    assert code == 1 and "name: A device name cannot contain '/'" in err
    code, _, err = run("--password-generate", "--attribute", "no-equals-sign")
    assert code == 1 and "KEY=VALUE" in err
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("audrey", "is an auditor and cannot provision"),
        ("bob", "is not a member"),
        ("nobody", "is not a member"),
    ],
)
def test_a_non_member_or_auditor_is_refused(cast, sandbox_config, sandbox_namespace, tenant, user, message):
    knobs.reset_counters()
    code, _, err = run("--password-generate", user=user)
    assert code == 1 and message in err
    assert not AuditEvent.objects.exists() and knobs.token_count() == 0


def test_unknown_client_or_namespace_is_named(cast, sandbox_config, sandbox_namespace, tenant):
    assert "no connection named 'Nope'" in run("--password-generate", client="Nope")[2]
    assert "no namespace 'com.nope'" in run("--password-generate", namespace="com.nope")[2]


@pytest.mark.parametrize("option", ["--config", "--client"])
def test_the_options_of_before_connections_still_name_one(cast, sandbox_config, sandbox_namespace, option):
    code, _, err = run("--password-generate", "--dry-run", option=option)
    assert code == 0, err


def test_dry_run_needs_no_secret_choice(cast, sandbox_config, sandbox_namespace, tenant):
    code, out, err = run("--dry-run")

    assert code == 0, err
    assert '"password": "[generated on send]"' in out
    assert store.device_ids(sandbox_config.service_instance_id) == []


def test_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        call_command("provision", "--help")

    help_text = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 created" in help_text and "6 outcome unknown" in help_text


def test_a_secret_choice_is_required(cast, sandbox_config, sandbox_namespace, tenant):
    code, _, err = run()
    assert code == 1 and "--password-generate" in err
    assert run("--credentials", "none")[0] == 0


def database_url():
    """The URL of the test database, for a process of its own."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_the_real_command_line_exit_codes(cast, sandbox_config, sandbox_namespace, tenant):
    """Through manage.py in a process of its own, on the test database."""
    env = {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING"}
    args = ["provision", "--team", "team-a", "--client", "Sandbox"]
    args += ["--namespace", NAMESPACE, "--name", "cli-1", "--password-generate"]

    refused = manage(env, *args, "--user", "audrey")
    created = manage(env, *args, "--user", "oscar")
    conflict = manage(env, *args, "--user", "oscar")

    assert (refused.returncode, created.returncode, conflict.returncode) == (1, 0, 3)
    assert "is an auditor and cannot provision" in refused.stderr
    assert f"Created {DEVICE_ID}" in created.stdout
    assert "already been provisioned" in conflict.stderr
