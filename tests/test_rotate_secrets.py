"""manage.py rotate_secrets: everything sealed re-encrypted with the newest key."""

import io
import uuid

import pytest
from django.core.management import CommandError, call_command

from provisioning import crypto, held_results, tokens
from provisioning.bulk.models import BulkRow, open_secret
from provisioning.models import AuditEvent, Connection, Namespace
from tests import provider
from tests.bulk.conftest import csv_bytes, device_rows, make_draft
from tests.factories import make_config
from tests.provider import TokenIssuer

pytestmark = pytest.mark.django_db

OLD = crypto.new_key_entry("old")
NEW = crypto.new_key_entry("new")
LOST = crypto.new_key_entry("lost")


def rotate(*args):
    out, err = io.StringIO(), io.StringIO()
    error = None
    try:
        call_command("rotate_secrets", *args, stdout=out, stderr=err)
    except CommandError as exc:
        error = exc
    return out.getvalue(), err.getvalue(), error


@pytest.fixture
def two_on_the_old_key(settings, team_a, team_b):
    settings.ENCRYPTION_KEYS = OLD
    clients = [
        make_config(team_a, name="Alpha", secret="alpha-secret-1"),
        make_config(team_b, name="Beta", secret="beta-secret-2"),
    ]
    settings.ENCRYPTION_KEYS = f"{NEW},{OLD}"
    return clients


def test_it_reencrypts_every_secret_with_the_newest_key(settings, two_on_the_old_key):
    before = {c.pk: (c.secret_fingerprint, c.config_version) for c in two_on_the_old_key}

    out, err, error = rotate()

    assert error is None, err
    assert "re-encrypted 2, already on key new: 0, failed: 0" in out
    settings.ENCRYPTION_KEYS = NEW  # the old key can go now
    for client in Connection.objects.all():
        assert crypto.key_id(client.secret_sealed) == "new"
        assert client.get_secret() in ("alpha-secret-1", "beta-secret-2")
        # The secret did not change, so neither do its fingerprint and the cached tokens' version.
        assert (client.secret_fingerprint, client.config_version) == before[client.pk]


def test_a_second_run_changes_nothing(two_on_the_old_key):
    rotate()
    sealed = dict(Connection.objects.values_list("pk", "secret_sealed"))

    out, _, error = rotate()

    assert error is None
    assert "re-encrypted 0, already on key new: 2, failed: 0" in out
    assert dict(Connection.objects.values_list("pk", "secret_sealed")) == sealed


def test_it_reports_a_secret_it_cannot_open_and_leaves_that_row_alone(settings, team_a, two_on_the_old_key):
    settings.ENCRYPTION_KEYS = LOST
    lost = make_config(team_a, name="Orphan", secret="orphan-secret-3")
    settings.ENCRYPTION_KEYS = f"{NEW},{OLD}"

    out, err, error = rotate()

    assert error is not None  # CommandError: manage.py exits with status 1
    assert "failed: 1" in str(error)
    assert "team “Team A”, connection “Orphan”" in err
    assert "key 'lost', which is not in ENCRYPTION_KEYS" in err
    assert Connection.objects.get(pk=lost.pk).secret_sealed == lost.secret_sealed
    # The others were still re-encrypted.
    others = Connection.objects.exclude(pk=lost.pk)
    assert {crypto.key_id(c.secret_sealed) for c in others} == {"new"}
    for text in (out, err, str(error)):
        for secret in ("alpha-secret-1", "beta-secret-2", "orphan-secret-3"):
            assert secret not in text


def test_a_tampered_row_is_reported_even_on_the_newest_key(settings, team_a):
    settings.ENCRYPTION_KEYS = NEW
    client = make_config(team_a, name="Moved", secret="moved-secret")
    other = make_config(team_a, name="Target", secret="target-secret")
    Connection.objects.filter(pk=other.pk).update(secret_sealed=client.secret_sealed)

    _, err, error = rotate()

    assert error is not None
    assert "connection “Target”" in err


def test_a_dry_run_writes_nothing(two_on_the_old_key):
    sealed = dict(Connection.objects.values_list("pk", "secret_sealed"))

    out, _, error = rotate("--dry-run")

    assert error is None
    assert "would re-encrypt 2" in out
    assert dict(Connection.objects.values_list("pk", "secret_sealed")) == sealed
    assert not AuditEvent.objects.exists()


def test_each_reencryption_is_audited_without_the_secret(two_on_the_old_key):
    rotate()
    events = AuditEvent.objects.filter(action="client.secret_reencrypt").order_by("client_name")
    assert [(e.team_name, e.client_name) for e in events] == [("Team A", "Alpha"), ("Team B", "Beta")]
    for event in events:
        assert "alpha-secret-1" not in str(event.__dict__)
        assert "key new (was old)" in event.message


def test_configurations_without_a_secret_are_skipped(settings, team_a):
    settings.ENCRYPTION_KEYS = NEW
    make_config(team_a, name="No secret", secret=None)
    out, _, error = rotate()
    assert error is None
    assert "re-encrypted 0, already on key new: 0, failed: 0" in out


def test_bulk_passwords_held_results_and_cached_tokens_follow_the_new_key(
    settings, team_a, operator_a, httpserver
):
    """Everything sealed is re-encrypted (cached tokens: dropped), and opens with the new key alone."""
    settings.ENCRYPTION_KEYS = OLD
    httpserver.expect_request("/token", method="POST").respond_with_handler(TokenIssuer())
    config = provider.make_config(team_a, httpserver)
    namespace = Namespace.objects.create(team=team_a, name="com.acme.bulk")
    rows = device_rows(3, password=lambda n: f"Typed-Pass-{n:04d}")
    job = make_draft(team_a, operator_a, config, namespace, csv_bytes(rows))
    held_id = uuid.uuid4()
    held_results.hold(
        held_id, operator_a, {"kind": "unknown", "secret": "Held-Secret-1", "secret_kind": "psk"}
    )
    tokens.get_token(config)
    assert tokens.is_cached(config)
    settings.ENCRYPTION_KEYS = f"{NEW},{OLD}"

    out, err, error = rotate("--dry-run")
    assert error is None, err
    assert "client secrets: would re-encrypt 1, already on key new: 0, failed: 0" in out
    assert "bulk passwords: would re-encrypt 3, already on key new: 0, failed: 0" in out
    assert "held Send results: would re-encrypt 1, already on key new: 0, failed: 0" in out
    assert "cached tokens: would drop 1" in out
    assert tokens.is_cached(config)

    out, err, error = rotate()
    assert error is None, err
    assert "bulk passwords: re-encrypted 3" in out and "cached tokens: dropped 1" in out
    assert "Typed-Pass" not in out + err and "Held-Secret" not in out + err

    settings.ENCRYPTION_KEYS = NEW  # the old key is gone: everything still opens
    opened = sorted(
        open_secret(job.public_id, row.line, row.secret_sealed)
        for row in BulkRow.objects.filter(job=job).exclude(secret_sealed="")
    )
    assert opened == ["Typed-Pass-0000", "Typed-Pass-0001", "Typed-Pass-0002"]
    assert held_results.claim(held_id, operator_a)["secret"] == "Held-Secret-1"
    assert not tokens.is_cached(config)
    config.refresh_from_db()
    assert tokens.get_token(config).access_token  # fetched again


def test_a_bulk_password_that_does_not_open_is_reported_by_job_and_line(settings, team_a, operator_a):
    settings.ENCRYPTION_KEYS = LOST
    config = make_config(team_a, name="Offline", token_url="https://token.invalid/token")
    namespace = Namespace.objects.create(team=team_a, name="com.acme.bulk")
    job = make_draft(
        team_a, operator_a, config, namespace, csv_bytes(device_rows(1, password=lambda n: "Typed-Pass-9"))
    )
    settings.ENCRYPTION_KEYS = f"{NEW},{OLD}"

    out, err, error = rotate()

    assert error is not None
    (row,) = BulkRow.objects.filter(job=job)
    assert f"bulk job {job.public_id}, line {row.line}" in err
    assert "bulk passwords: re-encrypted 0, already on key new: 0, failed: 1" in out


def test_the_basic_passwords_of_hono_and_ditto_connections_follow_the_new_key(settings, team_a):
    from tests.factories import DITTO_PASSWORD, HONO_PASSWORD, make_hono_ditto

    settings.ENCRYPTION_KEYS = OLD
    config = make_hono_ditto(team_a)
    settings.ENCRYPTION_KEYS = f"{NEW},{OLD}"

    out, _, error = rotate()

    assert error is None
    assert "Hono passwords: re-encrypted 1, already on key new: 0, failed: 0" in out
    assert "Ditto passwords: re-encrypted 1, already on key new: 0, failed: 0" in out
    config.refresh_from_db()
    for field in ("hono_password_sealed", "ditto_password_sealed"):
        assert crypto.key_id(getattr(config, field)) == "new"
    settings.ENCRYPTION_KEYS = NEW
    assert config.get_sealed("hono_password") == HONO_PASSWORD
    assert config.get_sealed("ditto_password") == DITTO_PASSWORD
    messages = sorted(
        AuditEvent.objects.filter(action="client.secret_reencrypt").values_list("message", flat=True)
    )
    assert [m.split(" re-encrypted")[0] for m in messages] == ["Ditto password", "Hono password"]
    assert HONO_PASSWORD not in str(messages)


def test_a_basic_password_that_does_not_open_is_reported(settings, team_a):
    from tests.factories import make_hono_ditto

    settings.ENCRYPTION_KEYS = LOST
    make_hono_ditto(team_a, name="Lost Hono")
    settings.ENCRYPTION_KEYS = f"{NEW},{OLD}"

    _, err, error = rotate()

    assert error is not None and "failed: 2" in str(error)
    assert "connection “Lost Hono” (id" in err and "its Hono password" in err


def test_the_ditto_client_secret_and_its_cached_token_follow_the_new_key(settings, team_a, httpserver):
    from tests.factories import make_hono_ditto

    settings.ENCRYPTION_KEYS = OLD
    hono_issuer, ditto_issuer = TokenIssuer(), TokenIssuer()
    httpserver.expect_request("/hono-token", method="POST").respond_with_handler(hono_issuer)
    httpserver.expect_request("/ditto-token", method="POST").respond_with_handler(ditto_issuer)
    config = make_hono_ditto(
        team_a,
        hono_auth="oauth2",
        token_url=httpserver.url_for("/hono-token"),
        client_id="hono-client",
        ditto_auth="oauth2_own",
        ditto_token_url=httpserver.url_for("/ditto-token"),
        ditto_client_id="ditto-client",
    )
    config.set_secret("hono-client-secret")
    config.set_sealed("ditto_client_secret", "ditto-client-secret")
    config.save()
    tokens.get_token(config)
    tokens.get_token(config.ditto_client())
    assert (hono_issuer.count, ditto_issuer.count) == (1, 1)
    settings.ENCRYPTION_KEYS = f"{NEW},{OLD}"

    out, err, error = rotate()

    assert error is None, err
    assert "Ditto client secrets: re-encrypted 1, already on key new: 0, failed: 0" in out
    assert "cached tokens: dropped 2" in out
    assert "ditto-client-secret" not in out + err
    config.refresh_from_db()
    assert crypto.key_id(config.ditto_secret_sealed) == "new"
    settings.ENCRYPTION_KEYS = NEW
    assert config.get_sealed("ditto_client_secret") == "ditto-client-secret"
    assert not tokens.is_cached(config.ditto_client())
    tokens.get_token(config.ditto_client())  # fetched again with the secret under the new key
    assert ditto_issuer.count == 2
