"""A team's device templates (DeviceTemplate) and their versions (TemplateVersion).

Kept apart from models.py for size; models.py re-exports both names, so ``from
provisioning.models import DeviceTemplate`` stays the way to reach them.

A template holds what most devices of a kind share: values for the device builder's fields
(attributes, features, definition, policy, credential type, authScope, enabled, gateway), each
with a "fixed" flag (a device made from it may not change a fixed value). It is made for one
kind of connection, as the builder's rules differ by kind (authScope is Bosch's alone; Ditto
alone registers no device, so no credentials, gateway or disabled state).

Every edit that changes a value or a flag makes a new TemplateVersion. Versions are never
changed: ``save()`` of a stored one and ``QuerySet.update()`` raise, so there is no path that
alters one; the audit log and the inventory name the version a device was made from, and that
version reads the same forever. A template is deleted (with its versions) only while nothing
used it; once used it is retired instead, which takes it out of the builder and the upload
page and keeps every version readable.
"""

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from provisioning.connections import ConnectionKind

# The builder's fields a version sets, in the order pages show them, and their "fixed" flags.
# "policy" stands for the two fields policy_mode and policy_id; attributes are fixed one by one.
FIXABLE = ["enabled", "via", "credentials_type", "auth_scope", "definition", "features", "policy"]
FIELD_WORDS = {
    "enabled": "Device enabled",
    "via": "Gateway (via)",
    "credentials_type": "Credentials",
    "auth_scope": "authScope",
    "definition": "Definition",
    "features": "Features",
    "policy": "Policy",
}


class DeviceTemplate(models.Model):
    team = models.ForeignKey("provisioning.Team", on_delete=models.CASCADE, related_name="device_templates")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    # The connection kind it is validated for and offered with (never changed once made).
    kind = models.CharField(max_length=20, choices=ConnectionKind.choices, verbose_name="connection kind")
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by_name = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # A retired template's name may be taken again; two templates in use may not share one.
            models.UniqueConstraint(
                F("team"),
                Lower("name"),
                condition=Q(retired_at__isnull=True),
                name="template_name_unique_in_team",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def is_retired(self):
        return self.retired_at is not None

    def latest(self):
        """The newest version (every template has one from the start)."""
        return self.versions.order_by("-number").first()


class VersionQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise RuntimeError("Template versions are never changed: edit the template to make a new version.")


class TemplateVersion(models.Model):
    """One version of a template: the values it gives the builder's fields and which are fixed.

    ``attributes`` maps each attribute key to its value as typed in the builder (text: ``42`` is
    sent as a number, ``true`` as a boolean, ``{...}`` as an object, anything else as text), so
    it fills the builder's rows and compares with a CSV cell exactly as typed values do.
    """

    template = models.ForeignKey(DeviceTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    enabled_fixed = models.BooleanField(default=False)
    via = models.CharField(max_length=256, blank=True)
    via_fixed = models.BooleanField(default=False)
    credentials_type = models.CharField(max_length=20, default="hashed-password")
    credentials_type_fixed = models.BooleanField(default=False)
    auth_scope = models.CharField(max_length=40, default="__default__")
    auth_scope_fixed = models.BooleanField(default=False)
    definition = models.CharField(max_length=256, blank=True)
    definition_fixed = models.BooleanField(default=False)
    features = models.JSONField(default=dict, blank=True)
    features_fixed = models.BooleanField(default=False)
    policy_mode = models.CharField(max_length=10, default="generated")
    policy_id = models.CharField(max_length=256, blank=True)
    policy_fixed = models.BooleanField(default=False)
    attributes = models.JSONField(default=dict, blank=True)
    fixed_attributes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by_name = models.CharField(max_length=150, blank=True)

    objects = VersionQuerySet.as_manager()

    class Meta:
        ordering = ["template", "number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="template_version_once"),
        ]

    def __str__(self):
        return f"{self.template.name}, version {self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise RuntimeError(
                "Template versions are never changed: edit the template to make a new version."
            )
        super().save(*args, **kwargs)

    @property
    def label(self):
        """How pages and chips name it: "Boiler, version 3"."""
        return f"{self.template.name}, version {self.number}"

    def fixed_fields(self):
        """The names (of FIXABLE) this version fixes."""
        return {name for name in FIXABLE if getattr(self, f"{name}_fixed")}

    def values(self):
        """Everything a version holds, as one dict: two versions with equal values are the same."""
        names = [
            "enabled",
            "via",
            "credentials_type",
            "auth_scope",
            "definition",
            "features",
            "policy_mode",
            "policy_id",
            "attributes",
        ]
        found = {name: getattr(self, name) for name in names}
        found.update({f"{name}_fixed": getattr(self, f"{name}_fixed") for name in FIXABLE})
        found["fixed_attributes"] = sorted(self.fixed_attributes)
        return found
