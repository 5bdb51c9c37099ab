"""The Bosch IoT Suite Device Provisioning API: what we send, how it is previewed, and what
its answers and errors mean. Everything that knows this API's wire format is here.

API reference: https://apidocs.bosch-iot-suite.com/index.html?urls.primaryName=Bosch%20IoT%20Suite%20-%20Device%20Provisioning
(facts in shared/provisioning-api.md §1-§6). One ``POST /{service-instance-id}/devices``
creates the Hub device, its credentials, the thing and its policy.
"""

import json
import re
import shlex
import time
from urllib.parse import quote

from provisioning import api, ids
from provisioning.audit import redact
from provisioning.errors import Refused

GENERATED = "[generated on send]"  # stands in the preview for a secret made only at Send
MASK = "********"


def devices_url(config):
    return f"{config.api_base_url.rstrip('/')}/{quote(config.service_instance_id, safe='')}/devices"


def device_url(config, device_id):
    return f"{devices_url(config)}/{quote(device_id, safe=':')}"


def things_thing_url(config, thing_id):
    """GET {Things base URL}/api/2/things/{thingId}: Bosch IoT Things' read of a twin (Ditto's
    HTTP API), the one part of a Bosch device that can be read back. None without a Things base URL."""
    if not config.things_url:
        return None
    base = config.things_url.rstrip("/")
    base = base if base.endswith("/api/2") else base + "/api/2"
    return f"{base}/things/{quote(thing_id, safe=':')}"


def create_params(auth_scope=None, skip_vorto=None):
    params = {}
    if auth_scope:
        params["authScope"] = auth_scope
    if skip_vorto is not None:
        params["skipVorto"] = "true" if skip_vorto else "false"
    return params


def delete_params(keep_credentials=False, keep_policy=False):
    return {
        "keepCredentials": "true" if keep_credentials else "false",
        "keepPolicy": "true" if keep_policy else "false",
    }


def create_device(config, body, *, auth_scope=None, skip_vorto=None, correlation_id=None):
    """POST /{service-instance-id}/devices: create device, credentials, thing and policy in one call.

    https://apidocs.bosch-iot-suite.com/index.html?urls.primaryName=Bosch%20IoT%20Suite%20-%20Device%20Provisioning#/provisioning/post__service_instance_id__devices
    """
    return api.call(
        config,
        "POST",
        devices_url(config),
        params=create_params(auth_scope, skip_vorto),
        json_body=body,
        correlation_id=correlation_id,
    )


# What a DELETE answered 404 means. Bosch documents the 404 as "at least one of the underlying
# resources could not be found" without saying whether it deleted the others.
ALREADY_GONE = (
    "Already gone: the provider answered 404 (Bosch: at least one of the device, its credentials, "
    "its thing or its policy was not found; it does not say which). Check at provider tells whether "
    "any of it is left."
)


def delete_device(config, device_id, *, keep_credentials=False, keep_policy=False, correlation_id=None):
    """DELETE /{service-instance-id}/devices/{device-id}: remove device, credentials, thing and policy.

    A 404 is not an error here: the device is gone already (a de-provision done before), and the
    Response says so (``note``, ALREADY_GONE) with the provider's body.

    https://apidocs.bosch-iot-suite.com/index.html?urls.primaryName=Bosch%20IoT%20Suite%20-%20Device%20Provisioning#/deprovisioning
    """
    started = time.monotonic()
    try:
        return api.call(
            config,
            "DELETE",
            device_url(config, device_id),
            params=delete_params(keep_credentials, keep_policy),
            json_body=None,
            correlation_id=correlation_id,
        )
    except Refused as error:
        if error.http_status != 404:
            raise
        return api.Response(
            status=404,
            body=error.details if isinstance(error.details, dict) else {},
            latency_ms=int((time.monotonic() - started) * 1000),
            attempts=1,
            url=error.url,
            note=ALREADY_GONE,
        )


def request_record(method, url, params, body=None):
    """A request as the audit row keeps it (the audit writer redacts the body)."""
    record = {
        "method": method,
        "url": url,
        "params": params,
        "headers": {"Authorization": "Bearer [redacted]"},
    }
    if body is not None:
        record["body"] = body
    return record


# --- the request body -----------------------------------------------------------------------------


def request_body(device, *, generated_secret=None):
    """The minimal ProvisioningRequestPayload for ``device``: the device builder's cleaned data
    (with ``id``, the full device id). ``generated_secret`` fills a blank password or key;
    without it (the preview) a placeholder stands in its place, so nothing secret is made
    before Send."""
    device_id = device["id"]
    hub_device = {}
    if not device["enabled"]:
        hub_device["enabled"] = False
    if device["via"]:
        hub_device["via"] = device["via"]
    hub = {"device": hub_device}
    kind = device["credentials_type"]
    if kind != "none":
        if kind == "hashed-password":
            secret = {"password": device["password"] or generated_secret or GENERATED}
        else:
            secret = {"key": device["psk_key"] or generated_secret or GENERATED}
        credentials = {"type": kind, "secrets": [secret]}
        if device["auth_id"] and device["auth_id"] != ids.default_auth_id(device_id):
            credentials["authId"] = device["auth_id"]
        hub["credentials"] = credentials
    thing = {}
    if device["attributes"]:
        thing["attributes"] = device["attributes"]
    if device["definition"]:
        thing["definition"] = device["definition"]
    if device["features"]:
        thing["features"] = device["features"]
    if device["policy_mode"] == "existing":
        thing["policyId"] = device["policy_id"]
    return {"id": device_id, "hub": hub, "things": {"thing": thing}}


def device_from_request(record):
    """What ``request_body`` was given, read back from a request as the audit log keeps it
    (secrets redacted, so none): to send an attempt again. None for a record that is not a
    device creation."""
    body = record.get("body") if isinstance(record, dict) else None
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("id"), str)
        or not isinstance(body.get("hub"), dict)
    ):
        return None
    hub_device = body["hub"].get("device") or {}
    credentials = body["hub"].get("credentials") or {}
    thing = (body.get("things") or {}).get("thing") or {}
    return {
        "id": body["id"],
        "enabled": hub_device.get("enabled", True) is not False,
        "via": hub_device.get("via", ""),
        "credentials_type": credentials.get("type", "none"),
        "auth_id": credentials.get("authId", ""),
        "attributes": thing.get("attributes") or {},
        "definition": thing.get("definition", ""),
        "features": thing.get("features") or {},
        "policy_id": thing.get("policyId", ""),
        "auth_scope": (record.get("params") or {}).get("authScope"),
    }


def body_secret(body):
    """The password or pre-shared key that ``body`` gives the device, or None."""
    credentials = body["hub"].get("credentials")
    if not credentials:
        return None
    secret = credentials["secrets"][0]
    return secret.get("password") or secret.get("key")


def masked(body):
    """``body`` with every typed secret masked; generated placeholders stay as they are."""
    credentials = body["hub"].get("credentials")
    if not credentials:
        return body
    return {**body, "hub": {**body["hub"], "credentials": redact(credentials, mask=MASK, keep={GENERATED})}}


def request_preview(config, body, *, auth_scope=None):
    """Method, URL, headers and body of what Send would do, with every secret masked, and
    the same request as a curl command that takes the token and secrets from shell variables."""
    url = devices_url(config)
    if auth_scope:
        url = f"{url}?authScope={auth_scope}"
    headers = {
        "Authorization": "Bearer <token from the connection>",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    return {
        "method": "POST",
        "url": url,
        "headers": headers,
        "body": json.dumps(masked(body), indent=2, ensure_ascii=False),
        "curl": curl_command(config, url, body),
        "device_id": body["id"],
        "id_length": len(body["id"]),
    }


# The shell variable a copied curl command reads each device secret from, by its body field.
CURL_SECRETS = {"password": "DEVICE_PASSWORD", "key": "DEVICE_PSK"}


def curl_command(config, url, body):
    """``curl`` for creating the device of ``body``: the bearer token is "$TOKEN" and the device
    secret "$DEVICE_PASSWORD" (or "$DEVICE_PSK"); comment lines say how to set them. Nothing
    typed, generated or stored is ever in it."""
    credentials = body["hub"].get("credentials")
    variables = []
    if credentials:
        secrets = []
        for secret in credentials["secrets"]:
            secrets.append(
                {key: f"@@{CURL_SECRETS[key]}@@" if key in CURL_SECRETS else v for key, v in secret.items()}
            )
            variables += [CURL_SECRETS[key] for key in secret if key in CURL_SECRETS]
        body = {**body, "hub": {**body["hub"], "credentials": {**credentials, "secrets": secrets}}}
    data = shlex.quote(json.dumps(body, ensure_ascii=False))
    for name in variables:
        # Close the single quotes around the JSON, expand the variable in double quotes, reopen.
        data = data.replace(f"@@{name}@@", f"'\"${name}\"'")
    client = shlex.quote(config.client_id)
    if config.auth_method == "client_secret_post":
        client_auth = f'-d client_id={client} -d client_secret="$CLIENT_SECRET"'
    else:
        client_auth = f'-u {client}:"$CLIENT_SECRET"'
    extra = "".join(
        f" -d {name}={shlex.quote(value)}"
        for name, value in (("scope", config.scope), ("audience", config.audience))
        if value
    )
    lines = [
        f'# TOKEN: an access token of the connection "{config.name}". With its client secret',
        "# in CLIENT_SECRET, get one with:",
        f"# TOKEN=$(curl -s {client_auth} -d grant_type=client_credentials{extra} "
        f"{shlex.quote(config.token_url)} | jq -r .access_token)",
    ]
    for name in dict.fromkeys(variables):
        what = "password" if name == "DEVICE_PASSWORD" else "pre-shared key"
        lines.append(
            f"# {name}: the device's {what} (without \" or \\ in it: the JSON below takes it as it is)."
        )
    command = " \\\n  ".join(
        [
            "curl -X POST " + shlex.quote(url),
            '-H "Authorization: Bearer $TOKEN"',
            "-H 'Content-Type: application/json'",
            "-H 'Accept: application/json'",
            "--data-raw " + data,
        ]
    )
    # A line break in a name must not end a comment line and turn the rest into a command.
    return "\n".join([*(" ".join(line.split()) for line in lines), command])


# --- what a 400 or 409 points at -----------------------------------------------------------------

# Where the provider's complaint points: JSON paths of the request body (longest first),
# error codes, then words of its message, each to the device builder's field for that part.
BODY_PATHS = [
    ("hub.credentials.secrets", "secret"),
    ("hub.credentials.authId", "auth_id"),
    ("hub.credentials.type", "credentials_type"),
    ("hub.device.via", "via"),
    ("hub.device.enabled", "enabled"),
    ("things.thing.definition", "definition"),
    ("things.thing.features", "features"),
    ("things.thing.attributes", "attributes"),
    ("things.thing.policyId", "policy_id"),
    ("id", "name"),
]
ERROR_CODES = {
    "things:namespace.notallowed": "namespace",
    "things:id.invalid": "name",
    "things:definition.identifier.invalid": "definition",
    "policies:id.invalid": "policy_id",
    "policies:policy.notfound": "policy_id",
    "hub:credentials.conflict": "auth_id",
}
WORDS = [
    (re.compile(r"\bnamespace", re.I), "namespace"),
    (re.compile(r"\bpolic(?:y|ies)", re.I), "policy_id"),
    (re.compile(r"\bdefinition", re.I), "definition"),
    (re.compile(r"\bauth[-_ ]?id\b", re.I), "auth_id"),
    (re.compile(r"\bpassword|\bsecrets?\b|\bpsk\b|pre-shared key", re.I), "secret"),
    (re.compile(r"\bfeatures?\b", re.I), "features"),
    (re.compile(r"\battributes?\b", re.I), "attributes"),
    (re.compile(r"\bvia\b|\bgateway", re.I), "via"),
    (re.compile(r"\b(?:thing|device)[ -]?id\b|\bid\b", re.I), "name"),
]


def _field_for_path(path):
    path = path.strip().lstrip("/").replace("/", ".")
    for prefix, field in BODY_PATHS:
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return field
    return None


def provider_field(details):
    """The part of the device builder a provider's error body points at, or None when it
    cannot be told: a form field name, "secret" (the password or key) or "attributes"."""
    if not isinstance(details, dict):
        return None
    inner = details.get("errorDetails") if isinstance(details.get("errorDetails"), dict) else {}
    for source in (inner, details):
        for key in ("field", "path", "pointer"):
            if isinstance(source.get(key), str):
                field = _field_for_path(source[key])
                if field:
                    return field
    for source in (inner, details):
        code = source.get("error")
        if isinstance(code, str) and code in ERROR_CODES:
            return ERROR_CODES[code]
    texts = [
        source.get(key)
        for source in (details, inner)
        for key in ("description", "message", "error")
        if isinstance(source.get(key), str)
    ]
    for text in texts:
        for pattern, field in WORDS:
            if pattern.search(text):
                return field
    return None


# --- what a 201 means -----------------------------------------------------------------------------


def connection_settings(answer, device_id, secret_kind, secret):
    """What a device needs to connect, from the 201 body ``answer`` (the secret passed apart,
    as the operator's own or the generated one: the answer's copy is never read)."""
    hub = answer.get("hub") or {}
    credentials = hub.get("credentials") or {}
    thing = (answer.get("things") or {}).get("thing") or {}
    tenant = credentials.get("tenantId", "")
    auth_id = credentials.get("authId") or ids.default_auth_id(device_id)
    settings = {
        "deviceId": (hub.get("device") or {}).get("deviceId", device_id),
        "thingId": thing.get("thingId", device_id),
        "policyId": thing.get("policyId", device_id),
        "hubTenantId": tenant,
        "authId": auth_id if credentials else "",
        "username": f"{auth_id}@{tenant}" if credentials and tenant else "",
        "adapters": [
            {"type": a.get("type"), "uri": a.get("uri")}
            for a in credentials.get("adapters") or []
            if isinstance(a, dict)
        ],
    }
    return with_secret(settings, secret_kind, secret)


def with_secret(settings, secret_kind, secret):
    """Connection ``settings`` with the device's ``secret`` added (a new dict)."""
    if secret and secret_kind == "hashed-password":
        return {**settings, "password": secret}
    if secret and secret_kind == "psk":
        return {**settings, "pskKey": secret}
    return settings
