"""OAuth2 client configurations: list, create, edit, delete."""

import logging
from datetime import UTC, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from provisioning import audit, services
from provisioning.access import (
    ADMINS,
    PROVISIONERS,
    get_client,
    get_membership,
)
from provisioning.forms import (
    PRESET_DEFAULTS,
    OAuthClientForm,
)
from provisioning.models import Preset

logger = logging.getLogger(__name__)


@login_required
@require_safe
def clients(request, team_slug):
    membership = get_membership(request, team_slug)
    ctx = {"membership": membership, "clients": membership.team.clients.all()}
    return render(request, "provisioning/clients.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def client_new(request, team_slug):
    membership = get_membership(request, team_slug, ADMINS)
    if request.method == "POST":
        form = OAuthClientForm(request.POST, team=membership.team)
        if form.is_valid():
            client = form.save()
            audit.record(
                "client.create",
                actor=request.user,
                team=membership.team,
                client=client,
                target=client.name,
                status="ok",
                request={"fields": form.changed_fields()},
            )
            messages.success(request, f"Client configuration “{client.name}” saved.")
            return redirect("client", team_slug, client.pk)
    else:
        preset = request.GET.get("preset", Preset.SUITE_AUTH)
        if preset not in Preset.values:
            preset = Preset.SUITE_AUTH
        initial = {"preset": preset, **PRESET_DEFAULTS[preset]}
        form = OAuthClientForm(initial=initial, team=membership.team)
    ctx = {"membership": membership, "form": form, "presets": Preset.choices}
    if request.htmx and request.method == "GET":
        # A preset tab was chosen: only the form, filled with that preset's defaults.
        return render(request, "provisioning/client_form.html#client-form", ctx)
    return render(request, "provisioning/client_form.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def client_detail(request, team_slug, pk):
    membership, client = get_client(request, team_slug, pk)
    form = None
    if membership.is_admin:
        if request.method == "POST":
            form = OAuthClientForm(request.POST, instance=client, team=membership.team)
            if form.is_valid():
                changed = form.changed_fields()
                client = form.save()
                if changed:
                    audit.record(
                        "client.update",
                        actor=request.user,
                        team=membership.team,
                        client=client,
                        target=client.name,
                        status="ok",
                        request={"fields": changed, "config_version": client.config_version},
                    )
                    messages.success(request, "Saved. Tokens of the previous settings are no longer used.")
                else:
                    messages.info(request, "Nothing changed.")
                return redirect("client", team_slug, client.pk)
        else:
            form = OAuthClientForm(instance=client, team=membership.team)
    elif request.method == "POST":
        get_membership(request, team_slug, ADMINS)  # raises 403 with the role's name
    ctx = {"membership": membership, "client": client, "form": form}
    return render(request, "provisioning/client_detail.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def client_delete(request, team_slug, pk):
    membership, client = get_client(request, team_slug, pk, ADMINS)
    if request.method == "POST":
        name = client.name
        with transaction.atomic():
            audit.record(
                "client.delete",
                actor=request.user,
                team=membership.team,
                client=client,
                target=name,
                status="ok",
            )
            client.delete()
        messages.success(request, f"Client configuration “{name}” deleted.")
        return redirect("clients", team_slug)
    ctx = {"membership": membership, "client": client}
    return render(request, "provisioning/client_delete.html", ctx)


def _readable_claims(claims):
    """Claims as (name, text) rows; the JWT time claims also as UTC dates."""
    rows = []
    for name, value in sorted((claims or {}).items()):
        if name in ("exp", "iat", "nbf") and isinstance(value, int | float):
            when = datetime.fromtimestamp(value, tz=UTC)
            value = f"{value} ({when:%Y-%m-%d %H:%M:%S} UTC)"
        rows.append((name, value))
    return rows


@login_required
@require_POST
def client_test(request, team_slug, pk):
    """Fetch a token now, bypassing the cache, and show what the token endpoint granted."""
    membership, client = get_client(request, team_slug, pk, PROVISIONERS)
    check = services.check_connection(actor=request.user, team=membership.team, config=client)
    client.refresh_from_db()
    ctx = {
        "membership": membership,
        "client": client,
        "check": check,
        "claims": _readable_claims(check.claims),
    }
    if request.htmx:
        return render(request, "provisioning/client_detail.html#connection-test", ctx)
    if membership.is_admin:
        ctx["form"] = OAuthClientForm(instance=client, team=membership.team)
    return render(request, "provisioning/client_detail.html", ctx)
