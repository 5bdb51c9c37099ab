"""Devices: the team's inventory, with history's search, filters, chips, counts, pages and exports."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from provisioning import inventory_list, listing
from provisioning.access import get_membership
from provisioning.models import Connection


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
