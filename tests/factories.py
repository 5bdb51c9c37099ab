"""The one way tests make connections: Bosch IoT Suite defaults, overridable (and Hono + Ditto);
and device templates."""

from provisioning.models import Connection, DeviceTemplate, TemplateVersion

SUITE_TOKEN_URL = "https://access.bosch-iot-suite.com/token"
SUITE_API_BASE_URL = "https://deviceprovisioning.eu-1.bosch-iot-suite.com/api/1"
SID = "0081db5c-9765-4ffa-8a54-a3a71021dc67"


def make_config(team, *, name="Suite A", secret="client-a-secret-value", **overrides):
    """A saved configuration of ``team``; ``secret=None`` stores none."""
    fields = {
        "team": team,
        "name": name,
        "preset": "suite_auth",
        "token_url": SUITE_TOKEN_URL,
        "client_id": f"{name.lower().replace(' ', '-')}-id",
        "api_base_url": SUITE_API_BASE_URL,
        "service_instance_id": SID,
        **overrides,
    }
    config = Connection(**fields)
    if secret is not None:
        config.set_secret(secret)
    config.save()
    return config


def make_hono_ditto(team, *, name="Hono A", kind="hono_ditto", url="https://hono.example.com", **overrides):
    """A saved Eclipse Hono + Ditto connection of ``team`` (``kind="ditto"``: Ditto alone), both
    endpoints HTTP Basic as ``hono-user`` / ``ditto-user`` with the passwords below."""
    hono = kind == "hono_ditto"
    fields = {
        "team": team,
        "name": name,
        "kind": kind,
        "preset": "custom",
        "hono_url": url if hono else "",
        "hono_tenant": "acme-tenant" if hono else "",
        "hono_auth": "basic",
        "hono_username": "hono-user" if hono else "",
        "ditto_url": url,
        "ditto_auth": "basic",
        "ditto_username": "ditto-user",
        **overrides,
    }
    config = Connection(**fields)
    if hono and config.hono_auth == "basic":
        config.set_sealed("hono_password", HONO_PASSWORD)
    if config.ditto_auth == "basic":
        config.set_sealed("ditto_password", DITTO_PASSWORD)
    config.save()
    return config


HONO_PASSWORD = "Hono-Pa55-word-1"
DITTO_PASSWORD = "Ditto-Pa55-word-2"


def make_template(team, *, name="Boiler", kind="bosch", description="", **values):
    """A saved device template of ``team`` with its version 1 (``values``: TemplateVersion
    fields, e.g. ``definition="com.acme:boiler:1.0.0", definition_fixed=True``)."""
    template = DeviceTemplate.objects.create(team=team, name=name, kind=kind, description=description)
    TemplateVersion.objects.create(template=template, number=1, created_by_name="alice", **values)
    return template
