"""Health, the lock-out page, the team overview and new teams."""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from provisioning import history, team_admin
from provisioning.access import (
    get_membership,
)
from provisioning.forms import TeamForm
from provisioning.models import Team

logger = logging.getLogger(__name__)


@require_safe
@never_cache
def healthz(request):
    """200 with a small JSON when the database and the cache answer, 503 otherwise.

    Served by HealthCheckMiddleware before host checks, so a container probe on
    127.0.0.1 works whatever ALLOWED_HOSTS says.
    """
    checks = {}
    try:
        Team.objects.exists()  # a read of a real table: the database answers and is migrated
        checks["database"] = "ok"
    except DatabaseError:
        logger.exception("health check: database unavailable")
        checks["database"] = "error"
    try:
        cache.set("healthz", "1", 10)
        checks["cache"] = "ok" if cache.get("healthz") == "1" else "error"
    except Exception:
        logger.exception("health check: cache unavailable")
        checks["cache"] = "error"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)


def locked_out(request, original_response=None, credentials=None):
    """django-axes' lockout page (AXES_LOCKOUT_CALLABLE): 429 with the cool-off in minutes."""
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    return render(request, "registration/locked_out.html", {"cooloff_minutes": minutes}, status=429)


@login_required
@require_safe
def home(request):
    memberships = list(request.user.memberships.select_related("team"))
    if not memberships:
        return render(request, "provisioning/no_team.html")
    preferred = request.session.get("team")
    for membership in memberships:
        if membership.team.slug == preferred:
            return redirect("team", membership.team.slug)
    return redirect("team", memberships[0].team.slug)


@login_required
@require_safe
def team(request, team_slug):
    membership = get_membership(request, team_slug)
    team = membership.team
    ctx = {
        "membership": membership,
        "configs": team.configs.all(),
        "namespaces": team.namespaces.select_related("client"),
        # One line per attempt, as history shows them (an attempt's intent row only while open).
        "recent": history.label_open_intents(list(history.events(team)[:10]), team),
    }
    return render(request, "provisioning/team.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def team_new(request):
    """A superuser creates a team, becomes its admin and lands on it."""
    if not request.user.is_superuser:
        raise PermissionDenied("Only superusers create teams. Ask one to create yours.")
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = team_admin.create_team(form, actor=request.user)
        messages.success(request, f"Team {team.name} created; you are its admin. Invite its members now.")
        return redirect("team", team.slug)
    return render(request, "provisioning/team_new.html", {"form": form}, status=400 if form.errors else 200)
