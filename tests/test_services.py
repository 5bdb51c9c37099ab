"""The service layer: audit rows around every outbound call, against a scripted provider."""

import json
import uuid

import pytest

from provisioning import services
from provisioning.models import AuditEvent, Connection, OpenAttempt
from tests.provider import SID, TokenIssuer, api_requests, make_config

pytestmark = pytest.mark.django_db

DEVICES = f"/api/1/{SID}/devices"
CANARY = "Canary-Pw-8841!"


def body(device_id="com.acme:dev-1"):
    return {
        "id": device_id,
        "hub": {"device": {}, "credentials": {"type": "hashed-password", "secrets": [{"password": CANARY}]}},
        "things": {"thing": {"attributes": {"site": "north"}}},
    }


@pytest.fixture
def config(team_a, httpserver):
    httpserver.expect_request("/token", method="POST").respond_with_handler(TokenIssuer())
    return make_config(team_a, httpserver)


def provision(config, admin_a, **kwargs):
    return services.provision_device(actor=admin_a, team=config.team, config=config, body=body(), **kwargs)


def rows():
    return list(AuditEvent.objects.order_by("id"))


def test_a_created_device_leaves_an_intent_and_an_outcome(httpserver, config, admin_a):
    echoed = {
        **body(),
        "hub": {**body()["hub"], "credentials": {**body()["hub"]["credentials"], "tenantId": "t"}},
    }
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(echoed, status=201)

    outcome = provision(config, admin_a, auth_scope="subscription")

    assert outcome.status == "created"
    assert outcome.body["hub"]["credentials"]["secrets"][0]["password"] == CANARY  # for the show-once panel
    intent, result = rows()
    assert (intent.phase, intent.status, result.phase, result.status) == (
        "intent",
        "pending",
        "outcome",
        "created",
    )
    assert intent.correlation_id == result.correlation_id == outcome.correlation_id
    assert intent.target == result.target == "com.acme:dev-1"
    assert intent.actor_name == "alice" and intent.team_name == "Team A" and intent.client_name == "Scripted"
    assert intent.request["params"] == {"authScope": "subscription"}
    assert intent.request["body"]["things"]["thing"]["attributes"] == {"site": "north"}
    assert result.http_status == 201 and result.latency_ms is not None
    assert not OpenAttempt.objects.exists()
    (sent,) = api_requests(httpserver)
    assert sent.headers["correlation-id"] == str(outcome.correlation_id)


def test_no_audit_row_holds_a_secret(httpserver, config, admin_a):
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(body(), status=201)

    provision(config, admin_a)

    dumped = json.dumps([[r.request, r.response, r.message] for r in rows()])
    assert CANARY not in dumped
    assert "tok-1" not in dumped
    assert "[redacted]" in dumped


@pytest.mark.parametrize(
    ("status", "expected"),
    [(409, "conflict"), (400, "refused"), (403, "refused"), (500, "unknown"), (502, "unknown")],
)
def test_each_provider_answer_gets_its_status(httpserver, config, admin_a, status, expected):
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(
        {"description": "because"}, status=status
    )

    outcome = provision(config, admin_a)

    assert outcome.status == expected
    assert outcome.http_status == status
    assert rows()[-1].status == expected
    assert rows()[-1].response == {"description": "because"}


def test_a_token_failure_is_failed_and_kept_on_the_config(team_a, httpserver, admin_a):
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"error": "invalid_client"}, status=401
    )
    config = make_config(team_a, httpserver)

    outcome = provision(config, admin_a)

    assert outcome.status == "failed"
    assert api_requests(httpserver) == []
    config.refresh_from_db()
    assert "refused the client id or secret" in config.last_error
    assert config.last_error_at is not None


def test_a_success_clears_the_last_error(httpserver, config, admin_a):
    Connection.objects.filter(pk=config.pk).update(last_error="old trouble")
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(body(), status=201)

    provision(config, admin_a)

    config.refresh_from_db()
    assert config.last_error == ""
    assert config.last_success_at is not None


# begin and finish run on their own in a view (autocommit) and inside a caller's transaction
# in the tests that use ``db``: both ways must be all or nothing.
BOTH_WAYS = pytest.mark.parametrize(
    "way",
    [
        pytest.param("in-a-transaction"),
        pytest.param("autocommit", marks=pytest.mark.django_db(transaction=True)),
    ],
)


@BOTH_WAYS
def test_it_sends_nothing_when_the_intent_cannot_be_written(httpserver, config, admin_a, audit_refusal, way):
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(body(), status=201)
    audit_refusal.refuse()

    with pytest.raises(services.AuditUnavailable):
        provision(config, admin_a)

    assert api_requests(httpserver) == []
    assert not OpenAttempt.objects.exists()


@BOTH_WAYS
def test_an_attempt_is_begun_once_per_correlation_id(httpserver, config, admin_a, way):
    """A form's one-time token is its attempt's correlation id: sent twice, it is sent once."""
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(body(), status=201)
    cid = uuid.uuid4()

    first = provision(config, admin_a, correlation_id=cid)
    with pytest.raises(services.AlreadyBegun) as again:
        provision(config, admin_a, correlation_id=cid)

    assert first.status == "created" and again.value.correlation_id == cid
    assert len(api_requests(httpserver)) == 1
    assert [(r.phase, r.correlation_id) for r in rows()] == [("intent", cid), ("outcome", cid)]


@BOTH_WAYS
def test_a_batch_with_one_begun_attempt_begins_none(httpserver, config, admin_a, way):
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(body(), status=201)
    begun = provision(config, admin_a).correlation_id
    batch = [
        services.provision_attempt(
            actor=admin_a, team=config.team, config=config, body=body(f"com.acme:b-{n}")
        )
        for n in range(3)
    ]
    batch[1].correlation_id = begun

    with pytest.raises(services.AlreadyBegun):
        services.begin(batch)

    assert AuditEvent.objects.filter(phase="intent").count() == 1
    assert not OpenAttempt.objects.exists()


@BOTH_WAYS
def test_an_unwritten_outcome_leaves_the_attempt_open(
    httpserver, config, admin_a, caplog, audit_refusal, way
):
    """As after a crash between intent and outcome: history will show it as unknown."""
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(body(), status=201)
    audit_refusal.refuse(phase="outcome")

    outcome = provision(config, admin_a)

    assert len(api_requests(httpserver)) == 1
    assert [r.phase for r in rows()] == ["intent"]
    assert OpenAttempt.objects.filter(correlation_id=outcome.correlation_id).exists()
    assert "audit outcome for device.provision com.acme:dev-1 could not be written" in caplog.text


def test_deprovision_records_its_rows(httpserver, config, admin_a):
    httpserver.expect_request(f"{DEVICES}/com.acme:dev-1", method="DELETE").respond_with_json(
        {"device": "Device deleted successfully"}, status=200
    )

    outcome = services.deprovision_device(
        actor=admin_a, team=config.team, config=config, device_id="com.acme:dev-1", keep_policy=True
    )

    assert outcome.status == "deleted"
    intent, result = rows()
    assert intent.action == result.action == "device.deprovision"
    assert intent.request["params"] == {"keepCredentials": False, "keepPolicy": True}
    assert result.response == {"device": "Device deleted successfully"}


def test_check_connection_reports_the_token_and_audits(httpserver, config, admin_a):
    check = services.check_connection(actor=admin_a, team=config.team, config=config)

    assert check.ok
    assert check.lifetime == 3599
    assert check.claims is None  # the scripted token is opaque
    (row,) = rows()
    assert (row.action, row.status) == ("client.test", "ok")
    assert "tok-1" not in row.message
