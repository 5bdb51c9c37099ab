"""provisioning.rows.insert writes what the ORM would write."""

import uuid
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError

from provisioning import audit, rows
from provisioning.models import AuditEvent, OpenAttempt

pytestmark = pytest.mark.django_db


def test_it_stores_every_field_as_the_orm_reads_it_back(admin_a, team_a):
    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    cid = uuid.uuid4()
    event = audit.build(
        "device.provision",
        actor=admin_a,
        team=team_a,
        phase=AuditEvent.Phase.OUTCOME,
        status="created",
        target="com.acme:dev-1",
        http_status=201,
        latency_ms=12,
        message="ok",
        request={"body": {"hub": {"credentials": {"secrets": [{"password": "canary-pass-1"}]}}}, "n": [1, 2]},
        response={"ü": "ünïcode", "nested": {"a": None}},
        correlation_id=cid,
        at=when,
    )

    rows.insert([event])

    (stored,) = AuditEvent.objects.all()
    assert stored.pk is not None and stored.correlation_id == cid and stored.created_at == when
    assert (stored.action, stored.phase, stored.status, stored.target) == (
        "device.provision",
        "outcome",
        "created",
        "com.acme:dev-1",
    )
    assert stored.namespace == "com.acme"
    assert (stored.actor_id, stored.actor_name, stored.team_id) == (admin_a.pk, "alice", team_a.pk)
    assert (stored.http_status, stored.latency_ms, stored.message) == (201, 12, "ok")
    assert stored.request["body"]["hub"]["credentials"]["secrets"][0]["password"] == "[redacted]"
    assert stored.response == {"ü": "ünïcode", "nested": {"a": None}}


def test_it_inserts_many_and_a_model_whose_key_is_not_automatic(team_a):
    ids = [uuid.uuid4() for _ in range(3)]

    rows.insert(
        [OpenAttempt(correlation_id=i, team_id=team_a.pk, target=f"com.acme:{n}") for n, i in enumerate(ids)]
    )
    rows.insert([])

    assert sorted(OpenAttempt.objects.values_list("correlation_id", flat=True)) == sorted(ids)
    assert set(OpenAttempt.objects.values_list("target", flat=True)) == {
        "com.acme:0",
        "com.acme:1",
        "com.acme:2",
    }


BOTH_WAYS = pytest.mark.parametrize(
    "way",
    [
        pytest.param("in-a-transaction"),
        pytest.param("autocommit", marks=pytest.mark.django_db(transaction=True)),
    ],
)


def intent(team, cid, target="com.acme:dev-1"):
    return audit.build(
        "device.provision",
        team=team,
        phase=AuditEvent.Phase.INTENT,
        status="pending",
        target=target,
        correlation_id=cid,
    )


@BOTH_WAYS
def test_write_inserts_every_group_and_deletes(team_a, way):
    gone, kept, new = uuid.uuid4(), uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    rows.insert([OpenAttempt(correlation_id=i, team_id=team_a.pk, target="com.acme:x") for i in (gone, kept)])

    rows.write(
        [
            [intent(team_a, i, f"com.acme:{n}") for n, i in enumerate(new)],
            [OpenAttempt(correlation_id=i, team_id=team_a.pk, target="com.acme:y") for i in new],
            [],
        ],
        delete=(OpenAttempt, "correlation_id", [gone]),
    )

    assert sorted(AuditEvent.objects.values_list("target", flat=True)) == ["com.acme:0", "com.acme:1"]
    assert set(OpenAttempt.objects.values_list("correlation_id", flat=True)) == {kept, *new}


@BOTH_WAYS
def test_write_is_all_or_nothing(team_a, way):
    """The second group breaks the one-intent-per-attempt constraint: the first is not kept,
    the delete does not happen, and the connection goes on working."""
    begun, fresh, marker = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rows.insert([intent(team_a, begun)])
    rows.insert([OpenAttempt(correlation_id=marker, team_id=team_a.pk, target="com.acme:x")])

    with pytest.raises(IntegrityError):
        rows.write(
            [
                [OpenAttempt(correlation_id=fresh, team_id=team_a.pk, target="com.acme:y")],
                [intent(team_a, begun)],
            ],
            delete=(OpenAttempt, "correlation_id", [marker]),
        )

    assert AuditEvent.objects.count() == 1
    assert list(OpenAttempt.objects.values_list("correlation_id", flat=True)) == [marker]
