"""Connections (how a team reaches a provider and the API it calls): list, create, edit, delete, test."""

from datetime import UTC, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from provisioning import hono_ditto_check, services, team_admin
from provisioning.access import ADMINS, PROVISIONERS, get_config, get_membership
from provisioning.forms import PRESET_DEFAULTS, ConfigDeleteForm, ConnectionForm
from provisioning.models import ConnectionKind, Preset


@login_required
@require_safe
def configs(request, team_slug):
    membership = get_membership(request, team_slug)
    ctx = {"membership": membership, "configs": membership.team.configs.all()}
    return render(request, "provisioning/configs.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def config_new(request, team_slug):
    membership = get_membership(request, team_slug, ADMINS)
    if request.method == "POST":
        form = ConnectionForm(request.POST, team=membership.team)
        if form.is_valid():
            config = team_admin.create_config(form, actor=request.user, team=membership.team)
            messages.success(request, f"Connection “{config.name}” saved.")
            return redirect("config", team_slug, config.pk)
        form.ask_for_the_secret_again()
    else:
        kind = request.GET.get("kind", ConnectionKind.BOSCH)
        if kind not in ConnectionKind.values:
            kind = ConnectionKind.BOSCH
        preset = request.GET.get(
            "preset", Preset.SUITE_AUTH if kind == ConnectionKind.BOSCH else Preset.CUSTOM
        )
        if preset not in Preset.values:
            preset = Preset.SUITE_AUTH
        initial = {"kind": kind, "preset": preset, **PRESET_DEFAULTS[preset]}
        form = ConnectionForm(initial=initial, team=membership.team)
    ctx = {"membership": membership, "form": form}
    return render(request, "provisioning/config_form.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def config_detail(request, team_slug, pk):
    membership, config = get_config(request, team_slug, pk)
    form = None
    if membership.is_admin:
        if request.method == "POST":
            form = ConnectionForm(request.POST, instance=config, team=membership.team)
            if form.is_valid():
                config, changed = team_admin.update_config(form, actor=request.user, team=membership.team)
                if changed:
                    messages.success(request, "Saved. Tokens of the previous settings are no longer used.")
                else:
                    messages.info(request, "Nothing changed.")
                return redirect("config", team_slug, config.pk)
            form.ask_for_the_secret_again()
        else:
            form = ConnectionForm(instance=config, team=membership.team)
    elif request.method == "POST":
        get_membership(request, team_slug, ADMINS)  # raises 403 with the role's name
    ctx = {"membership": membership, "config": config, "form": form}
    return render(request, "provisioning/config_detail.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def config_delete(request, team_slug, pk):
    membership, config = get_config(request, team_slug, pk, ADMINS)
    reserved = list(config.namespaces.order_by("name"))
    form = ConfigDeleteForm(request.POST if request.method == "POST" else None, reserved=reserved)
    if request.method == "POST" and form.is_valid():
        name = config.name
        team_admin.delete_config(
            config, actor=request.user, team=membership.team, namespaces=form.cleaned_data["namespaces"]
        )
        messages.success(request, f"Connection “{name}” deleted.")
        return redirect("configs", team_slug)
    ctx = {"membership": membership, "config": config, "reserved": reserved, "form": form}
    return render(request, "provisioning/config_delete.html", ctx, status=400 if form.errors else 200)


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
def config_test(request, team_slug, pk):
    """Bosch: fetch a token now, bypassing the cache, and show what the token endpoint granted.
    Hono + Ditto and Ditto: read at each endpoint and show each one's answer."""
    membership, config = get_config(request, team_slug, pk, PROVISIONERS)
    # Bosch: a token from the token endpoint; Hono + Ditto and Ditto: a read at each endpoint.
    check_connection = services.check_connection if config.is_bosch else hono_ditto_check.check_connection
    check = check_connection(actor=request.user, team=membership.team, config=config)
    config.refresh_from_db()
    ctx = {
        "membership": membership,
        "config": config,
        "check": check,
        "claims": _readable_claims(check.claims),
    }
    if request.htmx:
        return render(request, "provisioning/config_detail.html#connection-test", ctx)
    if membership.is_admin:
        ctx["form"] = ConnectionForm(instance=config, team=membership.team)
    return render(request, "provisioning/config_detail.html", ctx)
