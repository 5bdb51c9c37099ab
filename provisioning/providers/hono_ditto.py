"""Self-hosted Eclipse Hono + Eclipse Ditto, and Eclipse Ditto alone: the calls that provision
and de-provision a device, in order, each with its undo, and how they are previewed.

Everything that knows these two APIs' wire format is here, in ``hono_ditto_preview`` (how a
plan is shown and copied as curl) and in ``hono_ditto_errors`` (what their answers mean).
Nothing is sent from here: a plan is a list of ``Step`` objects the service sends one by one.

Facts: shared/provisioning-api.md §10 (Hono device registry), §11 (Ditto HTTP API 2) and
§11.1 (how they belong together); the specs in tests/specs/.
- Hono registry management API: https://eclipse.dev/hono/docs/api/management/
- Ditto HTTP API: https://eclipse.dev/ditto/http-api-doc.html

One device on Hono + Ditto is up to four calls: create the Hono device, put its credentials,
put the generated policy, put the thing. The device id is the thing id (the Hono connection
in Ditto requires it). Nothing makes them one transaction, so each step says how it is undone.
"""

from dataclasses import dataclass, field
from urllib.parse import quote

from provisioning import ids
from provisioning.providers.bosch import GENERATED

BEARER, BASIC = "bearer", "basic"
HONO, DITTO = "hono", "ditto"
# Ditto puts the authenticated caller's subject in for this placeholder when a policy is created
# (the NewPolicy example of PUT /api/2/policies/{policyId} in the Ditto spec).
REQUEST_SUBJECT = "{{ request:subjectId }}"
READ_WRITE = ["READ", "WRITE"]
JSON = "application/json"

KEEP_CREDENTIALS_NOTE = (
    "Eclipse Hono deletes a device's credentials together with the device, so they cannot be kept: "
    "to keep the device able to connect, keep the device instead of de-provisioning it."
)


@dataclass(frozen=True)
class ConnectionSettings:
    """What a Hono + Ditto or a Ditto connection needs to be called; no secrets (the sender
    adds each endpoint's token or Basic password).

    ``hono_url``: the registry's base URL (``/v1`` is added); blank for Ditto alone.
    ``ditto_url``: Ditto's base URL (``/api/2`` is added).
    ``own_subject``: the subject Ditto sees for this connection (``nginx:<user>`` behind
    Ditto's nginx, ``<issuer>:<sub>`` with a token); blank: Ditto fills in the caller's.
    ``hono_subject``: the subject of Ditto's connection to this Hono tenant; blank:
    ``pre-authenticated:hono-connection-<tenant>``, the example subject of provisioning-api.md
    §11.1 (the real one is in the ``authorizationContext`` of Ditto's connection to the tenant).
    ``*_auth``: BEARER or BASIC for each endpoint, with the Basic user name.
    """

    ditto_url: str
    hono_url: str = ""
    tenant: str = ""
    own_subject: str = ""
    hono_subject: str = ""
    hono_auth: str = BEARER
    hono_username: str = ""
    ditto_auth: str = BEARER
    ditto_username: str = ""
    name: str = ""

    @property
    def has_hono(self):
        return bool(self.hono_url)

    @property
    def effective_own_subject(self):
        return self.own_subject or REQUEST_SUBJECT

    @property
    def effective_hono_subject(self):
        if not self.has_hono:
            return ""
        return self.hono_subject or f"pre-authenticated:hono-connection-{self.tenant}"

    def auth_for(self, endpoint):
        """(BEARER or BASIC, the Basic user name) of ``endpoint`` (HONO or DITTO)."""
        if endpoint == HONO:
            return self.hono_auth, self.hono_username
        return self.ditto_auth, self.ditto_username


@dataclass(frozen=True)
class Step:
    """One HTTP call of a plan.

    ``endpoint``: HONO or DITTO, whose authentication the call carries. ``already``: the status
    that means the step's work is already done (the device, policy or thing exists; the part
    to delete is already gone): not an error, but to be compared. ``undo``: the call that
    undoes this step when a later one is refused, or None, with ``undo_note`` saying why.
    """

    name: str
    title: str
    endpoint: str
    method: str
    url: str
    headers: dict = field(default_factory=dict)
    body: object = field(default=None, repr=False)  # the credentials' body holds the secret
    already: int | None = None
    undo: "Step | None" = None
    undo_note: str = ""


class NotHonoured(ValueError):
    """The device asks for something this connection cannot do; ``problems`` maps the device
    builder's field (or "config") to plain words."""

    def __init__(self, problems):
        super().__init__("; ".join(f"{key}: {text}" for key, text in problems.items()))
        self.problems = problems


# --- URLs -------------------------------------------------------------------------------------


def _base(url, suffix):
    url = url.rstrip("/")
    return url if url.endswith(suffix) else url + suffix


def _entity(entity_id):
    # ':' stays readable (Ditto's and Hono's ids hold one); everything else outside the
    # unreserved set is percent-encoded, '/' included.
    return quote(entity_id, safe=":")


def hono_tenant_url(settings):
    return f"{_base(settings.hono_url, '/v1')}/tenants/{quote(settings.tenant, safe='')}"


def hono_device_url(settings, device_id):
    tenant = quote(settings.tenant, safe="")
    return f"{_base(settings.hono_url, '/v1')}/devices/{tenant}/{_entity(device_id)}"


def hono_credentials_url(settings, device_id):
    tenant = quote(settings.tenant, safe="")
    return f"{_base(settings.hono_url, '/v1')}/credentials/{tenant}/{_entity(device_id)}"


def thing_url(settings, thing_id):
    return f"{_base(settings.ditto_url, '/api/2')}/things/{_entity(thing_id)}"


def policy_url(settings, policy_id):
    return f"{_base(settings.ditto_url, '/api/2')}/policies/{_entity(policy_id)}"


# --- what cannot be sent ----------------------------------------------------------------------


def settings_problems(settings):
    """Why ``settings`` cannot be used, as {"config": words}, or {}."""
    if not settings.ditto_url:
        return {"config": "Enter the Ditto base URL of the connection."}
    if settings.has_hono:
        error = ids.hono_tenant_error(settings.tenant)
        if error:
            return {"config": error}
    return {}


def problems(settings, spec):
    """What of ``spec`` this connection cannot honour, by the device builder's field, or {}."""
    found = dict(settings_problems(settings))
    error = ids.thing_id_error(spec.id)
    if error:
        found["name"] = error
    if spec.policy_id and (error := ids.thing_id_error(spec.policy_id)):
        found["policy_id"] = f"A policy id has the form namespace:name. {error}"
    if settings.has_hono:
        if "name" not in found and (error := ids.hono_device_id_error(spec.id)):
            found["name"] = error
        for gateway in spec.via:
            if error := ids.hono_device_id_error(gateway):
                found["via"] = f"Gateway {gateway!r}: {error}"
        if spec.has_credentials and (error := ids.hono_auth_id_error(spec.effective_auth_id)):
            if not spec.auth_id:
                error = f"The default auth id {spec.effective_auth_id!r} will not do. {error} Enter one."
            found["auth_id"] = error
        return found
    if spec.has_credentials:
        found["credentials_type"] = (
            "A Ditto connection creates the twin and its policy only; devices and their "
            "credentials are registered in Hono. Choose None."
        )
    if spec.via:
        found["via"] = "A gateway is a Hono setting; a Ditto connection cannot register one."
    if not spec.enabled:
        found["enabled"] = "Enabling and disabling is a Hono setting; a Ditto twin has no such switch."
    return found


# --- the bodies -------------------------------------------------------------------------------


def device_body(spec):
    """Hono's ``Device`` (POST /v1/devices/{tenant}/{device})."""
    body = {"enabled": spec.enabled}
    if spec.via:
        body["via"] = list(spec.via)
    return body


def credentials_body(spec, generated_secret=None):
    """Hono's ``CredentialsSet`` (PUT /v1/credentials/{tenant}/{device}): the device's one
    entry. The registry hashes ``pwd-plain``; a psk ``key`` is the base64 of the key's bytes."""
    secret = spec.secret or generated_secret or GENERATED
    kind, key = ("hashed-password", "pwd-plain") if spec.is_password else ("psk", "key")
    return [{"type": kind, "auth-id": spec.effective_auth_id, "secrets": [{key: secret}]}]


def policy_body(settings, spec):
    """Ditto's ``NewPolicy`` for a generated policy: this connection may do everything, and
    Ditto's connection to the Hono tenant may read and write the thing and its messages."""
    entries = {
        "DEFAULT": {
            "subjects": {settings.effective_own_subject: {"type": "provisioning connection"}},
            "resources": {
                resource: {"grant": READ_WRITE, "revoke": []}
                for resource in ("thing:/", "policy:/", "message:/")
            },
        }
    }
    if settings.has_hono:
        entries["HONO"] = {
            "subjects": {
                settings.effective_hono_subject: {
                    "type": f"Ditto connection to Hono tenant {settings.tenant}"
                }
            },
            "resources": {
                resource: {"grant": READ_WRITE, "revoke": []} for resource in ("thing:/", "message:/")
            },
        }
    return {"entries": entries}


def thing_body(spec):
    """Ditto's ``NewThing`` (PUT /api/2/things/{thingId}), under the generated or the given policy."""
    body = {"policyId": spec.effective_policy_id}
    if spec.definition:
        body["definition"] = spec.definition
    if spec.attributes:
        body["attributes"] = spec.attributes
    if spec.features:
        body["features"] = spec.features
    return body


# --- the plans --------------------------------------------------------------------------------

CREATE_ONLY = {"Content-Type": JSON, "If-None-Match": "*"}


def delete_device_step(settings, device_id):
    return Step(
        "device",
        "Delete the Hono device (and its credentials)",
        HONO,
        "DELETE",
        hono_device_url(settings, device_id),
        already=404,
    )


def delete_policy_step(settings, policy_id):
    return Step("policy", "Delete the policy", DITTO, "DELETE", policy_url(settings, policy_id), already=404)


def delete_thing_step(settings, thing_id):
    return Step(
        "thing", "Delete the twin (thing)", DITTO, "DELETE", thing_url(settings, thing_id), already=404
    )


def plan(settings, spec, *, generated_secret=None):
    """The calls that provision ``spec`` through ``settings``, in the order they are sent.

    Hono + Ditto: device, credentials (unless none), policy (when generated), thing.
    Ditto alone: policy (when generated), thing. ``generated_secret`` fills a generated
    password or key; without it (the preview) a placeholder stands in for it.
    Raises NotHonoured when the connection cannot do what ``spec`` asks.
    """
    found = problems(settings, spec)
    if found:
        raise NotHonoured(found)
    steps = []
    if settings.has_hono:
        steps.append(
            Step(
                "device",
                "Create the Hono device",
                HONO,
                "POST",
                hono_device_url(settings, spec.id),
                {"Content-Type": JSON},
                device_body(spec),
                already=409,
                undo=delete_device_step(settings, spec.id),
                undo_note="Deleting the device deletes its credentials too.",
            )
        )
        if spec.has_credentials:
            steps.append(
                Step(
                    "credentials",
                    "Set the device's credentials",
                    HONO,
                    "PUT",
                    hono_credentials_url(settings, spec.id),
                    {"Content-Type": JSON},
                    credentials_body(spec, generated_secret),
                    undo_note="Undone with the device: Hono deletes its credentials with it.",
                )
            )
    if spec.generated_policy:
        steps.append(
            Step(
                "policy",
                "Create the twin's policy",
                DITTO,
                "PUT",
                policy_url(settings, spec.effective_policy_id),
                dict(CREATE_ONLY),
                policy_body(settings, spec),
                already=412,
                undo=delete_policy_step(settings, spec.effective_policy_id),
            )
        )
    steps.append(
        Step(
            "thing",
            "Create the twin (thing)",
            DITTO,
            "PUT",
            thing_url(settings, spec.id),
            dict(CREATE_ONLY),
            thing_body(spec),
            already=412,
            undo_note="The last step: when it is refused, nothing of it exists to undo.",
        )
    )
    return steps


def deprovision_plan(settings, device_id, *, keep_policy=False):
    """The calls that remove ``device_id``, in order: the thing, its generated policy (the one
    with the device's id; a shared policy has another id and is never touched), then the Hono
    device with its credentials. A 404 on any of them means "already gone".
    Hono cannot keep credentials without the device: see KEEP_CREDENTIALS_NOTE."""
    steps = [delete_thing_step(settings, device_id)]
    if not keep_policy:
        steps.append(delete_policy_step(settings, device_id))
    if settings.has_hono:
        steps.append(delete_device_step(settings, device_id))
    return steps


def undo_plan(done_steps):
    """The undo calls for the steps that were made, latest first (the device last)."""
    return [step.undo for step in reversed(done_steps) if step.undo is not None]
