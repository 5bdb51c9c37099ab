import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from provisioning import audit
from provisioning.access import (
    ADMINS,
    get_client,
    get_invitation,
    get_member,
    get_membership,
    get_namespace,
)
from provisioning.forms import (
    PRESET_DEFAULTS,
    AcceptInvitationForm,
    InviteForm,
    NamespaceForm,
    OAuthClientForm,
    RoleForm,
)
from provisioning.models import Invitation, Membership, Preset, Role

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
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
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
        "clients": team.clients.all(),
        "namespaces": team.namespaces.select_related("client"),
        "recent": audit.AuditEvent.objects.filter(team_id=team.pk)[:10],
    }
    return render(request, "provisioning/team.html", ctx)


# --- OAuth2 client configurations -------------------------------------------------------


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


# --- Namespaces -------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def namespaces(request, team_slug):
    membership = get_membership(request, team_slug)
    team = membership.team
    form = None
    if request.method == "GET" and request.htmx and "name" in request.GET:
        # Live validation as the admin types: only the name field's feedback.
        get_membership(request, team_slug, ADMINS)
        typed = request.GET["name"]
        ctx = {"field": None, "value": ""}  # an emptied field gets the hint, not an error
        if typed.strip():
            form = NamespaceForm({"name": typed}, team=team)
            form.is_valid()
            ctx = {"field": form["name"], "value": typed}
        return render(request, "provisioning/namespaces.html#namespace-check", ctx)
    if request.method == "POST":
        membership = get_membership(request, team_slug, ADMINS)
        form = NamespaceForm(request.POST, team=team)
        if form.is_valid():
            namespace = form.save()
            audit.record(
                "namespace.create",
                actor=request.user,
                team=team,
                client=namespace.client,
                target=namespace.name,
                status="ok",
            )
            messages.success(request, f"Namespace {namespace.name} added.")
            return redirect("namespaces", team_slug)
    elif membership.is_admin:
        form = NamespaceForm(team=team)
    ctx = {"membership": membership, "namespaces": team.namespaces.select_related("client"), "form": form}
    if form is not None and form.is_bound:
        # The name's feedback is the namespace-check partial, also on a full page after a POST.
        ctx.update(field=form["name"], value=form["name"].value())
    return render(request, "provisioning/namespaces.html", ctx)


@login_required
@require_POST
def namespace_delete(request, team_slug, pk):
    membership, namespace = get_namespace(request, team_slug, pk, ADMINS)
    with transaction.atomic():
        audit.record(
            "namespace.delete", actor=request.user, team=membership.team, target=namespace.name, status="ok"
        )
        namespace.delete()
    messages.success(request, f"Namespace {namespace.name} removed.")
    return redirect("namespaces", team_slug)


# --- Members ----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def members(request, team_slug):
    membership = get_membership(request, team_slug, ADMINS)
    team = membership.team
    form = InviteForm(request.POST or None, team=team)
    invitation_link = None
    if request.method == "POST" and form.is_valid():
        email, role = form.cleaned_data["email"], form.cleaned_data["role"]
        User = get_user_model()
        user = User.objects.filter(email__iexact=email).order_by("pk").first()
        if user:
            # get_or_create: a double-submitted form must not fail on the unique constraint.
            Membership.objects.get_or_create(user=user, team=team, defaults={"role": role})
            audit.record(
                "member.add",
                actor=request.user,
                team=team,
                target=user.username,
                status="ok",
                request={"role": role},
            )
            messages.success(request, f"{user.username} joined the team as {role}.")
            return redirect("members", team_slug)
        _, token = Invitation.issue(team=team, email=email, role=role, invited_by_name=request.user.username)
        audit.record(
            "member.invite", actor=request.user, team=team, target=email, status="ok", request={"role": role}
        )
        invitation_link = request.build_absolute_uri(reverse("accept_invitation", args=[token]))
        form = InviteForm(team=team)
    ctx = {
        "membership": membership,
        "members": team.memberships.select_related("user").order_by("user__username"),
        "invitations": team.invitations.filter(accepted_at__isnull=True, expires_at__gt=timezone.now()),
        "form": form,
        "invitation_link": invitation_link,
        "roles": Role.choices,
    }
    return render(request, "provisioning/members.html", ctx)


@login_required
@require_POST
def member_role(request, team_slug, pk):
    membership, member = get_member(request, team_slug, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
    elif member.pk == membership.pk and form.cleaned_data["role"] != Role.ADMIN:
        messages.error(request, "You cannot take away your own admin role; ask another admin.")
    else:
        member.role = form.cleaned_data["role"]
        member.save(update_fields=["role"])
        audit.record(
            "member.role",
            actor=request.user,
            team=membership.team,
            target=member.user.username,
            status="ok",
            request={"role": member.role},
        )
        messages.success(request, f"{member.user.username} is now {member.get_role_display().lower()}.")
    return redirect("members", team_slug)


@login_required
@require_POST
def member_remove(request, team_slug, pk):
    membership, member = get_member(request, team_slug, pk)
    if member.pk == membership.pk:
        messages.error(request, "You cannot remove yourself; ask another admin.")
        return redirect("members", team_slug)
    username = member.user.username
    member.delete()
    audit.record("member.remove", actor=request.user, team=membership.team, target=username, status="ok")
    messages.success(request, f"{username} was removed from the team.")
    return redirect("members", team_slug)


@login_required
@require_POST
def invitation_revoke(request, team_slug, pk):
    membership, invitation = get_invitation(request, team_slug, pk)
    invitation.delete()
    audit.record(
        "member.uninvite", actor=request.user, team=membership.team, target=invitation.email, status="ok"
    )
    messages.success(request, f"The invitation for {invitation.email} was withdrawn.")
    return redirect("members", team_slug)


@require_http_methods(["GET", "POST"])
@never_cache
def accept_invitation(request, token):
    invitation = (
        Invitation.objects.filter(token_hash=Invitation.hash_token(token)).select_related("team").first()
    )
    if invitation is None or not invitation.is_usable:
        return render(request, "registration/invitation_invalid.html", status=404)
    form = AcceptInvitationForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        User = get_user_model()
        try:
            with transaction.atomic():
                # Claim the invitation first: of two submissions racing, only one joins.
                now = timezone.now()
                claimed = Invitation.objects.filter(
                    pk=invitation.pk, accepted_at__isnull=True, expires_at__gt=now
                ).update(accepted_at=now)
                if not claimed:
                    return render(request, "registration/invitation_invalid.html", status=404)
                user = User.objects.create_user(
                    username=form.cleaned_data["username"],
                    email=invitation.email,
                    password=form.cleaned_data["password1"],
                )
                Membership.objects.create(user=user, team=invitation.team, role=invitation.role)
                audit.record(
                    "member.join",
                    actor=user,
                    team=invitation.team,
                    target=user.username,
                    status="ok",
                    request={"role": invitation.role},
                )
        except IntegrityError:
            # The user name was taken between validation and saving.
            form.add_error("username", "This user name is taken.")
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("team", invitation.team.slug)
    return render(request, "registration/accept_invitation.html", {"form": form, "invitation": invitation})
