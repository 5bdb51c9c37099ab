"""`make run`'s demo: bootstrap seeds a team whose connection really works with the sandbox."""

import io

import pytest
from django.core.management import call_command

from provisioning import services
from provisioning.models import AuditEvent, Connection, Namespace, Team

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox_on(settings, live_server):
    settings.SANDBOX_ENABLED = True
    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    settings.ADMIN_PASSWORD = "a-long-test-password-1"


def bootstrap():
    out = io.StringIO()
    call_command("bootstrap", url="http://127.0.0.1:8000/", stdout=out)
    return out.getvalue()


def test_the_demo_team_can_provision_through_the_sandbox(sandbox_on):
    bootstrap()

    team = Team.objects.get(slug="demo")
    config = Connection.objects.get(team=team, name="Sandbox")
    namespace = Namespace.objects.get(team=team)
    admin = team.memberships.get().user
    check = services.check_connection(actor=admin, team=team, config=config)
    assert check.ok, check.message
    body = {
        "id": f"{namespace.name}:demo-device-1",
        "hub": {
            "device": {},
            "credentials": {"type": "hashed-password", "secrets": [{"password": "Demo-Pa55-1"}]},
        },
        "things": {"thing": {}},
    }
    outcome = services.provision_device(actor=admin, team=team, config=config, body=body)
    assert outcome.status == "created"


def test_a_second_bootstrap_keeps_the_demo_as_it_is(sandbox_on):
    bootstrap()
    config = Connection.objects.get(name="Sandbox")

    bootstrap()

    assert Connection.objects.filter(name="Sandbox").count() == 1
    assert Namespace.objects.filter(team__slug="demo").count() == 1
    assert Connection.objects.get(name="Sandbox").secret_sealed == config.secret_sealed
    assert AuditEvent.objects.filter(action="client.create").count() == 1
