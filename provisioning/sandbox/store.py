"""The simulated Hub and Things stores: create, delete and read back, each write in one transaction.

Provisioning is all or nothing (simulator contract §7.1): the rows are inserted
in one transaction, and the unique constraints refuse any that exists already
(or that a concurrent request created first). Then the transaction is rolled
back, one query names every resource in the way, and the answer is a 409 that
lists them. The policy to reuse or copy is looked up last, so a conflict is
reported before a missing policy (400).

De-provisioning deletes whatever of the four resources exists, except what the
caller keeps, and reports each one: "... deleted successfully", "... kept"
(keepCredentials/keepPolicy, when it exists) or "... not found". Only when
none of the four exists is the answer 404. So a partial delete (say the thing
was already gone) answers 200 and says "Thing not found". The policy deleted
is the one the thing points to (it may be shared with other things: Bosch
deletes it too unless keepPolicy=true), or, when the thing is gone, the policy
whose id equals the device id.
"""

from django.db import IntegrityError, transaction

from provisioning.sandbox.errors import ApiError, bad_request, not_found
from provisioning.sandbox.models import (
    HubCredentials,
    HubDevice,
    Policy,
    ServiceInstance,
    Thing,
    secret_matches,
)


def provision(instance, plan):
    """Create the device, credentials, thing and policy of ``plan``, or raise ApiError (409, 400)."""
    try:
        with transaction.atomic():
            _insert(instance, plan)
    except IntegrityError:
        # Something exists already. The race where it was deleted again since answers "device".
        raise _conflict(plan, _existing(instance, plan) or {"device"}) from None
    except ApiError:
        # The policy to reuse or copy is missing; a conflict still answers first.
        found = _existing(instance, plan)
        if found:
            raise _conflict(plan, found) from None
        raise


def _insert(instance, plan):
    HubDevice.objects.create(
        instance=instance,
        device_id=plan.device_id,
        data={key: value for key, value in plan.device.items() if key != "deviceId"},
    )
    if plan.credentials_type:
        HubCredentials.objects.create(
            instance=instance,
            device_id=plan.device_id,
            auth_id=plan.auth_id,
            type=plan.credentials_type,
            enabled=plan.credentials_enabled,
            secrets=plan.stored_secrets,
        )
    Thing.objects.create(
        instance=instance, thing_id=plan.device_id, policy_id=plan.policy_id, data=plan.thing
    )
    if plan.policy_mode == "reuse":
        if not Policy.objects.filter(instance=instance, policy_id=plan.policy_id).exists():
            raise _policy_not_found(plan.policy_id)
        return
    if plan.policy_mode == "copy":
        plan.policy_entries = _entries_to_copy(instance, plan)
    Policy.objects.create(instance=instance, policy_id=plan.policy_id, entries=plan.policy_entries)


def _existing(instance, plan):
    """The kinds of resource ("device", "credentials", "thing", "policy") that already exist.

    Only a refused provisioning request looks, to say in its 409 what is in the way.
    """
    lookups = {
        "device": HubDevice.objects.filter(device_id=plan.device_id),
        "thing": Thing.objects.filter(thing_id=plan.device_id),
    }
    if plan.credentials_type:
        lookups["credentials"] = HubCredentials.objects.filter(
            auth_id=plan.auth_id, type=plan.credentials_type
        )
    if plan.creates_policy:
        lookups["policy"] = Policy.objects.filter(policy_id=plan.policy_id)
    return {kind for kind, queryset in lookups.items() if queryset.filter(instance=instance).exists()}


def _conflict(plan, found):
    conflicts = sorted(found)
    if "device" in found or "thing" in found:
        return ApiError(
            409,
            f"Device '{plan.device_id}' has already been provisioned.",
            "things:thing.conflict",
            f"The Thing with ID '{plan.device_id}' already exists",
            detail="Choose another Thing ID",
            conflicts=conflicts,
        )
    if "credentials" in found:
        return ApiError(
            409,
            f"Credentials of type '{plan.credentials_type}' with the auth-id '{plan.auth_id}' already exist.",
            "hub:credentials.conflict",
            "credentials (type, auth-id) must be unique",
            detail="Choose another authId, or delete the old credentials.",
            conflicts=conflicts,
        )
    return ApiError(
        409,
        f"The policy '{plan.policy_id}' already exists.",
        "policies:policy.conflict",
        f"The Policy with ID '{plan.policy_id}' already exists",
        detail="Choose another Policy ID",
        conflicts=conflicts,
    )


def _policy_not_found(policy_id):
    return bad_request(
        f"The policy '{policy_id}' does not exist.",
        "policies:policy.notfound",
        f"The Policy with ID '{policy_id}' could not be found.",
        detail="Reference an existing policy, or leave policyId out to have one generated.",
    )


def _entries_to_copy(instance, plan):
    source = plan.copy_from
    if plan.copy_from_thing is not None:
        source = (
            Thing.objects.filter(instance=instance, thing_id=plan.copy_from_thing)
            .values_list("policy_id", flat=True)
            .first()
        )
        if source is None:
            raise bad_request(
                f"The thing '{plan.copy_from_thing}' named in _copyPolicyFrom does not exist.",
                "things:thing.notfound",
            )
    entries = (
        Policy.objects.filter(instance=instance, policy_id=source).values_list("entries", flat=True).first()
    )
    if entries is None:
        raise _policy_not_found(source)
    return entries


def deprovision(instance, device_id, *, keep_credentials=False, keep_policy=False):
    """Delete a device's resources; return the four messages (§3.2), or raise a 404 ApiError."""
    with transaction.atomic():
        states = {"device": _deleted(HubDevice.objects.filter(instance=instance, device_id=device_id))}
        credentials = HubCredentials.objects.filter(instance=instance, device_id=device_id)
        states["credentials"] = _kept(credentials) if keep_credentials else _deleted(credentials)
        things = Thing.objects.filter(instance=instance, thing_id=device_id)
        policy_id = things.values_list("policy_id", flat=True).first() or device_id
        states["thing"] = _deleted(things)
        policies = Policy.objects.filter(instance=instance, policy_id=policy_id)
        states["policy"] = _kept(policies) if keep_policy else _deleted(policies)
        if set(states.values()) == {"not found"}:
            raise not_found(
                f"Device '{device_id}' is not provisioned.",
                f"No device, credentials, thing or policy with the ID '{device_id}' exists.",
            )
    return {
        "device": _message("Device", states["device"]),
        "credentials": _message("Credentials", states["credentials"]),
        "thing": _message("Thing", states["thing"]),
        "policy": _message("Policy", states["policy"]),
    }


def _deleted(queryset):
    return "deleted successfully" if queryset.delete()[0] else "not found"


def _kept(queryset):
    return "kept" if queryset.exists() else "not found"


def _message(noun, state):
    return f"{noun} {state}"


# Reading back, for tests, benchmarks and the sandbox page


def get_device(service_instance_id, device_id):
    """Everything stored for one device id, or None when nothing is.

    Returns {"device": {...} | None, "credentials": [...], "thing": {...} | None,
    "policy": {...} | None}. Credentials carry hashes, never the plaintext.
    """
    instance = ServiceInstance.objects.filter(sid=service_instance_id).first()
    if instance is None:
        return None
    device = HubDevice.objects.filter(instance=instance, device_id=device_id).first()
    thing = Thing.objects.filter(instance=instance, thing_id=device_id).first()
    credentials = HubCredentials.objects.filter(instance=instance, device_id=device_id).order_by("pk")
    policy = Policy.objects.filter(
        instance=instance, policy_id=thing.policy_id if thing else device_id
    ).first()
    result = {
        "device": {"deviceId": device.device_id, **device.data} if device else None,
        "credentials": [
            {"authId": c.auth_id, "type": c.type, "enabled": c.enabled, "secrets": c.secrets}
            for c in credentials
        ],
        "thing": {"thingId": thing.thing_id, "policyId": thing.policy_id, **thing.data} if thing else None,
        "policy": {"policyId": policy.policy_id, "entries": policy.entries} if policy else None,
    }
    if not any(result.values()):
        return None
    return result


def device_ids(service_instance_id):
    """The ids of the Hub devices stored for a service instance, sorted."""
    return list(
        HubDevice.objects.filter(instance__sid=service_instance_id)
        .order_by("device_id")
        .values_list("device_id", flat=True)
    )


def device_secret_matches(service_instance_id, auth_id, secret, credentials_type="hashed-password"):
    """True when ``secret`` (a password, or psk key bytes) matches stored credentials."""
    stored = (
        HubCredentials.objects.filter(
            instance__sid=service_instance_id, auth_id=auth_id, type=credentials_type
        )
        .values_list("secrets", flat=True)
        .first()
    )
    return any("hash" in item and secret_matches(secret, item["hash"]) for item in stored or [])
