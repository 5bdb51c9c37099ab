"""What team admins change of device templates: create, edit (a new version), retire, restore,
delete. Each change is one function that makes it and writes its audit row in the same
transaction (as provisioning.team_admin does for the other team settings); the audit rows name
the template and the version they made or concern.
"""

from django.db import IntegrityError, transaction
from django.db.models import Q, RestrictedError
from django.utils import timezone

from provisioning import audit
from provisioning.models import AuditEvent, Device, DeviceTemplate, TemplateVersion, display_name

NAME_TAKEN = "Your team has a template of this name already."


class TemplateProblem(Exception):
    """A change that cannot be made; the message says why, in plain words."""


def is_used(template):
    """Whether anything was made from ``template``: a device attempt in the audit log, a device
    in the inventory, or a bulk job (one that may still send rows with it)."""
    attempts = AuditEvent.objects.filter(team_id=template.team_id, template_ref=template.pk)
    return (
        attempts.filter(action__startswith="device.").exists()
        or Device.objects.filter(team_id=template.team_id, template_ref=template.pk).exists()
        or template.versions.filter(bulk_jobs__isnull=False).exists()
    )


def _new_version(template, number, values, actor):
    return TemplateVersion.objects.create(
        template=template, number=number, created_by_name=display_name(actor), **values
    )


def create_template(form, *, actor, team):
    """Save a valid TemplateForm as a new template with its version 1."""
    data = form.cleaned_data
    try:
        with transaction.atomic():
            template = DeviceTemplate.objects.create(
                team=team, name=data["name"], description=data["description"], kind=data["kind"]
            )
            version = _new_version(template, 1, form.version_values, actor)
            audit.record(
                "template.create",
                actor=actor,
                team=team,
                target=template.name,
                status="ok",
                template=version,
                request={"kind": template.kind},
            )
    except IntegrityError:  # the same name, saved by someone else a moment ago
        raise TemplateProblem(NAME_TAKEN) from None
    return template


def changes(old, new):
    """The names of the values and flags that differ between two versions' ``values()``."""
    return [name for name in new if old.get(name) != new[name]]


def edit_template(template, form, *, actor, team):
    """Save a valid TemplateForm of ``template``: a new version when a value or a flag changed
    (the versions before stay as they are), the name and description in place. Returns
    (the version now latest, whether it is new, the names of what changed)."""
    data = form.cleaned_data
    try:
        with transaction.atomic():
            template = DeviceTemplate.objects.select_for_update().get(pk=template.pk)
            latest = template.latest()
            changed = changes(latest.values(), form.version_values)
            version = (
                _new_version(template, latest.number + 1, form.version_values, actor) if changed else latest
            )
            renamed = [f for f in ("name", "description") if getattr(template, f) != data[f]]
            if renamed:
                template.name, template.description = data["name"], data["description"]
                template.save(update_fields=renamed)
            if changed or renamed:
                audit.record(
                    "template.update",
                    actor=actor,
                    team=team,
                    target=template.name,
                    status="ok",
                    template=version,
                    request={"fields": renamed + changed, "version": version.number},
                    message=f"Version {version.number} made." if changed else "",
                )
    except IntegrityError:
        raise TemplateProblem(NAME_TAKEN) from None
    return version, bool(changed), renamed + changed


@transaction.atomic
def retire_template(template, *, actor, team):
    """Take ``template`` out of the builder and the upload page; its versions stay readable."""
    template.retired_at, template.retired_by_name = timezone.now(), display_name(actor)
    template.save(update_fields=["retired_at", "retired_by_name"])
    audit.record(
        "template.retire",
        actor=actor,
        team=team,
        target=template.name,
        status="ok",
        template=template.latest(),
    )


def restore_template(template, *, actor, team):
    """Offer a retired template again (its name must be free among those offered)."""
    clash = DeviceTemplate.objects.filter(
        Q(name__iexact=template.name), team=team, retired_at__isnull=True
    ).exclude(pk=template.pk)
    if clash.exists():
        raise TemplateProblem(
            f"Another template in use is named “{template.name}”: rename or retire that one first."
        )
    try:
        with transaction.atomic():
            template.retired_at, template.retired_by_name = None, ""
            template.save(update_fields=["retired_at", "retired_by_name"])
            audit.record(
                "template.restore",
                actor=actor,
                team=team,
                target=template.name,
                status="ok",
                template=template.latest(),
            )
    except IntegrityError:
        raise TemplateProblem(NAME_TAKEN) from None


IN_USE = (
    "“{name}” was used to provision devices, so it cannot be deleted: their history and the "
    "inventory name its versions. Retire it instead."
)


def delete_template(template, *, actor, team):
    """Delete an unused template and its versions; raises TemplateProblem when it was used."""
    try:
        _delete(template, actor, team)
    except RestrictedError:  # a bulk job took it up a moment ago
        raise TemplateProblem(IN_USE.format(name=template.name)) from None


@transaction.atomic
def _delete(template, actor, team):
    template = DeviceTemplate.objects.select_for_update().get(pk=template.pk)
    if is_used(template):
        raise TemplateProblem(IN_USE.format(name=template.name))
    versions = template.versions.count()
    audit.record(
        "template.delete",
        actor=actor,
        team=team,
        target=template.name,
        status="ok",
        message=f"Deleted with its {versions} version(s); nothing was made from it.",
    )
    template.delete()
