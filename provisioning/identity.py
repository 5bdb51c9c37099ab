"""People who sign in with the identity provider: their account here, and their teams from groups.

The first sign-in of a subject creates the user (with no usable password, so only the provider
signs them in); later sign-ins update the name and e-mail. Then the memberships that come from
group mappings are set to what the groups say, through the same team_admin functions (and audit
rows) as a change made by hand. Memberships made by hand are never touched here.
"""

import hashlib

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from provisioning import team_admin
from provisioning.models import ROLE_RANK, ExternalIdentity, GroupMapping

USERNAME_MAX = 150


@transaction.atomic
def sign_in(claims, *, issuer, groups):
    """The user the verified ID token ``claims`` name, created or updated, their mapped
    memberships in step with ``groups``."""
    identity = (
        ExternalIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=claims["sub"])
        .first()
    )
    # Team admins add people by e-mail: an address the provider says it has not verified is not kept.
    verified = claims.get("email_verified") is not False
    profile = {
        "email": _text(claims.get("email"), 254) if verified else "",
        "first_name": _text(claims.get("given_name"), 150),
        "last_name": _text(claims.get("family_name"), 150),
    }
    if identity is None:
        user = get_user_model().objects.create_user(_free_username(claims), password=None, **profile)
        identity = ExternalIdentity.objects.create(user=user, issuer=issuer, subject=claims["sub"])
    else:
        user = identity.user
        changed = [field for field, value in profile.items() if getattr(user, field) != value]
        for field in changed:
            setattr(user, field, profile[field])
        if changed:
            user.save(update_fields=changed)
    identity.last_login_at = timezone.now()
    identity.save(update_fields=["last_login_at"])
    if user.is_active:
        sync_memberships(user, groups)
    return user


def sync_memberships(user, groups):
    """Add, change and remove ``user``'s memberships from group mappings to match ``groups``.

    A team that several of the groups map to gets the highest of their roles. A membership made
    by hand stays as it is, even where a mapping names the same team.
    """
    wanted = {}
    for mapping in GroupMapping.objects.filter(group__in=groups).select_related("team"):
        _, role = wanted.get(mapping.team_id, (None, None))
        if role is None or ROLE_RANK[mapping.role] > ROLE_RANK[role]:
            wanted[mapping.team_id] = (mapping.team, mapping.role)
    memberships = {m.team_id: m for m in user.memberships.select_related("team")}
    for team_id, (team, role) in wanted.items():
        membership = memberships.get(team_id)
        if membership is None:
            team_admin.add_member(user, role=role, actor=user, team=team, from_groups=True)
        elif membership.from_groups and membership.role != role:
            team_admin.change_role(membership, role, actor=user, from_groups=True)
    for team_id, membership in memberships.items():
        if membership.from_groups and team_id not in wanted:
            team_admin.remove_member(membership, actor=user, from_groups=True)


def _text(value, limit):
    return value[:limit] if isinstance(value, str) else ""


def _free_username(claims):
    """The provider's user name (else e-mail, else subject), or, when an account here has it
    already, that name with a suffix of the subject: an existing account is never taken over."""
    subject = claims["sub"]
    name = _text(claims.get("preferred_username"), USERNAME_MAX) or _text(claims.get("email"), USERNAME_MAX)
    name = name or subject[:USERNAME_MAX]
    if not get_user_model().objects.filter(username=name).exists():
        return name
    suffix = hashlib.sha256(subject.encode()).hexdigest()[:8]
    return f"{name[: USERNAME_MAX - 9]}-{suffix}"
