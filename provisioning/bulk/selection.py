"""The devices a de-provisioning or checking job acts on: chosen on the Devices page (rows
ticked, or every device that matches its filters) or "what this provisioning job created",
then narrowed to those the action makes sense for, on one connection.

- A job acts through ONE connection. When the devices chosen are on several, nothing is
  split or dropped: the page lists the connections with their counts and the operator picks
  one (``connection``).
- Devices the action does not make sense for are left out, and counted by reason: one whose
  connection no longer exists, one with an attempt in progress, one in a job of this action
  that still runs, and for a de-provision one already de-provisioned. A de-provision takes
  created, unknown and incomplete devices; a check takes every device with an attempt to
  compare with (a de-provisioned one too: it should be missing).
- The confirmation page shows the count and a fingerprint of the set; the job is made only
  when the set is still the same (provisioning.bulk.jobs.start_action), so a device that
  matches after the page was shown is never added without a word.
"""

import hashlib
from dataclasses import dataclass, field

from django import forms
from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.http import QueryDict
from django.utils import timezone

from provisioning import inventory_list, listing
from provisioning.bulk.forms import DEFAULT_CONCURRENCY, MAX_CONCURRENCY
from provisioning.bulk.models import Action, BulkJob, BulkRow, JobStatus, RowState
from provisioning.history import unknown_after
from provisioning.models import Connection, Device, DeviceState

ACTIONS = [(Action.DEPROVISION, "De-provision"), (Action.CHECK, "Check at provider")]
MAX_TICKED = 500  # rows one page can tick (a page holds 50)
# The rows a device is still being worked on in (a job of the same action, not finished).
RUNNING = [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.CANCELLING]
# What a provisioning job may have created (a row of unknown outcome may have, too).
MADE_STATES = [RowState.CREATED, RowState.EXISTS, RowState.UNKNOWN]


class DeviceIdsField(forms.Field):
    """The ticked rows of the Devices page: device row ids (``device=1&device=2``)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        values = value or []
        if len(values) > MAX_TICKED:
            raise forms.ValidationError(
                f"At most {MAX_TICKED} rows can be ticked; choose all that match instead."
            )
        if not all(str(v).isdigit() for v in values):
            raise forms.ValidationError("A ticked row could not be read. Tick the rows again.")
        return sorted({int(v) for v in values})


class ActionForm(forms.Form):
    """What the operator chose on the Devices page (or a bulk job's page), and, on the
    confirmation page, the job's options."""

    action = forms.ChoiceField(choices=ACTIONS)
    scope = forms.ChoiceField(
        choices=[("ticked", "The rows ticked"), ("all", "All that match the filters")], required=False
    )
    filter = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
    device = DeviceIdsField(required=False)
    from_job = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    connection = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    # The confirmation page's.
    keep_policy = forms.BooleanField(
        required=False, label="Keep the policies", help_text="For a policy other things share."
    )
    keep_credentials = forms.BooleanField(
        required=False,
        label="Keep the credentials (keepCredentials)",
        help_text="Kept credentials block a new device with the same auth id.",
    )
    concurrency = forms.IntegerField(
        min_value=1,
        max_value=MAX_CONCURRENCY,
        initial=DEFAULT_CONCURRENCY,
        required=False,
        label="Devices at the same time",
        help_text=f"1 to {MAX_CONCURRENCY}. When the provider answers 429 or 503 the job waits as it asks.",
    )
    fingerprint = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("from_job") is None and cleaned.get("scope") != "all" and not cleaned.get("device"):
            if "device" not in self.errors:
                raise forms.ValidationError(
                    "No device was chosen: tick the rows to act on, or choose all that match the filters."
                )
        return cleaned


@dataclass
class Selection:
    action: str
    words: str  # what was chosen, for the job's page
    chosen: int = 0  # devices chosen, before any was left out
    left_out: dict = field(default_factory=dict)  # {reason: devices}
    connections: list = field(default_factory=list)  # [(Connection, devices)] when several
    connection: Connection | None = None
    devices: object = None  # the devices to act on (a Device queryset), on ``connection``
    count: int = 0
    fingerprint: str = ""
    source_job: BulkJob | None = None
    problem: str = ""  # why no job can be made of it (nothing when one can)

    @property
    def namespaces(self):
        return sorted(set(self.devices.values_list("namespace", flat=True))) if self.count else []


def _chosen(team, data):
    """(the Device rows chosen, in words, the provisioning job named, a problem or "")."""
    team_devices = Device.objects.filter(team_id=team.pk)
    if data.get("from_job"):
        job = BulkJob.objects.filter(team=team, pk=data["from_job"], action=Action.PROVISION).first()
        if job is None:
            return team_devices.none(), "", None, "That bulk job does not exist (or provisioned nothing)."
        made = BulkRow.objects.filter(job=job, state__in=MADE_STATES).exclude(device_id="")
        rows = team_devices.filter(connection_ref=job.client_id or 0, device_id__in=made.values("device_id"))
        return rows, f"The devices bulk job {job.pk} ({job.title}) created", job, ""
    if data.get("scope") == "all":
        filters = inventory_list.DeviceFilter(QueryDict(data.get("filter") or ""), team=team)
        if filters.is_bound and not filters.is_valid():
            return team_devices.none(), "", None, "The filters cannot be read; choose the devices again."
        rows = inventory_list.devices(team, filters if filters.is_bound else None).order_by()
        chips = listing.active_filters(filters, filters.data) if filters.is_bound else []
        shown = "; ".join(f"{chip['label']} “{chip['value']}”" for chip in chips)
        return rows, f"All devices that match {shown}" if shown else "All the team's devices", None, ""
    ticked = data.get("device") or []
    return team_devices.filter(pk__in=ticked), f"{len(ticked)} rows ticked on the Devices page", None, ""


def _reasons(team, action):
    """[(reason, Q of the devices left out for it)], in the order they are told apart."""
    limit = timezone.now() - unknown_after()
    in_job = BulkRow.objects.filter(
        job__team=team,
        job__action=action,
        job__status__in=RUNNING,
        job__client_id=OuterRef("connection_ref"),
        device_id=OuterRef("device_id"),
        state__in=[RowState.PENDING, RowState.SENDING],
    )
    reasons = [
        (
            "its connection no longer exists",
            ~Q(connection_ref__in=Connection.objects.filter(team=team).values("pk")),
        ),
        ("an attempt on it is in progress", Q(open_since__gte=limit)),
        ("it is in another job that has not finished", Exists(in_job)),
    ]
    if action == Action.DEPROVISION:
        reasons.append(
            ("it is de-provisioned already", Q(state=DeviceState.DEPROVISIONED, open_since__isnull=True))
        )
    return reasons


def choose(team, data):
    """The Selection of a valid ActionForm's ``data`` in ``team``."""
    action = data["action"]
    rows, words, source_job, problem = _chosen(team, data)
    selection = Selection(action=action, words=words, source_job=source_job, problem=problem)
    if problem:
        return selection
    if data.get("connection"):
        rows = rows.filter(connection_ref=data["connection"])
        narrowed = Connection.objects.filter(team=team, pk=data["connection"]).first()
        selection.words += f", those of “{narrowed.name}”" if narrowed else ""
    selection.chosen = rows.count()
    for reason, left in _reasons(team, action):
        found = rows.filter(left).count()
        if found:
            selection.left_out[reason] = found
            rows = rows.exclude(left)
    per_connection = list(rows.values_list("connection_ref").annotate(n=Count("id")).order_by("-n"))
    names = Connection.objects.filter(team=team).in_bulk([ref for ref, _ in per_connection])
    if len(per_connection) > 1:
        selection.connections = [(names[ref], n) for ref, n in per_connection]
        selection.problem = (
            f"These devices are on {len(per_connection)} connections, and a job acts through one. "
            "Choose the connection to act on; the others' devices are left for another job."
        )
        return selection
    if not per_connection:
        selection.problem = "None of the devices chosen can be acted on (see why above)."
        return selection
    ref, selection.count = per_connection[0]
    selection.connection, selection.devices = (
        names[ref],
        rows.filter(connection_ref=ref).order_by("device_id"),
    )
    if selection.count > settings.BULK_MAX_ROWS:
        selection.problem = (
            f"{selection.count:,} devices are more than one job takes ({settings.BULK_MAX_ROWS:,}). "
            "Narrow the filters (a namespace, a bulk job, dates) and act on them in parts."
        )
    elif action == Action.CHECK and selection.connection.is_bosch and not selection.connection.things_url:
        selection.problem = (
            f"The devices of “{selection.connection.name}” cannot be read back: Bosch's provisioning API "
            "cannot read a device, and the connection has no Things base URL. A team admin can enter it "
            "in the connection's settings."
        )
    if not selection.problem:
        selection.fingerprint = fingerprint(selection.devices)
    return selection


def fingerprint(devices):
    """A short digest of exactly which device rows ``devices`` holds."""
    digest = hashlib.sha256()
    for pk in devices.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=5000):
        digest.update(f"{pk},".encode())
    return digest.hexdigest()[:32]
