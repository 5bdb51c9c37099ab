"""Devices: the team's inventory, with history's search, filters, chips, counts, pages and
exports, and bulk actions on the devices it lists (a de-provisioning or checking job)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from provisioning import inventory_list, listing
from provisioning.access import PROVISIONERS, get_membership
from provisioning.bulk import jobs, selection
from provisioning.bulk.forms import DEFAULT_CONCURRENCY
from provisioning.bulk.models import Action
from provisioning.models import Connection
from provisioning.providers.hono_ditto import KEEP_CREDENTIALS_NOTE


@login_required
@require_safe
@vary_on_headers("HX-Request")  # the same URL answers a partial or the page: never cache one as the other
def device_list(request, team_slug):
    membership = get_membership(request, team_slug)
    team = membership.team
    shown, address, tidy = listing.shown_query(request)
    if tidy:
        return redirect(address)
    filters = inventory_list.DeviceFilter(request.GET or None, team=team)
    invalid = filters.is_bound and not filters.is_valid()
    if invalid:  # a filter that cannot be read lists nothing (the page says why), not everything
        items, next_cursor, count = [], None, (0, False)
    else:
        rows = inventory_list.devices(team, filters if filters.is_bound else None)
        items, next_cursor = filters.keyset().page(rows, request.GET.get("after"))
        inventory_list.label(items)
        count = listing.count_matches(rows)
    connections = set(Connection.objects.filter(team=team).values_list("pk", flat=True))
    for device in items:
        device.connection_exists = device.connection_ref in connections
    query = shown.copy()
    query.pop("after", None)
    ctx = {
        "membership": membership,
        "filters": filters,
        "invalid": invalid,
        "items": items,
        "devices_url": request.path,
        # Each row links to these (reversed once, not once a row).
        "history_url": reverse("history", args=[team.slug]),
        "jobs_url": reverse("bulk:jobs", args=[team.slug]),
        "next_cursor": next_cursor,
        "query": query.urlencode(),
        "first_page": not request.GET.get("after"),
        "count": count[0],
        "more_than": count[1],
        "chips": listing.active_filters(filters, query) if filters.is_bound else [],
        "by_creation": filters.keyset() is inventory_list.BY_CREATION,
        "has_devices": bool(items) or team.devices.exists(),
        "can_act": membership.can_provision and bool(items),
        "action_url": reverse("device_action", args=[team.slug]),
    }
    if request.htmx and not request.htmx.history_restore_request:
        return push_url(render(request, "provisioning/devices.html#device-results", ctx), address)
    return render(request, "provisioning/devices.html", ctx)


@login_required
@require_safe
def device_export(request, team_slug):
    """The filtered devices as CSV or JSON Lines, streamed row by row (constant memory)."""
    membership = get_membership(request, team_slug)
    team = membership.team
    filters = inventory_list.DeviceFilter(request.GET or None, team=team)
    if filters.is_bound and not filters.is_valid():
        # Never fall back to "everything" when the filters cannot be read.
        problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in filters.errors.items())
        return HttpResponseBadRequest(
            f"The export was not made: {problems}", content_type="text/plain; charset=utf-8"
        )
    rows = inventory_list.devices(team, filters if filters.is_bound else None)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if request.GET.get("format") == "jsonl":
        response = StreamingHttpResponse(
            inventory_list.stream_jsonl(rows), content_type="application/x-ndjson"
        )
        name = f"devices-{team.slug}-{stamp}.jsonl"
    else:
        response = StreamingHttpResponse(
            inventory_list.stream_csv(rows), content_type="text/csv; charset=utf-8"
        )
        name = f"devices-{team.slug}-{stamp}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _query(data, **changes):
    """The confirmation page's query string for the ActionForm ``data`` (cleaned), changed."""
    query = QueryDict(mutable=True)
    for name, value in {**data, **changes}.items():
        if name in ("action", "scope", "filter", "from_job", "connection") and value not in (None, ""):
            query[name] = str(value)
    query.setlist("device", [str(pk) for pk in data.get("device") or []])
    return query.urlencode()


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def device_action(request, team_slug):
    """A bulk action on devices: GET shows what it would act on (the count, the connection, the
    devices left out and why) with the action's options; POST starts its job, if the devices are
    still the ones shown, and opens the job's page."""
    membership = get_membership(request, team_slug, PROVISIONERS)
    team = membership.team
    posted = request.method == "POST"
    form = selection.ActionForm(request.POST if posted else request.GET)
    ctx = {"membership": membership, "form": form, "devices_url": reverse("devices", args=[team.slug])}
    if not form.is_valid():
        return render(request, "provisioning/device_action.html", ctx, status=400)
    data = form.cleaned_data
    chosen, status = None, 200
    if posted and data.get("keep_credentials"):
        chosen = selection.choose(team, data)
        if chosen.connection is not None and not chosen.connection.is_bosch:
            # Not offered on the page: said, not dropped without a word, when sent anyway.
            form.add_error("keep_credentials", f"Nothing was started. {_no_credentials(chosen.connection)}")
            status = 400
    if posted and status == 200:
        job, chosen = jobs.start_action(team, request.user, data)
        if job is not None:
            many = "devices" if job.total_rows != 1 else "device"
            messages.success(
                request, f"The job is queued: {job.total_rows} {many}; a worker works through them now."
            )
            return redirect("bulk:job", team.slug, job.pk)
        ctx["changed"], status = not chosen.problem, 409  # shown again, as the devices are now
    if chosen is None:
        chosen = selection.choose(team, data)
    ctx.update(
        chosen=chosen,
        confirm=form if status == 400 else selection.ActionForm(initial=_confirming(data, chosen)),
        deprovision=data["action"] == Action.DEPROVISION,
        narrow=[(config, n, f"?{_query(data, connection=config.pk)}") for config, n in chosen.connections],
        back_url=_back_url(team, data),
        keep_credentials_note=_no_credentials(chosen.connection)
        if chosen.connection and not chosen.connection.is_bosch
        else "",
    )
    return render(request, "provisioning/device_action.html", ctx, status=status)


def _no_credentials(config):
    """Why a de-provision through ``config`` (Hono + Ditto or Ditto) cannot keep credentials."""
    if config.has_hono:
        return KEEP_CREDENTIALS_NOTE
    return "An Eclipse Ditto connection registers no credentials, so there are none to keep."


def _confirming(data, chosen):
    """The confirmation form's values: the choice as made, with the set's fingerprint now."""
    concurrency = data.get("concurrency") or DEFAULT_CONCURRENCY
    return {**data, "concurrency": concurrency, "fingerprint": chosen.fingerprint}


def _back_url(team, data):
    """The page the choice was made on: the bulk job's, or the Devices page with its filters."""
    if data.get("from_job"):
        return reverse("bulk:job", args=[team.slug, data["from_job"]])
    filters = data.get("filter") or ""
    return reverse("devices", args=[team.slug]) + (f"?{filters}" if filters else "")
