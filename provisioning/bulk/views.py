"""Bulk pages: the job list, the upload, one page per job (preview, progress, results), downloads.

Every view loads the team through provisioning.access (404 for another team,
403 for a role that may not act). Auditors see jobs, progress, results and the
failed-rows CSV, but cannot upload, start, cancel, retry or take the credentials.

The upload answers as soon as the file is stored; a worker checks its rows. A file whose
header does not name the expected columns goes to the mapping step first (``columns``):
one line per column of the file, with its first values, and what it is to be used as. The job
page is one URL. An htmx request for ``#job-validation`` (the poll while the file
is checked) or ``#job-progress`` (the poll, every second while the job runs) gets
that partial; for ``#job-rows`` (filters and pages of the row table) that one.
When a poll finds the job past that stage it answers ``HX-Refresh`` so the page
shows the preview or the results; without JavaScript the page has a Refresh link
and every action is a plain form POST that redirects.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from provisioning import template_use
from provisioning.access import ALL_ROLES, PROVISIONERS, get_membership
from provisioning.bulk import columns as column_mapping
from provisioning.bulk import credentials, downloads, dry_run, jobs, progress
from provisioning.bulk.csvfile import Layout, UploadError, mismatch
from provisioning.bulk.forms import ColumnsForm, UploadForm
from provisioning.bulk.models import Action, BulkJob, BulkRow, JobStatus, RowState
from provisioning.bulk.selection import MADE_STATES

ROWS_PAGE = 100
RECENT_ROWS = 12
BOM = "\ufeff"  # spreadsheet programs read a CSV as UTF-8 when it starts with one


def get_job(request, team_slug, pk, roles=ALL_ROLES):
    membership = get_membership(request, team_slug, roles)
    job = get_object_or_404(
        BulkJob.objects.select_related(
            "team", "client", "namespace", "source_job", "template_version__template"
        ),
        pk=pk,
        team=membership.team,
    )
    return membership, job


@login_required
@require_safe
def job_list(request, team_slug):
    membership = get_membership(request, team_slug)
    items = list(
        BulkJob.objects.filter(team=membership.team).exclude(
            status__in=[JobStatus.VALIDATING, JobStatus.MAPPING]
        )[:50]
    )
    for job in items:
        job.progress = progress.progress(job, from_summary=True)
        job.counts = [count for count in job.progress.shown(job.action) if count[2]]
    return render(request, "provisioning/bulk/jobs.html", {"membership": membership, "items": items})


@login_required
@require_safe
def template_csv(request, team_slug):
    get_membership(request, team_slug)
    response = HttpResponse(BOM + downloads.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="provisioner-bulk-template.csv"'
    return response


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def upload(request, team_slug):
    membership = get_membership(request, team_slug, PROVISIONERS)
    team = membership.team
    ctx = {"membership": membership, "columns": COLUMN_HELP}
    if request.method == "GET":
        # "Start from a template" (?template=): its job-wide values, and a connection of its kind.
        version = template_use.latest_usable(team, request.GET.get("template"))
        ctx["form"] = UploadForm(team=team, initial=_initial(team, version), template=version)
        ctx.update(template_use.start_context(team, version))
        return render(request, "provisioning/bulk/upload.html", ctx)
    form = UploadForm(request.POST, request.FILES, team=team)
    ctx["form"] = form
    ctx.update(template_use.start_context(team, form.template))
    if not form.is_valid():
        return render(request, "provisioning/bulk/upload.html", ctx, status=400)
    data = form.cleaned_data
    uploaded = data["file"]
    try:
        job = jobs.upload(
            team=team,
            actor=request.user,
            config=data["config"],
            namespace=data["namespace"],
            upload=uploaded,
            file_name=uploaded.name,
            credentials_type=data["credentials_type"],
            auth_scope=data["auth_scope"],
            concurrency=data["concurrency"],
            template=form.template,
        )
    except UploadError as exc:
        ctx["upload_error"] = exc.message
        return render(request, "provisioning/bulk/upload.html", ctx, status=400)
    if job.status == JobStatus.MAPPING:
        return redirect("bulk:columns", team.slug, job.pk)
    return redirect("bulk:job", team.slug, job.pk)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def columns(request, team_slug, pk):
    """The mapping step of an upload whose header does not name the expected columns."""
    membership, job = get_job(request, team_slug, pk, PROVISIONERS)
    if job.status != JobStatus.MAPPING:
        messages.info(request, "The columns of this file are matched already.")
        return redirect("bulk:job", team_slug, job.pk)
    labels = [label for label, _ in job.column_map]
    targets, remembered = column_mapping.proposed_targets(job.team, job.column_map)
    data = request.POST if request.method == "POST" else None
    form = ColumnsForm(data, labels=labels, targets=targets)
    if request.method == "POST" and form.is_valid():
        try:
            matched = jobs.match_columns(job, request.user, form.targets)
        except UploadError as exc:  # the form checks what the layout does: a safety net
            form.add_error(None, exc.message)
        else:
            if not matched:
                messages.info(request, "The columns of this file are matched already.")
            return redirect("bulk:job", team_slug, job.pk)
    ctx = {
        "membership": membership,
        "job": job,
        "form": form,
        "lines": list(form.lines(column_mapping.examples(job, len(labels)))),
        "why": mismatch(labels),
        "remembered": remembered,
        "fields": COLUMN_HELP,
    }
    return render(request, "provisioning/bulk/columns.html", ctx, status=400 if form.errors else 200)


def _initial(team, version=None):
    initial = {"concurrency": 4}
    first_config = team.configs.first()
    if version is not None:
        if version.credentials_type in ("hashed-password", "none"):  # psk: a job cannot make keys
            initial["credentials_type"] = version.credentials_type
        initial["auth_scope"] = version.auth_scope
        first_config = team.configs.filter(kind=version.template.kind).first() or first_config
    if first_config:
        initial["config"] = first_config.pk
        namespace = team.namespaces.filter(client__in=[first_config]).first() or team.namespaces.first()
        if namespace:
            initial["namespace"] = namespace.pk
    return initial


COLUMN_HELP = [
    ("name", "required", "The device name, the part after the colon. The device id is namespace:name."),
    (
        "password",
        "optional",
        "8 to 72 bytes. Leave the cell empty to have a strong one generated when the row is sent.",
    ),
    ("auth_id", "optional", "Empty: the device id with ':' replaced by '_'."),
    ("enabled", "optional", "true or false (also yes/no, 1/0). Empty means true."),
    ("via", "optional", "The full id of a gateway device allowed to send for this device."),
    ("definition", "optional", "namespace:name:version of the thing's model, e.g. com.acme:sensor:1.0.0."),
    (
        "attr.<key>",
        "optional",
        "One column per thing attribute; JSON values (42, true, {…}) are kept as JSON. "
        "An empty cell adds nothing.",
    ),
]


@login_required
@never_cache
@require_safe
def job_detail(request, team_slug, pk):
    membership, job = get_job(request, team_slug, pk)
    job = credentials.ensure_fresh(job)
    target = request.htmx.target if request.htmx else None
    polled = target and not request.htmx.history_restore_request
    if polled and target == "job-validation":
        response = render(request, "provisioning/bulk/job.html#job-validation", _upload_ctx(membership, job))
        if job.status != JobStatus.VALIDATING:
            response["HX-Refresh"] = "true"  # checked: show the preview (or why it was not accepted)
        return response
    if job.status in (JobStatus.VALIDATING, JobStatus.REJECTED, JobStatus.MAPPING):
        return render(request, "provisioning/bulk/job.html", _upload_ctx(membership, job))
    if polled and target == "job-progress":
        response = render(request, "provisioning/bulk/job.html#job-progress", _progress_ctx(membership, job))
        if not job.is_active:
            response["HX-Refresh"] = "true"  # it ended: show the whole page with the results
        return response
    ctx = _progress_ctx(membership, job)
    ctx.update(_rows_ctx(request, job))
    if polled and target == "job-rows":
        return render(request, "provisioning/bulk/job.html#job-rows", ctx)
    if job.status == JobStatus.DRAFT:
        ctx["preview"] = dry_run.first_preview(job)
    return render(request, "provisioning/bulk/job.html", ctx)


def _upload_ctx(membership, job):
    """A job whose file is being checked, or was not accepted."""
    validating = job.status == JobStatus.VALIDATING
    return {
        "membership": membership,
        "job": job,
        "can_act": membership.can_provision,
        "validation": progress.validation(job) if validating else None,
        "polling": validating,
    }


def _progress_ctx(membership, job):
    now = timezone.now()
    found = progress.progress(job, now)
    recent = []
    if job.is_active:
        recent = list(
            BulkRow.objects.filter(job=job, state=RowState.SENDING).order_by("line")[:RECENT_ROWS]
        ) + list(
            BulkRow.objects.filter(job=job, done_at__isnull=False).order_by("-done_at", "-line")[:RECENT_ROWS]
        )
    paused_for = None
    if job.pause_until and job.pause_until > now and job.is_active:
        paused_for = int((job.pause_until - now).total_seconds()) + 1
    waited = (now - job.confirmed_at).total_seconds() if job.confirmed_at else 0
    made = sum(found.counts[state] for state in MADE_STATES)
    return {
        "membership": membership,
        "job": job,
        "progress": found,
        "counts": found.shown(job.action),
        # "De-provision what this job created": a provisioning job that stopped, having made some.
        "offer_deprovision": membership.can_provision
        and job.action == Action.PROVISION
        and job.status in (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.PAUSED)
        and made > 0,
        "recent": recent[:RECENT_ROWS],
        "paused_for": paused_for,
        "waiting_long": found.executor == "waiting" and waited > progress.WAITING_HINT_AFTER,
        "can_act": membership.can_provision,
        "credentials_available": job.is_finished and credentials.credentials_available(job, now),
        "retryable": jobs.retryable_unknown(job).count()
        if job.status in (JobStatus.DONE, JobStatus.PAUSED) and found.unknown
        else 0,
        "polling": job.is_active,
        "took": progress.duration_text((job.finished_at - job.started_at).total_seconds())
        if job.finished_at and job.started_at
        else "",
    }


def _rows_ctx(request, job):
    state = request.GET.get("state", "")
    if state not in RowState.values:
        state = ""
    try:
        after = min(max(int(request.GET.get("after", "0")), 0), 2**31)  # a line number, not a big int
    except ValueError:
        after = 0
    rows = BulkRow.objects.filter(job=job, line__gt=after).order_by("line")
    if state:
        rows = rows.filter(state=state)
    page = list(
        rows.only("line", "state", "device_id", "message", "http_status", "correlation_id", "cells")[
            : ROWS_PAGE + 1
        ]
    )
    name_index = _name_index(job) if job.action == Action.PROVISION else None
    for row in page:
        # A row too broken for a device id still shows what its name cell said.
        row.name_cell = (
            row.cells[name_index]
            if name_index is not None and not row.device_id and len(row.cells) > name_index
            else ""
        )

    counts = job.row_counts()
    filters = [("", "All", sum(counts.values()))] + [
        (value, _state_label(job, value), counts[value]) for value in RowState.values if counts[value]
    ]
    return {
        "rows": page[:ROWS_PAGE],
        "next_after": page[ROWS_PAGE - 1].line if len(page) > ROWS_PAGE else None,
        "state": state,
        "after": after,
        "filters": filters,
    }


def _name_index(job):
    layout = Layout.for_job(job)
    return layout.indexes.index(layout.fields["name"])


def _state_label(job, state):
    if state == RowState.PENDING and job.status == JobStatus.CANCELLED:
        return "Not sent"
    if state == RowState.PENDING and job.status != JobStatus.DRAFT:
        return "Waiting"
    return RowState(state).label


@login_required
@require_POST
def start(request, team_slug, pk):
    _, job = get_job(request, team_slug, pk, PROVISIONERS)
    if jobs.start(job, request.user):
        messages.success(request, "The job is queued; the worker sends the rows now.")
    else:
        messages.warning(request, "This job was already started or discarded.")
    return redirect("bulk:job", team_slug, job.pk)


@login_required
@require_POST
def discard(request, team_slug, pk):
    _, job = get_job(request, team_slug, pk, PROVISIONERS)
    if jobs.discard(job, request.user):
        messages.success(request, f"The upload {job.file_name} was discarded; nothing was sent.")
        return redirect("bulk:jobs", team_slug)
    messages.warning(request, "Only a checked upload that has not been started can be discarded.")
    return redirect("bulk:job", team_slug, job.pk)


@login_required
@require_http_methods(["GET", "POST"])
def cancel(request, team_slug, pk):
    """GET asks for confirmation (the job page links here); POST cancels."""
    membership, job = get_job(request, team_slug, pk, PROVISIONERS)
    if request.method == "GET":
        if not job.is_cancellable:
            messages.warning(request, "This job is not running.")
            return redirect("bulk:job", team_slug, job.pk)
        ctx = {"membership": membership, "job": job, "progress": progress.progress(job)}
        return render(request, "provisioning/bulk/cancel.html", ctx)
    if jobs.cancel(job, request.user):
        messages.success(request, "Cancelling: rows already on their way finish, no new ones are sent.")
    else:
        messages.warning(request, "This job is not running.")
    return redirect("bulk:job", team_slug, job.pk)


@login_required
@require_POST
def resume(request, team_slug, pk):
    _, job = get_job(request, team_slug, pk, PROVISIONERS)
    if jobs.resume(job, request.user):
        messages.success(request, "Resumed: a worker continues where the job stopped.")
    else:
        messages.warning(request, "This job is running or finished; there is nothing to resume.")
    return redirect("bulk:job", team_slug, job.pk)


@login_required
@require_POST
def retry_unknown(request, team_slug, pk):
    _, job = get_job(request, team_slug, pk, PROVISIONERS)
    queued, skipped = jobs.retry_unknown(job, request.user)
    if queued and job.action == Action.DEPROVISION:
        messages.success(
            request, f"{queued} rows with an unknown outcome are sent again: {jobs.retry_words(job)}."
        )
    elif queued:
        if job.client is not None and not job.client.is_bosch:
            how = (
                "Each continues from its first step not confirmed; an “already exists” answer to a "
                "call that went out unanswered is taken as that call's work."
            )
        else:
            how = (
                "A 409 now means the earlier attempt created the device: it is recorded as “already exists”."
            )
        messages.success(request, f"{queued} rows with an unknown outcome are sent again. {how}")
    if skipped:
        messages.warning(
            request,
            f"{skipped} rows cannot be sent again because their password is no longer kept; "
            "upload them again from the failed-rows CSV.",
        )
    if not queued and not skipped:
        messages.warning(request, "There are no rows with an unknown outcome to retry right now.")
    return redirect("bulk:job", team_slug, job.pk)


@login_required
@require_safe
def failed_csv(request, team_slug, pk):
    _, job = get_job(request, team_slug, pk)
    lines = downloads.failed_rows_csv(job)
    response = StreamingHttpResponse(_with_bom(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="bulk-job-{job.pk}-failed-rows.csv"'
    return response


def _with_bom(lines):
    yield BOM
    yield from lines


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def credentials_download(request, team_slug, pk):
    membership, job = get_job(request, team_slug, pk, PROVISIONERS)
    job = credentials.ensure_fresh(job)
    if request.method == "POST":
        text = credentials.take_credentials(job, request.user)
        if text is not None:
            response = HttpResponse(BOM + text, content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="bulk-job-{job.pk}-credentials.csv"'
            response["Cache-Control"] = "no-store"
            return response
        messages.error(request, "The credentials file was already downloaded or has expired.")
        return redirect("bulk:job", team_slug, job.pk)
    ctx = {
        "membership": membership,
        "job": job,
        "available": job.is_finished and credentials.credentials_available(job),
        "job_url": reverse("bulk:job", args=[team_slug, job.pk]),
        # The download erases the generated passwords these rows would be sent again with.
        "unknown_ended": credentials.retry_ended_by_download(job),
    }
    return render(request, "provisioning/bulk/credentials.html", ctx)
