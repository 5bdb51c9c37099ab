"""Connection kinds (issue 13): a Bosch IoT Suite, an Eclipse Hono + Ditto or an Eclipse Ditto
connection, each endpoint of the last two with OAuth2 client credentials or HTTP Basic, its
password sealed and write-only; only the chosen kind's fields are required and kept."""

import pytest

from provisioning import crypto
from provisioning.api import BasicAuth, BearerAuth
from provisioning.models import Connection
from provisioning.providers import hono_ditto as hd
from provisioning.providers.hono_ditto_connection import auths_for, settings_for
from tests.factories import DITTO_PASSWORD, HONO_PASSWORD, make_config, make_hono_ditto

pytestmark = pytest.mark.django_db

NEW = "/t/team-a/connections/new/"
HONO_URL = "https://hono.example.com"
DITTO_URL = "https://ditto.example.com"


def hono_ditto_data(**overrides):
    """The new-connection form of a Hono + Ditto connection as a browser sends it: the hidden
    fields of the other kinds still carry the Suite Auth preset's defaults."""
    data = {
        "name": "Cloud2Edge",
        "kind": "hono_ditto",
        "preset": "suite_auth",
        "token_url": "https://access.bosch-iot-suite.com/token",
        "client_id": "",
        "client_secret": "",
        "scope": "",
        "audience": "",
        "auth_method": "client_secret_post",
        "api_base_url": "https://deviceprovisioning.eu-1.bosch-iot-suite.com/api/1",
        "service_instance_id": "",
        "default_auth_scope": "",
        "hono_url": HONO_URL + "/",
        "hono_tenant": "acme-tenant",
        "hono_auth": "basic",
        "hono_username": "hono-user",
        "hono_password": HONO_PASSWORD,
        "ditto_url": DITTO_URL,
        "ditto_auth": "basic",
        "ditto_username": "ditto",
        "ditto_password": DITTO_PASSWORD,
        "own_subject": "nginx:ditto",
        "hono_subject": "",
    }
    data.update(overrides)
    return data


def post_new(as_user, cast, data):
    return as_user(cast["admin"]).post(NEW, data)


def errors_of(response):
    return response.context["form"].errors


def test_a_hono_ditto_connection_with_basic_needs_no_token_fields_and_keeps_no_bosch_ones(as_user, cast):
    response = post_new(as_user, cast, hono_ditto_data())
    assert response.status_code == 302
    config = Connection.objects.get(name="Cloud2Edge")
    assert (config.kind, config.hono_url, config.hono_tenant, config.ditto_url) == (
        "hono_ditto",
        HONO_URL,
        "acme-tenant",
        DITTO_URL,
    )
    # What the hidden fields of the other kinds held is not kept; the preset is Bosch's.
    assert (config.api_base_url, config.token_url, config.preset, config.has_secret) == (
        "",
        "",
        "custom",
        False,
    )
    assert config.get_sealed("hono_password") == HONO_PASSWORD
    assert config.get_sealed("ditto_password") == DITTO_PASSWORD
    assert config.hono_password_fingerprint == crypto.fingerprint(HONO_PASSWORD)
    assert config.hono_password_set_at is not None and config.ditto_password_set_at is not None
    # Sealed apart: each password with its own string bound to it.
    with pytest.raises(crypto.SecretBoxError):
        crypto.open_sealed(config.hono_password_sealed, config._aad("ditto_password"))
    assert config._aad("client_secret") == f"oauthclient:{config.public_id}:client_secret"
    assert config._aad("hono_password") == f"connection:{config.public_id}:hono_password"


def test_the_passwords_are_write_only(as_user, cast, team_a):
    config = make_hono_ditto(team_a)
    page = as_user(cast["admin"]).get(f"/t/team-a/connections/{config.pk}/").content.decode()
    assert HONO_PASSWORD not in page and DITTO_PASSWORD not in page
    assert config.hono_password_fingerprint in page and config.ditto_password_fingerprint in page
    assert "Leave empty to keep it." in page
    # Saved again without typing them: both are kept.
    response = as_user(cast["admin"]).post(
        f"/t/team-a/connections/{config.pk}/",
        hono_ditto_data(
            name=config.name, hono_password="", ditto_password="", hono_url=HONO_URL, ditto_url=HONO_URL
        ),
    )
    assert response.status_code == 302
    config.refresh_from_db()
    assert config.get_sealed("hono_password") == HONO_PASSWORD


def test_a_rerendered_form_asks_for_the_typed_passwords_again(as_user, cast):
    response = post_new(as_user, cast, hono_ditto_data(hono_tenant=""))
    errors = errors_of(response)
    assert errors["hono_tenant"] == ["Enter the Hono tenant."]
    assert "Type the Hono password again" in errors["hono_password"][0]
    assert HONO_PASSWORD not in response.content.decode()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"hono_url": ""}, "hono_url"),
        ({"ditto_url": ""}, "ditto_url"),
        ({"hono_username": ""}, "hono_username"),
        ({"hono_password": ""}, "hono_password"),
        ({"ditto_password": ""}, "ditto_password"),
        ({"hono_tenant": "a/b"}, "hono_tenant"),
        ({"hono_url": "http://10.0.0.1/"}, "hono_url"),
    ],
)
def test_the_hono_and_ditto_fields_are_required_and_checked(as_user, cast, overrides, field):
    response = post_new(as_user, cast, hono_ditto_data(**overrides))
    assert response.status_code == 200
    assert field in errors_of(response)
    assert len(errors_of(response)[field]) == 1  # one message, not the form's and the model's


def test_an_endpoint_on_oauth2_needs_the_token_fields_and_the_client_secret(as_user, cast):
    response = post_new(as_user, cast, hono_ditto_data(kind="ditto", ditto_auth="oauth2", token_url=""))
    errors = errors_of(response)
    assert set(errors) >= {"token_url", "client_id", "client_secret"}
    assert "hono_url" not in errors and "api_base_url" not in errors

    response = post_new(
        as_user,
        cast,
        hono_ditto_data(
            kind="ditto",
            ditto_auth="oauth2",
            token_url="https://sso.example.com/token",
            client_id="ditto-client",
            client_secret="client-secret-9",
        ),
    )
    assert response.status_code == 302
    config = Connection.objects.get(name="Cloud2Edge")
    # Ditto alone keeps no Hono fields and no Basic password of an endpoint on OAuth2.
    assert (config.hono_url, config.hono_tenant, config.ditto_username) == ("", "", "")
    assert not config.has_ditto_password and not config.has_hono_password
    assert config.get_secret() == "client-secret-9"


def test_leaving_basic_erases_that_password(as_user, cast, team_a):
    config = make_hono_ditto(team_a)
    data = hono_ditto_data(
        name=config.name,
        hono_auth="oauth2",
        hono_password="",
        ditto_password="",
        token_url="https://sso.example.com/token",
        client_id="c2e",
        client_secret="client-secret-9",
    )
    assert as_user(cast["admin"]).post(f"/t/team-a/connections/{config.pk}/", data).status_code == 302
    config.refresh_from_db()
    assert not config.has_hono_password and config.hono_username == ""
    assert config.get_sealed("ditto_password") == DITTO_PASSWORD
    assert config.config_version == 2


def test_a_bosch_connection_still_needs_its_api(as_user, cast):
    data = hono_ditto_data(
        kind="bosch", client_id="suite-client", client_secret="s3cret-value", api_base_url=""
    )
    errors = errors_of(post_new(as_user, cast, data))
    assert errors["api_base_url"] == ["Enter the API base URL."]
    assert errors["service_instance_id"] == ["Enter the service instance id."]
    assert "hono_url" not in errors and "ditto_password" not in errors


def test_the_page_says_what_each_kind_holds(as_user, cast, team_a):
    config = make_hono_ditto(team_a)
    auditor = as_user(cast["auditor"]).get(f"/t/team-a/connections/{config.pk}/").content.decode()
    assert "<dt>Provider</dt><dd>Eclipse Hono + Ditto</dd>" in auditor
    assert "<dt>Hono tenant</dt><dd><code>acme-tenant</code></dd>" in auditor
    assert "Service instance id" not in auditor and "<dt>Preset</dt>" not in auditor
    listed = as_user(cast["admin"]).get("/t/team-a/connections/").content.decode()
    assert "<td>Eclipse Hono + Ditto</td>" in listed


def test_settings_and_auths_of_a_hono_ditto_connection(team_a):
    config = make_hono_ditto(team_a, own_subject="nginx:ditto-user", hono_subject="")
    settings = settings_for(config)
    assert settings == hd.ConnectionSettings(
        ditto_url=HONO_URL,
        hono_url=HONO_URL,
        tenant="acme-tenant",
        own_subject="nginx:ditto-user",
        hono_auth=hd.BASIC,
        hono_username="hono-user",
        ditto_auth=hd.BASIC,
        ditto_username="ditto-user",
        name="Hono A",
    )
    assert settings.effective_hono_subject == "pre-authenticated:hono-connection-acme-tenant"
    auths = auths_for(config)
    assert isinstance(auths.hono, BasicAuth) and (auths.hono.username, auths.hono.password) == (
        "hono-user",
        HONO_PASSWORD,
    )
    assert (auths.ditto.username, auths.ditto.password) == ("ditto-user", DITTO_PASSWORD)


def test_settings_and_auths_of_a_ditto_connection_on_oauth2(team_a):
    config = make_hono_ditto(
        team_a, kind="ditto", ditto_auth="oauth2", token_url="https://sso.example.com/token", client_id="d"
    )
    config.set_secret("client-secret-9")
    settings = settings_for(config)
    assert (settings.has_hono, settings.ditto_auth, settings.ditto_username) == (False, hd.BEARER, "")
    auths = auths_for(config)
    assert auths.hono is None and isinstance(auths.ditto, BearerAuth)


def test_bulk_jobs_are_offered_every_kind_of_connection(as_user, cast, team_a):
    hono = make_hono_ditto(team_a)
    ditto = make_hono_ditto(team_a, name="Twins only", kind="ditto")
    bosch = make_config(team_a, name="Suite A")
    operator = as_user(cast["operator"])
    upload = operator.get("/t/team-a/bulk/new/")
    assert set(upload.context["form"].fields["config"].queryset) == {hono, ditto, bosch}
    builder = operator.get("/t/team-a/devices/new/")
    assert hono in builder.context["form"].fields["config"].queryset


def test_a_bosch_connection_may_have_a_things_base_url_and_other_kinds_keep_none(as_user, cast):
    bosch = hono_ditto_data(
        name="Suite",
        kind="bosch",
        client_id="suite-client",
        client_secret="s3cret-value",
        service_instance_id="sid-1",
        things_url="things.eu-1.bosch-iot-suite.com/",
    )
    assert post_new(as_user, cast, bosch).status_code == 302
    assert Connection.objects.get(name="Suite").things_url == "https://things.eu-1.bosch-iot-suite.com"
    assert (
        post_new(as_user, cast, hono_ditto_data(things_url="https://things.example.com")).status_code == 302
    )
    assert Connection.objects.get(name="Cloud2Edge").things_url == ""
    refused = post_new(as_user, cast, {**bosch, "name": "Suite 2", "things_url": "http://169.254.169.254/"})
    assert "things_url" in errors_of(refused)
    assert Connection.objects.filter(name="Suite 2").count() == 0


def test_a_bosch_connection_page_says_whether_devices_can_be_checked(as_user, cast, team_a):
    config = make_config(team_a)
    page = as_user(cast["auditor"]).get(f"/t/team-a/connections/{config.pk}/").content.decode()
    assert "Check at provider cannot read devices back" in page
    config.things_url = "https://things.eu-1.bosch-iot-suite.com"
    config.save()
    page = as_user(cast["auditor"]).get(f"/t/team-a/connections/{config.pk}/").content.decode()
    assert "<code>https://things.eu-1.bosch-iot-suite.com</code>" in page
