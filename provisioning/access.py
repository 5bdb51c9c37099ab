"""Per-team access helpers: every view loads what it shows through one of these.

A user who is not in the team gets 404 (we do not confirm that a team or object
exists); a member whose role lacks the right gets 403.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from provisioning.models import (
    Connection,
    DeviceTemplate,
    GroupMapping,
    Invitation,
    Membership,
    Namespace,
    Role,
)

ALL_ROLES = (Role.ADMIN, Role.OPERATOR, Role.AUDITOR)
PROVISIONERS = (Role.ADMIN, Role.OPERATOR)
ADMINS = (Role.ADMIN,)


def get_membership(request, team_slug, roles=ALL_ROLES):
    """The request user's membership of the team ``team_slug``, checked against ``roles``."""
    # All of the user's teams in one query: the header's team switcher lists them too.
    memberships = list(request.user.memberships.select_related("team"))
    request.memberships = memberships
    membership = next((m for m in memberships if m.team.slug == team_slug), None)
    if membership is None:
        raise Http404("No such team.")
    if membership.role not in roles:
        raise PermissionDenied(f"Your role ({membership.get_role_display()}) cannot do this.")
    if request.session.get("team") != membership.team.slug:  # a write only when it changes
        request.session["team"] = membership.team.slug
    return membership


def get_provisioner(username, team_slug):
    """For a management command: the membership of ``username`` in ``team_slug``, if it may provision.

    Raises PermissionDenied, with the reason in plain words, for a user who is not a member
    (or does not exist) and for an auditor.
    """
    membership = (
        Membership.objects.filter(user__username=username, team__slug=team_slug)
        .select_related("team", "user")
        .first()
    )
    if membership is None:
        raise PermissionDenied(f"{username!r} is not a member of team {team_slug!r}.")
    if membership.role not in PROVISIONERS:
        raise PermissionDenied(f"{username!r} is an {membership.role} and cannot provision.")
    return membership


def get_config(request, team_slug, pk, roles=ALL_ROLES):
    membership = get_membership(request, team_slug, roles)
    config = get_object_or_404(Connection, pk=pk, team=membership.team)
    return membership, config


def get_namespace(request, team_slug, pk, roles=ALL_ROLES):
    membership = get_membership(request, team_slug, roles)
    namespace = get_object_or_404(Namespace, pk=pk, team=membership.team)
    return membership, namespace


def get_member(request, team_slug, pk, roles=ADMINS):
    membership = get_membership(request, team_slug, roles)
    member = get_object_or_404(Membership.objects.select_related("user"), pk=pk, team=membership.team)
    return membership, member


def get_invitation(request, team_slug, pk, roles=ADMINS):
    """An open (not yet accepted) invitation of the team."""
    membership = get_membership(request, team_slug, roles)
    invitation = get_object_or_404(Invitation, pk=pk, team=membership.team, accepted_at__isnull=True)
    return membership, invitation


def get_group_mapping(request, team_slug, pk, roles=ADMINS):
    membership = get_membership(request, team_slug, roles)
    mapping = get_object_or_404(GroupMapping, pk=pk, team=membership.team)
    return membership, mapping


def get_template(request, team_slug, pk, roles=ALL_ROLES):
    """A device template of the team (retired or not)."""
    membership = get_membership(request, team_slug, roles)
    template = get_object_or_404(DeviceTemplate, pk=pk, team=membership.team)
    return membership, template
