"""A Hono + Ditto connection whose Ditto has an OAuth2 client of its own (issue 13): the form asks
for it only then, seals its secret write-only and bound to the connection, forgets it when the
connection stops using it, and refuses it on a Ditto connection (which has one client)."""

import pytest

from provisioning import crypto, tokens
from provisioning.api import BearerAuth
from provisioning.models import Connection
from provisioning.providers import hono_ditto as hd
from provisioning.providers.hono_ditto_connection import auths_for, endpoint_auth, settings_for
from tests.test_connection_kinds import errors_of, hono_ditto_data, post_new

pytestmark = pytest.mark.django_db

DITTO_SECRET = "Ditto-client-S3cret"
HONO_SECRET = "Hono-client-S3cret"


def two_clients_data(**overrides):
    """Hono on the connection's OAuth2 client, Ditto on a client of its own."""
    fields = dict(
        hono_auth="oauth2",
        hono_password="",
        token_url="https://hono-sso.example.com/token",
        client_id="hono-client",
        client_secret=HONO_SECRET,
        ditto_auth="oauth2_own",
        ditto_password="",
        ditto_token_url="ditto-sso.example.com/token",  # no scheme: https is meant
        ditto_client_id="ditto-client",
        ditto_client_secret=DITTO_SECRET,
        ditto_auth_method="client_secret_basic",
        ditto_scope="openid ditto",
        ditto_audience="",
    )
    return hono_ditto_data(**{**fields, **overrides})


def test_ditto_s_own_client_needs_its_token_url_client_id_and_secret(as_user, cast):
    data = two_clients_data(ditto_token_url="", ditto_client_id="", ditto_client_secret="")
    errors = errors_of(post_new(as_user, cast, data))
    assert set(errors) >= {"ditto_token_url", "ditto_client_id", "ditto_client_secret"}
    assert "Ditto client secret" in errors["ditto_client_secret"][0]
    assert not Connection.objects.exists()


def test_the_two_clients_are_stored_apart_and_the_secret_is_sealed_to_the_connection(as_user, cast):
    response = post_new(as_user, cast, two_clients_data())
    assert response.status_code == 302
    config = Connection.objects.get(name="Cloud2Edge")
    assert (config.token_url, config.client_id) == ("https://hono-sso.example.com/token", "hono-client")
    assert (config.ditto_token_url, config.ditto_client_id) == (
        "https://ditto-sso.example.com/token",
        "ditto-client",
    )
    assert (config.ditto_scope, config.ditto_auth_method) == ("openid ditto", "client_secret_basic")
    assert config.get_secret() == HONO_SECRET
    assert config.get_sealed("ditto_client_secret") == DITTO_SECRET
    assert DITTO_SECRET not in config.ditto_secret_sealed
    # Bound to this connection and this name: opened as another secret, it fails.
    with pytest.raises(crypto.SecretBoxError):
        crypto.open_sealed(config.ditto_secret_sealed, f"connection:{config.public_id}:ditto_password")
    assert not config.has_hono_password and not config.has_ditto_password


def test_the_ditto_client_secret_is_write_only(as_user, cast):
    post_new(as_user, cast, two_clients_data())
    config = Connection.objects.get(name="Cloud2Edge")
    page = as_user(cast["admin"]).get(f"/t/team-a/connections/{config.pk}/").content.decode()
    assert DITTO_SECRET not in page and HONO_SECRET not in page
    assert config.ditto_secret_fingerprint in page  # how the admin tells which secret is stored
    assert "ditto-sso.example.com/token" in page
    # Saved again with the secret left empty, it is kept.
    response = as_user(cast["admin"]).post(
        f"/t/team-a/connections/{config.pk}/",
        two_clients_data(client_secret="", ditto_client_secret="", ditto_scope="openid"),
    )
    assert response.status_code == 302
    config.refresh_from_db()
    assert config.get_sealed("ditto_client_secret") == DITTO_SECRET
    assert config.ditto_scope == "openid" and config.config_version == 2


def test_leaving_the_own_client_erases_its_fields_and_secret(as_user, cast):
    post_new(as_user, cast, two_clients_data())
    config = Connection.objects.get(name="Cloud2Edge")
    response = as_user(cast["admin"]).post(
        f"/t/team-a/connections/{config.pk}/",
        two_clients_data(client_secret="", ditto_auth="oauth2", ditto_client_secret=""),
    )
    assert response.status_code == 302
    config.refresh_from_db()
    assert not config.uses_ditto_client
    assert (config.ditto_token_url, config.ditto_client_id, config.ditto_scope) == ("", "", "")
    assert not config.has_ditto_client_secret and config.ditto_secret_fingerprint == ""


def test_a_ditto_connection_has_one_client_and_says_so(as_user, cast):
    data = two_clients_data(kind="ditto")
    errors = errors_of(post_new(as_user, cast, data))
    assert "A Ditto connection has one OAuth2 client" in errors["ditto_auth"][0]
    assert not Connection.objects.exists()


def test_a_rerendered_form_asks_for_the_ditto_client_secret_again(as_user, cast):
    response = post_new(as_user, cast, two_clients_data(hono_tenant="bad tenant!"))
    page = response.content.decode()
    assert DITTO_SECRET not in page and HONO_SECRET not in page
    assert "Type the Ditto client secret again" in errors_of(response)["ditto_client_secret"][0]


def test_each_endpoint_gets_the_token_of_its_own_client(as_user, cast):
    post_new(as_user, cast, two_clients_data())
    config = Connection.objects.get(name="Cloud2Edge")
    settings = settings_for(config)
    assert settings.auth_for(hd.HONO)[0] == hd.BEARER and settings.auth_for(hd.DITTO)[0] == hd.BEARER
    auths = auths_for(config)
    assert isinstance(auths.hono, BearerAuth) and isinstance(auths.ditto, BearerAuth)
    ditto = config.ditto_client()
    # Cached apart: a token of one client is never handed to the other endpoint.
    assert tokens.cache_key(ditto) != tokens.cache_key(config)
    assert (ditto.token_url, ditto.client_id, ditto.get_secret()) == (
        config.ditto_token_url,
        "ditto-client",
        DITTO_SECRET,
    )
    assert isinstance(endpoint_auth(config, hd.DITTO), BearerAuth)
