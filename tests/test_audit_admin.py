"""Audit rows cannot be changed or deleted: not in the Django admin, not by the model, not in PostgreSQL.

tests/test_admin.py checks that the admin cannot add audit rows; this covers the rest.
"""

import re
import uuid
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

from provisioning import audit
from provisioning.models import AuditEvent

pytestmark = pytest.mark.django_db

MODELS = Path(__file__).resolve().parents[1] / "provisioning" / "models.py"


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "root-password-123")
    client.force_login(user)
    return client


@pytest.fixture
def row(team_a, admin_a):
    return audit.record("device.provision", actor=admin_a, team=team_a, status="created", target="com.acme:a")


def test_the_admin_lists_and_shows_audit_rows_read_only(superuser_client, row):
    listing = superuser_client.get("/admin/provisioning/auditevent/")
    assert listing.status_code == 200 and "com.acme:a" in listing.content.decode()
    page = superuser_client.get(f"/admin/provisioning/auditevent/{row.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert f"/admin/provisioning/auditevent/{row.pk}/delete/" not in html


def test_the_admin_refuses_to_change_a_row(superuser_client, row):
    response = superuser_client.post(
        f"/admin/provisioning/auditevent/{row.pk}/change/",
        {"action": "device.deprovision", "status": "deleted", "target": "forged"},
    )
    assert response.status_code == 403
    row.refresh_from_db()
    assert (row.action, row.status, row.target) == ("device.provision", "created", "com.acme:a")


def test_the_admin_refuses_to_delete_a_row(superuser_client, row):
    assert superuser_client.get(f"/admin/provisioning/auditevent/{row.pk}/delete/").status_code == 403
    assert (
        superuser_client.post(f"/admin/provisioning/auditevent/{row.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AuditEvent.objects.filter(pk=row.pk).exists()


def test_the_admin_offers_no_bulk_delete(superuser_client, row):
    listing = superuser_client.get("/admin/provisioning/auditevent/")
    assert "delete_selected" not in listing.content.decode()
    superuser_client.post(
        "/admin/provisioning/auditevent/",
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )
    assert AuditEvent.objects.filter(pk=row.pk).exists()


def test_the_model_refuses_updates_and_deletes(row):
    row.status = "deleted"
    with pytest.raises(RuntimeError, match="append-only"):
        row.save()
    with pytest.raises(RuntimeError, match="append-only"):
        row.delete()
    row.refresh_from_db()
    assert row.status == "created"


def documented_revoke():
    """The REVOKE statement written next to AuditEvent in provisioning/models.py."""
    match = re.search(r"^#\s+(REVOKE [^;]+;)", MODELS.read_text(), re.M)
    assert match, "provisioning/models.py documents no REVOKE statement"
    return match.group(1)


def test_the_revoke_statement_is_documented():
    statement = documented_revoke()
    assert re.fullmatch(
        r"REVOKE UPDATE, DELETE, TRUNCATE ON TABLE provisioning_auditevent FROM provisioner;", statement
    )
    assert AuditEvent._meta.db_table == "provisioning_auditevent"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="GRANT and REVOKE are PostgreSQL's")
def test_the_documented_revoke_makes_the_table_append_only(row):
    role = f"provisioner_{uuid.uuid4().hex[:8]}"
    table = AuditEvent._meta.db_table

    def denied(sql, params=()):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
        except DatabaseError as exc:
            return "permission denied" in str(exc)
        return False

    with connection.cursor() as cursor:
        # The app's role, as a database with default grants would give it everything on the table.
        cursor.execute(f"CREATE ROLE {role}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {table} TO {role}")
        cursor.execute(documented_revoke().replace(" provisioner;", f" {role};"))
        cursor.execute(f"SET ROLE {role}")
    try:
        assert audit.record(
            "device.provision", status="created", target="com.acme:b"
        ).pk  # INSERT still works
        assert AuditEvent.objects.filter(target="com.acme:b").exists()  # and SELECT
        assert denied(f"UPDATE {table} SET status = 'forged' WHERE id = %s", [row.pk])
        assert denied(f"DELETE FROM {table} WHERE id = %s", [row.pk])
        assert denied(f"TRUNCATE {table}")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    row.refresh_from_db()
    assert row.status == "created"
