"""Reading the audit log: filters, keyset pages and streamed exports.

The log is append-only, so "outcome unknown" is derived, never written: an intent
row whose attempt is still open (provisioning.models.OpenAttempt) after the call
could have finished. Closed intents are hidden from the list (their outcome row
stands for the attempt) but stay in the log and in the detail view.
"""

import json
import uuid
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.db.models import OuterRef, Q, Subquery, TextField
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from provisioning import history_search as search
from provisioning.exports import csv_lines
from provisioning.form_fields import (
    TeamChoiceField,
    filter_by_template,
    template_filter_problem,
    template_filters,
)
from provisioning.listing import PAGE_SIZE, Keyset, active_filters, count_matches  # noqa: F401 - history's names
from provisioning.models import AuditEvent, Connection, Namespace, OpenAttempt

STATUS_CHOICES = [
    ("", "Any status"),
    ("created", "Created"),
    ("conflict", "Conflict (already exists)"),
    ("refused", "Refused by the provider"),
    ("failed", "Failed before the provider"),
    ("unknown", "Outcome unknown"),
    ("deleted", "De-provisioned"),
    ("ok", "OK (changes, tests)"),
]
ACTION_CHOICES = [
    ("", "Any action"),
    ("device.provision", "Provision a device"),
    ("device.deprovision", "De-provision a device"),
    ("device.check", "Check at provider"),
    ("client.", "Connection changes and tests"),
    ("namespace.", "Namespace changes"),
    ("member.", "Membership changes"),
    ("group.", "Group mapping changes"),
    ("bulk.", "Bulk jobs"),
]
EXPORT_COLUMNS = [
    "time",
    "action",
    "phase",
    "status",
    "http_status",
    "latency_ms",
    "actor",
    "team",
    "client",
    "template",
    "template_version",
    "target",
    "message",
    "correlation_id",
    "request",
    "response",
]


def unknown_after():
    """How long an attempt may run before an open intent counts as "outcome unknown"."""
    return timedelta(seconds=settings.OUTBOUND_CONNECT_TIMEOUT + settings.OUTBOUND_READ_TIMEOUT + 120)


class HistoryFilter(forms.Form):
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    action = forms.ChoiceField(choices=ACTION_CHOICES, required=False)
    actor = forms.CharField(required=False, max_length=150, label="Who")
    config = TeamChoiceField(queryset=Connection.objects.none(), required=False, label="Connection")
    namespace = TeamChoiceField(queryset=Namespace.objects.none(), required=False)
    template, template_version = template_filters()
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    q = search.SearchField()
    # Set by links, not by the form: every row of one attempt, every attempt on one device.
    correlation = forms.UUIDField(required=False, widget=forms.HiddenInput, label="Attempt")
    device = forms.CharField(required=False, max_length=300, widget=forms.HiddenInput, label="Device")

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["config"].queryset = Connection.objects.filter(team=team)
        self.fields["config"].empty_label = "Any connection"
        self.fields["namespace"].queryset = Namespace.objects.filter(team=team)
        self.fields["namespace"].empty_label = "Any namespace"
        filter_by_template(self, team)

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        template_filter_problem(self, cleaned)
        return cleaned


def _prefix(field, prefix):
    """``field`` starts with ``prefix``, as a range so a plain B-tree index serves it on every database."""
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": prefix + "\U0010ffff"})


# One call of a multi-step attempt (hono_ditto_service): shown on its attempt's entry page, in
# order, not as an entry of its own.
STEP_ACTION = "device.step"


def is_multi_step(intent):
    """Whether the attempt of the intent row ``intent`` is a Hono + Ditto or Ditto plan of
    several calls (its request lists them as ``steps``), not one Bosch request."""
    return isinstance(intent.request, dict) and isinstance(intent.request.get("steps"), list)


def events(team, filters=None):
    """The team's audit rows as history shows them, filtered, newest first; the steps of a
    multi-step attempt are not entries of their own (its entry page shows them)."""
    open_ids = OpenAttempt.objects.filter(team_id=team.pk).values("correlation_id")
    data = filters.cleaned_data if filters is not None and filters.is_valid() else {}
    rows = search.AUDIT.team_rows(team, data.get("q")).exclude(action=STEP_ACTION)
    status = data.get("status")
    if data.get("correlation"):
        rows = rows.filter(correlation_id=data["correlation"])  # every row of one attempt
    elif status == "unknown":
        stale = OpenAttempt.objects.filter(team_id=team.pk, started_at__lt=timezone.now() - unknown_after())
        rows = rows.filter(
            Q(phase=AuditEvent.Phase.OUTCOME, status="unknown")
            | Q(phase=AuditEvent.Phase.INTENT, correlation_id__in=stale.values("correlation_id"))
        )
    else:
        rows = rows.filter(~Q(phase=AuditEvent.Phase.INTENT) | Q(correlation_id__in=open_ids))
        if status:
            rows = rows.filter(status=status)
    action = data.get("action")
    if action:
        rows = rows.filter(_prefix("action", action) if action.endswith(".") else Q(action=action))
    if data.get("actor"):
        rows = rows.filter(actor_name=data["actor"])
    if data.get("config"):
        rows = rows.filter(client_ref=data["config"].pk)
    if data.get("namespace"):
        rows = rows.filter(namespace=data["namespace"].name)
    if data.get("device"):
        rows = rows.filter(target=data["device"])
    if data.get("template"):
        rows = rows.filter(template_ref=data["template"].pk)
        if data.get("template_version"):
            rows = rows.filter(template_version=data["template_version"])
    if data.get("q"):
        rows = search.containing(rows, data["q"])
    if data.get("since"):
        rows = rows.filter(created_at__gte=datetime.combine(data["since"], time.min, tzinfo=UTC))
    if data.get("until"):
        rows = rows.filter(
            created_at__lt=datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=UTC)
        )
    return BY_TIME.order(rows)


# Newest first; a cursor names the last row of a page (listing.Keyset).
BY_TIME = Keyset("created_at")
encode_cursor, decode_cursor, older_than, page = BY_TIME.encode, BY_TIME.decode, BY_TIME.after, BY_TIME.page


def label_open_intents(items, team):
    """Mark intent rows on a page: still in progress, outcome unknown, or closed (recorded).

    An attempt is open while its OpenAttempt row exists (inserted with the intent,
    deleted with the outcome); a closed intent has an outcome row of its own.
    """
    intents = [row.correlation_id for row in items if row.phase == AuditEvent.Phase.INTENT]
    if not intents:
        return items
    started = dict(
        OpenAttempt.objects.filter(team_id=team.pk, correlation_id__in=intents).values_list(
            "correlation_id", "started_at"
        )
    )
    limit = timezone.now() - unknown_after()
    for row in items:
        if row.phase == AuditEvent.Phase.INTENT:
            row.display_status = open_status(started.get(row.correlation_id), limit)
    return items


def open_status(started_at, limit):
    """How an intent row reads, from its OpenAttempt's start (None: the attempt is closed)."""
    if started_at is None:
        return "recorded"
    return "in progress" if started_at >= limit else "unknown"


def provision_outcome(team, entry):
    """The outcome row of the provisioning attempt ``entry`` belongs to, or None."""
    if entry.action != "device.provision":
        return None
    if entry.phase == AuditEvent.Phase.OUTCOME:
        return entry
    return AuditEvent.objects.filter(
        team_id=team.pk, correlation_id=entry.correlation_id, phase=AuditEvent.Phase.OUTCOME
    ).first()


def unknown_attempt(team, correlation_id):
    """The intent row of ``team``'s provisioning attempt ``correlation_id`` when its outcome is
    unknown (recorded as such, or never recorded), else None."""
    rows = AuditEvent.objects.filter(
        team_id=team.pk, correlation_id=correlation_id, action="device.provision"
    )
    intent = rows.filter(phase=AuditEvent.Phase.INTENT).first()
    if intent is None:
        return None
    outcome = rows.filter(phase=AuditEvent.Phase.OUTCOME).first()
    if outcome is not None:
        return intent if outcome.status == "unknown" else None
    started = (
        OpenAttempt.objects.filter(correlation_id=correlation_id).values_list("started_at", flat=True).first()
    )
    return intent if open_status(started, timezone.now() - unknown_after()) == "unknown" else None


def resolved_attempt(row):
    """The correlation id of the unknown attempt that the attempt of intent ``row`` was sent to
    resolve ("Send again"), or None."""
    origin = row.request.get("origin") if isinstance(row.request, dict) else None
    resolves = origin.get("resolves") if isinstance(origin, dict) else None
    try:
        return uuid.UUID(resolves) if resolves else None
    except (TypeError, ValueError):
        return None


def resolutions(team, intent):
    """The outcome rows of the attempts sent again to resolve the unknown attempt of ``intent``."""
    later = AuditEvent.objects.filter(
        team_id=team.pk,
        target=intent.target,
        action="device.provision",
        phase=AuditEvent.Phase.INTENT,
        created_at__gt=intent.created_at,
    )
    ids = [row.correlation_id for row in later if resolved_attempt(row) == intent.correlation_id]
    return list(
        AuditEvent.objects.filter(
            team_id=team.pk, correlation_id__in=ids, phase=AuditEvent.Phase.OUTCOME
        ).order_by("created_at")
    )


# A read of a device at its provider (provisioning.drift); its row names the attempt it checked
# ("checks") and, when it settled that attempt's unknown outcome, "resolves" it.
CHECK_ACTION = "device.check"


def _named_attempt(row, key):
    value = row.request.get(key) if isinstance(row.request, dict) else None
    try:
        return uuid.UUID(value) if value else None
    except (TypeError, ValueError, AttributeError):
        return None


def checked_attempt(row):
    """The correlation id of the attempt that the check ``row`` read back, or None."""
    return _named_attempt(row, "checks")


def check_resolution(team, intent):
    """The check row that settled the unknown attempt of ``intent``, or None."""
    later = AuditEvent.objects.filter(
        team_id=team.pk, action=CHECK_ACTION, target=intent.target, created_at__gt=intent.created_at
    ).order_by("created_at", "id")
    return next((row for row in later if _named_attempt(row, "resolves") == intent.correlation_id), None)


def settled(team, intent):
    """Whether the unknown attempt of ``intent`` was found made since: a later Send again
    created the device or found it there, or a check at the provider found all of it as sent.
    Such an attempt is not sent again."""
    if any(later.status in ("created", "conflict") for later in resolutions(team, intent)):
        return True
    check = check_resolution(team, intent)
    return check is not None and (check.response or {}).get("resolution") == "created"


def deprovisioned_since(team, entry):
    """True when the device of ``entry`` was de-provisioned (by this team) after it."""
    return AuditEvent.objects.filter(
        team_id=team.pk,
        action="device.deprovision",
        phase=AuditEvent.Phase.OUTCOME,
        status="deleted",
        target=entry.target,
        created_at__gt=entry.created_at,
    ).exists()


# --- export ---------------------------------------------------------------------------------------


# Read as plain values, the bodies as the database's own JSON text: no model instances, and
# no parsing of a body only to write it out again (a full export reads a million rows).
EXPORT_FIELDS = [
    "created_at",
    "action",
    "phase",
    "status",
    "http_status",
    "latency_ms",
    "actor_name",
    "team_name",
    "client_name",
    "template_name",
    "template_version",
    "target",
    "message",
    "correlation_id",
]


def _records(rows):
    """(record without bodies, request JSON text or None, response JSON text or None) per row.

    Read in chunks (constant memory). Intent rows say how their attempt stands: listed
    intents are open attempts (or every row of one attempt), so the one extra query
    each costs nothing measurable.
    """
    limit = timezone.now() - unknown_after()
    # An attempt's request is kept on its intent row; its outcome row (the one listed) shows it too.
    intent_request = AuditEvent.objects.filter(
        correlation_id=OuterRef("correlation_id"), phase=AuditEvent.Phase.INTENT
    ).values("request")[:1]
    values = rows.annotate(
        request_text=Coalesce(Cast("request", TextField()), Cast(Subquery(intent_request), TextField())),
        response_text=Cast("response", TextField()),
    ).values_list(*EXPORT_FIELDS, "request_text", "response_text")
    for (
        created_at,
        action,
        phase,
        status,
        http_status,
        latency_ms,
        actor,
        team,
        config_name,
        template_name,
        template_version,
        target,
        message,
        correlation_id,
        request,
        response,
    ) in values.iterator(chunk_size=2000):
        if phase == AuditEvent.Phase.INTENT:
            started = (
                OpenAttempt.objects.filter(correlation_id=correlation_id)
                .values_list("started_at", flat=True)
                .first()
            )
            status = open_status(started, limit)
        record = {
            "time": created_at.isoformat(),
            "action": action,
            "phase": phase,
            "status": status,
            "http_status": http_status,
            "latency_ms": latency_ms,
            "actor": actor,
            "team": team,
            "client": config_name,
            "template": template_name or "",
            "template_version": template_version,
            "target": target,
            "message": message,
            "correlation_id": str(correlation_id),
        }
        yield record, request, response


def stream_csv(rows):
    def records():
        for record, request, response in _records(rows):
            record["request"], record["response"] = request or "", response or ""
            yield record

    return csv_lines(EXPORT_COLUMNS, records())


def stream_jsonl(rows):
    for record, request, response in _records(rows):
        head = json.dumps(record, ensure_ascii=False)[:-1]
        yield f'{head}, "request": {request or "null"}, "response": {response or "null"}}}\n'
