"""Group mappings: which of the identity provider's groups give which role in the team."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from provisioning import team_admin
from provisioning.access import ADMINS, get_group_mapping, get_membership
from provisioning.forms import GroupMappingForm


@login_required
@require_http_methods(["GET", "POST"])
def groups(request, team_slug):
    membership = get_membership(request, team_slug, ADMINS)
    team = membership.team
    form = GroupMappingForm(request.POST or None, team=team)
    if request.method == "POST" and form.is_valid():
        mapping = team_admin.add_group_mapping(form, actor=request.user, team=team)
        messages.success(
            request,
            f"Members of {mapping.group} join as {mapping.get_role_display().lower()} at their next sign-in.",
        )
        return redirect("groups", team_slug)
    ctx = {
        "membership": membership,
        "mappings": team.group_mappings.all(),
        "form": form,
        "oidc_enabled": settings.OIDC_ENABLED,
        "groups_claim": settings.OIDC_GROUPS_CLAIM,
    }
    return render(request, "provisioning/groups.html", ctx)


@login_required
@require_POST
def group_delete(request, team_slug, pk):
    membership, mapping = get_group_mapping(request, team_slug, pk)
    team_admin.delete_group_mapping(mapping, actor=request.user, team=membership.team)
    messages.success(
        request,
        f"{mapping.group} is no longer mapped: who joined through it leaves at their next sign-in.",
    )
    return redirect("groups", team_slug)
