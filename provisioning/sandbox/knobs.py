"""Switches, faults and the token counter of the sandbox, for demos, tests and benchmarks.

Everything lives in the database (one Knobs row, a queue of Fault rows), so a
change made here, in a test process or on the /sandbox/ page reaches every web
process at once. Typical use from a test::

    from provisioning.sandbox import knobs

    knobs.configure(latency_ms=50, token_lifetime=5)
    knobs.inject_fault(503, count=2, retry_after=1)          # the next two API requests
    knobs.inject_fault("reset", target="token")              # the next token request
    knobs.expire_tokens()                                    # every token issued so far dies
    assert knobs.token_count() == 1                          # tokens issued (both styles)
    knobs.reset()                                            # defaults, no faults, counter 0

The knobs:

- ``latency_ms``: every sandbox request (token or API) sleeps this long first.
- ``token_lifetime``: ``expires_in`` in seconds for new tokens; None means the
  style's default (3599 for Suite Auth, 300 for Nexeed). A client's own
  ``token_lifetime`` (see seed.create_client) wins over this knob.
- ``clock_skew_seconds``: the sandbox's clock runs this far ahead (or, negative,
  behind) the real one. It sets ``iat``/``exp`` of new tokens and is the clock
  the API checks ``exp`` against, so raising it after a token was issued makes
  that token expire early, without sleeping.

Faults are queued per target ("api": the provisioning endpoints, "token": both
token endpoints, "hono": the Hono registry, "ditto": Ditto's things and policies;
``inject_fault(503, target="ditto")``) and used oldest first, one per request, before anything else
is checked. Taking one is a conditional update (``remaining__gt=0``) whose count
says whether the unit was ours, so two processes never use the same unit of a fault. The kinds:

- 429 (``Retry-After``, 1 s unless given), 500, 503 (``Retry-After`` if given),
  402, 401: answered at once, in the target API's error shape; nothing is created or deleted.
- "slow": sleep ``seconds`` (default: OUTBOUND_READ_TIMEOUT + 5), then handle
  the request normally, so a client that timed out finds its device created.
- "reset": drop the connection without any response; nothing is done.
- "garbage": handle the request normally, then replace the body with
  non-JSON text (status kept; Content-Type still claims JSON).
- "expire_tokens": not queued; the same as calling expire_tokens().
"""

import time

from django.conf import settings
from django.db import transaction
from django.db.models import F

from provisioning.sandbox.models import Fault, Knobs

KNOB_LIMITS = {
    "latency_ms": (0, 600_000),
    "token_lifetime": (1, 7 * 86_400),
    "clock_skew_seconds": (-10 * 365 * 86_400, 10 * 365 * 86_400),
}
NULLABLE_KNOBS = frozenset({"token_lifetime"})
FAULT_KINDS = frozenset(choice.value for choice in Fault.Kind)
TARGETS = frozenset(choice.value for choice in Fault.Target)


def row():
    """The Knobs row, or an unsaved row with the defaults when none was ever saved."""
    return Knobs.objects.filter(pk=1).first() or Knobs(pk=1)


def _ensure_row():
    Knobs.objects.get_or_create(pk=1)


def current():
    """The knobs and counters as a plain dict."""
    knobs = row()
    return {
        "latency_ms": knobs.latency_ms,
        "token_lifetime": knobs.token_lifetime,
        "clock_skew_seconds": knobs.clock_skew_seconds,
        "tokens_issued": knobs.tokens_issued,
    }


def configure(**changes):
    """Change some knobs (latency_ms, token_lifetime, clock_skew_seconds); return current().

    Raises TypeError for an unknown knob and ValueError for a value out of range,
    so a typo in a test fails loudly instead of silently changing nothing.
    """
    for name, value in changes.items():
        if name not in KNOB_LIMITS:
            raise TypeError(f"Unknown sandbox knob {name!r}; known: {', '.join(sorted(KNOB_LIMITS))}.")
        if value is None and name in NULLABLE_KNOBS:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"Knob {name} takes an integer, not {value!r}.")
        low, high = KNOB_LIMITS[name]
        if not low <= value <= high:
            raise ValueError(f"Knob {name} must be between {low} and {high}.")
    with transaction.atomic():
        _ensure_row()
        if changes:
            Knobs.objects.filter(pk=1).update(**changes)
    return current()


def reset():
    """Back to a clean sandbox: default knobs, zero counters, no faults. Devices stay.

    The token serial survives, so tokens revoked by expire_tokens() stay revoked.
    """
    with transaction.atomic():
        Fault.objects.all().delete()
        _ensure_row()
        Knobs.objects.filter(pk=1).update(
            latency_ms=0, token_lifetime=None, clock_skew_seconds=0, tokens_issued=0
        )


def reset_counters():
    """Zero the token counter."""
    Knobs.objects.filter(pk=1).update(tokens_issued=0)


def token_count():
    """How many tokens the token endpoints have issued (both styles)."""
    return row().tokens_issued


def expire_tokens():
    """Treat every token issued so far as expired; tokens issued later work."""
    with transaction.atomic():
        _ensure_row()
        Knobs.objects.filter(pk=1).update(tokens_revoked_through=F("token_serial"))


def inject_fault(kind, count=1, *, retry_after=None, seconds=None, target="api"):
    """Queue ``kind`` for the next ``count`` requests to ``target``; return the Fault (or None).

    ``kind`` is 429, 500, 503, 402, 401 (int or str), "slow", "reset", "garbage"
    or "expire_tokens" (which acts at once and ignores the other arguments).
    """
    kind = str(kind)
    if kind == "expire_tokens":
        expire_tokens()
        return None
    if kind not in FAULT_KINDS:
        raise ValueError(f"Unknown fault {kind!r}; use one of {sorted(FAULT_KINDS)} or 'expire_tokens'.")
    if target not in TARGETS:
        raise ValueError(f"Unknown fault target {target!r}; use one of {sorted(TARGETS)}.")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive integer.")
    if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
        raise ValueError("retry_after must be a non-negative integer (seconds).")
    if seconds is not None and not 0 <= seconds <= 3600:
        raise ValueError("seconds must be between 0 and 3600.")
    if kind == Fault.Kind.TOO_MANY and retry_after is None:
        retry_after = 1
    with transaction.atomic():
        _ensure_row()
        return Fault.objects.create(
            target=target, kind=kind, remaining=count, retry_after=retry_after, seconds=seconds
        )


def clear_faults(target=None):
    """Drop queued faults (of one target, or all)."""
    faults = Fault.objects.all()
    if target is not None:
        faults = faults.filter(target=target)
    faults.delete()


def pending_faults():
    """The queued faults, oldest first, as dicts."""
    return [
        {
            "target": f.target,
            "kind": f.kind,
            "remaining": f.remaining,
            "retry_after": f.retry_after,
            "seconds": f.seconds,
        }
        for f in Fault.objects.filter(remaining__gt=0).order_by("pk")
    ]


# What the views use, one request at a time.


def clock(knobs):
    """The sandbox's "now" in seconds since the epoch, skew included."""
    return time.time() + knobs.clock_skew_seconds


def slow_seconds(fault):
    return fault.seconds if fault.seconds is not None else settings.OUTBOUND_READ_TIMEOUT + 5


def begin_request(target):
    """The knobs for one request, with ``fault_pending`` set: two reads, no write."""
    knobs = row()
    knobs.fault_pending = Fault.objects.filter(target=target, remaining__gt=0).exists()
    return knobs


def take_fault(target):
    """Use one unit of the oldest pending fault of ``target``; None when there is none."""
    for _ in range(10):
        fault = Fault.objects.filter(target=target, remaining__gt=0).order_by("pk").first()
        if fault is None:
            return None
        if Fault.objects.filter(pk=fault.pk, remaining__gt=0).update(remaining=F("remaining") - 1):
            return fault
    return None


def next_token_serial():
    """Count one issued token and return its serial number (1, 2, ...)."""
    with transaction.atomic():
        _ensure_row()
        Knobs.objects.filter(pk=1).update(
            tokens_issued=F("tokens_issued") + 1, token_serial=F("token_serial") + 1
        )
        return Knobs.objects.values_list("token_serial", flat=True).get(pk=1)
