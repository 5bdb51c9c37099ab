"""Migration 0014 renames OAuthClient to Connection: what was saved before it is all there after.

Run against a real database schema with Django's MigrationExecutor: back to the state before
the rename, rows written with the models as they were then, forward again, and read with
today's models. The sealed secret's associated data still names "oauthclient", so a secret
sealed before the rename opens after it.
"""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from provisioning import crypto
from provisioning.bulk.models import BulkJob
from provisioning.models import AuditEvent, Connection, ConnectionKind, Namespace, Team
from tests.factories import make_config

BEFORE = [("provisioning", "0013_history_search"), ("bulk", "0002_upload_in_worker")]
SECRET = "a-secret-sealed-before-the-rename"


def migrate(targets):
    """Migrate to ``targets``; the historical models of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()  # see what was just applied
    return executor.loader.project_state(targets).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def write_before_the_rename(apps):
    """A configuration as the app saved it before 0014, and everything that points at it."""
    old_team = apps.get_model("provisioning", "Team").objects.create(name="Old", slug="old")
    public_id = uuid.uuid4()
    config = apps.get_model("provisioning", "OAuthClient").objects.create(
        public_id=public_id,
        team=old_team,
        name="Suite from before",
        preset="suite_auth",
        token_url="https://access.bosch-iot-suite.com/token",
        client_id="old-client-id",
        secret_sealed=crypto.seal(SECRET, f"oauthclient:{public_id}:client_secret"),
        secret_fingerprint=crypto.fingerprint(SECRET),
        api_base_url="https://deviceprovisioning.eu-1.bosch-iot-suite.com/api/1",
        service_instance_id="sid-1",
        config_version=7,
    )
    apps.get_model("provisioning", "Namespace").objects.create(
        team=old_team, name="com.acme.old", client=config
    )
    apps.get_model("bulk", "BulkJob").objects.create(
        team=old_team, client=config, client_name=config.name, namespace_name="com.acme.old"
    )
    apps.get_model("provisioning", "AuditEvent").objects.create(
        action="client.create",
        status="ok",
        team_id=old_team.pk,
        team_name=old_team.name,
        client_ref=config.pk,
        client_name=config.name,
        target=config.name,
        message="Client configuration created before the rename.",
    )
    # A staff member given the model's view permission in the admin.
    staff = get_user_model().objects.create_user(
        "stella", "stella@example.com", "a-long-password", is_staff=True
    )
    permission = apps.get_model("auth", "Permission").objects.get(
        content_type__app_label="provisioning", codename="view_oauthclient"
    )
    apps.get_model("auth", "User").objects.get(pk=staff.pk).user_permissions.add(permission.pk)
    return config.pk, public_id


@pytest.mark.django_db(transaction=True)
def test_every_configuration_survives_the_rename_with_its_secret_version_and_links():
    pk, public_id = write_before_the_rename(migrate(BEFORE))

    migrate(latest())

    config = Connection.objects.get(pk=pk)
    assert (config.public_id, config.name, config.config_version) == (public_id, "Suite from before", 7)
    assert config.kind == ConnectionKind.BOSCH
    assert config.get_secret() == SECRET
    assert config.secret_fingerprint == crypto.fingerprint(SECRET)
    assert list(Namespace.objects.filter(client=config).values_list("name", flat=True)) == ["com.acme.old"]
    assert BulkJob.objects.get(team__slug="old").client_id == pk
    # History links are the row's id, and rows already written keep their words.
    event = AuditEvent.objects.get(client_ref=pk)
    assert event.message == "Client configuration created before the rename."
    assert get_user_model().objects.get(username="stella").has_perm("provisioning.view_connection")


@pytest.mark.django_db(transaction=True)
def test_the_rename_can_be_undone_and_done_again():
    team = Team.objects.create(name="Now", slug="now")
    config = make_config(team, secret=SECRET)
    Namespace.objects.create(team=team, name="com.acme.now", client=config)

    old = migrate(BEFORE)
    back = old.get_model("provisioning", "OAuthClient").objects.get(pk=config.pk)
    assert crypto.open_sealed(back.secret_sealed, f"oauthclient:{config.public_id}:client_secret") == SECRET
    assert old.get_model("provisioning", "Namespace").objects.get(name="com.acme.now").client_id == config.pk

    migrate(latest())
    assert Connection.objects.get(pk=config.pk).get_secret() == SECRET


@pytest.mark.django_db
def test_the_secrets_associated_data_still_names_the_old_model():
    """Changing it would leave every stored secret unreadable: pinned here on purpose."""
    config = make_config(Team.objects.create(name="Pinned", slug="pinned"), secret=None)
    config.secret_sealed = crypto.seal(SECRET, f"oauthclient:{config.public_id}:client_secret")
    assert config.get_secret() == SECRET
