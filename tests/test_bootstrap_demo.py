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
    namespace = Namespace.objects.get(team=team, client=config)
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
    assert Namespace.objects.filter(team__slug="demo").count() == 3
    assert Connection.objects.get(name="Sandbox").secret_sealed == config.secret_sealed
    assert AuditEvent.objects.filter(action="client.create", target="Sandbox").count() == 1


# --- the demo connections of the other providers: Eclipse Hono + Ditto, and Ditto alone ----------

PROVIDER_DEMOS = {"Sandbox Hono + Ditto": "hono_ditto", "Sandbox Ditto": "ditto"}
NAMESPACES = {"Sandbox Hono + Ditto": "com.example.hono", "Sandbox Ditto": "com.example.twins"}


def provision_through(config, admin, name):
    """Provision a device through ``config`` as one attempt, over real HTTP to the sandbox."""
    from provisioning import hono_ditto_service
    from provisioning.providers import hono_ditto as hd
    from provisioning.providers.hono_ditto_connection import auths_for, settings_for
    from provisioning.providers.spec import GENERATED_PASSWORD, NONE, DeviceSpec

    spec = DeviceSpec(
        id=f"{NAMESPACES[config.name]}:{name}",
        credentials=GENERATED_PASSWORD if config.has_hono else NONE,
        attributes={"demo": True},
    )
    settings = settings_for(config)
    sender = hono_ditto_service.Sender(admin, config.team, settings, auths_for(config), config)
    plan = hd.plan(settings, spec, generated_secret="Demo-Pa55-word-1")
    return hono_ditto_service.provision(sender, plan, device_id=spec.id)


def test_the_demo_team_has_a_working_connection_of_each_provider(sandbox_on):
    from provisioning import hono_ditto_check

    output = bootstrap()

    team = Team.objects.get(slug="demo")
    admin = team.memberships.get().user
    kinds = dict(Connection.objects.filter(team=team).values_list("name", "kind"))
    assert kinds == {"Sandbox": "bosch", **PROVIDER_DEMOS}
    for name in PROVIDER_DEMOS:
        config = Connection.objects.get(team=team, name=name)
        assert Namespace.objects.get(name=NAMESPACES[name]).client == config
        assert config.ditto_username == "sandbox-demo" and config.own_subject == "nginx:sandbox-demo"
        check = hono_ditto_check.check_connection(actor=admin, team=team, config=config)
        assert check.ok, [c.message for c in check.endpoints]
        result = provision_through(config, admin, "demo-device-1")
        assert result.status == "created", result.message
    hono = Connection.objects.get(name="Sandbox Hono + Ditto")
    assert hono.hono_tenant == "demo-tenant" and hono.hono_url == f"{settings_url()}"
    # Sealed, never stored or printed in the clear (the Basic password is printed once, to use curl).
    password = hono.get_sealed("hono_password")
    assert password not in hono.hono_password_sealed and hono.get_sealed("ditto_password") == password
    assert output.count(password) == 1
    assert AuditEvent.objects.filter(action="client.create").count() == 3


def settings_url():
    from django.conf import settings

    return settings.SANDBOX_BASE_URL


def test_a_second_bootstrap_keeps_the_provider_demos_as_they_are(sandbox_on):
    bootstrap()
    sealed = dict(Connection.objects.values_list("name", "ditto_password_sealed"))

    output = bootstrap()

    assert dict(Connection.objects.values_list("name", "ditto_password_sealed")) == sealed
    assert Namespace.objects.filter(team__slug="demo").count() == 3
    assert AuditEvent.objects.filter(action__in=["client.create", "client.update"]).count() == 3
    assert "Basic password" not in output


def test_a_demo_connection_made_later_gets_a_new_password_that_the_other_one_shares(sandbox_on):
    """An install bootstrapped before (the sandbox's Basic user exists; its password was printed
    then and is kept only as a hash) or one whose demo connection was deleted: the missing
    connection is made with a new password, and the remaining demo connection is given it too."""
    bootstrap()
    team = Team.objects.get(slug="demo")
    admin = team.memberships.get().user
    Connection.objects.filter(name="Sandbox Ditto").delete()

    bootstrap()

    assert set(Connection.objects.values_list("name", flat=True)) == {"Sandbox", *PROVIDER_DEMOS}
    for name in PROVIDER_DEMOS:
        config = Connection.objects.get(name=name)
        assert provision_through(config, admin, f"later-{config.pk}").status == "created"
    assert AuditEvent.objects.filter(action="client.update", target="Sandbox Hono + Ditto").count() == 1
