"""Team changes and their audit rows stand or fall together (provisioning.team_admin)."""

import pytest
from django.db import DatabaseError

from provisioning import team_admin
from provisioning.models import AuditEvent, Membership, Namespace, Role

pytestmark = pytest.mark.django_db


def test_a_removed_member_stays_when_the_audit_row_cannot_be_written(cast, audit_refusal):
    member = Membership.objects.get(user=cast["operator"])
    audit_refusal.refuse()

    with pytest.raises(DatabaseError):
        team_admin.remove_member(member, actor=cast["admin"])

    assert Membership.objects.filter(pk=member.pk).exists()


def test_a_role_change_is_not_kept_without_its_audit_row(cast, audit_refusal):
    member = Membership.objects.get(user=cast["operator"])
    audit_refusal.refuse()

    with pytest.raises(DatabaseError):
        team_admin.change_role(member, Role.AUDITOR, actor=cast["admin"])

    assert Membership.objects.get(pk=member.pk).role == Role.OPERATOR


def test_a_deleted_namespace_stays_when_the_audit_row_cannot_be_written(cast, namespace_a, audit_refusal):
    audit_refusal.refuse()

    with pytest.raises(DatabaseError):
        team_admin.delete_namespace(namespace_a, actor=cast["admin"], team=namespace_a.team)

    assert Namespace.objects.filter(pk=namespace_a.pk).exists()


def test_each_change_leaves_one_audit_row(cast, team_a):
    member = Membership.objects.get(user=cast["operator"])

    team_admin.change_role(member, Role.AUDITOR, actor=cast["admin"])
    team_admin.remove_member(member, actor=cast["admin"])

    rows = list(AuditEvent.objects.order_by("id").values_list("action", "target", "request"))
    assert rows == [("member.role", "oscar", {"role": "auditor"}), ("member.remove", "oscar", None)]


def test_audit_rows_cannot_be_changed_or_removed_through_the_orm(cast, team_a):
    team_admin.invite("new@example.com", role=Role.OPERATOR, actor=cast["admin"], team=team_a)
    (row,) = AuditEvent.objects.all()

    with pytest.raises(RuntimeError, match="append-only"):
        AuditEvent.objects.filter(pk=row.pk).update(message="changed")
    with pytest.raises(RuntimeError, match="append-only"):
        AuditEvent.objects.all().delete()
    with pytest.raises(RuntimeError, match="append-only"):
        row.save()
    assert AuditEvent.objects.get(pk=row.pk).message == ""
