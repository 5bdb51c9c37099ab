"""Creating sandbox tenants: the demo one for `manage.py bootstrap`, and any shape a test needs.

For the Hono registry and Ditto (hono.py, ditto.py): create_hono_tenant, create_basic_user,
and ensure_demo_hono_ditto (the demo Hono tenant and Basic user `make run` sets up).

A "tenant" here is a service instance plus an OAuth2 client that may use it.
The functions return the connection facts a dashboard client configuration
needs, with the client secret in plain text: the sandbox keeps only its hash,
so this return value is the one chance to read it.

    from provisioning.sandbox.seed import create_tenant

    tenant = create_tenant(f"{live_server.url}/sandbox", namespaces=["com.acme"], token_lifetime=5)
    tenant["token_url"], tenant["client_id"], tenant["client_secret"], tenant["scope"], ...
"""

import secrets
import uuid

from django.conf import settings
from django.db import transaction

from provisioning.ids import namespace_error
from provisioning.models import Connection, ConnectionKind, EndpointAuthMethod, Preset
from provisioning.sandbox.models import BasicUser, HonoTenant, SandboxClient, ServiceInstance, Style

DEMO_CLIENT_ID = "sandbox-demo"
DEMO_NAMESPACE = "com.example.demo"
DEMO_LABEL = "Demo"
DEMO_HONO_TENANT = "demo-tenant"
DEMO_BASIC_USER = "sandbox-demo"
DEFAULT_NEXEED_TENANT = "sandbox-tenant"
DEFAULT_NEXEED_AUDIENCE = "sandbox-provisioning-api"
DEFAULT_ADAPTERS = [
    {"type": "http", "uri": "https://http.bosch-iot-hub.com", "host": "http.bosch-iot-hub.com", "port": 443},
    {"type": "mqtt", "uri": "mqtts://mqtt.bosch-iot-hub.com", "host": "mqtt.bosch-iot-hub.com", "port": 8883},
]


def new_secret():
    return secrets.token_urlsafe(24)


def create_instance(service_instance_id=None, *, namespaces=(DEMO_NAMESPACE,), adapters=None, label=""):
    """Create a service instance (a random UUID unless given); ValueError if the id is taken."""
    sid = str(service_instance_id or uuid.uuid4())
    for namespace in namespaces:
        error = namespace_error(namespace)
        if error:
            raise ValueError(f"Namespace {namespace!r}: {error}")
    if not sid or "/" in sid or len(sid) > 64:
        raise ValueError("A service instance id must be 1 to 64 characters without '/'.")
    if ServiceInstance.objects.filter(sid=sid).exists():
        raise ValueError(f"The service instance {sid} exists already.")
    return ServiceInstance.objects.create(
        sid=sid,
        label=label,
        namespaces=list(namespaces),
        adapters=list(DEFAULT_ADAPTERS if adapters is None else adapters),
    )


def create_client(
    *,
    client_id=None,
    client_secret=None,
    instances=(),
    style=Style.SUITE,
    tenant=None,
    audience=None,
    scopes=None,
    token_lifetime=None,
):
    """Create an OAuth2 client; return (client, plaintext secret).

    ``instances``: ServiceInstance objects or their ids. ``scopes``: the scopes
    the client may request (a list or a space-separated string); by default,
    Suite style: the Hub and Things scopes of each instance; Nexeed style:
    ``openid`` and ``aud:<audience>``. ``tenant`` is the Nexeed tenant id of the
    token URL. ``token_lifetime`` (seconds) overrides the knob and the default.
    """
    if style not in Style.values:
        raise ValueError(f"style must be one of {Style.values}.")
    instances = [
        item if isinstance(item, ServiceInstance) else ServiceInstance.objects.get(sid=item)
        for item in instances
    ]
    client_secret = client_secret or new_secret()
    if style == Style.NEXEED:
        tenant = tenant or DEFAULT_NEXEED_TENANT
        audience = audience or DEFAULT_NEXEED_AUDIENCE
        default_scopes = ["openid", f"aud:{audience}"]
    else:
        tenant = ""
        default_scopes = [
            scope for instance in instances for scope in (instance.hub_scope, instance.things_scope)
        ]
    if isinstance(scopes, str):
        scopes = scopes.split()
    with transaction.atomic():
        client = SandboxClient(
            client_id=client_id or f"sandbox-{secrets.token_hex(4)}",
            style=style,
            tenant=tenant,
            allowed_scopes=list(default_scopes if scopes is None else scopes),
            token_lifetime=token_lifetime,
        )
        client.set_secret(client_secret)
        client.save()
        client.instances.set(instances)
    return client, client_secret


def connection(base_url, client, client_secret, instance):
    """The facts a dashboard needs to reach ``instance`` as ``client`` through the sandbox at ``base_url``."""
    base_url = (base_url or settings.SANDBOX_BASE_URL).rstrip("/")
    facts = {
        "style": client.style,
        "client_id": client.client_id,
        "client_secret": client_secret,
        "api_base_url": f"{base_url}/api/1",
        "service_instance_id": instance.sid,
        "hub_tenant_id": instance.hub_tenant_id,
        "namespace": instance.namespaces[0] if instance.namespaces else "",
        "namespaces": list(instance.namespaces),
    }
    if client.style == Style.NEXEED:
        audience = next((s.removeprefix("aud:") for s in client.allowed_scopes if s.startswith("aud:")), "")
        facts.update(
            token_url=f"{base_url}/iam/access-management/v1/tenants/{client.tenant}/openid-connect/token",
            scope=f"aud:{audience} openid" if audience else "openid",
            tenant=client.tenant,
            audience=audience,
        )
    else:
        facts.update(token_url=f"{base_url}/token", scope=instance.suite_scope)
    return facts


def create_tenant(
    base_url=None,
    *,
    service_instance_id=None,
    namespaces=(DEMO_NAMESPACE,),
    adapters=None,
    label="",
    **client_options,
):
    """Create a service instance and a client for it; return connection() facts.

    When ``service_instance_id`` names an existing instance, the new client is
    added to it (its namespaces and adapters stay as they are). ``client_options``
    go to create_client (client_id, client_secret, style, tenant, audience,
    scopes, token_lifetime).
    """
    with transaction.atomic():
        instance = (
            ServiceInstance.objects.filter(sid=service_instance_id).first() if service_instance_id else None
        )
        if instance is None:
            instance = create_instance(
                service_instance_id, namespaces=namespaces, adapters=adapters, label=label
            )
        client, client_secret = create_client(instances=[instance], **client_options)
    return connection(base_url, client, client_secret, instance)


def rotate_secret(client_id):
    """Give a client a new secret and return it; the old one stops working at once."""
    client = SandboxClient.objects.get(client_id=client_id)
    secret = new_secret()
    client.set_secret(secret)
    client.save(update_fields=["secret_hash"])
    return secret


def ensure_demo_tenant(base_url):
    """The demo instance (namespace com.example.demo) and its client; created on the first call.

    The sandbox stores only a hash of the client secret, so a later call cannot
    return the old secret: it rotates it and returns the new one (bootstrap calls
    this only while the dashboard has no Sandbox client configuration yet).
    """
    with transaction.atomic():
        client = SandboxClient.objects.filter(client_id=DEMO_CLIENT_ID).first()
        instance = client.instances.order_by("pk").first() if client else None
        if instance is None:
            instance = create_instance(namespaces=[DEMO_NAMESPACE], label=DEMO_LABEL)
        if client is None:
            client, secret = create_client(client_id=DEMO_CLIENT_ID, instances=[instance])
        else:
            client.instances.add(instance)
            missing = [s for s in instance.suite_scope.split() if s not in client.allowed_scopes]
            if missing:
                client.allowed_scopes = [*client.allowed_scopes, *missing]
                client.save(update_fields=["allowed_scopes"])
            secret = rotate_secret(DEMO_CLIENT_ID)
    return connection(base_url, client, secret, instance)


def dashboard_config(team, tenant, *, name="Sandbox"):
    """Save a dashboard client configuration of ``team`` that uses a sandbox tenant.

    ``tenant`` is what create_tenant or ensure_demo_tenant returned; the secret is
    sealed by the configuration, as any secret typed into the dashboard.
    """
    config = Connection(
        team=team,
        name=name,
        preset=Preset.CUSTOM,
        token_url=tenant["token_url"],
        client_id=tenant["client_id"],
        scope=tenant["scope"],
        audience=tenant.get("audience") or "",
        api_base_url=tenant["api_base_url"],
        service_instance_id=tenant["service_instance_id"],
    )
    config.set_secret(tenant["client_secret"])
    config.save()
    return config


# Eclipse Hono and Eclipse Ditto


def create_hono_tenant(tenant_id=None, *, data=None):
    """A Hono tenant of the sandbox's registry (a random id unless given); returns the row."""
    tenant_id = tenant_id or f"tenant-{secrets.token_hex(4)}"
    return HonoTenant.objects.create(tenant_id=tenant_id, data=dict(data or {}), etag=str(uuid.uuid4()))


def create_basic_user(username=None, password=None):
    """A user for HTTP Basic at the Hono and Ditto endpoints; returns (username, password).

    An existing user of that name gets the new password.
    """
    username = username or f"user-{secrets.token_hex(4)}"
    password = password or new_secret()
    user = BasicUser.objects.filter(username=username).first() or BasicUser(username=username)
    user.set_password(password)
    user.save()
    return username, password


def hono_ditto_connection(base_url, tenant_id, username=None, password=None):
    """The facts a dashboard needs to reach the sandbox's Hono registry and Ditto."""
    base_url = (base_url or settings.SANDBOX_BASE_URL).rstrip("/")
    return {
        "hono_base_url": base_url,
        "hono_registry_url": f"{base_url}/v1",
        "hono_tenant": tenant_id,
        "ditto_base_url": base_url,
        "ditto_api_url": f"{base_url}/api/2",
        "token_url": f"{base_url}/token",
        "username": username,
        "password": password,
    }


def ensure_demo_hono_ditto(base_url=None):
    """The demo Hono tenant and the demo Basic user, made on the first call.

    Returns hono_ditto_connection() facts; ``password`` is set only when the user was
    created by this call (the sandbox keeps only its hash), and is None afterwards:
    create_basic_user(DEMO_BASIC_USER) gives it a new one.
    """
    with transaction.atomic():
        if not HonoTenant.objects.filter(tenant_id=DEMO_HONO_TENANT).exists():
            create_hono_tenant(DEMO_HONO_TENANT, data={"enabled": True})
        password = None
        if not BasicUser.objects.filter(username=DEMO_BASIC_USER).exists():
            _, password = create_basic_user(DEMO_BASIC_USER)
    return hono_ditto_connection(base_url, DEMO_HONO_TENANT, DEMO_BASIC_USER, password)


def dashboard_hono_ditto(team, facts, *, name, kind=ConnectionKind.HONO_DITTO):
    """Save a Hono + Ditto (or, with ``kind`` "ditto", a Ditto) connection of ``team`` to the
    sandbox, every endpoint on HTTP Basic as the user of ``facts`` (what ensure_demo_hono_ditto
    or hono_ditto_connection returned, with the password): sealed, as any typed into the
    dashboard. Ditto sees that user as ``nginx:<user>``, the subject its policies grant."""
    hono = kind == ConnectionKind.HONO_DITTO
    config = Connection(
        team=team,
        name=name,
        kind=kind,
        preset=Preset.CUSTOM,
        hono_url=facts["hono_base_url"] if hono else "",
        hono_tenant=facts["hono_tenant"] if hono else "",
        hono_auth=EndpointAuthMethod.BASIC,
        hono_username=facts["username"] if hono else "",
        ditto_url=facts["ditto_base_url"],
        ditto_auth=EndpointAuthMethod.BASIC,
        ditto_username=facts["username"],
        own_subject=f"nginx:{facts['username']}",
    )
    if hono:
        config.set_sealed("hono_password", facts["password"])
    config.set_sealed("ditto_password", facts["password"])
    config.full_clean()
    config.save()
    return config
