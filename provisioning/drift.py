"""Check at provider: read each part of a provisioned device back and compare it with what
the attempt sent (its intent row), part by part: present, missing, or different (and what).

- Hono + Ditto: the Hono device, its credentials (auth-id and type only), the generated
  policy (when the attempt made one) and the thing. Ditto alone: the policy and the thing.
- Bosch IoT Suite: the twin, through Bosch IoT Things (``GET {Things base URL}/api/2/things/{id}``)
  when the connection has a Things base URL. Bosch's provisioning API cannot read a device
  back, and the Hub device and credentials are not readable with the connection's token; one
  call made all four, so the twin stands for them.

The URLs are built from the connection as it is now (not taken from the audit row), so its
credentials only ever go where it points today.

A check is one audit row (action ``device.check``, its own correlation id) whose request names
the attempt it checked (``checks``) and whose response holds each part's answer, never a
secret. When the attempt's outcome is unknown and the answer is certain (every part present as
sent, or none present), the row also says it ``resolves`` that attempt, with its
``resolution`` ("created" or "not created"); history shows it on the attempt's entry. A check
whose reads failed, or which could not be recorded, resolves nothing.

``compare_existing`` serves hono_ditto_service: a create step answered "already exists" reads
the part there and says whether it is what the step would have made.
"""

import logging
import time
import uuid
from dataclasses import dataclass, field

from django.db import DatabaseError

from provisioning import audit, compare, crypto, history
from provisioning.api import config_auth
from provisioning.models import AuditEvent
from provisioning.providers import bosch
from provisioning.providers import hono_ditto as hd
from provisioning.providers.hono_ditto_connection import endpoint_auth, settings_for
from provisioning.providers.hono_ditto_errors import SERVICES
from provisioning.providers.read import ReadFailed, read

logger = logging.getLogger(__name__)

CHECK_ACTION = "device.check"
PRESENT, MISSING, DIFFERENT, FAILED = compare.PRESENT, compare.MISSING_PART, compare.DIFFERENT, compare.FAILED
UNAVAILABLE = "unavailable"  # nothing could be read at all (nothing recorded)
TITLES = {
    "device": "Hono device",
    "credentials": "Hono credentials (auth-id and type)",
    "policy": "Policy",
    "thing": "Twin (thing)",
}
WHAT = {
    "device": "the Hono device",
    "credentials": "the device's credentials",
    "policy": "the policy",
    "thing": "the twin",
}
BOSCH_THINGS = "Bosch IoT Things"
NO_THINGS_URL = (
    "Bosch's provisioning API creates a device but cannot read one back, so there is nothing to "
    "check it with. To check devices of this connection, a team admin can enter its Things base URL "
    "(Bosch IoT Things' HTTP API, for example https://things.eu-1.bosch-iot-suite.com) in the "
    "connection's settings: the twin is then read with the connection's own token."
)
BOSCH_NOT_READ = (
    "The Hub device and its credentials cannot be read back with the connection's token; Bosch "
    "makes them in the same call as the twin."
)


@dataclass
class PartCheck:
    part: str  # device, credentials, policy, thing
    state: str  # present, missing, different, failed
    url: str = ""
    http_status: int | None = None
    differences: list = field(default_factory=list)  # compare.Difference
    message: str = ""
    next_step: str = ""
    # A failed read: what kind of failure (providers.read.ReadFailed.kind) and the wait asked for.
    failure_kind: str = ""
    retry_after: int | None = None

    @property
    def title(self):
        return TITLES[self.part]

    def as_dict(self):
        return {
            "part": self.part,
            "state": self.state,
            "url": self.url,
            "httpStatus": self.http_status,
            "differences": [difference.as_dict() for difference in self.differences],
            "message": self.message,
        }


@dataclass
class Check:
    """What a check found; ``correlation_id`` is its audit row's (None: nothing was recorded)."""

    attempt: uuid.UUID
    device_id: str
    verdict: str  # present, missing, different, partial, failed, unavailable
    message: str
    parts: list = field(default_factory=list)
    next_step: str = ""
    not_read: str = ""  # the parts that cannot be read, in words (Bosch)
    resolution: str = ""  # "created" or "not created" when this check resolved the attempt
    correlation_id: uuid.UUID | None = None


# --- what the attempt sent ------------------------------------------------------------------


def sent_parts(request):
    """[(part, body sent)] of an attempt's intent ``request``, in the order they were made.

    Hono + Ditto and Ditto attempts keep their steps; a Bosch attempt keeps its one body, whose
    ``things.thing`` is the twin (with no ``policyId`` when Bosch generated the policy)."""
    if not isinstance(request, dict):
        return []
    steps = request.get("steps")
    if isinstance(steps, list):
        return [
            (step["step"], step.get("body"))
            for step in steps
            if isinstance(step, dict) and step.get("step") in TITLES and step.get("method") in ("POST", "PUT")
        ]
    body = request.get("body")
    thing = ((body or {}).get("things") or {}).get("thing") if isinstance(body, dict) else None
    return [("thing", thing if isinstance(thing, dict) else {})] if isinstance(body, dict) else []


def attempt_provider(request):
    """ "hono_ditto", "ditto" or "bosch": the kind of connection an attempt went through."""
    provider = request.get("provider") if isinstance(request, dict) else None
    return provider if provider in ("hono_ditto", "ditto") else "bosch"


# --- one part -------------------------------------------------------------------------------


def judge(part, sent, found):
    """The PartCheck of a definite read ``found`` (a providers.read.Found) of ``part``."""
    check = PartCheck(part, MISSING, http_status=found.http_status)
    if not found.exists or (part == "credentials" and not found.body):
        return check  # Hono keeps an empty credentials set with its device: none is "missing"
    check.differences = compare.part_differences(part, sent, found.body)
    check.state = DIFFERENT if check.differences else PRESENT
    if check.differences:
        check.message = compare.describe(check.differences)
    return check


def read_part(part, sent, url, auth, *, service, hono_tenant=None, correlation_id=None):
    """Read ``part`` at ``url`` and judge it; a failed read is a PartCheck "failed"."""
    try:
        found = read(
            url,
            auth,
            service=service,
            what=WHAT[part],
            hono_tenant=hono_tenant,
            correlation_id=correlation_id,
        )
    except ReadFailed as failure:
        return PartCheck(
            part,
            FAILED,
            url,
            failure.http_status,
            message=failure.message,
            next_step=failure.next_step,
            failure_kind=failure.kind,
            retry_after=failure.retry_after,
        )
    check = judge(part, sent, found)
    check.url = url
    return check


def compare_existing(settings, auths, step, *, correlation_id=None):
    """For a create step of a Hono + Ditto plan answered "already exists": the PartCheck of the
    part that is there against the step's body (secrets are never part of it)."""
    auth = auths.for_endpoint(step.endpoint)
    tenant = settings.tenant if step.endpoint == hd.HONO else None
    return read_part(
        step.name,
        step.body,
        step.url,
        auth,
        service=SERVICES[step.endpoint],
        hono_tenant=tenant,
        correlation_id=correlation_id,
    )


def existing_words(part_check):
    """A sentence on an existing part, for an attempt's message."""
    what = WHAT[part_check.part].removeprefix("the ")
    if part_check.state == PRESENT:
        return f"The existing {what} matches what this attempt sends."
    if part_check.state == DIFFERENT:
        return f"The existing {what} differs from what this attempt sends: {part_check.message}."
    if part_check.state == FAILED:
        return f"It could not be compared: {part_check.message}"
    return ""


# --- the whole device -------------------------------------------------------------------------


def _hono_ditto_parts(config, intent, sent, correlation_id):
    settings = settings_for(config)
    device_id = intent.target
    bodies = dict(sent)
    urls = {
        "device": hd.hono_device_url(settings, device_id),
        "credentials": hd.hono_credentials_url(settings, device_id),
        "thing": hd.thing_url(settings, device_id),
    }
    policy_id = (bodies.get("thing") or {}).get("policyId") or device_id
    urls["policy"] = hd.policy_url(settings, policy_id)
    auths = {endpoint: endpoint_auth(config, endpoint) for endpoint in config.endpoint_auths()}
    checks = []
    for part, body in sent:
        endpoint = hd.HONO if part in ("device", "credentials") else hd.DITTO
        if part == "credentials" and checks and checks[0].part == "device" and checks[0].state == MISSING:
            checks.append(
                PartCheck(part, MISSING, urls[part], message="Hono deletes a device's credentials with it.")
            )
            continue
        checks.append(
            read_part(
                part,
                body,
                urls[part],
                auths[endpoint],
                service=SERVICES[endpoint],
                hono_tenant=settings.tenant if endpoint == hd.HONO else None,
                correlation_id=correlation_id,
            )
        )
    return checks


def _summary(parts, verdict):
    named = {state: [p.title for p in parts if p.state == state] for state in (PRESENT, MISSING, DIFFERENT)}
    if verdict == PRESENT:
        return f"Everything this attempt sent is at the provider as sent: {', '.join(named[PRESENT])}."
    if verdict == MISSING:
        return f"None of it is at the provider: {', '.join(named[MISSING])} missing."
    if verdict == FAILED:
        failure = next(p for p in parts if p.state == FAILED)
        return f"The check could not read everything, so it concludes nothing. {failure.message}"
    words = []
    if named[PRESENT]:
        words.append(f"As sent: {', '.join(named[PRESENT])}.")
    for part in parts:
        if part.state == DIFFERENT:
            words.append(f"{part.title} differs: {part.message}.")
    if named[MISSING]:
        words.append(f"Missing: {', '.join(named[MISSING])}.")
    return " ".join(words)


def _resolution(team, intent, verdict):
    """ "created" / "not created" when this check settles ``intent``'s unknown outcome, else ""."""
    if verdict not in (PRESENT, MISSING) or history.unknown_attempt(team, intent.correlation_id) is None:
        return ""
    if history.resolutions(team, intent) or history.check_resolution(team, intent) is not None:
        return ""  # settled before: a later attempt or check may have changed what is there since
    return "created" if verdict == PRESENT else "not created"


RESOLUTION_WORDS = {
    "created": "This settles the attempt whose outcome was unknown: it created the device.",
    "not created": "This settles the attempt whose outcome was unknown: it did not create the device.",
}


def check_attempt(*, actor, team, config, intent):
    """Check the device of the provisioning attempt whose intent row is ``intent`` through
    ``config`` (the connection it went through, or None when it is gone); the Check, recorded
    in the audit log when anything was read."""
    check, row = examine(actor=actor, team=team, config=config, intent=intent)
    if row is None:
        return check
    try:
        AuditEvent.objects.append([row])
    except DatabaseError:
        logger.exception("the check of %s could not be recorded", intent.target)
        return unrecorded(check)
    return check


def unrecorded(check):
    """``check`` as it stands when its audit row could not be written: it settles nothing."""
    if check.resolution:
        check.message = check.message.removesuffix(" " + RESOLUTION_WORDS[check.resolution])
    check.correlation_id, check.resolution = None, ""
    check.next_step = "The check could not be recorded in the audit log, so it settles nothing."
    return check


def examine(*, actor, team, config, intent, correlation_id=None):
    """Read the device of ``intent``'s attempt back and compare it (see ``check_attempt``):
    (the Check, as it is once recorded; its audit row, unsaved, or None when nothing was read).
    A bulk check writes the rows of several checks at once; ``correlation_id`` is the row's."""
    attempt = intent.correlation_id
    sent = sent_parts(intent.request)
    provider = attempt_provider(intent.request)
    check = Check(attempt=attempt, device_id=intent.target, verdict=UNAVAILABLE, message="")
    if config is None:
        check.message = "The connection this attempt went through no longer exists, so nothing can be read."
        return check, None
    if not sent or (provider == "bosch") != config.is_bosch or (provider == "hono_ditto") != config.has_hono:
        check.message = (
            f"This attempt was not sent the way the connection “{config.name}” works now "
            f"({config.get_kind_display()}), so its device cannot be read back through it."
        )
        return check, None
    started = time.monotonic()
    correlation_id = correlation_id or uuid.uuid4()
    if config.is_bosch:
        url = bosch.things_thing_url(config, intent.target)
        if url is None:
            check.message = NO_THINGS_URL
            return check, None
        check.not_read = BOSCH_NOT_READ
        check.parts = [
            read_part(
                "thing",
                sent[0][1],
                url,
                config_auth(config),
                service=BOSCH_THINGS,
                correlation_id=correlation_id,
            )
        ]
    else:
        try:
            check.parts = _hono_ditto_parts(config, intent, sent, correlation_id)
        except crypto.SecretBoxError as exc:
            check.message = (
                f"Nothing was read: a password stored for this connection cannot be used ({exc}). "
                "A team admin can type it again in the connection's settings."
            )
            return check, None
    check.verdict = compare.verdict(part.state for part in check.parts)
    check.message = _summary(check.parts, check.verdict)
    failed = next((p for p in check.parts if p.state == FAILED), None)
    check.next_step = failed.next_step if failed else ""
    resolution = _resolution(team, intent, check.verdict)
    request = {
        "checks": str(attempt),
        "reads": [{"step": part.part, "method": "GET", "url": part.url} for part in check.parts],
    }
    if resolution:
        request["resolves"] = str(attempt)
    row = audit.build(
        CHECK_ACTION,
        actor=actor,
        team=team,
        config=config,
        status=check.verdict,
        target=intent.target,
        correlation_id=correlation_id,
        latency_ms=int((time.monotonic() - started) * 1000),
        message=check.message,
        request=request,
        response={"parts": [part.as_dict() for part in check.parts], "resolution": resolution},
    )
    check.correlation_id = correlation_id
    check.resolution = resolution
    if resolution:
        check.message += " " + RESOLUTION_WORDS[resolution]
    return check, row
