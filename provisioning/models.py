import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone

from provisioning import ids
from provisioning.connections import (  # noqa: F401 - the models' names, re-exported
    AuthMethod,
    AuthScope,
    Connection,
    ConnectionKind,
    DittoAuthMethod,
    EndpointAuthMethod,
    Preset,
)
from provisioning.device_templates import DeviceTemplate, TemplateVersion  # noqa: F401 - re-exported


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"
    AUDITOR = "auditor", "Auditor"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    # Set from the identity provider's groups at each sign-in (see provisioning.identity):
    # added, changed and removed there. Memberships made by hand are never touched by it.
    from_groups = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_team")]
        ordering = ["team__name"]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def is_admin(self):
        return self.role == Role.ADMIN

    @property
    def can_provision(self):
        return self.role in (Role.ADMIN, Role.OPERATOR)


def display_name(user):
    """How people are named to each other: the full name, else the user name. E-mail addresses
    are shown only where admins manage members. (``user`` may be any object with a
    ``username``, as the bulk worker's stand-in for a job's owner.)"""
    get_full_name = getattr(user, "get_full_name", None)
    name = (get_full_name() if get_full_name else "") or getattr(user, "username", "") or ""
    return name[:150]  # the length of the name fields it is copied into


# Higher roles first: a person whose groups give them several roles in a team gets the highest.
ROLE_RANK = {Role.ADMIN: 3, Role.OPERATOR: 2, Role.AUDITOR: 1}


class GroupMapping(models.Model):
    """A group of the identity provider whose members get ``role`` in ``team`` at sign-in."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="group_mappings")
    group = models.CharField(max_length=255)
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "group"], name="one_mapping_per_group")]
        ordering = ["group"]

    def __str__(self):
        return f"{self.group} -> {self.team} ({self.role})"


class ExternalIdentity(models.Model):
    """The identity provider's account (issuer and subject) that signs in as ``user``."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="one_user_per_subject")]

    def __str__(self):
        return f"{self.subject} at {self.issuer}"


def _invitation_expiry():
    return timezone.now() + timedelta(days=7)


class Invitation(models.Model):
    """A one-time link with which a new person joins a team and sets a password."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by_name = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=_invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # One open invitation per address and team: inviting again renews it (team_admin.invite).
        constraints = [
            models.UniqueConstraint(
                fields=["team", "email"],
                condition=models.Q(accepted_at__isnull=True),
                name="one_open_invitation_per_address",
            )
        ]

    def __str__(self):
        return f"{self.email} to {self.team}"

    @staticmethod
    def hash_token(token):
        import hashlib

        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, *, team, email, **fields):
        """The open invitation of ``email`` to ``team``: new, or the one it has renewed (a new
        link, role and expiry; the earlier link stops working). Returned with the token, which
        is shown once and not stored."""
        token = secrets.token_urlsafe(24)
        invitation, _ = cls.objects.update_or_create(
            team=team,
            email=email,
            accepted_at=None,
            defaults={
                "token_hash": cls.hash_token(token),
                "created_at": timezone.now(),
                "expires_at": _invitation_expiry(),
                **fields,
            },
        )
        return invitation, token

    @property
    def is_usable(self):
        return self.accepted_at is None and self.expires_at > timezone.now()


class Namespace(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="namespaces")
    name = models.CharField(max_length=254)
    client = models.ForeignKey(
        Connection,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="namespaces",
        verbose_name="connection",
        help_text="Only this connection may use the namespace. Leave empty for any.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="namespace_unique_in_team")]
        ordering = ["name"]

    def __str__(self):
        return self.name

    def reserved_against(self, config):
        """Why ``config`` may not use this namespace ("" when it may): it is reserved for another."""
        if self.client_id is None or self.client_id == config.pk:
            return ""
        return f"The namespace {self.name} is reserved for “{self.client.name}”."

    def clean(self):
        """The Ditto rule and the team boundary, for every form that edits a namespace (admin too)."""
        errors = {}
        # An empty name is the form field's to report (it is required there).
        error = ids.namespace_error(self.name) if self.name else None
        if error:
            errors["name"] = error
        if self.client_id is not None and self.team_id is not None and self.client.team_id != self.team_id:
            errors["client"] = "This connection belongs to another team."
        if errors:
            raise ValidationError(errors)


# Sent with the audit rows just inserted, in their transaction: what is derived from the log
# as it grows (provisioning.inventory) is kept in step with it, or not at all.
audit_appended = Signal()


class AuditQuerySet(models.QuerySet):
    """Audit rows are appended (``append``) and read; changing or removing them raises."""

    def append(self, events):
        """Insert ``events`` (unsaved AuditEvents) in one statement; returns them."""
        for event in events:
            event.fill_namespace()
        with transaction.atomic(using=self.db):
            events = self.bulk_create(events)
            audit_appended.send(sender=AuditEvent, events=events)
        return events

    def update(self, **kwargs):
        raise RuntimeError("Audit events are append-only.")

    def delete(self):
        raise RuntimeError("Audit events are append-only.")


# History walks the log newest first testing these of each row: from the index alone (0022).
HISTORY_WALK = ["team_id", "-created_at", "-id", "action", "phase", "status", "correlation_id", "target"]


# Append-only in PostgreSQL too. Run migrations as the role that owns the tables and serve
# the app as another role ("provisioner" below); then take from the app's role the right to
# change or remove audit rows. The app only inserts and reads them, so nothing breaks:
#
#   REVOKE UPDATE, DELETE, TRUNCATE ON TABLE provisioning_auditevent FROM provisioner;
# A role that owns the table can grant the rights back to itself, so the two roles must differ.
# (tests/test_audit_admin.py runs this statement against a role of its own.)
class AuditEvent(models.Model):
    """An append-only record. Rows are inserted, never updated or deleted by the app.

    Names of actor, team and connection are copied in (``client_ref`` and ``client_name``: the
    connection's id and name), so history survives deletions.
    Request and response bodies are stored redacted (see provisioning.audit).
    """

    class Phase(models.TextChoices):
        INTENT = "intent", "Intent"
        OUTCOME = "outcome", "Outcome"
        EVENT = "event", "Event"

    created_at = models.DateTimeField(default=timezone.now)
    correlation_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    phase = models.CharField(max_length=8, choices=Phase.choices, default=Phase.EVENT)
    action = models.CharField(max_length=40)
    status = models.CharField(max_length=16, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    team_id = models.BigIntegerField(null=True, blank=True)
    team_name = models.CharField(max_length=100, blank=True)
    client_ref = models.BigIntegerField(null=True, blank=True)
    client_name = models.CharField(max_length=100, blank=True)
    target = models.CharField(max_length=300, blank=True)
    # The namespace of a device action's target ("com.acme" of "com.acme:boiler-1"), else empty:
    # history filters on it with an equality that one index serves in time order.
    namespace = models.CharField(max_length=254, blank=True, default="")
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    message = models.CharField(max_length=1000, blank=True)
    request = models.JSONField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    # The template version a device attempt was made from (its intent and outcome rows), or the
    # one a template change made: the template's id, the version's number and the template's
    # name then. Nullable, without a default, so that adding them was an ALTER TABLE and not a
    # rebuild of the table, which would drop its search and append-only triggers on SQLite.
    template_ref = models.BigIntegerField(null=True, blank=True)
    template_version = models.PositiveIntegerField(null=True, blank=True)
    template_name = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # History reads newest-first keyset pages of one team, each filter through an index of its own.
        indexes = [
            models.Index(fields=HISTORY_WALK, name="audit_team_time_walk"),
            models.Index(fields=["team_id", "status", "-created_at", "-id"], name="audit_team_status_time"),
            models.Index(fields=["team_id", "action", "-created_at", "-id"], name="audit_team_action_time"),
            models.Index(fields=["team_id", "target", "-created_at"], name="audit_team_target"),
            models.Index(
                fields=["team_id", "namespace", "-created_at", "-id"], name="audit_team_namespace_time"
            ),
            models.Index(fields=["team_id", "actor_name", "-created_at"], name="audit_team_actor_time"),
            models.Index(fields=["team_id", "client_ref", "-created_at"], name="audit_team_client_time"),
            # History by template, and by one of its versions: only the rows that name one.
            models.Index(
                fields=["team_id", "template_ref", "-created_at", "-id"],
                name="audit_team_template_time",
                condition=models.Q(template_ref__isnull=False),
            ),
            models.Index(
                fields=["team_id", "template_ref", "template_version", "-created_at", "-id"],
                name="audit_team_tversion_time",
                condition=models.Q(template_ref__isnull=False),
            ),
        ]
        # One intent per attempt: a form sent twice (its one-time token is the attempt's
        # correlation id) cannot begin a second attempt, whatever process serves it.
        constraints = [
            models.UniqueConstraint(
                fields=["correlation_id"],
                condition=models.Q(phase="intent"),
                name="audit_one_intent_per_attempt",
            )
        ]

    def __str__(self):
        return f"{self.action} {self.target} ({self.phase})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise RuntimeError("Audit events are append-only.")
        self.fill_namespace()
        with transaction.atomic():
            super().save(*args, **kwargs)
            audit_appended.send(sender=AuditEvent, events=[self])

    def fill_namespace(self):
        """Set ``namespace`` from a device action's target (``save`` and ``append`` call this)."""
        if not self.namespace and self.action.startswith("device.") and ":" in self.target:
            self.namespace = self.target.partition(":")[0][:254]

    def delete(self, *args, **kwargs):
        raise RuntimeError("Audit events are append-only.")

    # How history shows the row's status. An intent's is derived: history.label_open_intents
    # sets ``display_status`` (in progress, outcome unknown, or recorded when its outcome is in).

    @property
    def shown_status(self):
        return getattr(self, "display_status", "") or self.status

    @property
    def status_label(self):
        return "outcome unknown" if self.shown_status == "unknown" else self.shown_status

    @property
    def status_css(self):
        """The badge's class suffix ("in progress" -> "in-progress")."""
        return self.shown_status.replace(" ", "-")


class OpenAttempt(models.Model):
    """An outbound call whose intent is recorded but whose outcome is not (yet).

    Inserted with the intent row and deleted with the outcome row, in the same
    transactions. A row that outlives its call (a crash, a killed worker) is how
    history finds "outcome unknown" without scanning the audit log.
    """

    correlation_id = models.UUIDField(primary_key=True)
    team_id = models.BigIntegerField(db_index=True)
    target = models.CharField(max_length=300)
    started_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.target} since {self.started_at:%Y-%m-%d %H:%M:%S}"


class DeviceState(models.TextChoices):
    NONE = "", "No answer yet"  # its first attempt is under way
    CREATED = "created", "Created"
    UNKNOWN = "unknown", "Outcome unknown"
    INCOMPLETE = "incomplete", "Incomplete"  # some of its parts were made, the rest were not
    DEPROVISIONED = "deprovisioned", "De-provisioned"


class Device(models.Model):
    """One device a team provisioned, or tried to, through one connection: the inventory.

    Derived from the audit log and kept in step with it in the same transaction
    (provisioning.inventory.apply); ``manage.py rebuild_inventory`` derives it again from
    the whole log. ``connection_ref`` and ``connection_name`` are copied from the audit rows
    (0 when an attempt had no Connection row), so the row outlives its connection.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="devices")
    connection_ref = models.BigIntegerField(default=0)
    connection_name = models.CharField(max_length=100, blank=True)
    device_id = models.CharField(max_length=300)
    namespace = models.CharField(max_length=254, blank=True)
    state = models.CharField(max_length=16, choices=DeviceState.choices, blank=True)
    changed_at = models.DateTimeField()  # when the state last changed (or the first attempt began)
    created_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_attempt = models.UUIDField(null=True, blank=True)
    bulk_job = models.UUIDField(null=True, blank=True)  # the job whose row created it
    last_attempt = models.UUIDField(null=True, blank=True)  # the latest attempt on it, of any kind
    # An attempt begun and not yet answered (or never: a crash leaves it, as OpenAttempt does).
    open_attempt = models.UUIDField(null=True, blank=True)
    open_action = models.CharField(max_length=40, blank=True)
    open_since = models.DateTimeField(null=True, blank=True)
    # The last "Check at provider" of it: present, missing, different, partial or failed.
    checked_at = models.DateTimeField(null=True, blank=True)
    check_result = models.CharField(max_length=16, blank=True)
    # The template version it was created from (as the audit rows of that attempt say); nullable
    # without a default for the same reason as AuditEvent's (this table has search triggers too).
    template_ref = models.BigIntegerField(null=True, blank=True)
    template_version = models.PositiveIntegerField(null=True, blank=True)
    template_name = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "connection_ref", "device_id"], name="device_once_per_connection"
            )
        ]
        # The Devices page (provisioning.inventory_list): newest-changed first, alone and under
        # each filter; newest-created first under "created between"; open attempts by age.
        # Its search has a trigram index of its own (migration 0018_device_search).
        indexes = [
            models.Index(fields=["team", "-changed_at", "-id"], name="device_team_changed"),
            models.Index(fields=["team", "connection_ref", "-changed_at", "-id"], name="device_team_conn"),
            models.Index(fields=["team", "namespace", "-changed_at", "-id"], name="device_team_namespace"),
            models.Index(fields=["team", "state", "-changed_at", "-id"], name="device_team_state"),
            models.Index(fields=["team", "bulk_job", "-changed_at", "-id"], name="device_team_job"),
            models.Index(fields=["team", "-created_at", "-id"], name="device_team_created"),
            models.Index(fields=["team", "open_since"], name="device_team_open"),
            models.Index(
                fields=["team", "template_ref", "-changed_at", "-id"],
                name="device_team_template",
                condition=models.Q(template_ref__isnull=False),
            ),
            models.Index(
                fields=["team", "template_ref", "template_version", "-changed_at", "-id"],
                name="device_team_tversion",
                condition=models.Q(template_ref__isnull=False),
            ),
            # A template and a state together (e.g. what was de-provisioned of one kind): the
            # page and its bounded count read just the matches, not a template's every device.
            models.Index(
                fields=["team", "template_ref", "state", "-changed_at", "-id"],
                name="device_team_tstate",
                condition=models.Q(template_ref__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.device_id} ({self.get_state_display().lower()})"


class HeldResult(models.Model):
    """A Send's show-once result, sealed, kept for a few minutes for a second submission of
    the same form by the same user (provisioning.held_results): after a double click the
    browser shows the second answer, not the first that carried the device's secret."""

    correlation_id = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sealed = models.TextField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"held result of {self.correlation_id} until {self.expires_at:%H:%M:%S}"


class Theme(models.TextChoices):
    SYSTEM = "system", "System"
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"


class Preference(models.Model):
    """One row per user: how the dashboard looks to them. No row means the defaults."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.SYSTEM)

    def __str__(self):
        return f"{self.user}: {self.theme}"

    @classmethod
    def theme_of(cls, user):
        """The user's theme ("system", "light" or "dark"); "system" when they never chose one."""
        if not getattr(user, "is_authenticated", False):
            return Theme.SYSTEM
        try:
            theme = user.preference.theme  # one query, then cached on the user for the request
        except cls.DoesNotExist:
            return Theme.SYSTEM
        return theme if theme in Theme.values else Theme.SYSTEM
