"""Reading a provisioning request (P1) into a Plan, and the 201 body it earns.

Everything here is checked before the database is touched (the JSON itself by
storable.py), so a 400 never leaves anything behind. The order of answers is:
400 for anything malformed, then 409 for a sub-resource id that differs from
``id``; conflicts with stored resources (409) are found by the store. Rules: provisioning-api.md §2, §6, §7.
"""

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from provisioning import ids
from provisioning.ids import DEFINITION_RE, MAX_ID_LENGTH, thing_id_error
from provisioning.sandbox.errors import ApiError, bad_request
from provisioning.sandbox.models import hash_secret

MAX_SECRETS = 10
AUTH_SCOPES = ("subscription", "deviceManagementSubscription")
CREDENTIAL_TYPES = ("hashed-password", "x509-cert", "psk")
HASH_FUNCTIONS = ("sha-256", "sha-512")
PERMISSIONS = ("READ", "WRITE", "EXECUTE")
BASE64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})")
THING_POLICY_REF_RE = re.compile(r"\{\{\s*ref:things/(.+)/policyId\s*\}\}")
ID_INVALID_HREF = "https://www.eclipse.org/ditto/basic-namespaces-and-names.html#namespaced-id"


@dataclass
class Plan:
    """What one provisioning request will create. Holds no plaintext secret except in ``credentials``,
    the request's own object, which is echoed in the 201 body and never stored."""

    device_id: str
    device: dict
    thing: dict
    policy_id: str
    # "generate" or "inline" create a policy; "reuse" points at an existing one;
    # "copy" creates one from the entries of an existing one (filled in by the store).
    policy_mode: str
    policy_entries: dict | None = None
    copy_from: str | None = None
    copy_from_thing: str | None = None
    credentials: dict | None = None
    credentials_type: str | None = None
    auth_id: str | None = None
    credentials_enabled: bool = True
    stored_secrets: list = field(default_factory=list)

    @property
    def creates_policy(self):
        return self.policy_mode != "reuse"


# Small checks with plain-words messages


def _missing(path):
    return bad_request(f"The field '{path}' is missing.", "provisioning:field.missing", field=path)


def _wrong_type(path, expected):
    return bad_request(f"The field '{path}' must be {expected}.", "provisioning:field.invalid", field=path)


def _required_object(parent, key, path):
    value = parent.get(key)
    if value is None:
        raise _missing(path)
    if not isinstance(value, dict):
        raise _wrong_type(path, "a JSON object")
    return value


def _optional(parent, key, path, kind, expected):
    value = parent.get(key)
    if value is not None and not isinstance(value, kind):
        raise _wrong_type(path, expected)
    return value


def _optional_string(parent, key, path, *, max_length=MAX_ID_LENGTH):
    value = _optional(parent, key, path, str, "a string")
    if value is not None and not 0 < len(value) <= max_length:
        raise bad_request(
            f"The field '{path}' must hold 1 to {max_length} characters.",
            "provisioning:field.invalid",
            field=path,
        )
    return value


def _check_keys(mapping, path, what):
    for key in mapping:
        error = ids.key_error(key, what)
        if error:
            raise bad_request(
                f"{error} (found {key!r} in '{path}')", "provisioning:field.invalid", field=path
            )


def _instant(value, path):
    if not isinstance(value, str):
        raise _wrong_type(path, "an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _wrong_type(path, "an ISO 8601 date-time string") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _base64(value, path):
    if not isinstance(value, str) or not BASE64_RE.fullmatch(value):
        raise bad_request(
            f"The field '{path}' is not valid base64.", "provisioning:base64.invalid", field=path
        )
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(
            f"The field '{path}' is not valid base64.", "provisioning:base64.invalid", field=path
        ) from None
    if not decoded:
        raise bad_request(f"The field '{path}' is empty.", "provisioning:field.invalid", field=path)
    return decoded


# The request


def plan(payload, *, instance, auth_scope, subject):
    """Check a parsed P1 body; return the Plan, or raise ApiError (400 or 409).

    ``subject`` is the caller's policy subject (``iot-suite:<client-id>``), used
    for the generated policy when ``auth_scope`` is empty.
    """
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object.")
    device_id = _device_id(payload, instance)
    hub = _required_object(payload, "hub", "hub")
    device = _required_object(hub, "device", "hub.device")
    things = _required_object(payload, "things", "things")
    thing = _required_object(things, "thing", "things.thing")
    if auth_scope and auth_scope not in AUTH_SCOPES:
        raise bad_request(
            f"The authScope {auth_scope!r} is not supported; "
            f"use {' or '.join(AUTH_SCOPES)}, or leave it out.",
            "provisioning:authscope.invalid",
        )

    _check_device(device)
    result = Plan(device_id=device_id, device=device, thing={}, policy_id=device_id, policy_mode="generate")
    credentials = hub.get("credentials")
    if credentials is not None:
        if not isinstance(credentials, dict):
            raise _wrong_type("hub.credentials", "a JSON object")
        _read_credentials(credentials, result)
    _read_thing(thing, result, instance=instance, auth_scope=auth_scope, subject=subject)

    for path, value in (
        ("hub.device.deviceId", device.get("deviceId")),
        ("hub.credentials.deviceId", (credentials or {}).get("deviceId")),
        ("things.thing.thingId", thing.get("thingId")),
    ):
        if value is not None and value != device_id:
            raise ApiError(
                409,
                f"The field '{path}' ({value!r}) differs from the id '{device_id}'.",
                "provisioning:id.mismatch",
                detail="Leave the field out or set it to the top-level id.",
                field=path,
            )
    return result


def _device_id(payload, instance):
    device_id = payload.get("id")
    if device_id is None:
        raise _missing("id")
    if not isinstance(device_id, str):
        raise _wrong_type("id", "a string")
    error = thing_id_error(device_id)
    if error:
        raise bad_request(
            f"The id '{device_id}' is not valid: {error}",
            "things:id.invalid",
            f"Thing ID '{device_id}' is not valid!",
            detail="It must conform to the namespaced entity ID notation (see Ditto documentation)",
            href=ID_INVALID_HREF,
        )
    namespace = device_id.partition(":")[0]
    if namespace not in instance.namespaces:
        raise bad_request(
            f"The namespace '{namespace}' is not registered for the service instance '{instance.sid}'.",
            "things:namespace.notallowed",
            detail="Register the namespace for your subscription, or use one that is registered.",
        )
    return device_id


def _check_device(device):
    _optional_string(device, "deviceId", "hub.device.deviceId")
    _optional(device, "enabled", "hub.device.enabled", bool, "true or false")
    via = device.get("via")
    if via is not None and not isinstance(via, str):
        if not isinstance(via, list) or not all(isinstance(item, str) and item for item in via):
            raise _wrong_type("hub.device.via", "a device id or a list of device ids")
    _optional(device, "defaults", "hub.device.defaults", dict, "a JSON object")
    authorities = device.get("authorities")
    if authorities is not None and (
        not isinstance(authorities, list) or not all(isinstance(item, str) for item in authorities)
    ):
        raise _wrong_type("hub.device.authorities", "a list of strings")


def _read_credentials(credentials, result):
    kind = credentials.get("type")
    if kind is None:
        raise _missing("hub.credentials.type")
    if kind not in CREDENTIAL_TYPES:
        raise bad_request(
            f"The credentials type {kind!r} is not supported; use one of {', '.join(CREDENTIAL_TYPES)}.",
            "provisioning:credentials.type.invalid",
            field="hub.credentials.type",
        )
    _optional_string(credentials, "deviceId", "hub.credentials.deviceId")
    auth_id = _optional_string(credentials, "authId", "hub.credentials.authId")
    enabled = _optional(credentials, "enabled", "hub.credentials.enabled", bool, "true or false")
    secrets = credentials.get("secrets")
    if secrets is None:
        raise _missing("hub.credentials.secrets")
    if not isinstance(secrets, list):
        raise _wrong_type("hub.credentials.secrets", "a list")
    minimum = 0 if kind == "x509-cert" else 1
    if not minimum <= len(secrets) <= MAX_SECRETS:
        raise bad_request(
            f"'hub.credentials.secrets' must hold {minimum} to {MAX_SECRETS} secrets, not {len(secrets)}.",
            "provisioning:credentials.secrets.invalid",
            field="hub.credentials.secrets",
        )
    result.credentials = credentials
    result.credentials_type = kind
    result.auth_id = auth_id or result.device_id.replace(":", "_")
    result.credentials_enabled = True if enabled is None else enabled
    result.stored_secrets = [
        _read_secret(secret, kind, f"hub.credentials.secrets[{index}]")
        for index, secret in enumerate(secrets)
    ]


def _read_secret(secret, kind, path):
    """Check one secret; return what the store keeps: hashes and validity, never plaintext."""
    if not isinstance(secret, dict):
        raise _wrong_type(path, "a JSON object")
    stored = {}
    bounds = []
    for key in ("notBefore", "notAfter"):
        if secret.get(key) is not None:
            bounds.append(_instant(secret[key], f"{path}.{key}"))
            stored[key] = secret[key]
    if len(bounds) == 2 and bounds[1] <= bounds[0]:
        raise bad_request(f"In '{path}', notAfter must be later than notBefore.", field=path)

    if kind == "hashed-password":
        given = [key for key in ("password", "passwordBase64", "pwdHash") if secret.get(key) is not None]
        if len(given) != 1:
            raise bad_request(
                f"'{path}' needs exactly one of password, passwordBase64 or pwdHash.",
                "provisioning:credentials.secret.invalid",
                field=path,
            )
        if given == ["password"]:
            password = secret["password"]
            if not isinstance(password, str) or not password:
                raise _wrong_type(f"{path}.password", "a non-empty string")
            stored["hash"] = hash_secret(password)
        elif given == ["passwordBase64"]:
            stored["hash"] = hash_secret(_base64(secret["passwordBase64"], f"{path}.passwordBase64"))
        else:
            _base64(secret["pwdHash"], f"{path}.pwdHash")
            if secret.get("hashFunction") not in HASH_FUNCTIONS:
                raise bad_request(
                    f"'{path}.hashFunction' must be one of {', '.join(HASH_FUNCTIONS)}.",
                    "provisioning:credentials.secret.invalid",
                    field=f"{path}.hashFunction",
                )
            stored.update(pwdHash=secret["pwdHash"], hashFunction=secret["hashFunction"])
            if secret.get("salt") is not None:
                _base64(secret["salt"], f"{path}.salt")
                stored["salt"] = secret["salt"]
    elif kind == "psk":
        if secret.get("key") is None:
            raise _missing(f"{path}.key")
        stored["hash"] = hash_secret(_base64(secret["key"], f"{path}.key"))
    return stored


def _read_thing(thing, result, *, instance, auth_scope, subject):
    _optional_string(thing, "thingId", "things.thing.thingId")
    attributes = _optional(thing, "attributes", "things.thing.attributes", dict, "a JSON object")
    features = _optional(thing, "features", "things.thing.features", dict, "a JSON object")
    definition = _optional(thing, "definition", "things.thing.definition", str, "a string")
    if definition is not None and not DEFINITION_RE.fullmatch(definition):
        raise bad_request(
            f"The definition {definition!r} must look like namespace:name:version.",
            "things:definition.identifier.invalid",
            field="things.thing.definition",
        )
    _check_keys(attributes or {}, "things.thing.attributes", "attribute key")
    _check_features(features or {})
    result.thing = {"attributes": attributes or {}, "features": features or {}}
    if definition is not None:
        result.thing["definition"] = definition

    policy_fields = [key for key in ("policyId", "_policy", "_copyPolicyFrom") if thing.get(key) is not None]
    if len(policy_fields) > 1:
        raise bad_request(
            f"Give at most one of policyId, _policy and _copyPolicyFrom (found {', '.join(policy_fields)}).",
            "things:policy.conflicting",
        )
    if "policyId" in policy_fields:
        result.policy_id = _policy_reference(thing["policyId"], "things.thing.policyId")
        result.policy_mode = "reuse"
    elif "_policy" in policy_fields:
        result.policy_entries = _inline_policy(thing["_policy"])
        result.policy_mode = "inline"
    elif "_copyPolicyFrom" in policy_fields:
        source = thing["_copyPolicyFrom"]
        reference = THING_POLICY_REF_RE.fullmatch(source) if isinstance(source, str) else None
        if reference:
            result.copy_from_thing = reference.group(1)
        else:
            result.copy_from = _policy_reference(source, "things.thing._copyPolicyFrom")
        result.policy_mode = "copy"
    else:
        result.policy_entries = generated_policy(instance, auth_scope, subject)


def _check_features(features):
    _check_keys(features, "things.thing.features", "feature id")
    for feature_id, feature in features.items():
        path = f"things.thing.features.{feature_id}"
        if not isinstance(feature, dict):
            raise _wrong_type(path, "a JSON object")
        definition = feature.get("definition")
        if definition is not None and (
            not isinstance(definition, list) or not all(isinstance(item, str) for item in definition)
        ):
            raise _wrong_type(f"{path}.definition", "a list of strings")
        _optional(feature, "properties", f"{path}.properties", dict, "a JSON object")
        _optional(feature, "desiredProperties", f"{path}.desiredProperties", dict, "a JSON object")


def _policy_reference(value, path):
    if not isinstance(value, str):
        raise _wrong_type(path, "a policy id")
    error = thing_id_error(value)
    if error:
        raise bad_request(
            f"The policy id in '{path}' is not valid: {error}", "policies:id.invalid", field=path
        )
    return value


def _inline_policy(policy):
    path = "things.thing._policy"
    if not isinstance(policy, dict):
        raise _wrong_type(path, "a JSON object")
    entries = policy.get("entries")
    if not isinstance(entries, dict) or not entries:
        raise _wrong_type(f"{path}.entries", "a non-empty JSON object")
    _check_keys(entries, f"{path}.entries", "policy label")
    for label, entry in entries.items():
        entry_path = f"{path}.entries.{label}"
        if not isinstance(entry, dict):
            raise _wrong_type(entry_path, "a JSON object")
        subjects = entry.get("subjects")
        resources = entry.get("resources")
        if not isinstance(subjects, dict) or not subjects:
            raise _wrong_type(f"{entry_path}.subjects", "a non-empty JSON object")
        if not isinstance(resources, dict) or not resources:
            raise _wrong_type(f"{entry_path}.resources", "a non-empty JSON object")
        for resource, rights in resources.items():
            rights_path = f"{entry_path}.resources.{resource}"
            if not isinstance(rights, dict):
                raise _wrong_type(rights_path, "a JSON object")
            for key in ("grant", "revoke"):
                granted = rights.get(key, [])
                if not isinstance(granted, list) or not all(item in PERMISSIONS for item in granted):
                    raise _wrong_type(f"{rights_path}.{key}", f"a list of {', '.join(PERMISSIONS)}")
    return entries


def generated_policy(instance, auth_scope, subject):
    """The policy the service generates (§2): DEFAULT for the owner, DEVICE for the Hub connection."""
    owner = f"iot-suite:/service-instance.{instance.sid}.iot-things" if auth_scope else subject

    def read_write():
        return {"grant": ["READ", "WRITE"], "revoke": []}

    return {
        "DEFAULT": {
            "subjects": {owner: {"type": "suite-auth"}},
            "resources": {"thing:/": read_write(), "message:/": read_write(), "policy:/": read_write()},
        },
        "DEVICE": {
            "subjects": {
                f"integration:{instance.things_solution_id}:hub": {"type": "iot-things-integration"}
            },
            "resources": {
                "thing:/": read_write(),
                "message:/": read_write(),
                "policy:/": {"grant": ["READ"], "revoke": []},
            },
        },
    }


# The answer


def response_body(result, instance):
    """The 201 body (§3.1). The secrets are echoed exactly as sent, as Bosch does."""
    body = {
        "id": result.device_id,
        "hub": {"device": {**result.device, "deviceId": result.device_id}},
        "things": {"thing": _thing_body(result)},
    }
    body["hub"]["device"].setdefault("enabled", True)
    if result.credentials is not None:
        body["hub"]["credentials"] = {
            "tenantId": instance.hub_tenant_id,
            "deviceId": result.device_id,
            "authId": result.auth_id,
            "type": result.credentials_type,
            "enabled": result.credentials_enabled,
            "secrets": result.credentials["secrets"],
            "adapters": instance.adapters,
        }
    return body


def _thing_body(result):
    thing = {"thingId": result.device_id, "policyId": result.policy_id, **result.thing}
    if result.creates_policy:
        thing["_policy"] = {"entries": result.policy_entries}
    return thing
