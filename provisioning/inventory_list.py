"""Reading the inventory: the Devices page's filters, search, labels, keyset pages and exports.

The inventory (provisioning.inventory) holds each device's state; what the page adds is
time: an attempt still open on a device after history's ``unknown_after`` reads "outcome
unknown", as its intent does in history, and a recent one "in progress". The state filter
follows the label the page shows.

Order: newest-changed first (``changed_at`` is never empty, and a device something just
happened to is the one an operator looks for). Under "created between" the list is
newest-created first instead, so the dates are a range of the index it walks.
"""

import json
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone

from provisioning import history_search as search
from provisioning.bulk.models import FINISHED, BulkJob, JobStatus
from provisioning.exports import csv_lines
from provisioning.form_fields import (
    TeamChoiceField,
    filter_by_template,
    template_filter_problem,
    template_filters,
)
from provisioning.history import unknown_after
from provisioning.listing import Keyset
from provisioning.models import AuditEvent, Connection, Device, DeviceState, DeviceTemplate, Namespace

IN_PROGRESS = "in_progress"
STATE_CHOICES = [
    ("", "Any state"),
    (DeviceState.CREATED, "Created"),
    (DeviceState.DEPROVISIONED, "De-provisioned"),
    (DeviceState.UNKNOWN, "Outcome unknown"),
    (DeviceState.INCOMPLETE, "Incomplete (some parts made)"),
    (IN_PROGRESS, "Attempt in progress"),
]
# Jobs that sent rows, so may have created devices (a draft or a rejected upload sent none).
SENT = [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.CANCELLING, *FINISHED]

BY_CHANGE = Keyset("changed_at")
BY_CREATION = Keyset("created_at")


class JobChoiceField(TeamChoiceField):
    """One of the team's bulk jobs, named by its public id in the address. Any of them is
    accepted; the select offers the latest few (and the one chosen): a team's jobs add up,
    and older ones are reached from their job page or a device's row."""

    OFFERED = 20

    def label_from_instance(self, obj):
        return f"{obj.file_name or 'upload'}, {obj.created_at:%Y-%m-%d %H:%M} ({obj.created_by_name})"

    def offer(self, raw):
        """Set the select's options: the latest jobs, and the one ``raw`` (the address's value)
        names if it is another of the team's."""
        latest = list(self.queryset[: self.OFFERED])
        if raw and raw not in {str(job.public_id) for job in latest}:
            try:
                latest.append(self.to_python(raw))
            except forms.ValidationError:
                pass  # the form says what is wrong with it
        self.widget.choices = [("", self.empty_label)] + [
            (job.public_id, self.label_from_instance(job)) for job in latest if job is not None
        ]


class DeviceFilter(forms.Form):
    q = search.SearchField()
    state = forms.ChoiceField(choices=STATE_CHOICES, required=False)
    connection = TeamChoiceField(queryset=Connection.objects.none(), required=False)
    namespace = TeamChoiceField(queryset=Namespace.objects.none(), required=False)
    job = JobChoiceField(
        queryset=BulkJob.objects.none(), required=False, to_field_name="public_id", label="Bulk job"
    )
    template, template_version = template_filters()
    since = forms.DateField(
        required=False, label="Created from", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="Created to", widget=forms.DateInput(attrs={"type": "date"})
    )
    # Set by links (a history entry's "Device" link), not by the form: one device, exactly.
    device = forms.CharField(required=False, max_length=300, widget=forms.HiddenInput, label="Device")

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["connection"].queryset = Connection.objects.filter(team=team)
        self.fields["connection"].empty_label = "Any connection"
        self.fields["namespace"].queryset = Namespace.objects.filter(team=team)
        self.fields["namespace"].empty_label = "Any namespace"
        self.fields["job"].queryset = BulkJob.objects.filter(team=team, status__in=SENT)
        self.fields["job"].empty_label = "Any, or none"
        self.fields["job"].offer(self.data.get(self.add_prefix("job")) if self.is_bound else None)
        filter_by_template(self, team)

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        template_filter_problem(self, cleaned)
        return cleaned

    def keyset(self):
        """How the matching devices are ordered and paged (see the module's docstring)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return BY_CREATION if data.get("since") or data.get("until") else BY_CHANGE


def _state(value, limit):
    stale = Q(open_since__lt=limit)  # an open attempt that could have finished: outcome unknown
    if value == IN_PROGRESS:
        return Q(open_since__gte=limit)
    if value == DeviceState.UNKNOWN:
        return Q(state=DeviceState.UNKNOWN) | stale
    return Q(state=value) & ~stale


def devices(team, filters=None):
    """The team's devices that match ``filters`` (a bound, valid DeviceFilter, or None), in
    the filters' order."""
    data = filters.cleaned_data if filters is not None and filters.is_bound and filters.is_valid() else {}
    rows = search.DEVICES.team_rows(team, data.get("q"))
    if data.get("q"):
        rows = search.DEVICES.containing(rows, data["q"])
    if data.get("device"):
        rows = rows.filter(device_id=data["device"])
    if data.get("state"):
        rows = rows.filter(_state(data["state"], timezone.now() - unknown_after()))
    if data.get("connection"):
        rows = rows.filter(connection_ref=data["connection"].pk)
    if data.get("namespace"):
        rows = rows.filter(namespace=data["namespace"].name)
    if data.get("job"):
        rows = rows.filter(bulk_job=data["job"].public_id)
    if data.get("template"):
        rows = rows.filter(template_ref=data["template"].pk)
        if data.get("template_version"):
            rows = rows.filter(template_version=data["template_version"])
    if data.get("since"):
        rows = rows.filter(created_at__gte=datetime.combine(data["since"], time.min, tzinfo=UTC))
    if data.get("until"):
        rows = rows.filter(
            created_at__lt=datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=UTC)
        )
    keyset = filters.keyset() if filters is not None else BY_CHANGE
    return keyset.order(rows)


def shown_state(device, limit):
    """(label, css class) of a device as the page shows it, ``limit`` the time before which an
    open attempt's outcome is unknown."""
    deprovisioning = device.open_action == "device.deprovision"
    if device.open_since is not None and device.open_since < limit:
        return ("De-provisioning: outcome unknown" if deprovisioning else "Outcome unknown"), "unknown"
    if device.state == DeviceState.NONE:
        return "First attempt in progress", "in-progress"
    return device.get_state_display(), device.state


def label(items):
    """Set on each device of a page: ``shown``/``shown_css`` (its state as the page shows it),
    ``busy`` (an attempt in progress, besides the state), ``job_pk`` (its bulk job's page, if
    the job still exists), ``created_entry`` (the history entry of the attempt that
    created it, if the log still has its outcome row) and ``template_exists`` (its template's
    page can be opened). Two or three queries for the page."""
    limit = timezone.now() - unknown_after()
    jobs = dict(
        BulkJob.objects.filter(public_id__in={d.bulk_job for d in items if d.bulk_job}).values_list(
            "public_id", "pk"
        )
    )
    attempts = {d.created_attempt for d in items if d.created_attempt}
    entries = dict(
        AuditEvent.objects.filter(
            team_id__in={d.team_id for d in items},
            correlation_id__in=attempts,
            phase=AuditEvent.Phase.OUTCOME,
        ).values_list("correlation_id", "pk")
        if attempts
        else []
    )
    refs = {d.template_ref for d in items if d.template_ref}
    templates = set(
        DeviceTemplate.objects.filter(team_id__in={d.team_id for d in items}, pk__in=refs).values_list(
            "pk", flat=True
        )
        if refs
        else []
    )
    for device in items:
        device.template_exists = device.template_ref in templates
        device.shown, device.shown_css = shown_state(device, limit)
        device.busy = (
            device.state != DeviceState.NONE and device.open_since is not None and device.open_since >= limit
        )
        device.job_pk = jobs.get(device.bulk_job)
        device.created_entry = entries.get(device.created_attempt)
    return items


# --- export ---------------------------------------------------------------------------------------

EXPORT_COLUMNS = [
    "device_id",
    "namespace",
    "connection",
    "state",
    "shown_as",
    "changed_at",
    "created_at",
    "created_by",
    "created_attempt",
    "bulk_job",
    "template",
    "template_version",
    "last_attempt",
    "open_attempt",
    "open_action",
    "open_since",
    "checked_at",
    "check_result",
]
_FIELDS = {"connection": "connection_name", "template": "template_name"}
_READ = [_FIELDS.get(c, c) for c in EXPORT_COLUMNS if c != "shown_as"]


def _text(value):
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _records(rows):
    """One dict per device, read in chunks as plain values (constant memory)."""
    limit = timezone.now() - unknown_after()
    for values in rows.values_list(*_READ).iterator(chunk_size=2000):
        device = Device(**dict(zip(_READ, values, strict=True)))
        record = {
            column: _text(getattr(device, _FIELDS.get(column, column), None)) for column in EXPORT_COLUMNS
        }
        record["shown_as"] = shown_state(device, limit)[0]
        yield record


def stream_csv(rows):
    return csv_lines(EXPORT_COLUMNS, _records(rows))


def stream_jsonl(rows):
    for record in _records(rows):
        yield json.dumps(record, ensure_ascii=False) + "\n"


def device_query(team, entry):
    """The Devices page's query string that lists the device the audit row ``entry`` is about,
    exactly, or None when the inventory has no row for it."""
    if not (entry.action.startswith("device.") and entry.target):
        return None
    ref = entry.client_ref or 0
    if not Device.objects.filter(team_id=team.pk, connection_ref=ref, device_id=entry.target).exists():
        return None
    query = QueryDict(mutable=True)
    query["device"] = entry.target
    if Connection.objects.filter(team=team, pk=ref).exists():
        query["connection"] = str(ref)
    return query.urlencode()
