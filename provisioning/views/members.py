"""Team members: invite, change role, remove; accepting an invitation."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from provisioning import team_admin
from provisioning.access import ADMINS, get_invitation, get_member, get_membership
from provisioning.forms import AcceptInvitationForm, InviteForm, RoleForm
from provisioning.models import Invitation, Role


@login_required
@require_http_methods(["GET", "POST"])
def members(request, team_slug):
    membership = get_membership(request, team_slug, ADMINS)
    team = membership.team
    form = InviteForm(request.POST or None, team=team)
    invitation_link = invited = None
    if request.method == "POST" and form.is_valid():
        email, role = form.cleaned_data["email"], form.cleaned_data["role"]
        User = get_user_model()
        user = User.objects.filter(email__iexact=email).order_by("pk").first()
        if user:
            team_admin.add_member(user, role=role, actor=request.user, team=team)
            messages.success(request, f"{user.username} joined the team as {role}.")
            return redirect("members", team_slug)
        if settings.LOCAL_LOGIN_SUPERUSERS_ONLY:
            # An invitation makes a password account, which could not sign in here.
            form.add_error(
                "email",
                f"Nobody with this e-mail has signed in yet. Ask them to sign in with "
                f"{settings.OIDC_PROVIDER_NAME} once, or map one of their groups to the team.",
            )
        else:
            token, renewed = team_admin.invite(email, role=role, actor=request.user, team=team)
            invitation_link = request.build_absolute_uri(reverse("accept_invitation", args=[token]))
            invited = {"email": email, "role_label": Role(role).label.lower(), "renewed": renewed}
            form = InviteForm(team=team)
    ctx = {
        "membership": membership,
        "members": team.memberships.select_related("user").order_by("user__username"),
        "invitations": team.invitations.filter(accepted_at__isnull=True, expires_at__gt=timezone.now()),
        "form": form,
        "invitation_link": invitation_link,
        "invited": invited,
        "roles": Role.choices,
        "email_enabled": settings.EMAIL_ENABLED,
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
        team_admin.change_role(member, form.cleaned_data["role"], actor=request.user)
        messages.success(request, f"{member.user.username} is now {member.get_role_display().lower()}.")
    return redirect("members", team_slug)


@login_required
@require_http_methods(["GET", "POST"])
def member_remove(request, team_slug, pk):
    """GET asks for confirmation (the members page links here); POST removes."""
    membership, member = get_member(request, team_slug, pk)
    if member.pk == membership.pk:
        messages.error(request, "You cannot remove yourself; ask another admin.")
        return redirect("members", team_slug)
    if request.method == "GET":
        return render(
            request, "provisioning/member_remove.html", {"membership": membership, "member": member}
        )
    username = member.user.username
    team_admin.remove_member(member, actor=request.user)
    messages.success(request, f"{username} was removed from the team.")
    return redirect("members", team_slug)


@login_required
@require_POST
def member_password_reset(request, team_slug, pk):
    """E-mail a member a link to set a new password (Django's reset views take it from there)."""
    membership, member = get_member(request, team_slug, pk)
    user = member.user
    try:
        team_admin.send_password_reset(user, actor=request.user, team=membership.team, request=request)
    except team_admin.EmailNotSent as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"A link to set a new password was e-mailed to {user.email}; it works once."
        )
    return redirect("members", team_slug)


@login_required
@require_POST
def invitation_revoke(request, team_slug, pk):
    _, invitation = get_invitation(request, team_slug, pk)
    team_admin.revoke_invitation(invitation, actor=request.user)
    messages.success(request, f"The invitation for {invitation.email} was withdrawn.")
    return redirect("members", team_slug)


@require_http_methods(["GET", "POST"])
@never_cache
def accept_invitation(request, token):
    invitation = (
        Invitation.objects.filter(token_hash=Invitation.hash_token(token)).select_related("team").first()
    )
    if invitation is None or not invitation.is_usable or settings.LOCAL_LOGIN_SUPERUSERS_ONLY:
        # With password sign-in for superusers only, an invitation's account could not sign in.
        ctx = {
            "oidc_sign_in_only": settings.LOCAL_LOGIN_SUPERUSERS_ONLY,
            "oidc_provider_name": settings.OIDC_PROVIDER_NAME,
        }
        return render(request, "registration/invitation_invalid.html", ctx, status=404)
    form = AcceptInvitationForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = team_admin.accept_invitation(
                invitation, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
            )
            if user is None:  # used or expired meanwhile (another submission won)
                return render(request, "registration/invitation_invalid.html", status=404)
        except IntegrityError:
            # The user name was taken between validation and saving.
            form.add_error("username", "This user name is taken.")
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("team", invitation.team.slug)
    return render(request, "registration/accept_invitation.html", {"form": form, "invitation": invitation})
