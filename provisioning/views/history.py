"""History: the team's audit log with filters, details, exports, and de-provisioning from an entry."""

import json

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from provisioning import crypto, drift, history, hono_ditto_builder, inventory_list, listing, services
from provisioning.access import PROVISIONERS, get_membership
from provisioning.models import AuditEvent, Connection, DeviceTemplate
from provisioning.providers import hono_ditto as hd


def _pretty(value):
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) if value is not None else None


@login_required
@require_safe
@vary_on_headers("HX-Request")  # the same URL answers a partial or the page: never cache one as the other
def history_list(request, team_slug):
    membership = get_membership(request, team_slug)
    team = membership.team
    # A plain form submit is sent to the address with only the set filters; an htmx one gets it
    # pushed into the address bar.
    shown, address, tidy = listing.shown_query(request)
    if tidy:
        return redirect(address)
    filters = history.HistoryFilter(request.GET or None, team=team)
    invalid = filters.is_bound and not filters.is_valid()
    if invalid:  # a filter that cannot be read lists nothing (the page says why), not everything
        items, next_cursor, count = [], None, (0, False)
    else:
        rows = history.events(team, filters if filters.is_bound else None)
        # The list shows no bodies: leave them in the database (they are most of a row's bytes).
        shown_rows = AuditEvent.objects.defer("request", "response")
        items, next_cursor, count = history.BY_TIME.page_and_count(rows, request.GET.get("after"), shown_rows)
        history.label_open_intents(items, team)
    query = shown.copy()
    query.pop("after", None)
    ctx = {
        "membership": membership,
        "filters": filters,
        "invalid": invalid,
        "items": items,
        "history_url": request.path,
        "next_cursor": next_cursor,
        "query": query.urlencode(),
        "first_page": not request.GET.get("after"),
        "count": count[0],
        "more_than": count[1],
        "chips": history.active_filters(filters, query) if filters.is_bound else [],
    }
    if request.htmx and not request.htmx.history_restore_request:
        return push_url(render(request, "provisioning/history.html#history-results", ctx), address)
    return render(request, "provisioning/history.html", ctx)


def _entry_context(membership, entry):
    """What the entry page of ``entry`` shows: its attempt's rows, and what may be done with it."""
    team = membership.team
    related = list(
        AuditEvent.objects.filter(team_id=team.pk, correlation_id=entry.correlation_id).order_by("id")
    )
    history.label_open_intents(related, team)
    outcome = next((r for r in related if r.phase == AuditEvent.Phase.OUTCOME), None)
    created = entry.action == "device.provision" and outcome is not None and outcome.status == "created"
    deprovisioned = created and history.deprovisioned_since(team, outcome)
    intent = next((r for r in related if r.phase == AuditEvent.Phase.INTENT), None)
    unknown = (
        entry.action == "device.provision"
        and intent is not None
        and history.unknown_attempt(team, entry.correlation_id) is not None
    )
    resolves = history.resolved_attempt(intent) if intent is not None else None
    resolved_by = history.resolutions(team, intent) if unknown else []
    settled = history.check_resolution(team, intent) if unknown else None
    settled_as = (settled.response or {}).get("resolution", "") if settled is not None else ""
    return {
        "membership": membership,
        "entry": entry,
        "related": [(row, _pretty(row.request), _pretty(row.response)) for row in related],
        "outcome": outcome,
        "can_deprovision": membership.can_provision and created and not deprovisioned,
        "deprovisioned": deprovisioned,
        # "Send again" for an attempt whose outcome is unknown, unless a later Send again or a
        # check found it made; and the links both ways.
        "can_send_again": unknown and membership.can_provision and not history.settled(team, intent),
        "resolved_by": resolved_by,
        "settled_by": settled,
        "settled_as": settled_as,
        "resolves": resolves,
        "multi_step": intent is not None and history.is_multi_step(intent),
        # "Check at provider" for a created device or an attempt whose outcome is unknown.
        "can_check": membership.can_provision and (created or unknown),
        "checked": history.checked_attempt(entry) if entry.action == history.CHECK_ACTION else None,
        "device_row": inventory_list.device_query(team, entry),
        "template_exists": entry.template_ref is not None
        and DeviceTemplate.objects.filter(team=team, pk=entry.template_ref).exists(),
    }


@login_required
@require_safe
def history_entry(request, team_slug, pk):
    membership = get_membership(request, team_slug)
    entry = get_object_or_404(AuditEvent, pk=pk, team_id=membership.team.pk)
    return render(request, "provisioning/history_entry.html", _entry_context(membership, entry))


@login_required
@require_POST
def history_check(request, team_slug, pk):
    """Check at provider: read the device of the entry's attempt back and compare it with what
    the attempt sent. An htmx POST gets the result panel; a plain one the entry page with it."""
    membership = get_membership(request, team_slug, PROVISIONERS)
    team = membership.team
    entry = get_object_or_404(AuditEvent, pk=pk, team_id=team.pk, action="device.provision")
    ctx = _entry_context(membership, entry)
    if not ctx["can_check"]:
        raise Http404("Only a created device or an attempt whose outcome is unknown can be checked.")
    intent = AuditEvent.objects.filter(
        team_id=team.pk, correlation_id=entry.correlation_id, phase=AuditEvent.Phase.INTENT
    ).first()
    if intent is None:  # an outcome without its intent (an audit row lost): nothing says what was sent
        raise Http404("This attempt's intent row is missing, so there is nothing to compare with.")
    config = Connection.objects.filter(team=team, pk=intent.client_ref).first()
    # One check of an attempt at a time (a double click reads once).
    lock = f"check:{team.pk}:{entry.correlation_id}"
    if not cache.add(lock, 1, 120):
        ctx["check_busy"] = True
    else:
        try:
            ctx["check"] = drift.check_attempt(actor=request.user, team=team, config=config, intent=intent)
        finally:
            cache.delete(lock)
        if ctx["check"].resolution:  # the entry's notices and buttons follow
            ctx = {**_entry_context(membership, entry), "check": ctx["check"]}
    if request.htmx:
        return render(request, "provisioning/history_entry.html#check-result", ctx)
    return render(request, "provisioning/history_entry.html", ctx)


@login_required
@require_safe
def history_export(request, team_slug):
    """The filtered history as CSV or JSON Lines, streamed row by row (constant memory)."""
    membership = get_membership(request, team_slug)
    filters = history.HistoryFilter(request.GET or None, team=membership.team)
    if filters.is_bound and not filters.is_valid():
        # Never fall back to "everything" when the filters cannot be read.
        problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in filters.errors.items())
        return HttpResponseBadRequest(
            f"The export was not made: {problems}", content_type="text/plain; charset=utf-8"
        )
    rows = history.events(membership.team, filters if filters.is_bound else None)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if request.GET.get("format") == "jsonl":
        response = StreamingHttpResponse(history.stream_jsonl(rows), content_type="application/x-ndjson")
        name = f"history-{membership.team.slug}-{stamp}.jsonl"
    else:
        response = StreamingHttpResponse(history.stream_csv(rows), content_type="text/csv; charset=utf-8")
        name = f"history-{membership.team.slug}-{stamp}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def deprovision(request, team_slug, pk):
    """Confirm, then de-provision the device of a history entry (a created device only)."""
    membership = get_membership(request, team_slug, PROVISIONERS)
    team = membership.team
    entry = get_object_or_404(AuditEvent, pk=pk, team_id=team.pk, action="device.provision")
    created = history.provision_outcome(team, entry)
    if created is None or created.status != "created":
        raise Http404("Only the entry of a created device can de-provision it.")
    config = Connection.objects.filter(team=team, pk=entry.client_ref).first()
    deprovisioned = history.deprovisioned_since(team, created)
    ctx = {
        "membership": membership,
        "entry": entry,
        "config": config,
        "deprovisioned": deprovisioned,
        "keep_credentials_note": hd.KEEP_CREDENTIALS_NOTE,
    }
    if request.method == "POST" and config is not None and not deprovisioned:
        if not config.is_bosch and request.POST.get("keep_credentials") == "on":
            # Not offered on the page: said, not dropped without a word, when sent anyway.
            ctx["failure"] = "Nothing was sent. " + (
                hd.KEEP_CREDENTIALS_NOTE
                if config.has_hono
                else "An Eclipse Ditto connection registers no credentials, so there are none to keep."
            )
            return render(request, "provisioning/deprovision.html", ctx, status=400)
        # One de-provisioning of an entry at a time (a double click sends one DELETE).
        lock = f"deprovision:{team.pk}:{entry.target}"
        if not cache.add(lock, 1, 120):
            ctx["failure"] = "This device is being de-provisioned already. Reload the page in a moment."
            return render(request, "provisioning/deprovision.html", ctx, status=409)
        keep_policy = request.POST.get("keep_policy") == "on"
        try:
            if config.is_bosch:
                ctx["outcome"] = services.deprovision_device(
                    actor=request.user,
                    team=team,
                    config=config,
                    device_id=entry.target,
                    keep_credentials=request.POST.get("keep_credentials") == "on",
                    keep_policy=keep_policy,
                )
            else:  # Hono cannot keep credentials without the device: not offered
                ctx["outcome"] = hono_ditto_builder.deprovision(
                    config, actor=request.user, team=team, device_id=entry.target, keep_policy=keep_policy
                )
        except services.AuditUnavailable as exc:
            ctx["failure"] = str(exc)
        except crypto.SecretBoxError as exc:
            ctx["failure"] = hono_ditto_builder.unusable_password(exc)
        finally:
            cache.delete(lock)
    return render(request, "provisioning/deprovision.html", ctx)
