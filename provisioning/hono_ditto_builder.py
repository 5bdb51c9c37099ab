"""The device builder on an Eclipse Hono + Ditto or Eclipse Ditto connection: the plan of a
valid DeviceForm, its preview, and its Send as one attempt (hono_ditto_service).

The view (views/devices.py) keeps what every provider shares: the one-time form token, the
held show-once result and the answer to a second submission.
"""

import time
from dataclasses import dataclass

from provisioning import hono_ditto_chain, hono_ditto_service
from provisioning.providers import hono_ditto as hd
from provisioning.providers import hono_ditto_preview
from provisioning.providers.hono_ditto_connection import auths_for, settings_for
from provisioning.providers.hono_ditto_preview import comparable, request_record


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
    # The device's password or key (typed or generated) when this attempt sent its credentials
    # (they may be set now), else "": a resumed attempt whose earlier attempt had set them sends
    # none, and the device keeps that attempt's.
    secret: str


def send(form, *, actor, team, correlation_id, generated=None, resolves=None, template=None):
    """Send the plan of the valid ``form`` as one attempt (or, with ``resolves``, resume the
    attempt of that correlation id); a Sent. Raises what hono_ditto_service raises
    (AuditUnavailable, AlreadyBegun) and crypto.SecretBoxError when a stored password of the
    connection cannot be opened (nothing is sent then). ``template``: the TemplateVersion the
    form started from, named on the attempt's audit rows."""
    config = form.cleaned_data["config"]
    spec = form.to_spec()
    settings = settings_for(config)
    sender = hono_ditto_service.Sender(actor, team, settings, auths_for(config), config)
    plan = hd.plan(settings, spec, generated_secret=generated)
    started = time.monotonic()
    if resolves is not None:
        result = hono_ditto_service.resume(
            sender,
            plan,
            device_id=spec.id,
            resolves=resolves,
            correlation_id=correlation_id,
            template=template,
        )
    else:
        result = hono_ditto_service.provision(
            sender, plan, device_id=spec.id, correlation_id=correlation_id, template=template
        )
    sent_credentials = any(
        step.name == "credentials" and step.stage == hono_ditto_service.PROVISION for step in result.steps
    )
    secret = (spec.secret or generated or "") if sent_credentials else ""
    return Sent(result, int((time.monotonic() - started) * 1000), secret)


# --- "Send again" of an attempt whose outcome is unknown ------------------------------------------


def device_from_intent(intent):
    """The device builder's device (as ``bosch.device_from_request`` gives it) read back from the
    intent row of an unknown Hono + Ditto or Ditto attempt, or None."""
    return hono_ditto_preview.device_from_record(intent.request, intent.target)


def resume_point(intent):
    """Where a Send again of the unknown attempt of ``intent`` starts: {"confirmed": the steps it
    and the attempts it resumed confirmed, in order (not sent again); "from": the first step it
    did not confirm ("" when none is left); "credentials": "kept" when the earlier attempt set
    the device's credentials (none are sent again), "sent" when they are sent now, else ""}."""
    confirmed, _ = hono_ditto_chain.confirmed_steps(intent.correlation_id)
    names = [step.get("step") for step in intent.request.get("steps", []) if isinstance(step, dict)]
    credentials = ""
    if "credentials" in names:
        credentials = "kept" if "credentials" in confirmed else "sent"
    return {
        "confirmed": confirmed,
        "from": next((name for name in names if name not in confirmed), ""),
        "credentials": credentials,
    }


def resume_problem(form, intent):
    """Why the valid ``form`` cannot complete the unknown attempt of ``intent``, or "".

    Send again does not send the steps the earlier attempt confirmed: the form must ask for
    what those steps made, or what it asks for differently would be dropped without a word."""
    confirmed = resume_point(intent)["confirmed"]
    settings = settings_for(form.cleaned_data["config"])
    now = {step.name: request_record(settings, step) for step in hd.plan(settings, form.to_spec())}
    earlier = {step.get("step"): step for step in intent.request.get("steps", []) if isinstance(step, dict)}
    changed = [
        name for name in confirmed if name in now and comparable(now[name]) != comparable(earlier.get(name))
    ]
    if not changed:
        return ""
    return (
        f"The attempt you are completing made these already, with the values it was sent with: "
        f"{', '.join(changed)}. Send again does not send them again, so a change to them would not "
        "reach the provider: put back the values the form was filled with."
    )


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
