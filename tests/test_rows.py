"""provisioning.rows.insert writes what the ORM would write."""

import uuid
from datetime import UTC, datetime

import pytest

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
