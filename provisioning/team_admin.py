"""What team admins change: connections, namespaces, members and invitations
(and what superusers do for them: new teams, password reset links).

Each change is one function that makes it and writes its audit row in the same
transaction, so the log never records a change that did not happen, nor misses one
that did. Views call these; they never write audit rows themselves.
"""

import logging
import smtplib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from provisioning import audit
from provisioning.connections import SEALED, SECRET_WORDS
from provisioning.forms import MemberPasswordResetForm
from provisioning.models import Connection, Invitation, Membership, Role, display_name

logger = logging.getLogger(__name__)


class EmailNotSent(Exception):
    """A password reset e-mail that could not be sent; the message says why, in plain words."""


@transaction.atomic
def create_team(form, *, actor):
    """Save a valid TeamForm (a superuser's), with the superuser as the new team's admin: the one
    who made it can add its members and connections at once, and remove themselves later."""
    team = form.save()
    audit.record(
        "team.create", actor=actor, team=team, target=team.name, status="ok", request={"slug": team.slug}
    )
    add_member(actor, role=Role.ADMIN, actor=actor, team=team)
    return team


def send_password_reset(user, *, actor, team, request):
    """E-mail ``user`` a link to set a new password (Django's reset form, token generator and
    views). Raises EmailNotSent when the mail server refuses or cannot be reached. The audit row
    says that a link was sent, never the link or its token; ``team`` is None for a superuser's
    reset from the admin site. (No transaction: the mail server may take seconds, and nothing
    is written before the one audit row.)"""
    if not settings.EMAIL_ENABLED:
        raise EmailNotSent("E-mail is not set up here (EMAIL_URL), so no reset link can be sent.")
    if not user.has_usable_password():
        raise EmailNotSent(
            f"{user.username} signs in with {settings.OIDC_PROVIDER_NAME}: their password is kept there."
        )
    if not user.is_active:
        raise EmailNotSent(f"{user.username}'s account is deactivated.")
    form = MemberPasswordResetForm(user)
    if not user.email or not form.is_valid():
        raise EmailNotSent(f"{user.username} has no valid e-mail address to send the link to.")
    try:
        form.save(
            request=request,
            use_https=request.is_secure(),
            subject_template_name="registration/password_reset_subject.txt",
            email_template_name="registration/password_reset_email.txt",
        )
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("password reset e-mail for user %s not sent: %s", user.pk, exc.__class__.__name__)
        raise EmailNotSent(
            f"The e-mail could not be sent ({exc.__class__.__name__}). Check EMAIL_URL and the mail server."
        ) from None
    audit.record(
        "member.password_reset",
        actor=actor,
        team=team,
        target=user.username,
        status="ok",
        message="A link to set a new password was e-mailed to them.",
    )


@transaction.atomic
def create_config(form, *, actor, team):
    """Save a valid ConnectionForm as a new connection."""
    config = form.save()
    audit.record(
        "client.create",
        actor=actor,
        team=team,
        config=config,
        target=config.name,
        status="ok",
        request={"fields": form.changed_fields()},
    )
    return config


@transaction.atomic
def update_config(form, *, actor, team):
    """Save a valid ConnectionForm of an existing connection; returns (config, changed fields)."""
    changed = form.changed_fields()
    config = form.save()
    if changed:
        audit.record(
            "client.update",
            actor=actor,
            team=team,
            config=config,
            target=config.name,
            status="ok",
            request={"fields": changed, "config_version": config.config_version},
        )
    return config, changed


@transaction.atomic
def delete_config(config, *, actor, team, namespaces=None):
    """Delete ``config``. The namespaces reserved for it are deleted too (``namespaces="delete"``)
    or kept for any of the team's connections (``"release"``), each change audited; with any
    reserved, one of the two must be chosen, so nobody widens who may use them without a word."""
    reserved = list(config.namespaces.all())
    if reserved and namespaces not in ("delete", "release"):
        raise ValueError("Say what becomes of the namespaces reserved for this connection.")
    for namespace in reserved:
        action, message = (
            ("namespace.delete", f"Deleted with connection “{config.name}”.")
            if namespaces == "delete"
            else (
                "namespace.update",
                f"No longer reserved: connection “{config.name}” was deleted.",
            )
        )
        audit.record(
            action, actor=actor, team=team, config=config, target=namespace.name, status="ok", message=message
        )
        if namespaces == "delete":
            namespace.delete()
    audit.record("client.delete", actor=actor, team=team, config=config, target=config.name, status="ok")
    config.delete()


@transaction.atomic
def record_seeded_config(config, *, actor, team):
    """The demo connection that ``manage.py bootstrap`` made for the built-in sandbox."""
    audit.record(
        "client.create",
        actor=actor,
        team=team,
        config=config,
        target=config.name,
        status="ok",
        message="Seeded by bootstrap for the built-in sandbox.",
    )


@transaction.atomic
def reseal_secret(config, *, old_sealed, old_key, new_key, name="client_secret"):
    """Store ``config``'s secret ``name`` (a key of connections.SEALED) sealed anew
    (``config.reseal(name)`` done), unless somebody changed it meanwhile (then it was sealed with
    the newest key anyway). True when stored."""
    field = f"{SEALED[name]}_sealed"
    stored = Connection.objects.filter(pk=config.pk, **{field: old_sealed}).update(
        **{field: getattr(config, field)}
    )
    if stored:
        what = SECRET_WORDS[name].capitalize() if name == "client_secret" else SECRET_WORDS[name]
        audit.record(
            "client.secret_reencrypt",
            team=config.team,
            config=config,
            target=config.name,
            status="ok",
            message=f"{what} re-encrypted with key {new_key} (was {old_key}) by manage.py rotate_secrets.",
        )
    return bool(stored)


@transaction.atomic
def create_namespace(form, *, actor, team):
    """Save a valid NamespaceForm."""
    namespace = form.save()
    audit.record(
        "namespace.create",
        actor=actor,
        team=team,
        config=namespace.client,
        target=namespace.name,
        status="ok",
    )
    return namespace


@transaction.atomic
def delete_namespace(namespace, *, actor, team):
    audit.record("namespace.delete", actor=actor, team=team, target=namespace.name, status="ok")
    namespace.delete()


# The audit message of membership changes made from the identity provider's groups.
FROM_GROUPS = "From the identity provider's groups at sign-in."


@transaction.atomic
def add_member(user, *, role, actor, team, from_groups=False):
    """Add an existing user to the team (a double-submitted form changes nothing the second time).

    ``from_groups``: the membership comes from group mappings, and later sign-ins keep it in step.
    """
    membership, created = Membership.objects.get_or_create(
        user=user, team=team, defaults={"role": role, "from_groups": from_groups}
    )
    if created:
        audit.record(
            "member.add",
            actor=actor,
            team=team,
            target=user.username,
            status="ok",
            request={"role": role},
            message=FROM_GROUPS if from_groups else "",
        )
    return membership


@transaction.atomic
def invite(email, *, role, actor, team):
    """An invitation for someone without an account; returns the one-time token (not stored),
    and whether it renewed an open invitation.

    An address has one open invitation per team: inviting it again renews that one (new link,
    role and expiry), and the link handed out before stops working.
    """
    renewed = Invitation.objects.filter(team=team, email=email, accepted_at__isnull=True).exists()
    _, token = Invitation.issue(team=team, email=email, role=role, invited_by_name=display_name(actor))
    audit.record(
        "member.invite",
        actor=actor,
        team=team,
        target=email,
        status="ok",
        request={"role": role},
        message="Renewed: the earlier link no longer works." if renewed else "",
    )
    return token, renewed


@transaction.atomic
def change_role(member, role, *, actor, from_groups=False):
    member.role = role
    member.save(update_fields=["role"])
    audit.record(
        "member.role",
        actor=actor,
        team=member.team,
        target=member.user.username,
        status="ok",
        request={"role": role},
        message=FROM_GROUPS if from_groups else "",
    )


@transaction.atomic
def remove_member(member, *, actor, from_groups=False):
    audit.record(
        "member.remove",
        actor=actor,
        team=member.team,
        target=member.user.username,
        status="ok",
        message=FROM_GROUPS if from_groups else "",
    )
    member.delete()


@transaction.atomic
def add_group_mapping(form, *, actor, team):
    """Save a valid GroupMappingForm: members of the group get its role at their next sign-in."""
    mapping = form.save()
    audit.record(
        "group.map",
        actor=actor,
        team=team,
        target=mapping.group,
        status="ok",
        request={"role": mapping.role},
    )
    return mapping


@transaction.atomic
def delete_group_mapping(mapping, *, actor, team):
    audit.record("group.unmap", actor=actor, team=team, target=mapping.group, status="ok")
    mapping.delete()


@transaction.atomic
def revoke_invitation(invitation, *, actor):
    audit.record("member.uninvite", actor=actor, team=invitation.team, target=invitation.email, status="ok")
    invitation.delete()


@transaction.atomic
def accept_invitation(invitation, *, username, password):
    """Create the invited user and their membership; None when the invitation was used meanwhile.

    The invitation is claimed first, so of two submissions racing only one joins. Raises
    IntegrityError when the user name was taken between validation and saving.
    """
    now = timezone.now()
    claimed = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, expires_at__gt=now
    ).update(accepted_at=now)
    if not claimed:
        return None
    user = get_user_model().objects.create_user(username=username, email=invitation.email, password=password)
    Membership.objects.create(user=user, team=invitation.team, role=invitation.role)
    audit.record(
        "member.join",
        actor=user,
        team=invitation.team,
        target=user.username,
        status="ok",
        request={"role": invitation.role},
    )
    # The address has an account now: its open invitations to other teams would make a second
    # one. They are closed; those teams' admins add the person by e-mail instead.
    others = Invitation.objects.filter(
        email__iexact=invitation.email, accepted_at__isnull=True
    ).select_related("team")
    for other in others:
        audit.record(
            "member.uninvite",
            actor=user,
            team=other.team,
            target=other.email,
            status="ok",
            message=f"Closed: {user.username} accepted an invitation to another team and has an account "
            "now; add them by e-mail.",
        )
    others.delete()
    return user
