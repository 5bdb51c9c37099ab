"""A Hono + Ditto or Ditto connection (models.Connection) as the sender wants it: the one
place that turns the row into ``hono_ditto.ConnectionSettings`` and ``hono_ditto_send.Auths``.

An endpoint that uses OAuth2 client credentials gets a bearer token from the shared token cache
(``api.config_auth``, renewed on a 401): the connection's client's, or, when Ditto has a client
of its own, that client's (connections.DittoClient, cached under its own key). One that uses
HTTP Basic gets its user name and its sealed password, opened only here.
"""

from provisioning.api import BasicAuth, config_auth
from provisioning.providers import hono_ditto as hd
from provisioning.providers.hono_ditto_send import Auths

BASIC = "basic"  # models.EndpointAuthMethod.BASIC


def settings_for(connection):
    """The ConnectionSettings of ``connection`` (no secrets)."""
    hono = connection.has_hono
    return hd.ConnectionSettings(
        ditto_url=connection.ditto_url,
        hono_url=connection.hono_url if hono else "",
        tenant=connection.hono_tenant if hono else "",
        own_subject=connection.own_subject,
        hono_subject=connection.hono_subject if hono else "",
        hono_auth=_method(connection.hono_auth) if hono else hd.BEARER,
        hono_username=connection.hono_username if hono and connection.hono_auth == BASIC else "",
        ditto_auth=_method(connection.ditto_auth),
        ditto_username=connection.ditto_username if connection.ditto_auth == BASIC else "",
        name=connection.name,
    )


def auths_for(connection):
    """The Auths of ``connection``'s endpoints; raises crypto.SecretBoxError when a Basic
    password is not stored or cannot be opened."""
    return Auths(
        ditto=endpoint_auth(connection, hd.DITTO),
        hono=endpoint_auth(connection, hd.HONO) if connection.has_hono else None,
    )


def endpoint_auth(connection, endpoint):
    """The EndpointAuth of one endpoint (hd.HONO or hd.DITTO) of ``connection``."""
    if getattr(connection, f"{endpoint}_auth") == BASIC:
        username = getattr(connection, f"{endpoint}_username")
        return BasicAuth(username, connection.get_sealed(f"{endpoint}_password"))
    if endpoint == hd.DITTO and connection.uses_ditto_client:
        return config_auth(connection.ditto_client())
    return config_auth(connection)


def _method(value):
    return hd.BASIC if value == BASIC else hd.BEARER
