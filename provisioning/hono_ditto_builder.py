"""The device builder on an Eclipse Hono + Ditto or Eclipse Ditto connection: the plan of a
valid DeviceForm, its preview, and its Send as one attempt (hono_ditto_service).

The view (views/devices.py) keeps what every provider shares: the one-time form token, the
held show-once result and the answer to a second submission.
"""

import time
from dataclasses import dataclass

from provisioning import hono_ditto_service
from provisioning.providers import hono_ditto as hd
from provisioning.providers import hono_ditto_preview
from provisioning.providers.hono_ditto_connection import auths_for, settings_for


def request_preview(form):
    """Every request of the plan in order (method, URL, headers, body; secrets masked) and the
    copy-as-curl script, for the valid ``form``."""
    config = form.cleaned_data["config"]
    settings = settings_for(config)
    steps = hd.plan(settings, form.to_spec())
    device_id = form.device_id
    return {
        "device_id": device_id,
        "id_length": len(device_id),
        "steps": hono_ditto_preview.preview(settings, steps),
        "script": hono_ditto_preview.curl_script(settings, steps),
    }


@dataclass
class Sent:
    result: hono_ditto_service.Result
    latency_ms: int
    secret: str  # the device's password or key (typed or generated), or ""


def send(form, *, actor, team, correlation_id, generated=None, resolves=None):
    """Send the plan of the valid ``form`` as one attempt (or, with ``resolves``, resume the
    attempt of that correlation id); a Sent. Raises what hono_ditto_service raises
    (AuditUnavailable, AlreadyBegun) and crypto.SecretBoxError when a stored password of the
    connection cannot be opened (nothing is sent then)."""
    config = form.cleaned_data["config"]
    spec = form.to_spec()
    settings = settings_for(config)
    sender = hono_ditto_service.Sender(actor, team, settings, auths_for(config), config)
    plan = hd.plan(settings, spec, generated_secret=generated)
    started = time.monotonic()
    if resolves is not None:
        result = hono_ditto_service.resume(
            sender, plan, device_id=spec.id, resolves=resolves, correlation_id=correlation_id
        )
    else:
        result = hono_ditto_service.provision(sender, plan, device_id=spec.id, correlation_id=correlation_id)
    secret = (spec.secret or generated or "") if spec.has_credentials else ""
    return Sent(result, int((time.monotonic() - started) * 1000), secret)


def device_settings(config, form):
    """What the device needs to connect (the result page's and its download's facts)."""
    spec = form.to_spec()
    tenant = config.hono_tenant if config.has_hono else ""
    auth_id = spec.effective_auth_id if config.has_hono else ""
    return {
        "deviceId": spec.id,
        "thingId": spec.id,
        "policyId": spec.effective_policy_id,
        "hubTenantId": tenant,
        "authId": auth_id,
        "username": f"{auth_id}@{tenant}" if auth_id and tenant else "",
        "adapters": [],
    }


def deprovision(config, *, actor, team, device_id, keep_policy=False):
    """Remove ``device_id`` through ``config`` in reverse (thing, policy unless kept, Hono
    device with its credentials) as one attempt; the Result. A part already gone is not an
    error. Raises AuditUnavailable, and crypto.SecretBoxError before anything is written."""
    settings = settings_for(config)
    sender = hono_ditto_service.Sender(actor, team, settings, auths_for(config), config)
    plan = hd.deprovision_plan(settings, device_id, keep_policy=keep_policy)
    return hono_ditto_service.deprovision(sender, plan, device_id=device_id)


def unusable_password(exc):
    """What the operator reads when a stored password of the connection cannot be opened."""
    return (
        f"Nothing was sent: a password stored for this connection cannot be used ({exc}). "
        "A team admin can type it again in the connection's settings."
    )
