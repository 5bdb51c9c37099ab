"""Reading the audit log: filters, keyset pages and streamed exports.

The log is append-only, so "outcome unknown" is derived, never written: an intent
row whose attempt is still open (provisioning.models.OpenAttempt) after the call
could have finished. Closed intents are hidden from the list (their outcome row
stands for the attempt) but stay in the log and in the detail view.
"""

import base64
import csv
import json
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from provisioning.models import AuditEvent, Namespace, OAuthClient, OpenAttempt

PAGE_SIZE = 50
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
    ("client.", "Client configuration changes and tests"),
    ("namespace.", "Namespace changes"),
    ("member.", "Membership changes"),
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
    client = forms.ModelChoiceField(queryset=OAuthClient.objects.none(), required=False, label="Client")
    namespace = forms.ModelChoiceField(queryset=Namespace.objects.none(), required=False)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(
        required=False,
        max_length=256,
        label="Device id starts with",
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off", "spellcheck": "false"}),
    )
    correlation = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["client"].queryset = OAuthClient.objects.filter(team=team)
        self.fields["client"].empty_label = "Any client"
        self.fields["namespace"].queryset = Namespace.objects.filter(team=team)
        self.fields["namespace"].empty_label = "Any namespace"

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def is_filtered(self):
        return self.is_valid() and any(v for k, v in self.cleaned_data.items())


def _prefix(field, prefix):
    """``field`` starts with ``prefix``, as a range so a plain B-tree index serves it on every database."""
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": prefix + "\U0010ffff"})


def events(team, filters=None):
    """The team's audit rows as history shows them, filtered, newest first."""
    open_ids = OpenAttempt.objects.filter(team_id=team.pk).values("correlation_id")
    rows = AuditEvent.objects.filter(team_id=team.pk)
    data = filters.cleaned_data if filters is not None and filters.is_valid() else {}
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
    if data.get("client"):
        rows = rows.filter(client_ref=data["client"].pk)
    if data.get("namespace"):
        rows = rows.filter(_prefix("target", f"{data['namespace'].name}:"))
    if data.get("q"):
        rows = rows.filter(_prefix("target", data["q"]))
    if data.get("since"):
        rows = rows.filter(created_at__gte=datetime.combine(data["since"], time.min, tzinfo=UTC))
    if data.get("until"):
        rows = rows.filter(
            created_at__lt=datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=UTC)
        )
    return rows.order_by("-created_at", "-id")


def encode_cursor(row):
    raw = f"{row.created_at.isoformat()}|{row.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text):
    """(created_at, id) from a cursor, or None for anything malformed."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        when, pk = raw.split("|")
        return datetime.fromisoformat(when), int(pk)
    except (ValueError, UnicodeDecodeError):
        return None


def page(rows, cursor=None, size=PAGE_SIZE):
    """One keyset page: rows strictly older than the cursor; returns (items, next cursor or None)."""
    position = decode_cursor(cursor) if cursor else None
    if position:
        when, pk = position
        rows = rows.filter(Q(created_at__lt=when) | Q(created_at=when, pk__lt=pk))
    items = list(rows[: size + 1])
    has_more = len(items) > size
    items = items[:size]
    return items, (encode_cursor(items[-1]) if has_more and items else None)


def label_open_intents(items, team):
    """Mark intent rows on a page: still in progress, or outcome unknown."""
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
            at = started.get(row.correlation_id)
            row.display_status = "in progress" if at and at >= limit else "unknown"
    return items


# --- export ---------------------------------------------------------------------------------------


def safe_cell(value):
    """Neutralise spreadsheet formulas: a cell starting with = + - @ tab or CR gets a leading quote."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def export_record(row):
    return {
        "time": row.created_at.isoformat(),
        "action": row.action,
        "phase": row.phase,
        "status": row.status,
        "http_status": row.http_status,
        "latency_ms": row.latency_ms,
        "actor": row.actor_name,
        "team": row.team_name,
        "client": row.client_name,
        "target": row.target,
        "message": row.message,
        "correlation_id": str(row.correlation_id),
        "request": row.request,
        "response": row.response,
    }


class _Line:
    """A file-like object for csv.writer that hands back what was written."""

    def write(self, value):
        return value


def stream_csv(rows):
    writer = csv.writer(_Line())
    yield writer.writerow(EXPORT_COLUMNS)
    for row in rows.iterator(chunk_size=2000):
        record = export_record(row)
        for key in ("request", "response"):
            record[key] = json.dumps(record[key], ensure_ascii=False) if record[key] is not None else ""
        yield writer.writerow([safe_cell(record[c]) for c in EXPORT_COLUMNS])


def stream_jsonl(rows):
    for row in rows.iterator(chunk_size=2000):
        yield json.dumps(export_record(row), ensure_ascii=False) + "\n"
